package playbook

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/autocontain/autocontain/internal/finding"
)

func TestPatternMatch(t *testing.T) {
	tests := []struct {
		pattern Pattern
		kind    PatternKind
		s       string
		want    bool
	}{
		{"Recon:IAMUser/TorIPCaller", Exact, "Recon:IAMUser/TorIPCaller", true},
		{"Recon:IAMUser/TorIPCaller", Exact, "Recon:IAMUser/TorIPCaller.Custom", false},
		{"UnauthorizedAccess:IAMUser/*", Prefix, "UnauthorizedAccess:IAMUser/MaliciousIPCaller", true},
		{"UnauthorizedAccess:IAMUser/*", Prefix, "UnauthorizedAccess:EC2/SSHBruteForce", false},
		{"UnauthorizedAccess:IAMUser/MaliciousIPCaller*", Prefix, "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom", true},
		{"*:IAMUser/AnomalousBehavior", Glob, "CredentialAccess:IAMUser/AnomalousBehavior", true},
		{"*:IAMUser/AnomalousBehavior", Glob, "CredentialAccess:IAMUser/AnomalousBehavior.X", false},
		{"*:S3/MaliciousIPCaller*", Glob, "Discovery:S3/MaliciousIPCaller.Custom", true},
		{"*:S3/MaliciousIPCaller*", Glob, "Discovery:S3/TorIPCaller", false},
		{"a*b*c", Glob, "abc", true},
		{"a*b*c", Glob, "axxbyyc", true},
		{"a*b*c", Glob, "axxbyy", false},
		{"a*b*c", Glob, "acb", false},
		{"arn:aws:iam::*:role/break-glass-*", Glob, "arn:aws:iam::123456789012:role/break-glass-admin", true},
		{"arn:aws:iam::*:role/break-glass-*", Glob, "arn:aws:iam::123456789012:role/ops/break-glass-admin", false},
		{"arn:aws:iam::*:role/*break-glass-*", Glob, "arn:aws:iam::123456789012:role/ops/break-glass-admin", true},
	}
	for _, tt := range tests {
		if k := tt.pattern.Kind(); k != tt.kind {
			t.Errorf("%q.Kind() = %v, want %v", tt.pattern, k, tt.kind)
		}
		if got := tt.pattern.Match(tt.s); got != tt.want {
			t.Errorf("%q.Match(%q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

func TestDefaultIsValid(t *testing.T) {
	p := Default()
	if p.Settings.DryRun {
		t.Error("the embedded default is a dry run; dry run is the deployment's choice (AUTOCONTAIN_DRY_RUN)")
	}
	if len(p.Rules) < 10 {
		t.Errorf("default has %d rules", len(p.Rules))
	}
}

// TestDefaultCoversIAMFindingTypes checks that every GuardDuty finding type
// whose resource is an access key, and those that carry attacker addresses,
// match a rule with the expected action (GuardDuty User Guide, "IAM finding
// types"; shared/reference/aws-facts-detailed.md §1.5).
func TestDefaultCoversIAMFindingTypes(t *testing.T) {
	p := Default()
	contains := []string{ActionDeactivateKey, ActionRevokeSessions, ActionNotify}
	tests := []struct {
		typ      string
		severity float64
		kind     finding.Kind
		want     []string // actions the matching rule must have
		wantNot  []string
	}{
		{"CredentialAccess:IAMUser/AnomalousBehavior", 5, finding.KindIAMUserKey, contains, []string{ActionBlockIP}},
		{"DefenseEvasion:IAMUser/AnomalousBehavior", 5, finding.KindIAMUserKey, contains, nil},
		{"DefenseEvasion:IAMUser/BedrockLoggingDisabled", 5, finding.KindIAMUserKey, contains, nil},
		{"Discovery:IAMUser/AnomalousBehavior", 2, finding.KindIAMUserKey, []string{ActionNotify}, []string{ActionDeactivateKey}},
		{"Exfiltration:IAMUser/AnomalousBehavior", 8, finding.KindIAMUserKey, contains, nil},
		{"Impact:IAMUser/AnomalousBehavior", 8, finding.KindIAMUserKey, contains, nil},
		{"InitialAccess:IAMUser/AnomalousBehavior", 5, finding.KindIAMUserKey, contains, nil},
		{"PenTest:IAMUser/KaliLinux", 5, finding.KindIAMUserKey, append(contains, ActionBlockIP), nil},
		{"PenTest:IAMUser/ParrotLinux", 5, finding.KindIAMUserKey, append(contains, ActionBlockIP), nil},
		{"PenTest:IAMUser/PentooLinux", 5, finding.KindIAMUserKey, append(contains, ActionBlockIP), nil},
		{"Persistence:IAMUser/AnomalousBehavior", 5, finding.KindIAMUserKey, contains, nil},
		{"Policy:IAMUser/RootCredentialUsage", 2, finding.KindRoot, []string{ActionNotify}, []string{ActionBlockIP}},
		{"Policy:IAMUser/ShortTermRootCredentialUsage", 2, finding.KindRoot, []string{ActionNotify}, nil},
		{"PrivilegeEscalation:IAMUser/AnomalousBehavior", 5, finding.KindIAMUserKey, contains, nil},
		// No key to deactivate, and the key that minted the session is unknown: quarantine the user.
		{"Recon:IAMUser/MaliciousIPCaller", 5, finding.KindIAMUserSession, []string{ActionRevokeSessions, ActionQuarantine, ActionBlockIP}, []string{ActionDeactivateKey}},
		{"Recon:IAMUser/MaliciousIPCaller", 3, finding.KindIAMUserSession, append(contains, ActionBlockIP), []string{ActionQuarantine}},
		{"Recon:IAMUser/MaliciousIPCaller.Custom", 5, finding.KindIAMUserKey, append(contains, ActionBlockIP), nil},
		{"Recon:IAMUser/TorIPCaller", 5, finding.KindIAMUserKey, append(contains, ActionBlockIP), nil},
		{"Stealth:IAMUser/CloudTrailLoggingDisabled", 2, finding.KindIAMUserKey, contains, nil},
		{"Stealth:IAMUser/PasswordPolicyChange", 2, finding.KindIAMUserKey, []string{ActionNotify}, []string{ActionDeactivateKey}},
		{"UnauthorizedAccess:IAMUser/ConsoleLoginSuccess.B", 5, finding.KindIAMUserSession, []string{ActionNotify}, nil},
		{"UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.InsideAWS", 8, finding.KindAssumedRole, []string{ActionRevokeSessions}, []string{ActionBlockIP}},
		{"UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS", 8, finding.KindAssumedRole, []string{ActionRevokeSessions, ActionBlockIP}, nil},
		{"UnauthorizedAccess:IAMUser/MaliciousIPCaller", 5, finding.KindIAMUserKey, append(contains, ActionBlockIP), nil},
		{"UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom", 5, finding.KindIAMUserKey, append(contains, ActionBlockIP), nil},
		{"UnauthorizedAccess:IAMUser/TorIPCaller", 5, finding.KindIAMUserKey, append(contains, ActionBlockIP), nil},
		{"Impact:IAMUser/CostHarvesting", 5, finding.KindIAMUserKey, []string{ActionNotify}, nil},
		{"UnauthorizedAccess:EC2/SSHBruteForce", 2, finding.KindNone, []string{ActionBlockIP}, []string{ActionDeactivateKey}},
		{"UnauthorizedAccess:EC2/RDPBruteForce", 2, finding.KindNone, []string{ActionBlockIP}, nil},
		{"Recon:EC2/PortProbeUnprotectedPort", 2, finding.KindNone, []string{ActionBlockIP}, nil},
		{"Discovery:S3/MaliciousIPCaller", 5, finding.KindIAMUserKey, []string{ActionBlockIP}, nil},
		{"Discovery:Kubernetes/MaliciousIPCaller", 5, finding.KindNone, []string{ActionBlockIP}, nil},
		{"CredentialAccess:RDS/MaliciousIPCaller.FailedLogin", 5, finding.KindNone, []string{ActionBlockIP}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			r, ok := p.Match(finding.Finding{Source: finding.SourceGuardDuty, Type: tt.typ, Severity: tt.severity, Principal: finding.Principal{Kind: tt.kind}})
			if !ok {
				t.Fatal("no rule matches")
			}
			for _, a := range tt.want {
				if !r.Has(a) {
					t.Errorf("rule %s lacks %s", r.Name, a)
				}
			}
			for _, a := range tt.wantNot {
				if r.Has(a) {
					t.Errorf("rule %s has %s", r.Name, a)
				}
			}
		})
	}
}

func TestDefaultCloudTrailRules(t *testing.T) {
	p := Default()
	tests := []struct {
		eventSource, name string
		kind              finding.Kind
		wantRule          string
	}{
		{"cloudtrail.amazonaws.com", "StopLogging", finding.KindIAMUserKey, "audit-trail-tampering"},
		{"cloudtrail.amazonaws.com", "DeleteTrail", finding.KindAssumedRole, "audit-trail-tampering"},
		{"cloudtrail.amazonaws.com", "DeleteTrail", finding.KindService, ""},
		{"cloudtrail.amazonaws.com", "StopLogging", finding.KindRoot, "audit-trail-tampering"},
		{"guardduty.amazonaws.com", "DeleteDetector", finding.KindAssumedRole, "guardduty-tampering"},
		{"securityhub.amazonaws.com", "DisableSecurityHub", finding.KindFederated, "securityhub-tampering"},
		{"signin.amazonaws.com", "ConsoleLogin", finding.KindRoot, "root-console-sign-in"},
		{"signin.amazonaws.com", "ConsoleLogin", finding.KindIAMUserSession, ""},
		{"guardduty.amazonaws.com", "StopLogging", finding.KindIAMUserKey, ""},
	}
	for _, tt := range tests {
		t.Run(tt.eventSource+"/"+tt.name+"/"+string(tt.kind), func(t *testing.T) {
			r, ok := p.Match(finding.Finding{Source: finding.SourceCloudTrail, EventSource: tt.eventSource, Type: tt.name, Principal: finding.Principal{Kind: tt.kind}})
			if r.Name != tt.wantRule || ok != (tt.wantRule != "") {
				t.Errorf("matched %q (%v), want %q", r.Name, ok, tt.wantRule)
			}
		})
	}
}

// TestMatchOutcome: a CloudTrail rule matches calls by how they ended;
// without an outcome, and in the default playbook's tampering rules, a
// failed call matches as a successful one does.
func TestMatchOutcome(t *testing.T) {
	rule := func(o Outcome) Rule {
		return Rule{Name: "x", Source: finding.SourceCloudTrail, EventSource: "cloudtrail.amazonaws.com",
			Types: []Pattern{"StopLogging"}, Outcome: o, Actions: []string{ActionNotify}}
	}
	call := func(failed bool) finding.Finding {
		return finding.Finding{Source: finding.SourceCloudTrail, EventSource: "cloudtrail.amazonaws.com", Type: "StopLogging",
			Failed: failed, Principal: finding.Principal{Kind: finding.KindIAMUserKey}}
	}
	for _, tt := range []struct {
		outcome           Outcome
		succeeded, failed bool
	}{
		{"", true, true},
		{OutcomeAny, true, true},
		{OutcomeSuccess, true, false},
		{OutcomeFailure, false, true},
	} {
		r := rule(tt.outcome)
		if err := r.validate(); err != nil {
			t.Fatalf("outcome %q: %v", tt.outcome, err)
		}
		if got := r.Matches(call(false), 0); got != tt.succeeded {
			t.Errorf("outcome %q matches a call that succeeded: %v, want %v", tt.outcome, got, tt.succeeded)
		}
		if got := r.Matches(call(true), 0); got != tt.failed {
			t.Errorf("outcome %q matches a call that failed: %v, want %v", tt.outcome, got, tt.failed)
		}
	}
	p := Default()
	for _, r := range p.Rules {
		if r.Source == finding.SourceCloudTrail && strings.HasSuffix(r.Name, "-tampering") && r.Outcome != OutcomeAny {
			t.Errorf("default rule %s has outcome %q; a denied attempt at tampering is evidence too, want %q", r.Name, r.Outcome, OutcomeAny)
		}
	}
	if r, ok := p.Match(call(true)); !ok || r.Name != "audit-trail-tampering" {
		t.Errorf("a failed StopLogging matched %q (%v), want audit-trail-tampering", r.Name, ok)
	}
}

func TestMatchSeverityFloorAndOrder(t *testing.T) {
	p := Default()
	f := finding.Finding{Source: finding.SourceGuardDuty, Type: "CredentialAccess:IAMUser/AnomalousBehavior", Severity: 5,
		Principal: finding.Principal{Kind: finding.KindIAMUserKey}}
	if r, _ := p.Match(f); r.Name != "anomalous-credential-use" {
		t.Fatalf("severity 5 matched %s", r.Name)
	}
	f.Severity = 3
	if r, _ := p.Match(f); r.Name != "other-credential-findings" {
		t.Fatalf("severity 3 matched %s, want the notify-only rule below it", r.Name)
	}
	p.Settings.MinSeverity = 9
	f.Severity = 8
	if r, ok := p.Match(f); ok {
		t.Fatalf("settings.minSeverity 9 still matched %s at 8", r.Name)
	}
}

// TestMatchImpact: a rule with impact matches only a principal whose class
// was read and is one of its classes; not read and unknown never match.
// The README's example: contain AnomalousBehavior at any severity when the
// key is admin.
func TestMatchImpact(t *testing.T) {
	p, err := Parse([]byte(`{"version":1,"rules":[
		{"name":"anomalous-admin-key","source":"guardduty","types":["*:IAMUser/AnomalousBehavior"],"impact":["admin"],
		 "actions":["deactivate-key","revoke-sessions","notify"]},
		{"name":"risky-key","source":"guardduty","types":["*:IAMUser/AnomalousBehavior"],"impact":["escalation","list-all"],"minSeverity":4,
		 "actions":["deactivate-key","notify"]},
		{"name":"other","source":"guardduty","types":["*:IAMUser/*"],"actions":["notify"]}]}`), "test.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		class    finding.ImpactClass
		severity float64
		want     string
	}{
		{"admin_at_low_severity", finding.ImpactAdmin, 2, "anomalous-admin-key"},
		{"admin_at_high_severity", finding.ImpactAdmin, 8, "anomalous-admin-key"},
		{"escalation_at_medium", finding.ImpactEscalation, 5, "risky-key"},
		{"escalation_at_low_falls_through", finding.ImpactEscalation, 2, "other"},
		{"list_all_at_medium", finding.ImpactListAll, 5, "risky-key"},
		{"scoped_falls_through", finding.ImpactScoped, 8, "other"},
		{"unknown_never_matches", finding.ImpactUnknown, 8, "other"},
		{"not_read_never_matches", "", 8, "other"},
	}
	// An attack sequence matches when any of its actors is of the class.
	seq := finding.Finding{Source: finding.SourceGuardDuty, Type: "CredentialAccess:IAMUser/AnomalousBehavior", Severity: 2,
		Principal: finding.Principal{Kind: finding.KindAssumedRole, RoleName: "r", Impact: finding.Impact{Class: finding.ImpactScoped}},
		Actors:    []finding.Principal{{Kind: finding.KindIAMUserKey, UserName: "alice", Impact: finding.Impact{Class: finding.ImpactAdmin}}}}
	if r, _ := p.Match(seq); r.Name != "anomalous-admin-key" {
		t.Errorf("an admin actor after a scoped one: matched %q, want anomalous-admin-key", r.Name)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := finding.Finding{Source: finding.SourceGuardDuty, Type: "CredentialAccess:IAMUser/AnomalousBehavior", Severity: tt.severity,
				Principal: finding.Principal{Kind: finding.KindIAMUserKey, UserName: "alice", Impact: finding.Impact{Class: tt.class}}}
			if r, _ := p.Match(f); r.Name != tt.want {
				t.Errorf("matched %q, want %q", r.Name, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"empty", ``, "empty"},
		{"syntax_error_names_line", "{\n  \"version\": 1,\n  \"rules\": [\n    {\"name\": \"x\",}\n  ]\n}", "4:19"},
		{"unknown_field_names_it", "{\n  \"version\": 1,\n  \"setings\": {}\n}", `unknown field "setings"`},
		{"wrong_type_names_field_and_line", "{\n  \"version\": 1,\n  \"settings\": {\"dryRun\": \"yes\"}\n}", `3:`},
		{"wrong_type_field", `{"version": 1, "settings": {"dryRun": "yes"}}`, `settings.dryRun`},
		{"trailing_data", `{"version":1,"rules":[]} {}`, "unexpected data"},
		{"version", `{"version": 2, "rules": []}`, "version: 2 is not supported"},
		{"no_rules", `{"version": 1}`, "at least one rule"},
		{"bad_rule_name", rules(`{"name":"Stolen Keys","source":"guardduty","types":["A:B/C"],"actions":["notify"]}`), `rules[0] (Stolen Keys): name`},
		{"bad_source", rules(`{"name":"x","source":"securityhub","types":["A"],"actions":["notify"]}`), `source: "securityhub"`},
		{"unknown_action", rules(`{"name":"x","source":"guardduty","types":["A"],"actions":["delete-key"]}`), `actions[0]: "delete-key" is not one of`},
		{"duplicate_action", rules(`{"name":"x","source":"guardduty","types":["A"],"actions":["notify","notify"]}`), `listed twice`},
		{"no_actions", rules(`{"name":"x","source":"guardduty","types":["A"],"actions":[]}`), `at least one action`},
		{"no_types", rules(`{"name":"x","source":"guardduty","actions":["notify"]}`), `types: a rule needs`},
		{"catch_all_that_contains", rules(`{"name":"x","source":"guardduty","types":["*"],"actions":["block-ip","notify"]}`), `actions[0]: "block-ip" in a rule for every finding type`},
		{"catch_all_among_types", rules(`{"name":"x","source":"guardduty","types":["A","*"],"actions":["notify"]}`), `types: "*" matches everything`},
		{"catch_all_cloudtrail", rules(`{"name":"x","source":"cloudtrail","eventSource":"cloudtrail.amazonaws.com","types":["*"],"actions":["notify"]}`), `types: "*" matches everything`},
		{"safety_net_word", `{"version":1,"settings":{"safetyNet":"on"},"rules":[{"name":"x","source":"guardduty","types":["A"],"actions":["notify"]}]}`, `settings.safetyNet: want a severity 0–10, or "off"`},
		{"safety_net_negative", `{"version":1,"settings":{"safetyNet":-1},"rules":[{"name":"x","source":"guardduty","types":["A"],"actions":["notify"]}]}`, `settings.safetyNet: want a severity 0–10, or "off"`},
		{"safety_net_range", `{"version":1,"settings":{"safetyNet":11},"rules":[{"name":"x","source":"guardduty","types":["A"],"actions":["notify"]}]}`, `settings.safetyNet: want a severity 0–10, or "off"`},
		{"question_mark", rules(`{"name":"x","source":"guardduty","types":["Recon:IAMUser/Tor?PCaller"],"actions":["notify"]}`), `only * is supported`},
		{"family_without_star", rules(`{"name":"x","source":"guardduty","types":["UnauthorizedAccess:IAMUser/"],"actions":["notify"]}`), `"UnauthorizedAccess:IAMUser/*"`},
		{"severity_range", rules(`{"name":"x","source":"guardduty","types":["A"],"minSeverity":11,"actions":["notify"]}`), `minSeverity: 11`},
		{"cloudtrail_needs_event_source", rules(`{"name":"x","source":"cloudtrail","types":["StopLogging"],"actions":["notify"]}`), `eventSource: ""`},
		{"cloudtrail_has_no_severity", rules(`{"name":"x","source":"cloudtrail","eventSource":"cloudtrail.amazonaws.com","types":["StopLogging"],"minSeverity":5,"actions":["notify"]}`), `carry no severity`},
		{"guardduty_has_no_event_source", rules(`{"name":"x","source":"guardduty","eventSource":"cloudtrail.amazonaws.com","types":["A"],"actions":["notify"]}`), `only CloudTrail rules`},
		{"bad_outcome", rules(`{"name":"x","source":"cloudtrail","eventSource":"cloudtrail.amazonaws.com","types":["StopLogging"],"outcome":"failed","actions":["notify"]}`), `outcome: "failed" is not one of [any success failure]`},
		{"guardduty_has_no_outcome", rules(`{"name":"x","source":"guardduty","types":["A"],"outcome":"any","actions":["notify"]}`), `outcome: only CloudTrail rules have one`},
		{"guardduty_has_no_via_service", rules(`{"name":"x","source":"guardduty","types":["A"],"containViaService":true,"actions":["notify"]}`), `containViaService: only CloudTrail rules`},
		{"via_service_is_a_bool", rules(`{"name":"x","source":"cloudtrail","eventSource":"cloudtrail.amazonaws.com","types":["StopLogging"],"containViaService":"yes","actions":["notify"]}`), `containViaService`},
		{"principals_on_attack_sequences", rules(`{"name":"x","source":"guardduty","types":["A:B/C","AttackSequence:*"],"principals":["assumed-role"],"actions":["revoke-sessions"]}`), `principals: types[1] "AttackSequence:*" takes attack sequences`},
		{"principals_on_a_glob_taking_sequences", rules(`{"name":"x","source":"guardduty","types":["*/Compromised*"],"principals":["assumed-role"],"actions":["revoke-sessions"]}`), `principals: types[0] "*/Compromised*" takes attack sequences`},
		{"bad_principal_kind", rules(`{"name":"x","source":"guardduty","types":["A"],"principals":["admin"],"actions":["notify"]}`), `principals[0]: "admin"`},
		{"bad_impact_class", rules(`{"name":"x","source":"guardduty","types":["A"],"impact":["root"],"actions":["notify"]}`), `impact[0]: "root" is not one of [admin escalation list-all scoped]`},
		{"impact_unknown_never_matches", rules(`{"name":"x","source":"guardduty","types":["A"],"impact":["admin","unknown"],"actions":["notify"]}`), `impact[1]: "unknown" never matches`},
		{"duplicate_impact", rules(`{"name":"x","source":"guardduty","types":["A"],"impact":["admin","admin"],"actions":["notify"]}`), `impact[1]: "admin" is listed twice`},
		{"impact_a_string", rules(`{"name":"x","source":"guardduty","types":["A"],"impact":"admin","actions":["notify"]}`), `impact`},
		{"duplicate_rule_name", rules(`{"name":"x","source":"guardduty","types":["A"],"actions":["notify"]},{"name":"x","source":"guardduty","types":["B"],"actions":["notify"]}`), `already used by rules[0]`},
		{"resource_role_lower_case", rules(`{"name":"x","source":"guardduty","types":["A:EC2/B"],"resourceRole":"actor","actions":["notify"]}`), `resourceRole: "actor" is not one of [ACTOR TARGET]`},
		{"resource_role_on_cloudtrail", rules(`{"name":"x","source":"cloudtrail","eventSource":"cloudtrail.amazonaws.com","types":["StopLogging"],"resourceRole":"ACTOR","actions":["notify"]}`), `resourceRole: only GuardDuty rules`},
		{"resource_types_on_cloudtrail", rules(`{"name":"x","source":"cloudtrail","eventSource":"cloudtrail.amazonaws.com","types":["StopLogging"],"resourceTypes":["Instance"],"actions":["notify"]}`), `resourceTypes: only GuardDuty rules`},
		{"resource_type_glob", rules(`{"name":"x","source":"guardduty","types":["A:EC2/B"],"resourceTypes":["Inst*"],"actions":["notify"]}`), `resourceTypes[0]: "Inst*" is not a GuardDuty resource type`},
		{"resource_type_twice", rules(`{"name":"x","source":"guardduty","types":["A:EC2/B"],"resourceTypes":["Instance","Instance"],"actions":["notify"]}`), `resourceTypes[1]: "Instance" is listed twice`},
		{"isolate_on_iam_types", rules(`{"name":"x","source":"guardduty","types":["*:IAMUser/AnomalousBehavior","Recon:IAMUser/TorIPCaller"],"actions":["isolate-instance","notify"]}`),
			`actions[0]: "isolate-instance": none of its types can be about an instance`},
		{"isolate_on_s3_family", rules(`{"name":"x","source":"guardduty","types":["PenTest:S3/*"],"actions":["notify","isolate-instance"]}`), `actions[1]: "isolate-instance": none of its types`},
		{"isolate_on_cloudtrail", rules(`{"name":"x","source":"cloudtrail","eventSource":"ec2.amazonaws.com","types":["RunInstances"],"actions":["isolate-instance"]}`),
			`"isolate-instance": a cloudtrail record does not describe an instance`},
		{"isolate_without_instance_resource_type", rules(`{"name":"x","source":"guardduty","types":["*:Runtime/*"],"resourceTypes":["EKSCluster"],"actions":["isolate-instance"]}`),
			`resourceTypes [EKSCluster] leave out Instance`},
		{"isolate_in_a_safety_net", rules(`{"name":"x","source":"guardduty","types":["*"],"actions":["isolate-instance","notify"]}`), `a safety net only notifies`},
		{"bad_cidr", settings(`"allowCidrs":["10.0.0.0/33"]`), `settings.allowCidrs[0]: "10.0.0.0/33"`},
		{"cidr_list_is_a_list", settings(`"allowCidrs":"10.0.0.0/8"`), `settings.allowCidrs: want a list of CIDR strings`},
		{"bad_protect", settings(`"protect":["break-glass"]`), `settings.protect[0]`},
		{"bad_ipset_arn", settings(`"ipSets":{"ipv4":"arn:aws:s3:::bucket"}`), `settings.ipSets.ipv4`},
		{"bad_ipset_scope", settings(`"ipSets":{"ipv6":"arn:aws:wafv2:us-east-1:123456789012:zonal/ipset/x/1"}`), `scope "zonal"`},
		{"bad_topic", settings(`"topicArn":"alerts"`), `settings.topicArn`},
		{"min_severity_setting", settings(`"minSeverity":-1`), `settings.minSeverity`},
		{"bad_notification_format", settings(`"notificationFormat":"slack"`), `settings.notificationFormat: "slack" is not text or chat`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.text), "test.json")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want one containing %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "playbook test.json") {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

// TestIsolateInstanceAccepted: isolate-instance is accepted wherever some
// type can be about an instance: an EC2 family, Runtime Monitoring, a
// glob or a prefix that leaves the resource open, one such type among others.
func TestIsolateInstanceAccepted(t *testing.T) {
	for _, types := range []string{
		`["Backdoor:EC2/*"]`, `["*:Runtime/*"]`, `["UnauthorizedAccess:*"]`, `["*:EC2/TorClient"]`,
		`["Recon:IAMUser/TorIPCaller","CryptoCurrency:EC2/BitcoinTool.B!DNS"]`, `["Backdoor:*/C&CActivity.B"]`,
	} {
		text := rules(`{"name":"x","source":"guardduty","types":` + types + `,"resourceTypes":["Instance"],"actions":["isolate-instance","notify"]}`)
		if _, err := Parse([]byte(text), "test.json"); err != nil {
			t.Errorf("types %s: %v", types, err)
		}
	}
}

// TestMatchResource: resourceRole and resourceTypes narrow a rule to
// findings whose resource played that role, or is of one of those types.
func TestMatchResource(t *testing.T) {
	r := Rule{Source: finding.SourceGuardDuty, Types: []Pattern{"UnauthorizedAccess:EC2/SSHBruteForce", "*:Runtime/*"}}
	actor, instance := r, r
	actor.ResourceRole = finding.RoleActor
	instance.ResourceTypes = []string{finding.ResourceInstance}
	for _, tt := range []struct {
		name               string
		rule               Rule
		typ, role, resType string
		want               bool
	}{
		{"no_filter_takes_target", r, "UnauthorizedAccess:EC2/SSHBruteForce", "TARGET", "Instance", true},
		{"actor_takes_actor", actor, "UnauthorizedAccess:EC2/SSHBruteForce", "ACTOR", "Instance", true},
		{"actor_refuses_target", actor, "UnauthorizedAccess:EC2/SSHBruteForce", "TARGET", "Instance", false},
		{"actor_refuses_no_role", actor, "UnauthorizedAccess:EC2/SSHBruteForce", "", "Instance", false},
		{"instance_takes_runtime_on_instance", instance, "Execution:Runtime/NewBinaryExecuted", "", "Instance", true},
		{"instance_refuses_runtime_on_cluster", instance, "Execution:Runtime/NewBinaryExecuted", "", "EKSCluster", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := finding.Finding{Source: finding.SourceGuardDuty, Type: tt.typ, Severity: 8, ResourceRole: tt.role, ResourceType: tt.resType}
			if got := tt.rule.Matches(f, 0); got != tt.want {
				t.Errorf("Matches = %v, want %v", got, tt.want)
			}
		})
	}
}

func rules(r string) string { return `{"version":1,"rules":[` + r + `]}` }

func settings(s string) string {
	return `{"version":1,"settings":{` + s + `},"rules":[{"name":"x","source":"guardduty","types":["A"],"actions":["notify"]}]}`
}

func TestFromEnv(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pb.json")
	if err := os.WriteFile(file, []byte(settings(`"dryRun":false,"allowCidrs":["192.0.2.0/24"]`)), 0o600); err != nil {
		t.Fatal(err)
	}
	v4 := "arn:aws:wafv2:us-east-1:123456789012:regional/ipset/autocontain-v4/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"
	tests := []struct {
		name    string
		env     map[string]string
		check   func(t *testing.T, p *Playbook)
		wantErr string
	}{
		{"default", nil, func(t *testing.T, p *Playbook) {
			if len(p.Rules) != len(Default().Rules) {
				t.Error("not the default playbook")
			}
		}, ""},
		{"file_then_overrides", map[string]string{
			EnvPlaybookFile: file, EnvDryRun: "true", EnvAllowCIDRs: " 10.1.0.0/16 , 2001:db8::/32,", EnvIPSetV4: v4,
			EnvTopicARN: "arn:aws:sns:us-east-1:123456789012:alerts", EnvMinSeverity: "4.5", EnvProtect: "arn:aws:iam::*:role/admin",
			EnvActOnSamples: "1", EnvActOnArchived: "false",
		}, func(t *testing.T, p *Playbook) {
			s := p.Settings
			if len(p.Rules) != 1 || !s.DryRun || s.IPSets.IPv4 != v4 || s.MinSeverity != 4.5 || !s.ActOnSamples ||
				s.TopicARN != "arn:aws:sns:us-east-1:123456789012:alerts" || len(s.Protect) != 1 {
				t.Errorf("settings not applied: %+v", s)
			}
			if _, ok := p.Allowed(netip.MustParseAddr("10.1.2.3")); !ok {
				t.Error("10.1.2.3 not allowed")
			}
			if _, ok := p.Allowed(netip.MustParseAddr("192.0.2.1")); ok {
				t.Error("the file's allow list should be replaced by the variable's")
			}
			if _, ok := p.Protected("arn:aws:iam::123456789012:role/admin"); !ok {
				t.Error("protect pattern not applied")
			}
		}, ""},
		{"inline_beats_file", map[string]string{EnvPlaybook: settings(`"dryRun":true`), EnvPlaybookFile: "/nonexistent"},
			func(t *testing.T, p *Playbook) {
				if !p.Settings.DryRun {
					t.Error("inline playbook not used")
				}
			}, ""},
		{"missing_file", map[string]string{EnvPlaybookFile: filepath.Join(dir, "nope.json")}, nil, "AUTOCONTAIN_PLAYBOOK_FILE"},
		{"bad_bool", map[string]string{EnvDryRun: "sure"}, nil, `$AUTOCONTAIN_DRY_RUN: "sure"`},
		{"bad_number", map[string]string{EnvMinSeverity: "high"}, nil, `$AUTOCONTAIN_MIN_SEVERITY`},
		{"bad_cidr_in_env", map[string]string{EnvAllowCIDRs: "10.0.0.0/8,office"}, nil, `$AUTOCONTAIN_ALLOW_CIDRS[1]: "office" is not a CIDR`},
		{"bad_arn_in_env", map[string]string{EnvIPSetV6: "my-set"}, nil, `$AUTOCONTAIN_IPSET_V6_ARN: IP set ARN "my-set"`},
		{"bad_duration_in_env", map[string]string{EnvBlockTTL: "7d"}, nil, `$AUTOCONTAIN_BLOCK_TTL: "7d" is not a Go duration`},
		{"bad_format_in_env", map[string]string{EnvNotificationFormat: "markdown"}, nil, `$AUTOCONTAIN_NOTIFICATION_FORMAT: "markdown" is not text or chat`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := FromEnv(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, p)
		})
	}
}

func FuzzParsePlaybook(f *testing.F) {
	f.Add(DefaultJSON())
	f.Add([]byte(rules(`{"name":"x","source":"cloudtrail","eventSource":"cloudtrail.amazonaws.com","types":["Stop*"],"actions":["notify"]}`)))
	f.Add([]byte(settings(`"allowCidrs":["10.0.0.0/8"],"protect":["arn:*"]`)))
	f.Add([]byte(rules(`{"name":"x","source":"guardduty","types":["*:Runtime/*","Backdoor:EC2/*"],"resourceTypes":["Instance"],"resourceRole":"ACTOR","actions":["isolate-instance","revoke-sessions"]}`)))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data, "fuzz.json")
		if err != nil {
			return
		}
		// What validates must be usable without panicking.
		p.Match(finding.Finding{Source: finding.SourceGuardDuty, Type: "Recon:IAMUser/TorIPCaller", Severity: 5})
		p.Match(finding.Finding{Source: finding.SourceCloudTrail, EventSource: "cloudtrail.amazonaws.com", Type: "StopLogging"})
		p.Allowed(netip.MustParseAddr("2001:db8::1"))
		p.Protected("arn:aws:iam::123456789012:user/alice")
		p.Match(finding.Finding{Source: finding.SourceGuardDuty, Type: "Backdoor:EC2/C&CActivity.B", Severity: 8, ResourceRole: "ACTOR", ResourceType: "Instance"})
		if len(p.Rules) == 0 {
			t.Fatal("a valid playbook has rules")
		}
		for _, r := range p.Rules {
			if r.Has(ActionIsolateInstance) && (r.Source != finding.SourceGuardDuty || !slices.ContainsFunc(r.Types, canNameInstance) ||
				len(r.ResourceTypes) > 0 && !slices.Contains(r.ResourceTypes, finding.ResourceInstance)) {
				t.Fatalf("rule %s isolates but can never take a finding about an instance: %+v", r.Name, r)
			}
			if r.ResourceRole != "" && !slices.Contains(ResourceRoles, r.ResourceRole) {
				t.Fatalf("rule %s has resource role %q", r.Name, r.ResourceRole)
			}
		}
	})
}

// TestDefaultIsolatesCompromisedInstances: the default playbook isolates
// an instance and revokes its role's sessions for the compromise families
// and for an instance that attacks out (ACTOR), at high severity only; an
// attacked instance (TARGET) keeps the inbound rule, and a medium finding
// or Runtime Monitoring on a cluster goes to the safety net.
func TestDefaultIsolatesCompromisedInstances(t *testing.T) {
	p := Default()
	isolate := []string{ActionIsolateInstance, ActionRevokeSessions, ActionNotify}
	for _, tt := range []struct {
		typ, role, resType string
		severity           float64
		rule               string
	}{
		{"CryptoCurrency:EC2/BitcoinTool.B!DNS", "ACTOR", "Instance", 8, "compromised-instance"},
		{"Backdoor:EC2/C&CActivity.B", "ACTOR", "Instance", 8, "compromised-instance"},
		{"Trojan:EC2/DNSDataExfiltration", "ACTOR", "Instance", 8, "compromised-instance"},
		{"UnauthorizedAccess:EC2/TorClient", "ACTOR", "Instance", 8, "compromised-instance"},
		{"Impact:EC2/PortSweep", "ACTOR", "Instance", 8, "compromised-instance"},
		{"CryptoCurrency:Runtime/BitcoinTool.B", "ACTOR", "Instance", 8, "compromised-instance"},
		{"Execution:Runtime/ReverseShell", "", "Instance", 9, "compromised-instance"},
		{"UnauthorizedAccess:EC2/SSHBruteForce", "ACTOR", "Instance", 8, "instance-attacking-out"},
		{"UnauthorizedAccess:EC2/RDPBruteForce", "ACTOR", "Instance", 8, "instance-attacking-out"},
		{"UnauthorizedAccess:EC2/MaliciousIPCaller.Custom", "ACTOR", "Instance", 7, "instance-attacking-out"},
		// Not isolated:
		{"UnauthorizedAccess:EC2/SSHBruteForce", "TARGET", "Instance", 8, "inbound-attacks-on-instances"},
		{"UnauthorizedAccess:EC2/SSHBruteForce", "TARGET", "Instance", 2, "inbound-attacks-on-instances"},
		{"UnauthorizedAccess:EC2/MaliciousIPCaller.Custom", "ACTOR", "Instance", 5, "safety-net"},
		{"Backdoor:EC2/C&CActivity.B", "ACTOR", "Instance", 6.9, "safety-net"},
		{"Execution:Runtime/ReverseShell", "", "EKSCluster", 9, "safety-net"},
		{"UnauthorizedAccess:EC2/TorRelay", "ACTOR", "Instance", 8, "safety-net"},
	} {
		t.Run(fmt.Sprintf("%s_%s_%s_%g", tt.typ, tt.role, tt.resType, tt.severity), func(t *testing.T) {
			r, ok := p.Match(finding.Finding{Source: finding.SourceGuardDuty, Type: tt.typ, Severity: tt.severity,
				ResourceRole: tt.role, ResourceType: tt.resType, Principal: finding.Principal{Kind: finding.KindNone}})
			if !ok || r.Name != tt.rule {
				t.Fatalf("rule %q, want %q", r.Name, tt.rule)
			}
			for _, a := range isolate {
				if strings.HasPrefix(tt.rule, "compromised") || strings.HasPrefix(tt.rule, "instance-attacking") {
					if !r.Has(a) {
						t.Errorf("rule %s lacks %s", r.Name, a)
					}
				} else if a != ActionNotify && r.Has(a) {
					t.Errorf("rule %s has %s", r.Name, a)
				}
			}
		})
	}
}

// TestAllowCIDRsReadMappedAsIPv4: an IPv4-mapped network in allowCidrs is
// the IPv4 network it maps, so the addresses it names are allowed however
// they arrive (addresses are judged as IPv4); an IPv6 network stays one.
func TestAllowCIDRsReadMappedAsIPv4(t *testing.T) {
	pb, err := Parse([]byte(settings(`"allowCidrs":["::ffff:185.220.101.0/120", "2001:db8::/32", "::ffff:0:0/95"]`)), "test.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr string
		want string // the allowing network; "" for none
	}{
		{"185.220.101.42", "185.220.101.0/24"},
		{"185.220.102.1", ""},
		{"2001:db8::1", "2001:db8::/32"},
		{"::fffe:0:1", "::fffe:0:0/95"}, // a network wider than the mapped range stays IPv6
	}
	for _, tt := range tests {
		n, ok := pb.Allowed(netip.MustParseAddr(tt.addr))
		if got := map[bool]string{true: n.String(), false: ""}[ok]; got != tt.want {
			t.Errorf("Allowed(%s) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}
