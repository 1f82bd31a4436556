package contain_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/autocontain/autocontain/internal/audit"
	"github.com/autocontain/autocontain/internal/contain"
	"github.com/autocontain/autocontain/internal/failure"
	"github.com/autocontain/autocontain/internal/ledger"
	"github.com/autocontain/autocontain/internal/plan"
	"github.com/autocontain/autocontain/internal/playbook"
)

var quarantineV3 = playbook.DefaultQuarantinePolicy("aws")

func quarantineStep(t plan.Target, policy string) plan.Step {
	t.Policy = policy
	return plan.Step{Action: playbook.ActionQuarantine, Target: t, Reason: "test"}
}

// attachedPolicies reads the ARNs of the managed policies attached to a
// user, or to a role when role is true.
func attachedPolicies(t *testing.T, c *iam.Client, name string, role bool) []string {
	t.Helper()
	var out []string
	if role {
		r, err := c.ListAttachedRolePolicies(context.Background(), &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range r.AttachedPolicies {
			out = append(out, aws.ToString(p.PolicyArn))
		}
		return out
	}
	r, err := c.ListAttachedUserPolicies(context.Background(), &iam.ListAttachedUserPoliciesInput{UserName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range r.AttachedPolicies {
		out = append(out, aws.ToString(p.PolicyArn))
	}
	return out
}

// TestQuarantine attaches AWS's quarantine policy (moto's copy of it) or a
// configured one to users and roles, reads the attachment back, runs again
// without a change, and undoes through the hold: the policy is detached.
func TestQuarantine(t *testing.T) {
	cfg, c := newIAM(t, "alice", "bob")
	ctx := context.Background()
	mustRole(t, c, "web-app-role", "/service/")
	own, err := c.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("Quarantine"), Path: aws.String("/security/"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"ec2:RunInstances","Resource":"*"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	custom := aws.ToString(own.Policy.Arn)
	q := &contain.Quarantiner{IAM: c}
	for _, tt := range []struct {
		name   string
		target plan.Target
		policy string
		role   bool
	}{
		{"user_gets_aws_policy", plan.Target{Kind: plan.TargetUser, UserName: "alice"}, quarantineV3, false},
		{"role_gets_aws_policy", plan.Target{Kind: plan.TargetRole, RoleName: "web-app-role"}, quarantineV3, true},
		{"user_gets_configured_policy", plan.Target{Kind: plan.TargetUser, UserName: "bob"}, custom, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			name := tt.target.UserName + tt.target.RoleName
			step := quarantineStep(tt.target, tt.policy)
			rec := run(t, cfg, step)
			if s := rec.Steps[0]; s.Status != audit.StatusDone || !strings.Contains(s.Detail, "attached policy "+tt.policy) {
				t.Fatalf("first run: %+v", s)
			}
			if got := attachedPolicies(t, c, name, tt.role); !slices.Equal(got, []string{tt.policy}) {
				t.Fatalf("attached after quarantine: %v, want %s", got, tt.policy)
			}
			if s := run(t, cfg, step).Steps[0]; s.Status != audit.StatusUnchanged || !strings.Contains(s.Detail, "already attached") {
				t.Errorf("second run: %+v, want unchanged", s)
			}
			if len(rec.Changes) != 1 || rec.Changes[0].Resource != "attached/"+tt.policy {
				t.Errorf("changes %+v, want the attachment", rec.Changes)
			}
			h, err := q.Hold("123456789012", step)
			if err != nil {
				t.Fatal(err)
			}
			done, left, err := q.Undo(ctx, h)
			if err != nil || !strings.Contains(done, "detached policy "+tt.policy) || left != "" {
				t.Fatalf("undo: %q, %q, %v", done, left, err)
			}
			if got := attachedPolicies(t, c, name, tt.role); len(got) != 0 {
				t.Errorf("attached after undo: %v", got)
			}
			if done, left, err := q.Undo(ctx, h); err != nil || done != "" || !strings.Contains(left, "no longer attached") {
				t.Errorf("second undo: %q, %q, %v", done, left, err)
			}
		})
	}
}

// TestQuarantineRefusals: what cannot be quarantined fails permanently, with
// a reason, and attaches nothing.
func TestQuarantineRefusals(t *testing.T) {
	cfg, c := newIAM(t, "alice")
	grants, err := c.CreatePolicy(context.Background(), &iam.CreatePolicyInput{PolicyName: aws.String("NotAQuarantine"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"ec2:RunInstances","Resource":"*"},{"Effect":"Allow","Action":"*","Resource":"*"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		step plan.Step
		want string
	}{
		{"no_such_user", quarantineStep(plan.Target{Kind: plan.TargetUser, UserName: "mallory"}, quarantineV3), "user mallory: it does not exist"},
		{"no_such_policy", quarantineStep(plan.Target{Kind: plan.TargetUser, UserName: "alice"}, "arn:aws:iam::aws:policy/NoSuchQuarantine"), "does not exist"},
		{"a_policy_that_grants", quarantineStep(plan.Target{Kind: plan.TargetUser, UserName: "alice"}, aws.ToString(grants.Policy.Arn)), "must only deny, to restrict (settings.quarantinePolicyArn): statement 2 is an Allow"},
		{"no_policy_in_the_step", quarantineStep(plan.Target{Kind: plan.TargetUser, UserName: "alice"}, ""), "needs a managed policy ARN"},
		{"not_a_principal", quarantineStep(plan.Target{Kind: plan.TargetAccessKey, UserName: "alice", AccessKeyID: "AKIAIOSFODNN7EXAMPLE"}, quarantineV3), "needs a role or a user"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := (&contain.Quarantiner{IAM: c}).Execute(context.Background(), contain.Request{Step: tt.step, Now: fixedNow})
			if err == nil || !failure.IsPermanent(err) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want a permanent one saying %q", err, tt.want)
			}
			if rec := run(t, cfg, tt.step); rec.Steps[0].Status != audit.StatusFailed {
				t.Errorf("step %+v, want failed", rec.Steps[0])
			}
			if got := attachedPolicies(t, c, "alice", false); len(got) != 0 {
				t.Errorf("attached: %v", got)
			}
		})
	}
}

// TestQuarantineHoldsNameThePolicy: a hold names its principal and policy,
// leads back to the same step, and a hold of another shape is refused.
func TestQuarantineHoldsNameThePolicy(t *testing.T) {
	q := &contain.Quarantiner{}
	step := quarantineStep(plan.Target{Kind: plan.TargetRole, RoleName: "web"}, quarantineV3)
	h, err := q.Hold("123456789012", step)
	want := ledger.Hold{Action: playbook.ActionQuarantine, Account: "123456789012", Principal: "role/web", Resource: "attached/" + quarantineV3}
	if err != nil || h != want {
		t.Fatalf("Hold = %+v, %v; want %+v", h, err, want)
	}
	back, err := q.Step(h)
	if err != nil || back.Target.RoleName != "web" || back.Target.Policy != quarantineV3 || back.Target.Kind != plan.TargetRole {
		t.Errorf("Step(%+v) = %+v, %v", h, back, err)
	}
	for _, bad := range []ledger.Hold{
		{Action: playbook.ActionQuarantine, Principal: "role/web", Resource: "policy/AutocontainRevokeOlderSessions"},
		{Action: playbook.ActionQuarantine, Principal: "group/web", Resource: "attached/" + quarantineV3},
		{Action: playbook.ActionQuarantine, Principal: "role/web", Resource: "attached/not-an-arn"},
	} {
		if _, err := q.Step(bad); err == nil {
			t.Errorf("Step(%+v) read a hold that is not quarantine's", bad)
		}
	}
}

// TestQuarantineLeavesAnAttachmentItDidNotMake: a policy a person attached
// already is unchanged, and the record holds no change of it, so undo
// (which restores only what autocontain changed) leaves it attached.
func TestQuarantineLeavesAnAttachmentItDidNotMake(t *testing.T) {
	cfg, c := newIAM(t, "alice")
	if _, err := c.AttachUserPolicy(context.Background(), &iam.AttachUserPolicyInput{UserName: aws.String("alice"), PolicyArn: aws.String(quarantineV3)}); err != nil {
		t.Fatal(err)
	}
	rec := run(t, cfg, quarantineStep(plan.Target{Kind: plan.TargetUser, UserName: "alice"}, quarantineV3))
	if s := rec.Steps[0]; s.Status != audit.StatusUnchanged || len(rec.Changes) != 0 {
		t.Errorf("step %+v, changes %+v: want unchanged, no change recorded", s, rec.Changes)
	}
	if got := attachedPolicies(t, c, "alice", false); !slices.Equal(got, []string{quarantineV3}) {
		t.Errorf("attached: %v", got)
	}
}
