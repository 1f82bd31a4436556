package plan

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/autocontain/autocontain/internal/account"
	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/playbook"
)

// TestQuarantineAndRestrictSourcePlans: the two actions are planned on the
// user or role behind the credentials, carry the settings' policy and
// networks, are skipped with a reason when the settings leave them nothing
// to do, and pass the principal gate like every principal action.
func TestQuarantineAndRestrictSourcePlans(t *testing.T) {
	home := account.Account{Partition: "aws", ID: "123456789012"}
	office := netip.MustParsePrefix("198.51.100.0/24")
	v3 := "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3"
	type want struct {
		action, skipped, target, policy string
		networks                        []netip.Prefix
		reason                          string
	}
	for _, tt := range []struct {
		name     string
		pr       finding.Principal
		settings func(*playbook.Settings)
		want     []want
	}{
		{"assumed_role_gets_both_on_the_role", webRole, func(s *playbook.Settings) { s.AllowCIDRs = playbook.Networks{office} }, []want{
			{action: "quarantine", target: "role web-app-role", policy: v3, reason: "every session of it, new ones too (" + v3 + ")"},
			{action: "restrict-source", target: "role web-app-role", networks: []netip.Prefix{office}, reason: "(allowed: 198.51.100.0/24)"},
		}},
		{"user_key_gets_both_on_the_user", alice, func(s *playbook.Settings) { s.AllowCIDRs = playbook.Networks{office} }, []want{
			{action: "quarantine", target: "user alice", policy: v3},
			{action: "restrict-source", target: "user alice", networks: []netip.Prefix{office}},
		}},
		{"configured_policy", bob, func(s *playbook.Settings) {
			s.QuarantinePolicyARN = "arn:aws:iam::123456789012:policy/Quarantine"
		}, []want{
			{action: "quarantine", target: "user bob", policy: "arn:aws:iam::123456789012:policy/Quarantine"},
			{action: "skip", skipped: "restrict-source", target: "user bob", reason: "settings.allowCidrs is empty"},
		}},
		{"policy_of_another_partition", bob, func(s *playbook.Settings) {
			s.QuarantinePolicyARN = "arn:aws-cn:iam::aws:policy/AWSCompromisedKeyQuarantineV3"
			s.AllowCIDRs = playbook.Networks{office}
		}, []want{
			{action: "skip", skipped: "quarantine", target: "user bob", reason: "not a managed policy of partition aws"},
			{action: "restrict-source", target: "user bob", networks: []netip.Prefix{office}},
		}},
		{"protected_principal_gets_neither", webRole, func(s *playbook.Settings) {
			s.AllowCIDRs = playbook.Networks{office}
			s.Protect = []playbook.Pattern{"arn:aws:iam::*:role/web-*"}
		}, []want{
			{action: "skip", skipped: SkippedPrincipal, target: "principal web-app-role", reason: "protected"},
		}},
		{"root_gets_neither", root, nil, []want{{action: "report", target: "principal arn:aws:iam::123456789012:root"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pb := testPlaybook(t, tt.settings)
			pb.Rules = []playbook.Rule{{Name: "probe", Source: finding.SourceGuardDuty, Types: []playbook.Pattern{"Probe:IAMUser/*"},
				Actions: []string{playbook.ActionQuarantine, playbook.ActionRestrictSource}}}
			f := gd("Probe:IAMUser/Probe", 8, tt.pr)
			f.Partition = "aws"
			p := BuildWith(f, pb, Facts{Home: home, ProtectionChecked: true})
			if len(p.Steps) != len(tt.want) {
				t.Fatalf("steps %+v, want %d", p.Steps, len(tt.want))
			}
			for i, w := range tt.want {
				s := p.Steps[i]
				if s.Action != w.action || s.Skipped != w.skipped || s.Target.String() != w.target || s.Target.Policy != w.policy ||
					!slices.Equal(s.Target.Addresses, w.networks) || !strings.Contains(s.Reason, w.reason) {
					t.Errorf("step %d = %+v (%s), want %+v", i, s, s.Target, w)
				}
			}
		})
	}
}
