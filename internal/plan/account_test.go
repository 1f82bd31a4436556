package plan

import (
	"slices"
	"strings"
	"testing"

	"github.com/autocontain/autocontain/internal/account"
	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/playbook"
	"github.com/autocontain/autocontain/internal/testenv"
)

// sampleEvent reads events/NAME with each old string replaced by new once.
func sampleEvent(t *testing.T, name string, replace ...string) finding.Finding {
	t.Helper()
	s := string(testenv.Event(t, name))
	for i := 0; i < len(replace); i += 2 {
		if !strings.Contains(s, replace[i]) {
			t.Fatalf("%s lacks %q", name, replace[i])
		}
		s = strings.Replace(s, replace[i], replace[i+1], 1)
	}
	f, err := finding.Parse([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestPrincipalOutsideHomeIsReported: the same user or role name exists in
// every account (StackSet roles, OrganizationAccountAccessRole), so a
// finding about another account's or partition's principal must never
// contain the same-named one here. It is reported, naming both accounts;
// its addresses are still blocked.
func TestPrincipalOutsideHomeIsReported(t *testing.T) {
	const (
		gdFile = "guardduty-maliciousipcaller-custom-akia.json"
		ctFile = "cloudtrail-stoplogging-iamuser.json"
		rlFile = "cloudtrail-assumedrole-deletedetector.json"
	)
	home := account.Account{Partition: "aws", ID: "123456789012"}
	tests := []struct {
		name  string
		f     finding.Finding
		home  account.Account
		names []string // the reason names these
	}{
		{"guardduty_member_account", sampleEvent(t, gdFile, `"accountId": "123456789012"`, `"accountId": "210987654321"`),
			home, []string{"detail.accountId names account 210987654321", "serves account 123456789012 (aws)"}},
		{"guardduty_envelope_of_another_account", sampleEvent(t, gdFile, `"account": "123456789012"`, `"account": "210987654321"`),
			home, []string{"account names account 210987654321"}},
		{"guardduty_govcloud_partition", sampleEvent(t, gdFile, `"partition": "aws"`, `"partition": "aws-us-gov"`),
			home, []string{"aws-us-gov", "(aws)"}},
		{"cloudtrail_user_identity_account", sampleEvent(t, ctFile, `"accountId": "123456789012"`, `"accountId": "210987654321"`),
			home, []string{"detail.userIdentity.accountId names account 210987654321"}},
		{"cloudtrail_principal_arn_account", sampleEvent(t, ctFile, `"arn": "arn:aws:iam::123456789012:user/alice"`, `"arn": "arn:aws:iam::210987654321:user/alice"`),
			home, []string{"detail.userIdentity.arn names account 210987654321 (aws)"}},
		{"cloudtrail_session_issuer_account", sampleEvent(t, rlFile, `"arn": "arn:aws:iam::123456789012:role/data-pipeline-role"`, `"arn": "arn:aws:iam::210987654321:role/data-pipeline-role"`),
			home, []string{"sessionIssuer.arn names account 210987654321"}},
		{"cloudtrail_govcloud_arn", sampleEvent(t, ctFile, `"arn": "arn:aws:iam::123456789012:user/alice"`, `"arn": "arn:aws-us-gov:iam::123456789012:user/alice"`),
			home, []string{"detail.userIdentity.arn names account 123456789012 (aws-us-gov)"}},
		{"cloudtrail_china_arn", sampleEvent(t, rlFile, `"arn": "arn:aws:sts::123456789012:assumed-role/`, `"arn": "arn:aws-cn:sts::123456789012:assumed-role/`),
			home, []string{"(aws-cn)"}},
		{"responder_in_govcloud_finding_in_aws", sampleEvent(t, gdFile),
			account.Account{Partition: "aws-us-gov", ID: "123456789012"}, []string{"account 123456789012 (aws)", "serves account 123456789012 (aws-us-gov)"}},
		{"home_unknown", sampleEvent(t, gdFile), account.Account{}, []string{"not known", "could not check"}},
	}
	pb := testPlaybook(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := BuildWith(tt.f, pb, Facts{Home: tt.home})
			var report *Step
			for i, s := range p.Steps {
				if playbook.IsPrincipal(s.Action) {
					t.Errorf("step %d contains the principal: %s %s", i+1, s.Action, s.Target)
				}
				if s.Action == ActionReport {
					report = &p.Steps[i]
				}
			}
			if report == nil {
				t.Fatalf("no report step: %q", briefs(p))
			}
			for _, n := range tt.names {
				if !strings.Contains(report.Reason, n) {
					t.Errorf("the report does not say %q: %s", n, report.Reason)
				}
			}
			if r, _ := pb.Match(tt.f); r.Has(playbook.ActionBlockIP) && !slices.ContainsFunc(p.Steps, func(s Step) bool { return s.Action == playbook.ActionBlockIP }) {
				t.Errorf("the attacker's address is not blocked: %q", briefs(p))
			}
		})
	}
	// The control: the same events in the home account are contained.
	for _, name := range []string{gdFile, ctFile, rlFile} {
		p := BuildWith(sampleEvent(t, name), pb, Facts{Home: home})
		if !slices.ContainsFunc(p.Steps, func(s Step) bool { return playbook.IsPrincipal(s.Action) }) {
			t.Errorf("%s in the home account is not contained: %q", name, briefs(p))
		}
	}
}

// orgReach is organization mode as the planner sees it: any account of the
// organization is reached through its member role.
type orgReach struct{ accounts []string }

func (o orgReach) Reach(f finding.Finding) account.Decision {
	if slices.Contains(o.accounts, f.Account) {
		return account.Decision{OK: true, Account: account.Account{Partition: "aws", ID: f.Account}, How: "via role autocontain-member"}
	}
	return account.Decision{Reason: "account " + f.Account + " is not in the organization"}
}

// TestAnotherAccountModelPlugsIn: the planner asks Facts.Reach, so
// organization mode is a Reacher, not a change to the planner.
func TestAnotherAccountModelPlugsIn(t *testing.T) {
	pb := playbook.Default()
	f := finding.Finding{Source: finding.SourceGuardDuty, ID: "x", Type: "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom", Severity: 5,
		Account: "210987654321", Partition: "aws", Principal: finding.Principal{Kind: finding.KindIAMUserKey, UserName: "alice", AccessKeyID: "AKIAIOSFODNN7EXAMPLE"}}
	home := account.Account{Partition: "aws", ID: "123456789012"}
	for _, tt := range []struct {
		name     string
		reach    account.Reacher
		contains bool
	}{
		{"single_account_refuses_a_member", nil, false},
		{"organization_reaches_a_member", orgReach{[]string{"210987654321"}}, true},
		{"organization_refuses_an_outsider", orgReach{[]string{"111111111111"}}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := BuildWith(f, pb, Facts{Home: home, Reach: tt.reach, ProtectionChecked: true})
			got := slices.ContainsFunc(p.Steps, func(s Step) bool { return s.Action == playbook.ActionDeactivateKey })
			if got != tt.contains {
				t.Errorf("deactivate-key planned: %v, want %v: %+v", got, tt.contains, p.Steps)
			}
		})
	}
}
