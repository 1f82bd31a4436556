package engine

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/autocontain/autocontain/internal/audit"
	"github.com/autocontain/autocontain/internal/contain"
	"github.com/autocontain/autocontain/internal/failure"
	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/ledger"
	"github.com/autocontain/autocontain/internal/plan"
	"github.com/autocontain/autocontain/internal/playbook"
	"github.com/autocontain/autocontain/internal/testenv/faultproxy"
)

// TestFailuresAreTyped: a step that retrying cannot mend (the user was
// deleted) is recorded with its AWS error code, counted in the metric the
// stack alarms on, and not returned to Lambda, so it is not retried; the
// finding is not marked handled, so a new delivery acts again. A step that
// a retry may mend (throttled past the SDK's own retries) is returned, and
// one of each is retried too.
func TestFailuresAreTyped(t *testing.T) {
	deleteUser := func(t *testing.T, fx *fixture) {
		t.Helper()
		c := iam.NewFromConfig(fx.cfg)
		ctx := context.Background()
		for _, k := range fx.acct.Keys["alice"] {
			if _, err := c.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: aws.String(k)}); err != nil {
				t.Fatal(err)
			}
		}
		pols, err := c.ListUserPolicies(ctx, &iam.ListUserPoliciesInput{UserName: aws.String("alice")})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pols.PolicyNames {
			if _, err := c.DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String(p)}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := c.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String("alice")}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		// break the account before the delivery
		breakIt   func(t *testing.T, fx *fixture)
		permanent bool
		// the record's own error code, and those of the failed steps
		code  string
		codes []string
	}{
		// The guard finds the user gone before any step runs.
		{"user_deleted", deleteUser, true, "NoSuchEntity", nil},
		{"access_denied", func(t *testing.T, fx *fixture) {
			fx.proxy.Inject("UpdateAccessKey", faultproxy.AccessDenied, 100)
			fx.proxy.Inject("PutUserPolicy", faultproxy.AccessDenied, 100)
		}, true, "", []string{"AccessDenied", "AccessDenied"}},
		{"throttled", func(t *testing.T, fx *fixture) { fx.proxy.Inject("UpdateAccessKey", faultproxy.Throttling, 100) }, false, "", []string{"Throttling"}},
		{"one_of_each", func(t *testing.T, fx *fixture) {
			fx.proxy.Inject("PutUserPolicy", faultproxy.Throttling, 100)
			fx.proxy.Inject("UpdateAccessKey", faultproxy.AccessDenied, 100)
		}, false, "", []string{"AccessDenied", "Throttling"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t)
			var logs bytes.Buffer
			eng := fx.engine(nil)
			eng.Log = slog.New(slog.NewJSONHandler(&logs, nil))
			raw := fx.acct.Rewrite(event(t, akiaEvent))
			tt.breakIt(t, fx)
			out, err := eng.Handle(context.Background(), raw)
			fx.proxy.Clear()
			rec, _ := out.(audit.Record)
			var codes []string
			for _, s := range rec.Steps {
				if s.Status == audit.StatusFailed {
					codes = append(codes, s.ErrorCode)
					if s.Permanent != (s.ErrorCode != "Throttling") {
						t.Errorf("step %s failed with %s, permanent %v", s.Action, s.ErrorCode, s.Permanent)
					}
				}
			}
			if rec.Outcome != audit.OutcomeFailed || rec.ErrorCode != tt.code || !slices.Equal(codes, tt.codes) {
				t.Fatalf("outcome %s, code %q, failed steps' codes %v; want failed with %q and %v\n%s", rec.Outcome, rec.ErrorCode, codes, tt.code, tt.codes, rec.Text())
			}
			metric := strings.Contains(logs.String(), `"`+MetricFailedPermanently+`":1`)
			if tt.permanent != (err == nil) || tt.permanent != metric {
				t.Errorf("Handle returned %v, metric logged %v; want it retried: %v", err, metric, !tt.permanent)
			}
			// Not marked handled: a new delivery decides again (after the
			// faults are gone, it contains); Run, as the CLI calls it,
			// returns a failure typed.
			if tt.permanent {
				again, err := eng.Run(context.Background(), raw)
				if strings.Contains(again.Text(), "already handled") || (tt.name == "user_deleted") != failure.IsPermanent(err) {
					t.Errorf("Run again: %v\n%s", err, again.Text())
				}
			}
		})
	}
}

// TestUndoRefusalsAreTyped: undo's refusals are sentinels, not strings.
func TestUndoRefusalsAreTyped(t *testing.T) {
	fx := newFixture(t)
	eng := fx.engine(nil)
	ctx := context.Background()
	if _, err := eng.Undo(ctx, "no-such-finding"); !errors.Is(err, contain.ErrNothingToUndo) || !failure.IsPermanent(err) {
		t.Errorf("undo of an unknown finding: %v, want ErrNothingToUndo", err)
	}
	fx.run(t, eng, fx.acct.Rewrite(event(t, akiaEvent)))
	p, _ := eng.Plan(fx.acct.Rewrite(event(t, akiaEvent)))
	if _, err := eng.Undo(ctx, p.Finding.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Undo(ctx, p.Finding.ID); !errors.Is(err, contain.ErrAlreadyUndone) {
		t.Errorf("second undo: %v, want ErrAlreadyUndone", err)
	}
}

// tagProbe is a principal action of the test's making, as the next ones
// (quarantine, restrict-source) will be: it tags the user, and its undo
// takes the tag off.
type tagProbe struct{ IAM *iam.Client }

const probeAction, probeTag = "tag-user", "autocontain:probe"

func (*tagProbe) Name() string          { return probeAction }
func (*tagProbe) Permissions() []string { return []string{"iam:TagUser"} }
func (p *tagProbe) Execute(ctx context.Context, req contain.Request) (contain.Outcome, error) {
	_, err := p.IAM.TagUser(ctx, &iam.TagUserInput{UserName: aws.String(req.Step.Target.UserName), Tags: []iamtypes.Tag{{Key: aws.String(probeTag), Value: aws.String("held")}}})
	return contain.Outcome{Changed: err == nil}, err
}
func (*tagProbe) Hold(acct string, s plan.Step) (ledger.Hold, error) {
	return ledger.Hold{Action: probeAction, Account: acct, Principal: "user/" + s.Target.UserName, Resource: "tag/probe"}, nil
}
func (*tagProbe) Step(h ledger.Hold) (plan.Step, error) {
	return plan.Step{Action: probeAction, Target: plan.Target{Kind: plan.TargetUser, UserName: strings.TrimPrefix(h.Principal, "user/")}}, nil
}
func (*tagProbe) UndoPermissions() []string { return []string{"iam:UntagUser"} }
func (p *tagProbe) Undo(ctx context.Context, h ledger.Hold) (string, string, error) {
	s, _ := p.Step(h)
	_, err := p.IAM.UntagUser(ctx, &iam.UntagUserInput{UserName: aws.String(s.Target.UserName), TagKeys: []string{probeTag}})
	return "untagged " + s.Target.UserName, "", err
}

// TestHoldsAreRestoredByTheirOwnAction: two principal actions hold things
// on the same user. Each hold records the action that made it, and undo
// has each action restore its own: nothing is inferred from the kind of
// change (before, any inline policy counted as revoke-sessions', and undo
// restored every non-key hold as the revoke policy).
func TestHoldsAreRestoredByTheirOwnAction(t *testing.T) {
	saved := playbook.Specs
	t.Cleanup(func() { playbook.Specs = saved })
	playbook.Specs = append(slices.Clone(saved), playbook.ActionSpec{Name: probeAction, Category: playbook.OnPrincipal, Contains: playbook.PartIdentity,
		Why: func(k finding.Kind) string { return map[finding.Kind]string{finding.KindIAMUserKey: "tag the user"}[k] }})
	fx := newFixture(t)
	ctx := context.Background()
	eng := fx.engine(nil)
	for i := range eng.Playbook.Rules {
		eng.Playbook.Rules[i].Actions = []string{playbook.ActionRevokeSessions, probeAction}
	}
	clock := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	c := iam.NewFromConfig(fx.cfg)
	eng.Executor = contain.NewExecutor(func() time.Time { return clock }, append(contain.Registry(clientsOf(eng, fx.cfg)), &tagProbe{IAM: c})...)
	eng.Undoer.Actions = eng.Executor.Reverters()
	rec := fx.run(t, eng, fx.acct.Rewrite(event(t, akiaEvent)))
	h, _, err := eng.Ledger.History(ctx, rec.Finding.ID)
	if err != nil {
		t.Fatal(err)
	}
	var held []string
	for _, hd := range h.Holds {
		held = append(held, hd.Action+" "+hd.String())
	}
	want := []string{"revoke-sessions policy " + contain.RevokePolicyName + " of user alice", "tag-user tag probe of user alice"}
	if !slices.Equal(held, want) {
		t.Fatalf("holds %q, want %q\n%s", held, want, rec.Text())
	}
	rep, err := eng.Undo(ctx, rec.Finding.ID)
	if err != nil || len(rep.Restored) != 2 || !slices.Contains(rep.Restored, "untagged alice") {
		t.Fatalf("undo: %+v %v", rep, err)
	}
	tags, err := c.ListUserTags(ctx, &iam.ListUserTagsInput{UserName: aws.String("alice")})
	if err != nil || slices.ContainsFunc(tags.Tags, func(t iamtypes.Tag) bool { return aws.ToString(t.Key) == probeTag }) {
		t.Errorf("after undo alice's tags are %+v (%v)", tags, err)
	}
	if pols := fx.state(t).UserPolicies["alice"]; slices.Contains(pols, contain.RevokePolicyName) {
		t.Errorf("after undo alice still has the deny")
	}
}

// TestUndoSurvivesALostReply: IAM deletes the deny but its answer is lost,
// so the SDK sends the delete again and meets NoSuchEntity. That is the
// delete's own effect: undo reports the policy deleted, not a failure.
func TestUndoSurvivesALostReply(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	eng := fx.engine(nil)
	rec := fx.run(t, eng, fx.acct.Rewrite(event(t, akiaEvent)))
	fx.proxy.Inject("DeleteUserPolicy", faultproxy.LostReply, 1)
	rep, err := eng.Undo(ctx, rec.Finding.ID)
	if err != nil || !slices.Contains(rep.Restored, "deleted policy "+contain.RevokePolicyName+" of user alice") {
		t.Fatalf("undo: %+v %v", rep, err)
	}
	if n := fx.proxy.Count("DeleteUserPolicy"); n != 2 {
		t.Errorf("%d DeleteUserPolicy calls, want 2 (the lost one and the SDK's resend)", n)
	}
	if pols := fx.state(t).UserPolicies["alice"]; slices.Contains(pols, contain.RevokePolicyName) {
		t.Error("after undo alice still has the deny")
	}
}
