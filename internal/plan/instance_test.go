package plan

import (
	"strings"
	"testing"
	"time"

	"github.com/autocontain/autocontain/internal/account"
	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/playbook"
)

const (
	webProfile = "arn:aws:iam::123456789012:instance-profile/web-profile"
	webRoleARN = "arn:aws:iam::123456789012:role/app/web-role"
)

var home = account.Account{Partition: "aws", ID: "123456789012"}

// instanceFinding is a high-severity C&C finding about instance
// i-0c4e6a8b2d1f39570 with profile web-profile and the given tags.
func instanceFinding(profile string, tags ...finding.Tag) finding.Finding {
	f := gd("Backdoor:EC2/C&CActivity.B", 8, finding.Principal{Kind: finding.KindNone}, "198.18.7.7")
	f.Partition, f.ResourceType, f.ResourceRole = "aws", finding.ResourceInstance, finding.RoleActor
	f.Instance = &finding.Instance{ID: "i-0c4e6a8b2d1f39570", ProfileARN: profile, Tags: tags}
	return f
}

func rolesRead(m map[string]string) Facts {
	return Facts{Home: home, ProtectionChecked: true, InstanceRoles: m}
}

// TestInstancePlans: a finding about an instance plans revoke-sessions on
// the role of its profile (once the engine read it) and isolate-instance
// on the instance, each behind its gates, with the settings it carries.
func TestInstancePlans(t *testing.T) {
	read := rolesRead(map[string]string{webProfile: webRoleARN})
	asg := finding.Tag{Key: "aws:autoscaling:groupName", Value: "web-asg"}
	dry := func(s *playbook.Settings) { s.DryRun = true }
	const instance = "i-0c4e6a8b2d1f39570"
	tests := []struct {
		name   string
		f      finding.Finding
		mutate func(*playbook.Settings)
		facts  Facts
		want   []brief
		reason map[int]string // step index -> substring of its reason
	}{
		{"role_read_revoke_and_isolate", instanceFinding(webProfile), nil, read,
			[]brief{{"revoke-sessions", "", "role web-role"}, {"isolate-instance", "", "instance i-0c4e6a8b2d1f39570"}, {"notify", "", "topic autocontain"}},
			map[int]string{0: "every instance that uses the role loses its current credentials", 1: "through an all-open group first"}},
		{"role_not_read_plan_says_it_is_read_at_execution", instanceFinding(webProfile), nil, Facts{Home: home},
			[]brief{{"skip", "contain-principal", "principal " + webProfile}, {"isolate-instance", "", "instance i-0c4e6a8b2d1f39570"}, {"notify", "", "topic autocontain"}},
			map[int]string{0: "read from IAM (iam:GetInstanceProfile) when the finding is handled"}},
		{"profile_without_role", instanceFinding(webProfile), nil, rolesRead(map[string]string{webProfile: ""}),
			[]brief{{"skip", "contain-principal", "principal " + webProfile}, {"isolate-instance", "", "instance i-0c4e6a8b2d1f39570"}, {"notify", "", "topic autocontain"}},
			map[int]string{0: "has no role"}},
		{"no_profile_no_revoke", instanceFinding(""), nil, read,
			[]brief{{"skip", "contain-principal", "instance i-0c4e6a8b2d1f39570"}, {"isolate-instance", "", "instance i-0c4e6a8b2d1f39570"}, {"notify", "", "topic autocontain"}},
			map[int]string{0: "no instance profile"}},
		{"protect_tag_reports_both", instanceFinding(webProfile, finding.Tag{Key: "autocontain:protected", Value: "true"}), nil, read,
			[]brief{{"report", "", "principal " + webProfile}, {"report", "", "instance i-0c4e6a8b2d1f39570"}, {"notify", "", "topic autocontain"}},
			map[int]string{0: "tagged autocontain:protected=true", 1: "not isolated"}},
		{"auto_scaling_skips_isolation_not_revoke", instanceFinding(webProfile, asg), nil, read,
			[]brief{{"revoke-sessions", "", "role web-role"}, {"skip", "isolate-instance", "instance i-0c4e6a8b2d1f39570"}, {"notify", "", "topic autocontain"}},
			map[int]string{1: "the group would replace the instance"}},
		{"auto_scaling_allowed", instanceFinding(webProfile, asg), func(s *playbook.Settings) { s.IsolateAutoScaling, s.SnapshotVolumes = true, true }, read,
			[]brief{{"revoke-sessions", "", "role web-role"}, {"isolate-instance", "", "instance i-0c4e6a8b2d1f39570"}, {"notify", "", "topic autocontain"}},
			map[int]string{1: "snapshot its EBS volumes (settings.snapshotVolumes); it is in Auto Scaling group web-asg, which may replace it"}},
		{"another_account_reports_both", func() finding.Finding {
			f := instanceFinding("arn:aws:iam::210987654321:instance-profile/web-profile")
			f.Account = "210987654321"
			return f
		}(), nil, read,
			[]brief{{"report", "", "principal arn:aws:iam::210987654321:instance-profile/web-profile"}, {"report", "", "instance i-0c4e6a8b2d1f39570"}, {"notify", "", "topic autocontain"}},
			map[int]string{0: "a human must act in that account", 1: "not isolated"}},
		{"home_unknown_contains_nothing", instanceFinding(webProfile), nil, Facts{InstanceRoles: map[string]string{webProfile: webRoleARN}},
			[]brief{{"report", "", "principal " + webProfile}, {"report", "", "instance i-0c4e6a8b2d1f39570"}, {"notify", "", "topic autocontain"}},
			map[int]string{1: "not contained, to be safe"}},
		{"breaker_open_reports_both", instanceFinding(webProfile), nil, Facts{Home: home, InstanceRoles: read.InstanceRoles, BreakerOpen: "10 principals"},
			[]brief{{"report", "", "principal " + webRoleARN}, {"report", "", "instance i-0c4e6a8b2d1f39570"}, {"notify", "", "topic autocontain"}},
			map[int]string{0: "BREAKER OPEN", 1: "BREAKER OPEN"}},
		{"protect_pattern_matches_the_roles_path", instanceFinding(webProfile), func(s *playbook.Settings) { s.Protect = []playbook.Pattern{"arn:aws:iam::*:role/app/*"} }, read,
			[]brief{{"skip", "contain-principal", "principal " + webRoleARN}, {"isolate-instance", "", "instance i-0c4e6a8b2d1f39570"}, {"notify", "", "topic autocontain"}},
			map[int]string{0: "settings.protect"}},
		{"role_tagged_protected", instanceFinding(webProfile), nil,
			Facts{Home: home, ProtectionChecked: true, InstanceRoles: read.InstanceRoles, Protection: map[string]Protection{"role/web-role": {Protected: "role web-role is tagged"}}},
			[]brief{{"skip", "contain-principal", "principal " + webRoleARN}, {"isolate-instance", "", "instance i-0c4e6a8b2d1f39570"}, {"notify", "", "topic autocontain"}},
			map[int]string{0: "role web-role is tagged"}},
		{"already_done", instanceFinding(webProfile), nil,
			Facts{Home: home, ProtectionChecked: true, InstanceRoles: read.InstanceRoles, Done: map[string]time.Time{
				"revoke-sessions role/web-role": time.Date(2026, 11, 20, 1, 0, 0, 0, time.UTC), "isolate-instance instance/i-0c4e6a8b2d1f39570": time.Date(2026, 11, 20, 1, 0, 0, 0, time.UTC)}},
			[]brief{{"skip", "revoke-sessions", "role web-role"}, {"skip", "isolate-instance", "instance i-0c4e6a8b2d1f39570"}, {"notify", "", "topic autocontain"}},
			map[int]string{1: "already done for this finding at 2026-11-20T01:00:00Z"}},
		// A dry run does not read the instance's tags from EC2 (the engine
		// reads nothing, and isolate-instance, which refuses an instance
		// tagged protected now, does not run): a plan that isolates says
		// so, as it does for a principal's protect tag.
		{"dry_run_isolate_says_tags_not_read", instanceFinding(""), dry, Facts{Home: home},
			[]brief{{"skip", "contain-principal", "instance " + instance}, {"isolate-instance", "", "instance " + instance}, {"skip", ProtectionCheck, "instance " + instance}, {"notify", "", "topic autocontain"}},
			map[int]string{2: "dry run: the instance's current tags were not read from EC2; a real run leaves it alone if it is tagged autocontain:protected=true now"}},
		{"dry_run_with_profile_says_tags_not_read", instanceFinding(webProfile), dry, Facts{Home: home},
			[]brief{{"skip", "contain-principal", "principal " + webProfile}, {"isolate-instance", "", "instance " + instance}, {"skip", ProtectionCheck, "instance " + instance}, {"notify", "", "topic autocontain"}},
			map[int]string{2: "not read from EC2"}},
		{"dry_run_protected_as_the_finding_shows_no_note", instanceFinding("", finding.Tag{Key: finding.ProtectTag, Value: "true"}), dry, Facts{Home: home},
			[]brief{{"skip", "contain-principal", "instance " + instance}, {"report", "", "instance " + instance}, {"notify", "", "topic autocontain"}}, nil},
		{"dry_run_already_done_no_note", instanceFinding(""), dry, Facts{Home: home, Done: map[string]time.Time{"isolate-instance instance/" + instance: time.Date(2026, 11, 20, 1, 0, 0, 0, time.UTC)}},
			[]brief{{"skip", "contain-principal", "instance " + instance}, {"skip", "isolate-instance", "instance " + instance}, {"notify", "", "topic autocontain"}}, nil},
		{"terminated_instance_names_none", func() finding.Finding { f := instanceFinding(webProfile); f.Instance = nil; return f }(), nil, read,
			[]brief{{"skip", "contain-principal", "-"}, {"skip", "isolate-instance", "-"}, {"notify", "", "topic autocontain"}},
			map[int]string{0: "names no principal", 1: "already terminated"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := BuildWith(tt.f, testPlaybook(t, tt.mutate), tt.facts)
			if p.Rule != "compromised-instance" {
				t.Fatalf("rule %q", p.Rule)
			}
			if got := briefs(p); !equalBriefs(got, tt.want) {
				t.Fatalf("steps\n got %+v\nwant %+v\n%+v", got, tt.want, p.Steps)
			}
			for i, want := range tt.reason {
				if !strings.Contains(p.Steps[i].Reason, want) {
					t.Errorf("step %d reason %q, want it to contain %q", i+1, p.Steps[i].Reason, want)
				}
			}
			for _, s := range p.Steps {
				if s.Target.Kind == TargetInstance && s.Acts() {
					set := tt.name == "auto_scaling_allowed"
					if s.Target.Snapshot != set || s.Target.AutoScaling != set {
						t.Errorf("target %+v: snapshot and auto scaling should be %v", s.Target, set)
					}
				}
			}
		})
	}
}

func equalBriefs(a, b []brief) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestIsolateOnlyAnInstance: a rule that isolates, given a finding that
// is not about an instance, skips the step and says what it is about.
func TestIsolateOnlyAnInstance(t *testing.T) {
	pb := &playbook.Playbook{Version: 1, Rules: []playbook.Rule{{Name: "r", Source: finding.SourceGuardDuty,
		Types: []playbook.Pattern{"*:Runtime/*"}, Actions: []string{playbook.ActionIsolateInstance}}}}
	f := gd("Execution:Runtime/ReverseShell", 9, finding.Principal{Kind: finding.KindNone})
	f.ResourceType = "EKSCluster"
	p := BuildWith(f, pb, Facts{Home: home})
	if len(p.Steps) != 1 || p.Steps[0].Skipped != playbook.ActionIsolateInstance || !strings.Contains(p.Steps[0].Reason, "about EKSCluster, not an EC2 instance") {
		t.Errorf("steps %+v", p.Steps)
	}
}

// TestInstanceProfileToRead: the engine reads a profile's role only when
// the plan would contain it: a principal action in the rule, an instance
// with a profile, and neither the account rule nor the protect tag in the way.
func TestInstanceProfileToRead(t *testing.T) {
	pb := testPlaybook(t, nil)
	rule, _ := pb.Match(instanceFinding(webProfile))
	notify := playbook.Rule{Actions: []string{playbook.ActionIsolateInstance, playbook.ActionNotify}}
	foreign := instanceFinding(webProfile)
	foreign.Account = "210987654321"
	for _, tt := range []struct {
		name string
		f    finding.Finding
		rule playbook.Rule
		want string
	}{
		{"read", instanceFinding(webProfile), rule, webProfile},
		{"no_principal_action", instanceFinding(webProfile), notify, ""},
		{"no_profile", instanceFinding(""), rule, ""},
		{"protected", instanceFinding(webProfile, finding.Tag{Key: "autocontain:protected", Value: "true"}), rule, ""},
		{"another_account", foreign, rule, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := InstanceProfile(tt.f, tt.rule, Facts{Home: home}); got != tt.want {
				t.Errorf("InstanceProfile = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestMediumInstanceFindingNamesTheRule: a compromised instance at medium
// severity reaches the safety net, whose report names the rule that would
// have isolated it at high severity (its resource type and role count).
func TestMediumInstanceFindingNamesTheRule(t *testing.T) {
	f := instanceFinding(webProfile)
	f.Type, f.Severity = "UnauthorizedAccess:EC2/MaliciousIPCaller.Custom", 5
	p := BuildWith(f, testPlaybook(t, nil), Facts{Home: home})
	if p.Rule != "safety-net" || !strings.Contains(p.Steps[0].Reason, "rule instance-attacking-out matches UnauthorizedAccess:EC2/MaliciousIPCaller.Custom but needs severity 7 or more") {
		t.Errorf("rule %s, steps %+v", p.Rule, p.Steps)
	}
}
