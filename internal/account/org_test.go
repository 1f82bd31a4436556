package account

import (
	"strings"
	"testing"

	"github.com/autocontain/autocontain/internal/finding"
)

// TestOrgReach: in organization mode a principal is contained only in the
// one account its finding is about, when that account is an active member
// (looked up before), in the home partition; the envelope may name the
// home account (GuardDuty's administrator received the event); a finding
// about the home account is decided as in single-account mode.
func TestOrgReach(t *testing.T) {
	home := Account{"aws", "123456789012"}
	const b = "222233334444"
	about := func(id string, refs ...finding.AccountRef) finding.Finding {
		return finding.Finding{Account: id, Partition: "aws", Accounts: refs,
			Principal: finding.Principal{Kind: finding.KindIAMUserKey, Account: id, Partition: "aws"}}
	}
	members := map[string]Membership{b: {Member: true}, "999999999999": {Why: "account 999999999999 is not an account of organization o-abcdefghij"}}
	tests := []struct {
		name    string
		members map[string]Membership
		session string
		f       finding.Finding
		ok      bool
		want    string // the How when ok, else in the reason
	}{
		{"member_via_admin", members, "", about(b, finding.AccountRef{Field: "account", Account: home.ID}, finding.AccountRef{Field: "detail.accountId", Account: b, Partition: "aws"}),
			true, "via role arn:aws:iam::" + b + ":role/autocontain-member"},
		{"member_forwarded", members, "autocontain-f1", about(b, finding.AccountRef{Field: "account", Account: b}),
			true, "via role arn:aws:iam::" + b + ":role/autocontain-member, session autocontain-f1"},
		{"home", members, "", about(home.ID, finding.AccountRef{Field: "account", Account: home.ID}), true, "own"},
		{"outsider", members, "", about("999999999999"), false, "not an account of organization o-abcdefghij"},
		{"not_looked_up", nil, "", about(b), false, "was not looked up"},
		{"principal_elsewhere", members, "", func() finding.Finding { f := about(b); f.Principal.Account = "555555555555"; return f }(), false, "the principal names account 555555555555"},
		{"home_only_on_the_envelope", members, "", about(b, finding.AccountRef{Field: "detail.userIdentity.accountId", Account: home.ID}), false, "detail.userIdentity.accountId names account " + home.ID},
		{"other_partition", members, "", about(b, finding.AccountRef{Field: "detail.accountId", Account: b, Partition: "aws-cn"}), false, "aws-cn"},
		{"unreadable_arn", members, "", about(b, finding.AccountRef{Field: "detail.userIdentity.arn"}), false, "names no account"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Org{Home: home, ID: "o-abcdefghij", RoleName: DefaultMemberRoleName, Members: tt.members, Session: tt.session}.Reach(tt.f)
			if d.OK != tt.ok {
				t.Fatalf("Reach = %+v, want ok %v", d, tt.ok)
			}
			if tt.ok && (d.How != tt.want || d.Account != (Account{"aws", tt.f.Account})) {
				t.Errorf("Reach = %+v, want how %q", d, tt.want)
			}
			if !tt.ok && !strings.Contains(d.Reason, tt.want) {
				t.Errorf("Reach = %+v, want a reason with %q", d, tt.want)
			}
		})
	}
}

func TestCheckOrganization(t *testing.T) {
	for _, tt := range []struct {
		id, role string
		ok       bool
	}{
		{"o-abcdefghij", "autocontain-member", true},
		{"o-ABCDEFGHIJ", "autocontain-member", false},
		{"o-abc", "autocontain-member", false},
		{"r-abcdefghij", "autocontain-member", false},
		{"o-abcdefghij", "bad/role", false},
		{"o-abcdefghij", "", false},
	} {
		if err := CheckOrganization(tt.id, tt.role); (err == nil) != tt.ok {
			t.Errorf("CheckOrganization(%q, %q) = %v", tt.id, tt.role, err)
		}
	}
}

func TestSessionName(t *testing.T) {
	for in, want := range map[string]string{
		"df1db1afefc8cb0e1936524a9ad401f8":     "autocontain-df1db1afefc8cb0e1936524a9ad401f8",
		"":                                     "autocontain",
		"a b/c":                                "autocontain-a-b-c",
		strings.Repeat("x", 80):                "autocontain-" + strings.Repeat("x", 52),
		"afdd9edd-1c4e-4e10-9c35-4a6f1c5b7e21": "autocontain-afdd9edd-1c4e-4e10-9c35-4a6f1c5b7e21",
	} {
		if got := SessionName(in); got != want || len(got) > 64 {
			t.Errorf("SessionName(%q) = %q, want %q", in, got, want)
		}
	}
}
