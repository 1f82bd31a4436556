package engine

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/autocontain/autocontain/internal/account"
	"github.com/autocontain/autocontain/internal/audit"
	"github.com/autocontain/autocontain/internal/contain"
	"github.com/autocontain/autocontain/internal/plan"
	"github.com/autocontain/autocontain/internal/playbook"
)

// TestForeignPrincipalIsNotTouched: role and user names repeat across
// accounts (StackSet roles, OrganizationAccountAccessRole), so a finding
// about another account's or partition's principal must leave the
// same-named one in the responder's account alone. Proven by reading the
// emulator back: no deny policy on the role or user, the key still Active,
// no principal-changing call made. The same event about the home account,
// last, is contained, so the test can tell.
func TestForeignPrincipalIsNotTouched(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	iamc := iam.NewFromConfig(fx.cfg)
	const (
		roleEvent = "cloudtrail-assumedrole-deletedetector.json" // role data-pipeline-role
		gdRole    = "guardduty-instance-credential-exfiltration-outsideaws.json"
		gdUser    = "guardduty-maliciousipcaller-custom-akia.json"
		ctUser    = "cloudtrail-stoplogging-iamuser.json"
	)
	tests := []struct {
		name, file string
		replace    []string
		home       account.Account
	}{
		{"guardduty_member_account_role", gdRole, []string{`"accountId": "123456789012"`, `"accountId": "210987654321"`}, goldenHome},
		{"guardduty_member_account_user", gdUser, []string{`"accountId": "123456789012"`, `"accountId": "210987654321"`}, goldenHome},
		{"guardduty_china_partition", gdUser, []string{`"partition": "aws"`, `"partition": "aws-cn"`}, goldenHome},
		{"cloudtrail_user_identity_account", roleEvent, []string{`"accountId": "123456789012"`, `"accountId": "210987654321"`}, goldenHome},
		{"cloudtrail_principal_arn_account", ctUser, []string{`arn:aws:iam::123456789012:user/alice`, `arn:aws:iam::210987654321:user/alice`}, goldenHome},
		{"cloudtrail_govcloud_arns", roleEvent, []string{`arn:aws:`, `arn:aws-us-gov:`}, goldenHome},
		{"home_unknown", roleEvent, nil, account.Account{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eng := fx.engine(nil)
			eng.Home = tt.home
			before := principalCalls(fx)
			rec, err := eng.Run(ctx, fx.acct.Rewrite(event(t, tt.file, tt.replace...)))
			if err != nil {
				t.Fatalf("run: %v\n%s", err, rec.Text())
			}
			if n := principalCalls(fx) - before; n != 0 {
				t.Errorf("%d principal-changing calls:\n%s", n, rec.Text())
			}
			for _, role := range []string{"data-pipeline-role", "web-app-role"} {
				if has := hasRevokePolicy(t, iamc, role, true); has {
					t.Errorf("role %s got the deny of another account's principal:\n%s", role, rec.Text())
				}
			}
			if hasRevokePolicy(t, iamc, "alice", false) {
				t.Errorf("user alice got the deny of another account's principal:\n%s", rec.Text())
			}
			if st := fx.state(t); st.KeyStatus["alice"][fx.acct.Keys["alice"][0]] != "Active" {
				t.Errorf("alice's key was deactivated:\n%s", rec.Text())
			}
		})
	}
	// Control: about the home account, the role is contained (a new event
	// id, as the ledger remembers the ones above as handled).
	rec, err := fx.engine(nil).Run(ctx, event(t, roleEvent, `"eventID": "afdd9edd`, `"eventID": "bfdd9edd`))
	if err != nil {
		t.Fatalf("home event: %v\n%s", err, rec.Text())
	}
	if !hasRevokePolicy(t, iamc, "data-pipeline-role", true) {
		t.Fatalf("the home account's role was not contained:\n%s", rec.Text())
	}
}

func principalCalls(fx *fixture) int {
	return fx.proxy.Count("UpdateAccessKey") + fx.proxy.Count("PutRolePolicy") + fx.proxy.Count("PutUserPolicy")
}

// hasRevokePolicy reads the deny policy back: GetRolePolicy/GetUserPolicy.
func hasRevokePolicy(t *testing.T, iamc *iam.Client, name string, role bool) bool {
	t.Helper()
	var err error
	if role {
		_, err = iamc.GetRolePolicy(context.Background(), &iam.GetRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String(contain.RevokePolicyName)})
	} else {
		_, err = iamc.GetUserPolicy(context.Background(), &iam.GetUserPolicyInput{UserName: aws.String(name), PolicyName: aws.String(contain.RevokePolicyName)})
	}
	var missing *iamtypes.NoSuchEntityException
	switch {
	case err == nil:
		return true
	case errors.As(err, &missing):
		return false
	}
	t.Fatalf("read the policy of %s: %v", name, err)
	return false
}

// TestDryRunSaysProtectionWasNotChecked: a dry run reads nothing from the
// account, so it plans containing a principal that a real run leaves alone
// for its protect tag. Its plan and audit record say so.
func TestDryRunSaysProtectionWasNotChecked(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	if _, err := iam.NewFromConfig(fx.cfg).TagUser(ctx, &iam.TagUserInput{UserName: aws.String("alice"),
		Tags: []iamtypes.Tag{{Key: aws.String("autocontain:protected"), Value: aws.String("true")}}}); err != nil {
		t.Fatal(err)
	}
	raw := fx.acct.Rewrite(event(t, "guardduty-maliciousipcaller-custom-akia.json"))
	rec, err := fx.engine(func(s *playbook.Settings) { s.DryRun = true }).Run(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	var note *audit.Step
	for i, s := range rec.Steps {
		if s.Skipped == plan.ProtectionCheck {
			note = &rec.Steps[i]
		}
	}
	if rec.Outcome != audit.OutcomeDryRun || note == nil || !strings.Contains(note.Reason, "autocontain:protected") {
		t.Fatalf("the dry run does not say protection was not checked:\n%s", rec.Text())
	}
	// The real run reads the tag and leaves alice alone: what the note warned of.
	rec, err = fx.engine(nil).Run(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rec.Text(), "protected") || fx.state(t).KeyStatus["alice"][fx.acct.Keys["alice"][0]] != "Active" {
		t.Fatalf("the real run contained a protected user:\n%s", rec.Text())
	}
	for _, s := range rec.Steps {
		if s.Skipped == plan.ProtectionCheck {
			t.Errorf("a real run says protection was not checked:\n%s", rec.Text())
		}
	}
}
