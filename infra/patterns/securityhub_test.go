package patterns

import (
	"reflect"
	"testing"

	"github.com/autocontain/autocontain/internal/playbook"
)

func TestSecurityHubPattern(t *testing.T) {
	tests := []struct {
		name, playbook, want string
	}{
		{
			name: "types_severity_principals",
			playbook: `{"version":1,"rules":[
				{"name":"a","source":"guardduty","types":["Recon:IAMUser/TorIPCaller","PenTest:IAMUser/*","*:IAMUser/AnomalousBehavior"],"minSeverity":5,"principals":["iam-user-key","assumed-role"],"actions":["notify"]}]}`,
			want: `{"account":["123456789012"],"detail":{"findings":{"AwsAccountId":["123456789012"],` +
				`"FindingProviderFields":{"Severity":{"Label":["MEDIUM","HIGH","CRITICAL"]},"Types":[{"wildcard":"*Recon:IAMUser*TorIPCaller"},{"wildcard":"*PenTest:IAMUser*"},{"wildcard":"*:IAMUser*AnomalousBehavior"}]},` +
				`"ProductArn":[{"wildcard":"arn:*:securityhub:*::product/aws/guardduty"}],"RecordState":["ACTIVE"],` +
				`"Resources":{"Details":{"AwsIamAccessKey":{"PrincipalType":["IAMUser","AssumedRole"]}}}}},` +
				`"detail-type":["Security Hub Findings - Imported"],"source":["aws.securityhub"]}`,
		},
		{
			// Rules alike but for their types are one branch; wildcards
			// another covers go.
			name: "alike_rules_merge",
			playbook: `{"version":1,"rules":[
				{"name":"a","source":"guardduty","types":["Recon:IAMUser/TorIPCaller","UnauthorizedAccess:IAMUser/TorIPCaller"],"actions":["notify"]},
				{"name":"b","source":"guardduty","types":["Recon:IAMUser/*","UnauthorizedAccess:EC2/SSHBruteForce"],"actions":["notify"]}]}`,
			want: `{"account":["123456789012"],"detail":{"findings":{"AwsAccountId":["123456789012"],` +
				`"FindingProviderFields":{"Types":[{"wildcard":"*UnauthorizedAccess:IAMUser*TorIPCaller"},{"wildcard":"*Recon:IAMUser*"},{"wildcard":"*UnauthorizedAccess:EC2*SSHBruteForce"}]},` +
				`"ProductArn":[{"wildcard":"arn:*:securityhub:*::product/aws/guardduty"}],"RecordState":["ACTIVE"]}},` +
				`"detail-type":["Security Hub Findings - Imported"],"source":["aws.securityhub"]}`,
		},
		{
			// Two rules alike in severity, not in principals: the severity
			// may not leave $or with the field that also holds each rule's
			// types.
			name: "same_severity_keeps_types",
			playbook: `{"version":1,"settings":{"actOnArchived":true},"rules":[
				{"name":"a","source":"guardduty","types":["Recon:IAMUser/TorIPCaller"],"minSeverity":8,"principals":["root"],"actions":["notify"]},
				{"name":"b","source":"guardduty","types":["UnauthorizedAccess:EC2/SSHBruteForce"],"minSeverity":7.5,"actions":["notify"]},
				{"name":"c","source":"cloudtrail","eventSource":"cloudtrail.amazonaws.com","types":["StopLogging"],"actions":["notify"]}]}`,
			want: `{"account":["123456789012"],"detail":{"findings":{"$or":[` +
				`{"FindingProviderFields":{"Severity":{"Label":["HIGH","CRITICAL"]},"Types":[{"wildcard":"*Recon:IAMUser*TorIPCaller"}]},"Resources":{"Details":{"AwsIamAccessKey":{"PrincipalType":["Root"]}}}},` +
				`{"FindingProviderFields":{"Severity":{"Label":["HIGH","CRITICAL"]},"Types":[{"wildcard":"*UnauthorizedAccess:EC2*SSHBruteForce"}]}}],` +
				`"AwsAccountId":["123456789012"],"ProductArn":[{"wildcard":"arn:*:securityhub:*::product/aws/guardduty"}]}},` +
				`"detail-type":["Security Hub Findings - Imported"],"source":["aws.securityhub"]}`,
		},
		{
			name:     "no_guardduty_rule",
			playbook: `{"version":1,"rules":[{"name":"c","source":"cloudtrail","eventSource":"cloudtrail.amazonaws.com","types":["StopLogging"],"actions":["notify"]}]}`,
			want:     `null`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps, err := SecurityHub(mustPlaybook(t, tt.playbook), "123456789012")
			if got := one(t, ps, err); got != tt.want {
				t.Errorf("pattern\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestLabelsFrom(t *testing.T) {
	for min, want := range map[float64][]any{
		0.5: {"INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"}, 1: {"LOW", "MEDIUM", "HIGH", "CRITICAL"}, 3.9: {"LOW", "MEDIUM", "HIGH", "CRITICAL"},
		4: {"MEDIUM", "HIGH", "CRITICAL"}, 6.9: {"MEDIUM", "HIGH", "CRITICAL"}, 7: {"HIGH", "CRITICAL"}, 9: {"CRITICAL"}, 10: {"CRITICAL"},
	} {
		if got := labelsFrom(min); !reflect.DeepEqual(got, want) {
			t.Errorf("labelsFrom(%g) = %v, want %v", min, got, want)
		}
	}
}

// TestDefaultSecurityHubPatternsFit: the default playbook's Security Hub
// rule fits EventBridge's quota in one rule.
func TestDefaultSecurityHubPatternsFit(t *testing.T) {
	const account = "${Token[AWS.AccountId.7]}"
	for _, settings := range []playbook.Settings{{}, {MinSeverity: 7}, {MinSeverity: 4.5}, {ActOnArchived: true}} {
		pb := *playbook.Default()
		pb.Settings.MinSeverity = max(pb.Settings.MinSeverity, settings.MinSeverity)
		pb.Settings.ActOnArchived = settings.ActOnArchived
		ps, err := SecurityHub(&pb, account)
		if err != nil {
			t.Fatal(err)
		}
		// One rule: in two, a finding both matched (a type one names, a
		// severity the safety net takes) would be delivered twice.
		if len(ps) != 1 {
			t.Errorf("%+v: %d patterns, want 1", settings, len(ps))
		}
		for i, p := range ps {
			n := Size(p, account)
			if n > MaxSize {
				t.Errorf("%+v: pattern %d is %d characters, more than %d", settings, i, n, MaxSize)
			}
			t.Logf("%+v: Security Hub pattern %d of %d: %d characters as measured", settings, i+1, len(ps), n)
		}
	}
}

// TestLargePlaybookSecurityHubSplit: a playbook too large for one rule is
// split into rules that each fit and together hold every type of the
// single pattern, each with its rule's severity.
func TestLargePlaybookSecurityHubSplit(t *testing.T) {
	pb := largePlaybook(t)
	const account = "${Token[AWS.AccountId.7]}"
	single, ps := splitFitting(t, securityHub(pb, account), account)
	var got []any
	for _, p := range ps {
		got = append(got, shTypes(p)...)
	}
	if want := shTypes(single); !reflect.DeepEqual(got, want) {
		t.Errorf("the rules hold %d (type, severity) pairs, the single pattern %d", len(got), len(want))
	}
	if err := CheckQuotas(ps); err != nil {
		t.Error(err)
	}
}

// shTypes lists each type of a Security Hub pattern with its severity
// labels, in order.
func shTypes(p Pattern) []any {
	f := p["detail"].(map[string]any)["findings"].(map[string]any)
	or, ok := f["$or"].([]any)
	if !ok {
		or = []any{f}
	}
	var out []any
	for _, b := range or {
		fpf, _ := b.(map[string]any)["FindingProviderFields"].(map[string]any)
		types, _ := fpf["Types"].([]any)
		for _, ty := range types {
			out = append(out, []any{ty, fpf["Severity"]})
		}
		if types == nil {
			out = append(out, []any{"every type", fpf["Severity"]})
		}
	}
	return out
}

func TestUncovered(t *testing.T) {
	w := func(ss ...string) []any {
		var out []any
		for _, s := range ss {
			out = append(out, map[string]any{"wildcard": s})
		}
		return out
	}
	for _, tt := range []struct{ in, want []any }{
		{w("*Recon:IAMUser*TorIPCaller", "*Recon:IAMUser*"), w("*Recon:IAMUser*")},
		{w("*PenTest:IAMUser*", "*PenTest:S3*"), w("*PenTest:IAMUser*", "*PenTest:S3*")},
		// Only *X* covers: X* and *X do not match every string holding X.
		{w("*A:B*C", "A:B*", "*A:B"), w("*A:B*C", "A:B*", "*A:B")},
		{w("*:IAMUser*MaliciousIPCaller*", "*UnauthorizedAccess:IAMUser*MaliciousIPCaller*"), w("*:IAMUser*MaliciousIPCaller*", "*UnauthorizedAccess:IAMUser*MaliciousIPCaller*")},
	} {
		if got := uncovered(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("uncovered(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
