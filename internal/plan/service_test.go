package plan

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/playbook"
)

// TestCallsThroughAService: a CloudTrail call that a principal made
// through an AWS service is reported, naming the service, unless the rule
// opts in with containViaService; the console is no such service, and a
// failed call is contained as a successful one is.
func TestCallsThroughAService(t *testing.T) {
	deployer := finding.Principal{Kind: finding.KindAssumedRole, Type: "AssumedRole", RoleName: "cfn-deploy-role",
		ARN: "arn:aws:sts::123456789012:assumed-role/cfn-deploy-role/AWSCloudFormation", AccessKeyID: "ASIA3EXAMPLECFNDEP01"}
	call := func(pr finding.Principal, via, errorCode string) finding.Finding {
		return finding.Finding{Source: finding.SourceCloudTrail, ID: "e1", Type: "DeleteTrail", EventSource: "cloudtrail.amazonaws.com",
			Account: "123456789012", Partition: "aws", Principal: pr, ViaService: via, ErrorCode: errorCode, Failed: errorCode != ""}
	}
	optIn := func(pb *playbook.Playbook) {
		for i := range pb.Rules {
			if pb.Rules[i].Name == "audit-trail-tampering" {
				pb.Rules[i].ContainViaService = true
			}
		}
	}
	contained := []brief{{"skip", "deactivate-key", "principal " + deployer.ARN}, {"revoke-sessions", "", "role cfn-deploy-role"}, {"notify", "", "topic autocontain"}}
	reported := []brief{{"report", "", "principal " + deployer.ARN}, {"notify", "", "topic autocontain"}}
	tests := []struct {
		name   string
		f      finding.Finding
		mutate func(*playbook.Playbook)
		want   []brief
		reason string // a step's reason contains it
	}{
		{"direct_call_is_contained", call(deployer, "", ""), nil, contained, ""},
		{"through_cloudformation_is_reported", call(deployer, "cloudformation.amazonaws.com", ""), nil, reported, "through an AWS service (cloudformation.amazonaws.com)"},
		{"aws_internal_is_reported", call(deployer, "AWS Internal", ""), nil, reported, "(AWS Internal)"},
		{"user_key_through_a_service_is_reported", call(alice, "cloudformation.amazonaws.com", ""), nil,
			[]brief{{"report", "", "principal alice"}, {"notify", "", "topic autocontain"}}, "containViaService in rule audit-trail-tampering"},
		{"rule_opts_in", call(deployer, "cloudformation.amazonaws.com", ""), optIn, contained, ""},
		{"failed_call_is_contained", call(deployer, "", "AccessDenied"), nil, contained, ""},
		{"failed_call_through_a_service_is_reported", call(deployer, "cloudformation.amazonaws.com", "AccessDenied"), nil, reported, "cloudformation.amazonaws.com"},
		// Root is reported for being root, whatever it called through.
		{"root_keeps_its_own_reason", call(root, "cloudformation.amazonaws.com", ""), nil,
			[]brief{{"report", "", "principal " + root.ARN}, {"notify", "", "topic autocontain"}}, "root user cannot be restricted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pb := testPlaybook(t, nil)
			if tt.mutate != nil {
				tt.mutate(pb)
			}
			p := BuildWith(tt.f, pb, Facts{Home: testHome, ProtectionChecked: true})
			if got := briefs(p); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("steps\n got %q\nwant %q", got, tt.want)
			}
			if tt.reason != "" && !strings.Contains(p.Steps[0].Reason, tt.reason) {
				t.Errorf("reason %q lacks %q", p.Steps[0].Reason, tt.reason)
			}
		})
	}
}

// TestOutcomeRules: a rule's outcome decides whether a call matches, and
// the plan shows how the call went.
func TestOutcomeRules(t *testing.T) {
	f := finding.Finding{Source: finding.SourceCloudTrail, ID: "e1", Type: "StopLogging", EventSource: "cloudtrail.amazonaws.com",
		Account: "123456789012", Principal: alice, ErrorCode: "AccessDenied", Failed: true}
	pb := testPlaybook(t, nil)
	// The default tampering rule acts on the denied attempt.
	p := BuildWith(f, pb, Facts{Home: testHome, ProtectionChecked: true})
	if p.Rule != "audit-trail-tampering" || !p.ContainsPrincipal() {
		t.Fatalf("a denied StopLogging: rule %q, steps %q; want it contained", p.Rule, briefs(p))
	}
	var b bytes.Buffer
	if err := p.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "call      failed: AccessDenied\n") {
		t.Errorf("the table does not say the call failed:\n%s", b.String())
	}
	// A rule for successful calls only lets it pass.
	for i := range pb.Rules {
		if pb.Rules[i].Name == "audit-trail-tampering" {
			pb.Rules[i].Outcome = playbook.OutcomeSuccess
		}
	}
	if p := build(f, pb); p.Rule != "" || p.ContainsPrincipal() {
		t.Errorf("outcome success matched a failed call: rule %q, steps %q", p.Rule, briefs(p))
	}
	f.ErrorCode, f.Failed = "", false
	b.Reset()
	if err := build(f, pb).WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "call ") {
		t.Errorf("a call that succeeded directly gets a call line:\n%s", b.String())
	}
}
