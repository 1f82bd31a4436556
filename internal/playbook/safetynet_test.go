package playbook

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/autocontain/autocontain/internal/finding"
)

// TestSafetyNetTakesWhatNoRuleTook: the default playbook's last rule is the
// safety net, and it takes the real findings no rule before it contains
// (issue 9), from medium severity up, and nothing its own rules take.
func TestSafetyNetTakesWhatNoRuleTook(t *testing.T) {
	p := Default()
	last := p.Rules[len(p.Rules)-1]
	if !last.IsSafetyNet() || last.Name != "safety-net" || last.MinSeverity != 4 || strings.Join(last.Actions, ",") != ActionNotify {
		t.Fatalf("the default playbook's last rule is %+v, want the safety net: every type from severity 4, notify", last)
	}
	for _, r := range p.Rules[:len(p.Rules)-1] {
		if r.IsSafetyNet() {
			t.Errorf("rule %s is a safety net before the last rule: the rules after it would never match", r.Name)
		}
	}
	tests := []struct {
		typ      string
		severity float64
		want     string
	}{
		{"Execution:Runtime/NewBinaryExecuted", 5, "safety-net"},
		{"CryptoCurrency:Runtime/BitcoinTool.B", 8, "safety-net"},
		{"Execution:EC2/MaliciousFile", 8, "safety-net"},
		{"Object:S3/MaliciousFile", 8, "safety-net"},
		{"Policy:Kubernetes/AnonymousAccessGranted", 8, "safety-net"},
		{"UnauthorizedAccess:EC2/TorRelay", 5, "safety-net"},
		{"PenTest:EC2/KaliLinux", 5, "safety-net"},
		{"Canary:Anything/New", 4, "safety-net"},
		{"Policy:S3/BucketBlockPublicAccessDisabled", 2, ""},
		{"Execution:Runtime/NewBinaryExecuted", 3.9, ""},
		// Taken by the rules before it, at any severity.
		{"UnauthorizedAccess:EC2/SSHBruteForce", 2, "inbound-attacks-on-instances"},
		{"CredentialAccess:IAMUser/AnomalousBehavior", 5, "anomalous-credential-use"},
		{"PenTest:S3/KaliLinux", 5, "known-bad-caller"},
	}
	for _, tt := range tests {
		r, ok := p.Match(finding.Finding{Source: finding.SourceGuardDuty, Type: tt.typ, Severity: tt.severity, Principal: finding.Principal{Kind: finding.KindNone}})
		if r.Name != tt.want || ok != (tt.want != "") {
			t.Errorf("%s at %g matched %q, want %q", tt.typ, tt.severity, r.Name, tt.want)
		}
	}
	// CloudTrail records are not GuardDuty findings: the net is not theirs.
	if r, ok := p.Match(finding.Finding{Source: finding.SourceCloudTrail, EventSource: "s3.amazonaws.com", Type: "DeleteBucket", Principal: finding.Principal{Kind: finding.KindIAMUserKey}}); ok {
		t.Errorf("a CloudTrail record matched %s", r.Name)
	}
}

// TestSafetyNetSetting: the setting raises the floor or switches the net
// off, from the playbook's JSON, a variable or context text, and survives
// the JSON round trip the CDK app makes when it bundles the playbook.
func TestSafetyNetSetting(t *testing.T) {
	torRelay := func(sev float64) finding.Finding {
		return finding.Finding{Source: finding.SourceGuardDuty, Type: "UnauthorizedAccess:EC2/TorRelay", Severity: sev, Principal: finding.Principal{Kind: finding.KindNone}}
	}
	tests := []struct {
		text      string
		want      SafetyNet
		matches5  bool
		matches8  bool
		minAtNet  float64
		netIsOn   bool
		errorText string
	}{
		{text: "", want: 0, matches5: true, matches8: true, minAtNet: 4, netIsOn: true},
		{text: "0", want: 0, matches5: true, matches8: true, minAtNet: 4, netIsOn: true},
		{text: "7", want: 7, matches5: false, matches8: true, minAtNet: 7, netIsOn: true},
		{text: "2", want: 2, matches5: true, matches8: true, minAtNet: 4, netIsOn: true}, // raises only: the rule's own 4 stays
		{text: "off", want: SafetyNetOff},
		{text: " OFF ", want: SafetyNetOff},
		{text: "none", errorText: `"none" is not a severity 0–10 or off`},
		{text: "11", errorText: "11 is outside 0–10"},
		{text: "-1", errorText: "-1 is outside 0–10"},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			p, err := FromEnv(func(k string) (string, bool) { return tt.text, k == EnvSafetyNet })
			if tt.errorText != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errorText) || !strings.Contains(err.Error(), EnvSafetyNet) {
					t.Fatalf("error %v, want one naming $%s and containing %q", err, EnvSafetyNet, tt.errorText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Settings.SafetyNet != tt.want {
				t.Fatalf("safetyNet = %v, want %v", p.Settings.SafetyNet, tt.want)
			}
			for sev, want := range map[float64]bool{5: tt.matches5, 8: tt.matches8} {
				if r, ok := p.Match(torRelay(sev)); ok != want || ok && r.Name != "safety-net" {
					t.Errorf("at %g matched %q (%v), want the safety net: %v", sev, r.Name, ok, want)
				}
			}
			min, on := p.MinSeverity(p.Rules[len(p.Rules)-1])
			if on != tt.netIsOn || on && min != tt.minAtNet {
				t.Errorf("MinSeverity(safety-net) = %g, %v; want %g, %v", min, on, tt.minAtNet, tt.netIsOn)
			}
			// Other rules ignore the setting.
			if min, on := p.MinSeverity(p.Rules[0]); !on || min != 0 {
				t.Errorf("MinSeverity(%s) = %g, %v", p.Rules[0].Name, min, on)
			}
			raw, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			back, err := Parse(raw, "round trip")
			if err != nil {
				t.Fatalf("%v\n%s", err, raw)
			}
			if back.Settings.SafetyNet != tt.want {
				t.Errorf("round trip gave %v, want %v (%s)", back.Settings.SafetyNet, tt.want, raw)
			}
		})
	}
}
