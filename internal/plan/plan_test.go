package plan

import (
	"bytes"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/autocontain/autocontain/internal/account"
	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/playbook"
)

const (
	v4Set = "arn:aws:wafv2:us-east-1:123456789012:regional/ipset/autocontain-v4/11111111-2222-3333-4444-555555555555"
	v6Set = "arn:aws:wafv2:us-east-1:123456789012:regional/ipset/autocontain-v6/66666666-7777-8888-9999-000000000000"
	topic = "arn:aws:sns:us-east-1:123456789012:autocontain"
)

func testPlaybook(t *testing.T, mutate func(*playbook.Settings)) *playbook.Playbook {
	t.Helper()
	pb := playbook.Default()
	pb.Settings.IPSets = playbook.IPSets{IPv4: v4Set, IPv6: v6Set}
	pb.Settings.TopicARN = topic
	if mutate != nil {
		mutate(&pb.Settings)
	}
	if err := pb.Validate(); err != nil {
		t.Fatal(err)
	}
	return pb
}

func gd(typ string, sev float64, p finding.Principal, addrs ...string) finding.Finding {
	f := finding.Finding{Source: finding.SourceGuardDuty, ID: "f1", Type: typ, Severity: sev, Account: "123456789012",
		Region: "us-east-1", Principal: p, ResourceRole: "TARGET"}
	for _, a := range addrs {
		f.Addresses = append(f.Addresses, netip.MustParseAddr(a))
	}
	return f
}

var (
	alice   = finding.Principal{Kind: finding.KindIAMUserKey, Type: "IAMUser", UserName: "alice", AccessKeyID: "AKIA3EXAMPLEALICE001"}
	bob     = finding.Principal{Kind: finding.KindIAMUserSession, Type: "IAMUser", UserName: "bob", AccessKeyID: "ASIA3EXAMPLEBOB00001"}
	webRole = finding.Principal{Kind: finding.KindAssumedRole, Type: "AssumedRole", RoleName: "web-app-role", AccessKeyID: "ASIA3EXAMPLEWEBAPP01"}
	root    = finding.Principal{Kind: finding.KindRoot, Type: "Root", ARN: "arn:aws:iam::123456789012:root", AccessKeyID: "ASIA5X5CZLUQGWWD3ZGU"}
)

// brief is a step reduced to what these tests compare.
type brief struct {
	Action, Skipped, Target string
}

func briefs(p Plan) []brief {
	out := make([]brief, len(p.Steps))
	for i, s := range p.Steps {
		out[i] = brief{s.Action, s.Skipped, s.Target.String()}
	}
	return out
}

func TestBuild(t *testing.T) {
	tests := []struct {
		name    string
		f       finding.Finding
		mutate  func(*playbook.Settings)
		want    []brief
		reasons []string // substrings expected in the reasons, in order of steps that have them
	}{
		{
			name: "akia_user_gets_key_deactivated_sessions_revoked_and_address_blocked",
			f:    gd("UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom", 5, alice, "185.220.101.42"),
			want: []brief{
				{"deactivate-key", "", "key AKIA…E001 of user alice"},
				{"revoke-sessions", "", "user alice"},
				{"block-ip", "", "IP set autocontain-v4 += 185.220.101.42/32"},
				{"notify", "", "topic autocontain"},
			},
		},
		{
			name: "asia_user_gets_sessions_revoked_and_quarantined_not_key",
			f:    gd("Recon:IAMUser/MaliciousIPCaller", 5, bob, "45.155.205.233"),
			want: []brief{
				{"revoke-sessions", "", "user bob"},
				{"quarantine", "", "user bob"},
				{"block-ip", "", "IP set autocontain-v4 += 45.155.205.233/32"},
				{"notify", "", "topic autocontain"},
			},
			reasons: []string{"AWSCompromisedKeyQuarantineV3"},
		},
		{
			name: "asia_user_below_medium_gets_sessions_revoked_not_key",
			f:    gd("Recon:IAMUser/MaliciousIPCaller", 3, bob, "45.155.205.233"),
			want: []brief{
				{"skip", "deactivate-key", "principal bob"},
				{"revoke-sessions", "", "user bob"},
				{"block-ip", "", "IP set autocontain-v4 += 45.155.205.233/32"},
				{"notify", "", "topic autocontain"},
			},
			reasons: []string{"temporary credential"},
		},
		{
			name: "assumed_role_session_gets_revoke_on_role",
			f:    gd("UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS", 8, webRole, "91.240.118.172"),
			want: []brief{
				{"revoke-sessions", "", "role web-app-role"},
				{"quarantine", "", "role web-app-role"},
				{"block-ip", "", "IP set autocontain-v4 += 91.240.118.172/32"},
				{"notify", "", "topic autocontain"},
			},
		},
		{
			name: "root_is_reported_never_contained",
			f:    gd("Policy:IAMUser/RootCredentialUsage", 2, root, "80.82.77.139"),
			want: []brief{
				{"report", "", "principal arn:aws:iam::123456789012:root"},
				{"notify", "", "topic autocontain"},
			},
			reasons: []string{"root user cannot be restricted"},
		},
		{
			name: "unknown_principal_is_reported",
			f:    gd("Recon:IAMUser/TorIPCaller", 5, finding.Principal{Kind: finding.KindUnknown, Type: "IAMUser", UserName: "x", AccessKeyID: "GeneratedFindingAccessKeyId"}, "162.142.125.10"),
			want: []brief{
				{"report", "", "principal x"},
				{"block-ip", "", "IP set autocontain-v4 += 162.142.125.10/32"},
				{"notify", "", "topic autocontain"},
			},
			reasons: []string{"not guessing"},
		},
		{
			name: "federated_session_without_issuer_is_reported",
			f:    gd("Recon:IAMUser/TorIPCaller", 5, finding.Principal{Kind: finding.KindFederated, Type: "FederatedUser", AccessKeyID: "ASIA3EXAMPLEFED00001"}),
			want: []brief{
				{"report", "", "principal (unnamed)"},
				{"skip", "block-ip", ""},
				{"notify", "", "topic autocontain"},
			},
			reasons: []string{"GetFederationToken", "no remote address"},
		},
		{
			name: "federated_session_revoked_on_issuing_user",
			f:    gd("Recon:IAMUser/TorIPCaller", 5, finding.Principal{Kind: finding.KindFederated, Type: "FederatedUser", UserName: "ci-deployer", AccessKeyID: "ASIA3EXAMPLEFED00001"}, "2a0b:f4c2:2::1"),
			want: []brief{
				{"skip", "deactivate-key", "principal ci-deployer"},
				{"revoke-sessions", "", "user ci-deployer"},
				{"block-ip", "", "IP set autocontain-v6 += 2a0b:f4c2:2::1/128"},
				{"notify", "", "topic autocontain"},
			},
		},
		{
			name: "addresses_split_by_family_and_reserved_ones_skipped",
			f: gd("Recon:EC2/PortProbeUnprotectedPort", 2, finding.Principal{Kind: finding.KindNone},
				"221.132.75.236", "10.20.30.40", "2604:a880:400:d0::2a1:e001", "71.6.167.142", "198.51.100.7", "fe80::1", "100.64.1.1", "127.0.0.1", "224.0.0.1"),
			want: []brief{
				{"skip", "block-ip", "10.20.30.40/32"},
				{"skip", "block-ip", "198.51.100.7/32"},
				{"skip", "block-ip", "fe80::1/128"},
				{"skip", "block-ip", "100.64.1.1/32"},
				{"skip", "block-ip", "127.0.0.1/32"},
				{"skip", "block-ip", "224.0.0.1/32"},
				{"block-ip", "", "IP set autocontain-v4 += 221.132.75.236/32 71.6.167.142/32"},
				{"block-ip", "", "IP set autocontain-v6 += 2604:a880:400:d0::2a1:e001/128"},
				{"notify", "", "topic autocontain"},
			},
			reasons: []string{"Private-Use (RFC 1918)", "Documentation", "Link-Local", "carrier-grade NAT", "Loopback", "Multicast"},
		},
		{
			name:   "allow_listed_address_skipped",
			f:      gd("UnauthorizedAccess:EC2/SSHBruteForce", 2, finding.Principal{Kind: finding.KindNone}, "45.155.205.233"),
			mutate: func(s *playbook.Settings) { s.AllowCIDRs = []netip.Prefix{netip.MustParsePrefix("45.155.204.0/23")} },
			want: []brief{
				{"skip", "block-ip", "45.155.205.233/32"},
				{"notify", "", "topic autocontain"},
			},
			reasons: []string{"allow-listed in settings.allowCidrs"},
		},
		{
			name: "actor_resource_remote_addresses_are_victims",
			f: func() finding.Finding {
				f := gd("UnauthorizedAccess:EC2/SSHBruteForce", 2, finding.Principal{Kind: finding.KindNone}, "45.155.205.233")
				f.ResourceRole = "ACTOR"
				return f
			}(),
			want:    []brief{{"skip", "block-ip", "45.155.205.233/32"}, {"notify", "", "topic autocontain"}},
			reasons: []string{"victims"},
		},
		{
			name:   "missing_ip_set_and_topic_are_skips",
			f:      gd("UnauthorizedAccess:IAMUser/TorIPCaller", 5, alice, "2a0b:f4c2:2::1"),
			mutate: func(s *playbook.Settings) { s.IPSets = playbook.IPSets{IPv4: v4Set}; s.TopicARN = "" },
			want: []brief{
				{"deactivate-key", "", "key AKIA…E001 of user alice"},
				{"revoke-sessions", "", "user alice"},
				{"skip", "block-ip", "2a0b:f4c2:2::1/128"},
				{"skip", "notify", "topic (none)"},
			},
			reasons: []string{"no IPv6 IP set", "no SNS topic"},
		},
		{
			name:   "protected_principal_gets_no_action",
			f:      gd("UnauthorizedAccess:IAMUser/MaliciousIPCaller", 5, alice, "185.220.101.42"),
			mutate: func(s *playbook.Settings) { s.Protect = []playbook.Pattern{"arn:aws:iam::*:user/alice"} },
			want: []brief{
				{"skip", "contain-principal", "principal alice"},
				{"block-ip", "", "IP set autocontain-v4 += 185.220.101.42/32"},
				{"notify", "", "topic autocontain"},
			},
			reasons: []string{"protected by"},
		},
		{
			name: "sample_finding_does_nothing",
			f: func() finding.Finding {
				f := gd("UnauthorizedAccess:IAMUser/MaliciousIPCaller", 5, alice, "185.220.101.42")
				f.Sample = true
				return f
			}(),
			want:    []brief{{"skip", "", "finding"}},
			reasons: []string{"sample"},
		},
		{
			name: "archived_finding_does_nothing",
			f: func() finding.Finding {
				f := gd("UnauthorizedAccess:IAMUser/MaliciousIPCaller", 5, alice)
				f.Archived = true
				return f
			}(),
			want:    []brief{{"skip", "", "finding"}},
			reasons: []string{"archived"},
		},
		{
			name: "sample_finding_acts_when_allowed",
			f: func() finding.Finding {
				f := gd("UnauthorizedAccess:EC2/SSHBruteForce", 2, finding.Principal{Kind: finding.KindNone}, "45.155.205.233")
				f.Sample = true
				return f
			}(),
			mutate: func(s *playbook.Settings) { s.ActOnSamples = true },
			want:   []brief{{"block-ip", "", "IP set autocontain-v4 += 45.155.205.233/32"}, {"notify", "", "topic autocontain"}},
		},
		{
			name:    "below_minimum_severity_names_the_rule",
			f:       gd("UnauthorizedAccess:IAMUser/MaliciousIPCaller", 5, alice, "185.220.101.42"),
			mutate:  func(s *playbook.Settings) { s.MinSeverity = 7 },
			want:    []brief{{"skip", "", "finding"}},
			reasons: []string{"rule known-bad-caller matches UnauthorizedAccess:IAMUser/MaliciousIPCaller but needs severity 7 or more; this finding is 5 (medium)"},
		},
		{
			// Issue 9: a finding no rule contains used to get only a skip step.
			name: "unmatched_type_at_medium_is_notified_by_the_safety_net",
			f: func() finding.Finding {
				f := gd("UnauthorizedAccess:EC2/TorRelay", 5, finding.Principal{Kind: finding.KindNone})
				f.ResourceType, f.Resource = "Instance", "i-0123456789abcdef0"
				return f
			}(),
			want: []brief{{"report", "", "finding"}, {"notify", "", "topic autocontain"}},
			reasons: []string{"nothing contained: no playbook rule matches guardduty UnauthorizedAccess:EC2/TorRelay",
				"the safety net (rule safety-net, severity 4 or more) tells a human about resource Instance i-0123456789abcdef0"},
		},
		{
			name:    "below_the_safety_net_is_skipped_and_says_why",
			f:       gd("Backdoor:EC2/C&CActivity.B", 3.9, finding.Principal{Kind: finding.KindNone}),
			want:    []brief{{"skip", "", "finding"}},
			reasons: []string{"rule safety-net matches Backdoor:EC2/C&CActivity.B but needs severity 4 or more; this finding is 3.9 (low)"},
		},
		{
			name:    "safety_net_floor_raised",
			f:       gd("Backdoor:EC2/C&CActivity.B", 6, finding.Principal{Kind: finding.KindNone}),
			mutate:  func(s *playbook.Settings) { s.SafetyNet = 7 },
			want:    []brief{{"skip", "", "finding"}},
			reasons: []string{"rule safety-net matches Backdoor:EC2/C&CActivity.B but needs severity 7 or more; this finding is 6 (medium)"},
		},
		{
			name:    "settings_min_severity_is_a_floor_under_the_safety_net_too",
			f:       gd("Backdoor:EC2/C&CActivity.B", 6, finding.Principal{Kind: finding.KindNone}),
			mutate:  func(s *playbook.Settings) { s.MinSeverity = 6.5 },
			want:    []brief{{"skip", "", "finding"}},
			reasons: []string{"rule safety-net matches Backdoor:EC2/C&CActivity.B but needs severity 6.5 or more"},
		},
		{
			name:    "safety_net_off",
			f:       gd("Backdoor:EC2/C&CActivity.B", 8, finding.Principal{Kind: finding.KindNone}),
			mutate:  func(s *playbook.Settings) { s.SafetyNet = playbook.SafetyNetOff },
			want:    []brief{{"skip", "", "finding"}},
			reasons: []string{"no playbook rule matches guardduty Backdoor:EC2/C&CActivity.B by a principal of kind none; the safety net (rule safety-net) is off (settings.safetyNet)"},
		},
		{
			name:    "a_finding_without_a_resource_says_so",
			f:       gd("CredentialAccess:RDS/AnomalousBehavior.SuccessfulLogin", 8, finding.Principal{Kind: finding.KindNone}),
			want:    []brief{{"report", "", "finding"}, {"notify", "", "topic autocontain"}},
			reasons: []string{"no playbook rule matches guardduty CredentialAccess:RDS/AnomalousBehavior.SuccessfulLogin", "about a resource the finding does not name"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := build(tt.f, testPlaybook(t, tt.mutate))
			if got := briefs(p); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("steps\n got %q\nwant %q", got, tt.want)
			}
			var reasons []string
			for _, s := range p.Steps {
				reasons = append(reasons, s.Reason)
			}
			all := strings.Join(reasons, "\n")
			for _, r := range tt.reasons {
				if !strings.Contains(all, r) {
					t.Errorf("no reason mentions %q; reasons:\n%s", r, all)
				}
			}
			for i, s := range p.Steps {
				if s.Reason == "" {
					t.Errorf("step %d has no reason", i+1)
				}
			}
		})
	}
}

func TestBuildDryRunAndCloudTrail(t *testing.T) {
	pb := testPlaybook(t, func(s *playbook.Settings) { s.DryRun = true })
	f := finding.Finding{Source: finding.SourceCloudTrail, ID: "e1", Type: "StopLogging", EventSource: "cloudtrail.amazonaws.com",
		Account: "123456789012", Principal: alice, Addresses: []netip.Addr{netip.MustParseAddr("185.220.101.42")}}
	p := build(f, pb)
	if !p.DryRun || p.Rule != "audit-trail-tampering" {
		t.Fatalf("dry run %v rule %q", p.DryRun, p.Rule)
	}
	// A dry run reads nothing from the account: it says that a real run
	// may leave the principal alone for its protect tag.
	want := []brief{{"deactivate-key", "", "key AKIA…E001 of user alice"}, {"revoke-sessions", "", "user alice"},
		{"skip", ProtectionCheck, "principal alice"}, {"notify", "", "topic autocontain"}}
	if got := briefs(p); !reflect.DeepEqual(got, want) {
		t.Errorf("steps\n got %q\nwant %q", got, want)
	}
	if r := p.Steps[2].Reason; !strings.Contains(r, "autocontain:protected") || !strings.Contains(r, "not read") {
		t.Errorf("the dry-run note says %q", r)
	}
	// Once protection was read, the note goes.
	if got := briefs(BuildWith(f, pb, Facts{Home: testHome, ProtectionChecked: true})); len(got) != 3 {
		t.Errorf("with protection checked: %q", got)
	}
	var b bytes.Buffer
	if err := p.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"dry run", "audit-trail-tampering", "skip protection-check", "cloudtrail.amazonaws.com StopLogging", "key=AKIA…E001", "185.220.101.42"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, b.String())
		}
	}
	if strings.Contains(b.String(), "AKIA3EXAMPLEALICE001") {
		t.Error("table shows an unmasked key")
	}
}

// testHome is the account the tests' responder serves.
var testHome = account.Account{Partition: "aws", ID: "123456789012"}

// build plans as the responder of testHome.
func build(f finding.Finding, pb *playbook.Playbook) Plan {
	return BuildWith(f, pb, Facts{Home: testHome})
}

// TestNoActionIsDroppedSilently: an action whose category the planner does
// not know becomes a report step naming it, never a plan without it.
func TestNoActionIsDroppedSilently(t *testing.T) {
	saved := playbook.Specs
	t.Cleanup(func() { playbook.Specs = saved })
	playbook.Specs = append(slices.Clone(saved), playbook.ActionSpec{Name: "seal-bucket", Category: "bucket"})
	pb := &playbook.Playbook{Rules: []playbook.Rule{{Name: "r", Source: finding.SourceGuardDuty, Types: []playbook.Pattern{"Backdoor:EC2/*"}, Actions: []string{"seal-bucket"}}}}
	p := Build(finding.Finding{Source: finding.SourceGuardDuty, Type: "Backdoor:EC2/C&CActivity.B", Severity: 8}, pb)
	if len(p.Steps) != 1 || p.Steps[0].Action != ActionReport || !strings.Contains(p.Steps[0].Reason, "seal-bucket") {
		t.Errorf("plan %+v: want one report step naming seal-bucket", p.Steps)
	}
}

// TestSeveralPrincipals: an attack sequence's principals are each planned
// in turn, each behind its own gate; a step two of them share is planned
// once; what an earlier delivery did is not done again, by principal.
func TestSeveralPrincipals(t *testing.T) {
	pb := testPlaybook(t, func(s *playbook.Settings) { s.Protect = []playbook.Pattern{"arn:aws:iam::*:user/bob"} })
	otherSession := webRole
	otherSession.AccessKeyID = "ASIA3EXAMPLEWEBAPP02"
	foreign := finding.Principal{Kind: finding.KindAssumedRole, Type: "AssumedRole", RoleName: "ops", AccessKeyID: "ASIA3EXAMPLEOPS00001", Account: "210987654321"}
	f := gd("AttackSequence:IAM/CompromisedCredentials", 9, alice, "185.220.101.42")
	f.Actors = []finding.Principal{webRole, bob, otherSession, foreign}
	at := time.Date(2026, 11, 20, 4, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		done map[string]time.Time
		want []brief
	}{
		{"first delivery", nil, []brief{
			{"deactivate-key", "", "key AKIA…E001 of user alice"}, {"revoke-sessions", "", "user alice"},
			{"skip", "deactivate-key", "principal web-app-role"}, {"revoke-sessions", "", "role web-app-role"},
			{"skip", SkippedPrincipal, "principal bob"},
			{"skip", "deactivate-key", "principal web-app-role"},
			{"report", "", "principal ops"},
			{"block-ip", "", "IP set autocontain-v4 += 185.220.101.42/32"}, {"notify", "", "topic autocontain"},
		}},
		{"a delivery from before findings named several principals did alice's key", map[string]time.Time{"deactivate-key": at}, []brief{
			{"skip", "deactivate-key", "key AKIA…E001 of user alice"}, {"revoke-sessions", "", "user alice"},
			{"skip", "deactivate-key", "principal web-app-role"}, {"revoke-sessions", "", "role web-app-role"},
			{"skip", SkippedPrincipal, "principal bob"},
			{"skip", "deactivate-key", "principal web-app-role"},
			{"report", "", "principal ops"},
			{"block-ip", "", "IP set autocontain-v4 += 185.220.101.42/32"}, {"notify", "", "topic autocontain"},
		}},
		{"the role's sessions were revoked: only the role is skipped", map[string]time.Time{"revoke-sessions role/web-app-role": at}, []brief{
			{"deactivate-key", "", "key AKIA…E001 of user alice"}, {"revoke-sessions", "", "user alice"},
			{"skip", "deactivate-key", "principal web-app-role"}, {"skip", "revoke-sessions", "role web-app-role"},
			{"skip", SkippedPrincipal, "principal bob"},
			{"skip", "deactivate-key", "principal web-app-role"},
			{"report", "", "principal ops"},
			{"block-ip", "", "IP set autocontain-v4 += 185.220.101.42/32"}, {"notify", "", "topic autocontain"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := BuildWith(f, pb, Facts{Home: testHome, ProtectionChecked: true, Done: tt.done})
			if got := briefs(p); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("steps\n got %q\nwant %q", got, tt.want)
			}
		})
	}
	// Protection learned for one principal stops that principal only.
	p := BuildWith(f, pb, Facts{Home: testHome, ProtectionChecked: true,
		Protection: map[string]Protection{"role/web-app-role": {Protected: "it is tagged"}, "user/alice": {Unverified: "throttled"}}})
	want := []brief{{"report", "", "principal alice"}, {"skip", SkippedPrincipal, "principal web-app-role"}, {"skip", SkippedPrincipal, "principal bob"},
		{"skip", SkippedPrincipal, "principal web-app-role"}, {"report", "", "principal ops"},
		{"block-ip", "", "IP set autocontain-v4 += 185.220.101.42/32"}, {"notify", "", "topic autocontain"}}
	if got := briefs(p); !reflect.DeepEqual(got, want) {
		t.Errorf("with protection\n got %q\nwant %q", got, want)
	}
}

// TestTableShowsImpact: the table has an impact line when the engine read
// the class, masked, and none when it did not.
func TestTableShowsImpact(t *testing.T) {
	f := finding.Finding{Source: finding.SourceGuardDuty, Type: "CredentialAccess:IAMUser/AnomalousBehavior", Severity: 5,
		Principal: finding.Principal{Kind: finding.KindIAMUserKey, UserName: "alice", AccessKeyID: "AKIAIOSFODNN7EXAMPLE"}}
	for _, tt := range []struct {
		name string
		imp  finding.Impact
		want string
	}{
		{"not_read", finding.Impact{}, ""},
		{"admin", finding.Impact{Class: finding.ImpactAdmin, Why: "inline policy ops of user alice: statement 1 allows * on *"},
			"impact    admin (inline policy ops of user alice: statement 1 allows * on *)\n"},
		{"unknown_masked", finding.Impact{Class: finding.ImpactUnknown, Why: "could not read: key AKIAIOSFODNN7EXAMPLE denied"},
			"impact    unknown (could not read: key AKIA…MPLE denied)\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f.Principal.Impact = tt.imp
			var b bytes.Buffer
			if err := Build(f, testPlaybook(t, nil)).WriteTable(&b); err != nil {
				t.Fatal(err)
			}
			got := b.String()
			if tt.want == "" && strings.Contains(got, "impact") || !strings.Contains(got, tt.want) {
				t.Errorf("table:\n%s\nwant the line %q", got, tt.want)
			}
		})
	}
}
