package engine

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/autocontain/autocontain/internal/audit"
	"github.com/autocontain/autocontain/internal/failure"
	"github.com/autocontain/autocontain/internal/playbook"
	"github.com/autocontain/autocontain/internal/testenv"
	"github.com/autocontain/autocontain/internal/testenv/faultproxy"
)

// revokeOnly is the default playbook whose instance rules revoke the role
// of the instance's profile and isolate nothing: the isolation is the
// contain side's action, tested with it.
func revokeOnly(pb *playbook.Playbook) {
	for i, r := range pb.Rules {
		if r.Has(playbook.ActionIsolateInstance) {
			pb.Rules[i].Actions = []string{playbook.ActionRevokeSessions, playbook.ActionNotify}
		}
	}
}

// TestInstanceRoleInTheRun: for a finding about an instance, a run reads
// the role of the instance's profile from IAM (iam:GetInstanceProfile)
// before planning and revokes that role's sessions as any role's, its
// protect tag read as any role's; a profile that cannot be read fails the
// delivery, retryably, and nothing is changed; a dry run reads nothing.
func TestInstanceRoleInTheRun(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	c := iam.NewFromConfig(fx.cfg)
	eng := fx.engine(nil)
	revokeOnly(eng.Playbook)
	policies := func(t *testing.T, role string) []string {
		t.Helper()
		return fx.state(t).RolePolicies[role]
	}
	const denyPolicy = "AutocontainRevokeOlderSessions"

	t.Run("profile_unreadable_fails_retryably", func(t *testing.T) {
		fx.proxy.Inject("GetInstanceProfile", faultproxy.AccessDenied, 1)
		rec, err := eng.Run(ctx, event(t, "guardduty-ec2-bitcointool-dns.json", "7e2a4c6b8d0f1e3a5c7b9d1f3e5a7c9b", "unreadable-profile"))
		if err == nil || failure.IsPermanent(err) || !strings.Contains(err.Error(), "iam:GetInstanceProfile") {
			t.Fatalf("err %v: want a transient failure naming iam:GetInstanceProfile", err)
		}
		if slices.Contains(policies(t, "data-pipeline-role"), denyPolicy) || rec.Outcome == audit.OutcomeContained {
			t.Errorf("the role was changed, or the record says contained (%s)", rec.Outcome)
		}
	})

	t.Run("profile_gone_fails_retryably", func(t *testing.T) {
		_, err := eng.Run(ctx, event(t, "guardduty-ec2-bitcointool-dns.json", "7e2a4c6b8d0f1e3a5c7b9d1f3e5a7c9b", "gone-profile",
			"instance-profile/batch-worker", "instance-profile/deleted-worker"))
		if err == nil || failure.IsPermanent(err) || !strings.Contains(err.Error(), "deleted-worker") {
			t.Fatalf("err %v: want a transient failure naming the profile", err)
		}
		if slices.Contains(policies(t, "data-pipeline-role"), denyPolicy) {
			t.Error("the role was changed")
		}
	})

	t.Run("dry_run_reads_nothing", func(t *testing.T) {
		dry := fx.engine(func(s *playbook.Settings) { s.DryRun = true })
		revokeOnly(dry.Playbook)
		before := fx.proxy.Count("GetInstanceProfile")
		rec, err := dry.Run(ctx, event(t, "guardduty-ec2-backdoor-ccactivity.json", "2c4e6a8b0d1f3e5c7a9b1d3f5e7c9a0b", "dry-run"))
		if err != nil || fx.proxy.Count("GetInstanceProfile") != before {
			t.Fatalf("err %v, %d reads", err, fx.proxy.Count("GetInstanceProfile")-before)
		}
		if !strings.Contains(rec.Text(), "read from IAM (iam:GetInstanceProfile) when the finding is handled") {
			t.Errorf("the dry run does not say the role is read at execution:\n%s", rec.Text())
		}
	})

	t.Run("instance_tagged_protected_since_the_finding", func(t *testing.T) {
		// The finding does not show the tag: the instance was tagged after
		// GuardDuty wrote it. Its role is not revoked (nor, by the action's
		// own read, is it isolated).
		in := testenv.RunInstance(t, fx.cfg, ec2types.Tag{Key: aws.String("autocontain:protected"), Value: aws.String(" True ")})
		rec, err := eng.Run(ctx, event(t, "guardduty-ec2-backdoor-ccactivity.json", "2c4e6a8b0d1f3e5c7a9b1d3f5e7c9a0b", "protected-since",
			"i-0a1b2c3d4e5f67890", in.ID))
		if err != nil {
			t.Fatalf("run: %v\n%s", err, rec.Text())
		}
		if slices.Contains(policies(t, "web-app-role"), denyPolicy) || !strings.Contains(rec.Text(), "as EC2 shows it now") {
			t.Errorf("the role of an instance tagged protected was revoked, or the record does not say why not:\n%s", rec.Text())
		}
	})

	t.Run("role_read_and_revoked", func(t *testing.T) {
		rec, err := eng.Run(ctx, event(t, "guardduty-ec2-backdoor-ccactivity.json", "2c4e6a8b0d1f3e5c7a9b1d3f5e7c9a0b", "role-read"))
		if err != nil {
			t.Fatalf("run: %v\n%s", err, rec.Text())
		}
		if len(rec.Steps) == 0 || rec.Steps[0].Action != playbook.ActionRevokeSessions || rec.Steps[0].Status != audit.StatusDone ||
			!strings.Contains(rec.Steps[0].Target, "web-app-role") || !strings.Contains(rec.Steps[0].Reason, "every instance that uses the role") {
			t.Fatalf("steps %+v", rec.Steps)
		}
		if !slices.Contains(policies(t, "web-app-role"), denyPolicy) {
			t.Errorf("web-app-role has no deny policy: %v", policies(t, "web-app-role"))
		}
	})

	t.Run("protected_role_is_left_alone", func(t *testing.T) {
		if _, err := c.TagRole(ctx, &iam.TagRoleInput{RoleName: aws.String("data-pipeline-role"),
			Tags: []iamtypes.Tag{{Key: aws.String("autocontain:protected"), Value: aws.String("true")}}}); err != nil {
			t.Fatal(err)
		}
		rec, err := eng.Run(ctx, event(t, "guardduty-ec2-ssh-bruteforce-outbound.json", "9a1c3e5b7d9f0a2c4e6b8d0f1a3c5e7b", "protected-role"))
		if err != nil {
			t.Fatalf("run: %v\n%s", err, rec.Text())
		}
		if slices.Contains(policies(t, "data-pipeline-role"), denyPolicy) || !strings.Contains(rec.Text(), "tagged autocontain:protected=true") {
			t.Errorf("a protected role was contained, or the record does not say why not:\n%s", rec.Text())
		}
	})
}

// TestOrganizationReadsTheMembersInstanceProfile: in organization mode, a
// finding about a member's instance reads the profile's role through the
// member role and revokes the member's role; the central account's
// same-named role is untouched.
func TestOrganizationReadsTheMembersInstanceProfile(t *testing.T) {
	of := newOrgFixture(t, 1)
	ctx := context.Background()
	m := of.members[0]
	eng := of.engine(nil)
	revokeOnly(eng.Playbook)
	raw := event(t, "guardduty-ec2-backdoor-ccactivity.json", `"accountId": "123456789012"`, `"accountId": "`+m.id+`"`,
		"arn:aws:iam::123456789012:instance-profile/", "arn:aws:iam::"+m.id+":instance-profile/")
	rec, err := eng.Run(ctx, raw)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, rec.Text())
	}
	if !strings.Contains(rec.ActsIn, "account "+m.id+" via role") {
		t.Errorf("acts in %q", rec.ActsIn)
	}
	st, err := m.acct.Snapshot(ctx, m.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(st.RolePolicies["web-app-role"], "AutocontainRevokeOlderSessions") {
		t.Errorf("the member's web-app-role is not revoked: %v\n%s", st.RolePolicies, rec.Text())
	}
	if central := of.state(t).RolePolicies["web-app-role"]; len(central) > 0 {
		t.Errorf("the central account's web-app-role changed: %v", central)
	}
}

// TestUnreadableProfileStillIsolates: the role of the instance's profile
// cannot be read (an older member stack without iam:GetInstanceProfile, a
// profile deleted by the attacker): the instance is isolated all the same,
// since isolating needs no role, and the delivery fails retryably without
// being handled, so the retry revokes the role once it can be read.
func TestUnreadableProfileStillIsolates(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	eng := fx.engine(nil)
	raw := fx.acct.Rewrite(event(t, "guardduty-ec2-bitcointool-dns.json", "7e2a4c6b8d0f1e3a5c7b9d1f3e5a7c9b", "unreadable-profile-isolates"))
	fx.proxy.Inject("GetInstanceProfile", faultproxy.AccessDenied, 1)
	rec, err := eng.Run(ctx, raw)
	if err == nil || failure.IsPermanent(err) || !strings.Contains(err.Error(), "iam:GetInstanceProfile") {
		t.Fatalf("err %v: want a transient failure naming iam:GetInstanceProfile", err)
	}
	isolated := func(rec audit.Record) bool {
		return slices.ContainsFunc(rec.Steps, func(s audit.Step) bool {
			return s.Action == playbook.ActionIsolateInstance && s.Status == audit.StatusDone
		})
	}
	if !isolated(rec) {
		t.Fatalf("the instance was not isolated:\n%s", rec.Text())
	}
	if slices.Contains(fx.state(t).RolePolicies["data-pipeline-role"], "AutocontainRevokeOlderSessions") {
		t.Error("the role was revoked without being read")
	}
	retry, err := eng.Run(ctx, raw)
	if err != nil {
		t.Fatalf("retry: %v\n%s", err, retry.Text())
	}
	if !slices.Contains(fx.state(t).RolePolicies["data-pipeline-role"], "AutocontainRevokeOlderSessions") {
		t.Errorf("the retry did not revoke the role:\n%s", retry.Text())
	}
}
