package contain_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/autocontain/autocontain/internal/audit"
	"github.com/autocontain/autocontain/internal/contain"
	"github.com/autocontain/autocontain/internal/failure"
	"github.com/autocontain/autocontain/internal/plan"
	"github.com/autocontain/autocontain/internal/playbook"
)

var (
	office = netip.MustParsePrefix("198.51.100.0/24")
	nat    = netip.MustParsePrefix("203.0.113.7/32")
	v6     = netip.MustParsePrefix("2001:db8::/32")
)

func restrictStep(t plan.Target, networks ...netip.Prefix) plan.Step {
	t.Addresses = networks
	return plan.Step{Action: playbook.ActionRestrictSource, Target: t, Reason: "test"}
}

// restrictDoc reads the restrict policy of a user, or of a role when role
// is true, as JSON; "" when there is none.
func restrictDoc(t *testing.T, c *iam.Client, name string, role bool) string {
	t.Helper()
	var (
		doc *string
		err error
	)
	if role {
		var out *iam.GetRolePolicyOutput
		if out, err = c.GetRolePolicy(context.Background(), &iam.GetRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String(contain.RestrictPolicyName)}); err == nil {
			doc = out.PolicyDocument
		}
	} else {
		var out *iam.GetUserPolicyOutput
		if out, err = c.GetUserPolicy(context.Background(), &iam.GetUserPolicyInput{UserName: aws.String(name), PolicyName: aws.String(contain.RestrictPolicyName)}); err == nil {
			doc = out.PolicyDocument
		}
	}
	var nse *iamtypes.NoSuchEntityException
	if errors.As(err, &nse) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return mustUnescape(t, doc)
}

// TestRestrictPolicy: the document is the IAM User Guide's "Denies access
// to AWS based on the source IP", with autocontain's Sid.
func TestRestrictPolicy(t *testing.T) {
	var got any
	if err := json.Unmarshal([]byte(contain.RestrictPolicy([]netip.Prefix{office, netip.MustParsePrefix("203.0.113.7/24")})), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
		"Sid": contain.RestrictPolicySid, "Effect": "Deny", "Action": "*", "Resource": "*",
		"Condition": map[string]any{
			"NotIpAddress": map[string]any{"aws:SourceIp": []any{"198.51.100.0/24", "203.0.113.0/24"}},
			"Bool":         map[string]any{"aws:ViaAWSService": "false"},
		},
	}}}
	if !jsonEqual(got, want) {
		t.Errorf("RestrictPolicy = %v\nwant %v", got, want)
	}
}

// TestRestrictSource writes the deny on a user and a role, reads it back,
// runs again without a change, rewrites it when the networks change, and
// undoes it through the hold.
func TestRestrictSource(t *testing.T) {
	cfg, c := newIAM(t, "alice")
	ctx := context.Background()
	mustRole(t, c, "web-app-role", "/")
	r := &contain.SourceRestrictor{IAM: c}
	for _, tt := range []struct {
		name   string
		target plan.Target
		role   bool
	}{
		{"user", plan.Target{Kind: plan.TargetUser, UserName: "alice"}, false},
		{"role", plan.Target{Kind: plan.TargetRole, RoleName: "web-app-role"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			name := tt.target.UserName + tt.target.RoleName
			step := restrictStep(tt.target, office, v6)
			rec := run(t, cfg, step)
			if s := rec.Steps[0]; s.Status != audit.StatusDone || !strings.Contains(s.Detail, "denies requests from outside 198.51.100.0/24 2001:db8::/32") {
				t.Fatalf("first run: %+v", s)
			}
			var got, want any
			_ = json.Unmarshal([]byte(restrictDoc(t, c, name, tt.role)), &got)
			_ = json.Unmarshal([]byte(contain.RestrictPolicy([]netip.Prefix{office, v6})), &want)
			if !jsonEqual(got, want) {
				t.Fatalf("policy read back %v, want %v", got, want)
			}
			if s := run(t, cfg, step).Steps[0]; s.Status != audit.StatusUnchanged {
				t.Errorf("second run: %+v, want unchanged", s)
			}
			if s := run(t, cfg, restrictStep(tt.target, nat)).Steps[0]; s.Status != audit.StatusDone || !strings.Contains(restrictDoc(t, c, name, tt.role), "203.0.113.7/32") {
				t.Errorf("run with other networks: %+v, policy %s", s, restrictDoc(t, c, name, tt.role))
			}
			h, err := r.Hold("123456789012", step)
			if err != nil {
				t.Fatal(err)
			}
			if done, left, err := r.Undo(ctx, h); err != nil || !strings.Contains(done, "deleted policy "+contain.RestrictPolicyName) || left != "" {
				t.Fatalf("undo: %q, %q, %v", done, left, err)
			}
			if doc := restrictDoc(t, c, name, tt.role); doc != "" {
				t.Errorf("policy after undo: %s", doc)
			}
			if done, left, err := r.Undo(ctx, h); err != nil || done != "" || !strings.Contains(left, "already gone") {
				t.Errorf("second undo: %q, %q, %v", done, left, err)
			}
			// Undo's re-containment (another finding took hold meanwhile)
			// rebuilds the step from the hold, with the configured networks.
			again, err := (&contain.SourceRestrictor{IAM: c, Networks: []netip.Prefix{office}}).Step(h)
			if err != nil {
				t.Fatal(err)
			}
			if s := run(t, cfg, again).Steps[0]; s.Status != audit.StatusDone || !strings.Contains(restrictDoc(t, c, name, tt.role), "198.51.100.0/24") {
				t.Errorf("the step rebuilt from the hold: %+v", s)
			}
		})
	}
}

// TestRestrictSourceNeverOverwritesForeignPolicy: a policy of that name
// that is not exactly autocontain's deny is left as it is, the step fails
// permanently, and undo does not delete it either.
func TestRestrictSourceNeverOverwritesForeignPolicy(t *testing.T) {
	own := contain.RestrictPolicy([]netip.Prefix{office})
	cfg, c := newIAM(t)
	ctx := context.Background()
	r := &contain.SourceRestrictor{IAM: c}
	for i, doc := range map[string]string{
		"an_allow":          foreignPolicy,
		"without_the_sid":   strings.Replace(own, `,"Sid":"`+contain.RestrictPolicySid+`"`, "", 1),
		"without_via":       strings.Replace(own, `"Bool":{"aws:ViaAWSService":"false"},`, "", 1),
		"via_true":          strings.Replace(own, `"aws:ViaAWSService":"false"`, `"aws:ViaAWSService":"true"`, 1),
		"only_some_actions": strings.Replace(own, `"Action":"*"`, `"Action":"s3:*"`, 1),
		"a_second_statement": strings.Replace(own, `}],"Version"`,
			`},{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}],"Version"`, 1),
	} {
		t.Run(i, func(t *testing.T) {
			if doc == own {
				t.Fatal("the edit did not apply")
			}
			user := "u-" + strings.ReplaceAll(i, "_", "-")
			mustUser(t, c, user, 0)
			if _, err := c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(user), PolicyName: aws.String(contain.RestrictPolicyName), PolicyDocument: aws.String(doc)}); err != nil {
				t.Fatal(err)
			}
			step := restrictStep(plan.Target{Kind: plan.TargetUser, UserName: user}, office)
			_, err := r.Execute(ctx, contain.Request{Step: step, Now: fixedNow})
			if !errors.Is(err, contain.ErrForeignRestrictPolicy) || !failure.IsPermanent(err) {
				t.Fatalf("Execute error = %v, want a permanent ErrForeignRestrictPolicy", err)
			}
			if s := run(t, cfg, step).Steps[0]; s.Status != audit.StatusFailed || !strings.Contains(s.Error, "left untouched") {
				t.Errorf("step %+v", s)
			}
			h, _ := r.Hold("123456789012", step)
			if done, left, err := r.Undo(ctx, h); err != nil || done != "" || !strings.Contains(left, "not autocontain's") {
				t.Errorf("undo: %q, %q, %v", done, left, err)
			}
			var got, want any
			_ = json.Unmarshal([]byte(restrictDoc(t, c, user, false)), &got)
			_ = json.Unmarshal([]byte(doc), &want)
			if !jsonEqual(got, want) {
				t.Errorf("policy now %v, want it as it was: %v", got, want)
			}
		})
	}
}

// TestRestrictSourceRefusals: no networks, too many for a user's inline
// policy budget, or no principal: a permanent failure, nothing written.
func TestRestrictSourceRefusals(t *testing.T) {
	_, c := newIAM(t, "alice")
	mustRole(t, c, "web-app-role", "/")
	var many []netip.Prefix
	for i := range 120 {
		many = append(many, netip.MustParsePrefix(fmt.Sprintf("198.51.%d.0/24", i)))
	}
	r := &contain.SourceRestrictor{IAM: c}
	user := plan.Target{Kind: plan.TargetUser, UserName: "alice"}
	for _, tt := range []struct {
		name string
		step plan.Step
		want string
	}{
		{"no_networks", restrictStep(user), "allows no network"},
		{"over_the_users_inline_limit", restrictStep(user, many...), "over IAM's 2048"},
		{"no_such_user", restrictStep(plan.Target{Kind: plan.TargetUser, UserName: "mallory"}, office), "user mallory: it does not exist"},
		{"not_a_principal", restrictStep(plan.Target{Kind: plan.TargetAddresses}, office), "needs a role or a user"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.Execute(context.Background(), contain.Request{Step: tt.step, Now: fixedNow})
			if err == nil || !failure.IsPermanent(err) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want a permanent one saying %q", err, tt.want)
			}
			if doc := restrictDoc(t, c, "alice", false); doc != "" {
				t.Errorf("policy written: %s", doc)
			}
		})
	}
	// The same networks fit a role's larger budget.
	out, err := r.Execute(context.Background(), contain.Request{Step: restrictStep(plan.Target{Kind: plan.TargetRole, RoleName: "web-app-role"}, many...), Now: fixedNow})
	if err != nil || !out.Changed {
		t.Errorf("role with %d networks: %+v, %v", len(many), out, err)
	}
}
