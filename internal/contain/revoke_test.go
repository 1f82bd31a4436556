package contain_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/autocontain/autocontain/internal/audit"
	"github.com/autocontain/autocontain/internal/contain"
	"github.com/autocontain/autocontain/internal/plan"
	"github.com/autocontain/autocontain/internal/playbook"
)

// foreignPolicy is a policy a person put under autocontain's policy name.
const foreignPolicy = `{"Version":"2012-10-17","Statement":[{"Sid":"BreakGlassReadOnly","Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::audit-bucket/*"]}]}`

// consoleLike is the console's revoke-older-sessions document, without
// autocontain's Sid: someone else's deny, even though it looks like ours.
const consoleLike = `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":["*"],"Resource":["*"],"Condition":{"DateLessThan":{"aws:TokenIssueTime":"2026-11-20T10:00:00Z"}}}]}`

// legacyOwn is what autocontain wrote before the policy carried its marker Sid.
const legacyOwn = `{"Version":"2012-10-17","Statement":[{"Sid":"DenyTokensIssuedBeforeContainment","Effect":"Deny","Action":["*"],"Resource":["*"],"Condition":{"DateLessThan":{"aws:TokenIssueTime":"2026-11-20T10:00:00Z"}}}]}`

func TestRevokeCutoff(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	for _, tt := range []struct {
		name string
		now  time.Time
		want string
	}{
		{"whole_second_stays", fixedNow, "2026-11-24T03:00:00Z"},
		{"one_nanosecond_in_rounds_up", fixedNow.Add(time.Nanosecond), "2026-11-24T03:00:01Z"},
		{"fraction_rounds_up", fixedNow.Add(250 * time.Millisecond), "2026-11-24T03:00:01Z"},
		{"last_nanosecond_rounds_up", fixedNow.Add(time.Second - time.Nanosecond), "2026-11-24T03:00:01Z"},
		{"rounds_across_the_minute", time.Date(2026, 11, 24, 3, 0, 59, 500_000_000, time.UTC), "2026-11-24T03:01:00Z"},
		{"other_zone_is_written_in_utc", time.Date(2026, 11, 24, 4, 0, 0, 1, paris), "2026-11-24T03:00:01Z"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := contain.RevokeCutoff(tt.now).Format(time.RFC3339); got != tt.want {
				t.Errorf("RevokeCutoff(%s) = %s, want %s", tt.now.Format(time.RFC3339Nano), got, tt.want)
			}
			if !strings.Contains(contain.RevokePolicy(tt.now), `"aws:TokenIssueTime":"`+tt.want+`"`) {
				t.Errorf("RevokePolicy(%s) = %s, want cutoff %s", tt.now.Format(time.RFC3339Nano), contain.RevokePolicy(tt.now), tt.want)
			}
		})
	}
}

func TestIsOwnPolicy(t *testing.T) {
	own := contain.RevokePolicy(fixedNow)
	// with returns own with one edit made to its only statement.
	with := func(edit func(st map[string]any)) string {
		var doc map[string]any
		if err := json.Unmarshal([]byte(own), &doc); err != nil {
			t.Fatal(err)
		}
		edit(doc["Statement"].([]any)[0].(map[string]any))
		b, _ := json.Marshal(doc)
		return string(b)
	}
	respaced, _ := json.MarshalIndent(json.RawMessage(own), "", "  ")
	for _, tt := range []struct {
		name string
		doc  string
		want bool
	}{
		{"as_written", own, true},
		{"url_encoded_as_iam_returns_it", url.QueryEscape(own), true},
		{"url_encoded_with_percent20", strings.ReplaceAll(url.PathEscape(own), ":", "%3A"), true},
		{"respaced", string(respaced), true},
		{"written_by_an_earlier_version", legacyOwn, true},
		{"single_star_strings", with(func(st map[string]any) { st["Action"], st["Resource"] = "*", "*" }), true},
		{"console_document_without_the_sid", consoleLike, false},
		{"someone_elses_allow", foreignPolicy, false},
		{"sid_on_an_allow", with(func(st map[string]any) { st["Effect"] = "Allow" }), false},
		{"sid_on_a_narrower_deny", with(func(st map[string]any) { st["Action"] = []string{"s3:*"} }), false},
		{"sid_on_one_resource", with(func(st map[string]any) { st["Resource"] = []string{"arn:aws:s3:::b"} }), false},
		{"extra_element", with(func(st map[string]any) { st["NotAction"] = []string{"iam:*"} }), false},
		{"other_condition", with(func(st map[string]any) {
			st["Condition"] = map[string]any{"DateLessThan": map[string]any{"aws:CurrentTime": "2026-11-24T03:00:00Z"}}
		}), false},
		{"extra_condition", with(func(st map[string]any) {
			st["Condition"].(map[string]any)["IpAddress"] = map[string]any{"aws:SourceIp": "203.0.113.0/24"}
		}), false},
		{"cutoff_not_a_time", with(func(st map[string]any) {
			st["Condition"] = map[string]any{"DateLessThan": map[string]any{"aws:TokenIssueTime": "soon"}}
		}), false},
		{"a_second_statement", strings.Replace(own, `}],"Version"`, `},{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}],"Version"`, 1), false},
		{"another_top_level_element", strings.Replace(own, `{"Statement"`, `{"Id":"mine","Statement"`, 1), false},
		{"empty", "", false},
		{"not_json", "%7Bnot json", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := contain.IsOwnPolicy(tt.doc); got != tt.want {
				t.Errorf("IsOwnPolicy(%s) = %v, want %v", tt.doc, got, tt.want)
			}
		})
	}
	// The console's own policy is the one this must never confuse.
	if !strings.Contains(own, `"Sid":"`+contain.RevokePolicySid+`"`) {
		t.Errorf("own policy %s carries no marker Sid", own)
	}
}

// TestRevokeSessionsNeverOverwritesForeignPolicy: a policy of autocontain's
// name that autocontain did not write is read, left as it was, and the step
// fails with a reason naming the policy and the principal; one autocontain
// wrote (this version or an earlier one) is replaced.
func TestRevokeSessionsNeverOverwritesForeignPolicy(t *testing.T) {
	cfg, c := newIAM(t, "bob", "carol")
	ctx := context.Background()
	mustRole(t, c, "web-app-role", "/")
	put := func(user, role, doc string) {
		t.Helper()
		var err error
		if role != "" {
			_, err = c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String(contain.RevokePolicyName), PolicyDocument: aws.String(doc)})
		} else {
			_, err = c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(user), PolicyName: aws.String(contain.RevokePolicyName), PolicyDocument: aws.String(doc)})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	read := func(user, role string) string {
		t.Helper()
		if role != "" {
			out, err := c.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String(contain.RevokePolicyName)})
			if err != nil {
				t.Fatal(err)
			}
			return mustUnescape(t, out.PolicyDocument)
		}
		out, err := c.GetUserPolicy(ctx, &iam.GetUserPolicyInput{UserName: aws.String(user), PolicyName: aws.String(contain.RevokePolicyName)})
		if err != nil {
			t.Fatal(err)
		}
		return mustUnescape(t, out.PolicyDocument)
	}
	put("", "web-app-role", foreignPolicy)
	put("bob", "", consoleLike)
	put("carol", "", legacyOwn)

	revoker := &contain.SessionRevoker{IAM: c}
	for _, tt := range []struct {
		name, user, role, before string
	}{
		{"role_with_someone_elses_allow", "", "web-app-role", foreignPolicy},
		{"user_with_a_console_like_deny", "bob", "", consoleLike},
	} {
		t.Run(tt.name, func(t *testing.T) {
			target := plan.Target{Kind: plan.TargetUser, UserName: tt.user}
			who := "user " + tt.user
			if tt.role != "" {
				target, who = plan.Target{Kind: plan.TargetRole, RoleName: tt.role}, "role "+tt.role
			}
			step := plan.Step{Action: playbook.ActionRevokeSessions, Target: target, Reason: "test"}
			_, err := revoker.Execute(ctx, contain.Request{Step: step, Now: fixedNow})
			if !errors.Is(err, contain.ErrForeignPolicy) {
				t.Fatalf("Execute error = %v, want ErrForeignPolicy", err)
			}
			rec := run(t, cfg, step)
			s := rec.Steps[0]
			if s.Status != audit.StatusFailed || rec.Err() == nil {
				t.Fatalf("step %+v, want failed", s)
			}
			for _, want := range []string{who, contain.RevokePolicyName, "not autocontain's", "left untouched", "rename or delete it"} {
				if !strings.Contains(s.Error, want) {
					t.Errorf("error %q does not mention %q", s.Error, want)
				}
			}
			var got, want any
			if err := json.Unmarshal([]byte(read(tt.user, tt.role)), &got); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(tt.before), &want); err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(got, want) {
				t.Errorf("policy now %v, want it untouched: %v", got, want)
			}
		})
	}

	t.Run("own_policy_of_an_earlier_version_is_replaced", func(t *testing.T) {
		step := plan.Step{Action: playbook.ActionRevokeSessions, Target: plan.Target{Kind: plan.TargetUser, UserName: "carol"}, Reason: "test"}
		rec := run(t, cfg, step)
		if rec.Steps[0].Status != audit.StatusDone {
			t.Fatalf("step %+v", rec.Steps[0])
		}
		if got := read("carol", ""); !contain.IsOwnPolicy(got) || !strings.Contains(got, contain.RevokePolicySid) || !strings.Contains(got, "2026-11-24T03:00:00Z") {
			t.Errorf("carol's policy %s, want the new one", got)
		}
	})
}

// TestRevokeSessionsCutoffRoundedUp: executed 250 ms into a second, the deny
// written in IAM covers that whole second.
func TestRevokeSessionsCutoffRoundedUp(t *testing.T) {
	cfg, c := newIAM(t, "bob")
	ctx := context.Background()
	now := fixedNow.Add(250 * time.Millisecond)
	ex := contain.NewExecutor(func() time.Time { return now }, contain.Registry(contain.NewClients(cfg), nil)...)
	step := plan.Step{Action: playbook.ActionRevokeSessions, Target: plan.Target{Kind: plan.TargetUser, UserName: "bob"}, Reason: "test"}
	rec := ex.Execute(ctx, plan.Plan{Steps: []plan.Step{step}})
	if rec.Steps[0].Status != audit.StatusDone {
		t.Fatalf("step %+v", rec.Steps[0])
	}
	cutoff := userCutoff(t, c, "bob")
	if cutoff != "2026-11-24T03:00:01Z" {
		t.Errorf("cutoff in IAM = %v, want 2026-11-24T03:00:01Z (rounded up from %s)", cutoff, now.Format(time.RFC3339Nano))
	}
	if !strings.Contains(rec.Steps[0].Detail, "before 2026-11-24T03:00:01Z") {
		t.Errorf("detail %q does not name the rounded cutoff", rec.Steps[0].Detail)
	}
}

// TestRevokeSessionsNeverMovesTheCutoffBack: two findings about one
// principal delivered at the same time race; the one that computed the
// earlier cutoff must not overwrite the later one, or tokens minted between
// the two would survive.
func TestRevokeSessionsNeverMovesTheCutoffBack(t *testing.T) {
	cfg, c := newIAM(t, "bob")
	ctx := context.Background()
	step := plan.Step{Action: playbook.ActionRevokeSessions, Target: plan.Target{Kind: plan.TargetUser, UserName: "bob"}, Reason: "test"}
	for _, at := range []time.Time{fixedNow.Add(time.Minute), fixedNow} {
		ex := contain.NewExecutor(func() time.Time { return at }, contain.Registry(contain.NewClients(cfg), nil)...)
		if rec := ex.Execute(ctx, plan.Plan{Steps: []plan.Step{step}}); rec.Failed() {
			t.Fatalf("step %+v", rec.Steps[0])
		}
	}
	cutoff := userCutoff(t, c, "bob")
	if want := fixedNow.Add(time.Minute).UTC().Format(time.RFC3339); cutoff != want {
		t.Errorf("cutoff %v, want the later %s", cutoff, want)
	}
}

// userCutoff reads back the aws:TokenIssueTime cutoff of user's deny policy.
func userCutoff(t *testing.T, c *iam.Client, user string) any {
	t.Helper()
	out, err := c.GetUserPolicy(context.Background(), &iam.GetUserPolicyInput{UserName: aws.String(user), PolicyName: aws.String(contain.RevokePolicyName)})
	if err != nil {
		t.Fatal(err)
	}
	doc := policyDoc(t, out.PolicyDocument)
	return doc["Statement"].([]any)[0].(map[string]any)["Condition"].(map[string]any)["DateLessThan"].(map[string]any)["aws:TokenIssueTime"]
}
