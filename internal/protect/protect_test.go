package protect_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/playbook"
	"github.com/autocontain/autocontain/internal/protect"
	"github.com/autocontain/autocontain/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestGuard(t *testing.T) {
	emu := testenv.Moto(t)
	c := iam.NewFromConfig(emu.Config(t))
	ctx := context.Background()
	trust := aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)
	tag := []iamtypes.Tag{{Key: aws.String(protect.TagKey), Value: aws.String("True")}}
	for _, u := range []struct {
		name, path string
		tags       []iamtypes.Tag
	}{
		{"alice", "/", nil},
		{"break-glass", "/", tag},
		{"ops-admin", "/admins/", nil},
		{"untagged-false", "/", []iamtypes.Tag{{Key: aws.String(protect.TagKey), Value: aws.String("false")}}},
		// IAM's aws:ResourceTag condition ignores the key's case, so the
		// stack's deny protects this user: the guard must agree.
		{"key-case", "/", []iamtypes.Tag{{Key: aws.String("Autocontain:Protected"), Value: aws.String(" true")}}},
	} {
		if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(u.name), Path: aws.String(u.path), Tags: u.tags}); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []struct {
		name, path string
		tags       []iamtypes.Tag
	}{
		{"web-app-role", "/", nil},
		{"incident-responder", "/", tag},
		{"autocontain-responder", "/", nil},
		{"AWSServiceRoleForSupport", "/aws-service-role/support.amazonaws.com/", nil},
		{"my-odd-service-role", "/aws-service-role/", nil},
	} {
		if _, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(r.name), Path: aws.String(r.path), AssumeRolePolicyDocument: trust, Tags: r.tags}); err != nil {
			t.Fatal(err)
		}
	}
	g := &protect.Guard{
		IAM:         c,
		SelfRoleARN: "arn:aws:iam::123456789012:role/autocontain-responder",
		Patterns:    []playbook.Pattern{"arn:aws:iam::*:user/admins/*"},
	}
	user := func(kind finding.Kind, name string) finding.Principal {
		return finding.Principal{Kind: kind, UserName: name}
	}
	role := func(name string) finding.Principal {
		return finding.Principal{Kind: finding.KindAssumedRole, RoleName: name}
	}
	tests := []struct {
		name    string
		p       finding.Principal
		want    string // substring of the reason; "" = not protected
		wantErr string
	}{
		{"plain_user", user(finding.KindIAMUserKey, "alice"), "", ""},
		{"tagged_user", user(finding.KindIAMUserSession, "break-glass"), "user break-glass is tagged autocontain:protected=true", ""},
		{"tag_false_is_not_protection", user(finding.KindIAMUserKey, "untagged-false"), "", ""},
		{"tag_key_in_another_case", user(finding.KindIAMUserKey, "key-case"), "user key-case is tagged", ""},
		{"pattern_sees_the_path", user(finding.KindIAMUserKey, "ops-admin"), `matches the protect pattern "arn:aws:iam::*:user/admins/*"`, ""},
		{"federated_issuer_is_checked", user(finding.KindFederated, "break-glass"), "tagged", ""},
		{"plain_role", role("web-app-role"), "", ""},
		{"tagged_role", role("incident-responder"), "role incident-responder is tagged", ""},
		{"own_role_without_a_call", role("autocontain-responder"), "autocontain's own role", ""},
		{"service_linked_by_name", role("AWSServiceRoleForSupport"), "service-linked", ""},
		{"service_linked_by_path", role("my-odd-service-role"), "service-linked", ""},
		{"missing_user_cannot_be_verified", user(finding.KindIAMUserKey, "nobody"), "", "user nobody: it does not exist"},
		{"missing_role_cannot_be_verified", role("gone"), "", "role gone: it does not exist"},
		{"root_has_nothing_to_check", finding.Principal{Kind: finding.KindRoot}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			why, err := g.Check(ctx, tt.p)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (tt.want == "") != (why == "") || !strings.Contains(why, tt.want) {
				t.Errorf("Check = %q, want %q", why, tt.want)
			}
		})
	}
}

// TestOrganizationRoles: organization mode never contains the member role
// it acts through, nor the roles administrators use to repair a member
// (OrganizationAccountAccessRole, AWSControlTowerExecution), without any
// IAM read; another role is read as usual.
func TestOrganizationRoles(t *testing.T) {
	g := &protect.Guard{Roles: protect.OrganizationRoles("autocontain-member")}
	for _, name := range []string{"autocontain-member", "OrganizationAccountAccessRole", "AWSControlTowerExecution"} {
		why, err := g.Check(context.Background(), finding.Principal{Kind: finding.KindAssumedRole, RoleName: name})
		if err != nil || !strings.Contains(why, "organization mode never contains") {
			t.Errorf("role %s: %q, %v", name, why, err)
		}
	}
	emu := testenv.Moto(t)
	g.IAM = iam.NewFromConfig(emu.Config(t))
	if why, err := g.Check(context.Background(), finding.Principal{Kind: finding.KindAssumedRole, RoleName: "web-app-role"}); why != "" || err == nil {
		t.Errorf("another role: %q, %v; want the read of a role that does not exist to fail", why, err)
	}
}
