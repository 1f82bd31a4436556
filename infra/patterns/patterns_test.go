package patterns

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/autocontain/autocontain/internal/playbook"
)

func mustPlaybook(t *testing.T, text string) *playbook.Playbook {
	t.Helper()
	pb, err := playbook.Parse([]byte(text), "test")
	if err != nil {
		t.Fatal(err)
	}
	return pb
}

func compact(t *testing.T, p Pattern) string {
	t.Helper()
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(b.String())
}

func TestPatterns(t *testing.T) {
	tests := []struct {
		name       string
		playbook   string
		guardDuty  string
		cloudTrail string
	}{
		{
			name: "one_rule_each_kind_of_match",
			playbook: `{"version":1,"settings":{"minSeverity":2},"rules":[
				{"name":"a","source":"guardduty","types":["Recon:IAMUser/TorIPCaller","PenTest:IAMUser/*","*:IAMUser/AnomalousBehavior"],"minSeverity":5,"principals":["iam-user-key","iam-user-session","assumed-role"],"actions":["notify"]}]}`,
			guardDuty:  `{"detail":{"resource":{"accessKeyDetails":{"userType":["IAMUser","AssumedRole"]}},"service":{"archived":[false]},"severity":[{"numeric":[">=",5]}],"type":["Recon:IAMUser/TorIPCaller",{"prefix":"PenTest:IAMUser/"},{"wildcard":"*:IAMUser/AnomalousBehavior"}]},"detail-type":["GuardDuty Finding"],"source":["aws.guardduty"]}`,
			cloudTrail: `null`,
		},
		{
			name: "or_of_rules_severity_floor_archived_allowed",
			playbook: `{"version":1,"settings":{"minSeverity":3,"actOnArchived":true},"rules":[
				{"name":"a","source":"guardduty","types":["A:B/C"],"actions":["notify"]},
				{"name":"b","source":"guardduty","types":["D:E/*"],"minSeverity":7,"principals":["none"],"actions":["notify"]}]}`,
			guardDuty:  `{"detail":{"$or":[{"severity":[{"numeric":[">=",3]}],"type":["A:B/C"]},{"severity":[{"numeric":[">=",7]}],"type":[{"prefix":"D:E/"}]}]},"detail-type":["GuardDuty Finding"],"source":["aws.guardduty"]}`,
			cloudTrail: `null`,
		},
		{
			name: "cloudtrail_sources_and_detail_types",
			playbook: `{"version":1,"rules":[
				{"name":"a","source":"cloudtrail","eventSource":"cloudtrail.amazonaws.com","types":["StopLogging","Delete*"],"principals":["root","aws-service"],"actions":["notify"]},
				{"name":"b","source":"cloudtrail","eventSource":"signin.amazonaws.com","types":["ConsoleLogin"],"actions":["notify"]}]}`,
			guardDuty:  `null`,
			cloudTrail: `{"detail":{"$or":[{"eventName":["StopLogging",{"prefix":"Delete"}],"eventSource":["cloudtrail.amazonaws.com"],"userIdentity":{"type":["Root","AWSService"]}},{"eventName":["ConsoleLogin"],"eventSource":["signin.amazonaws.com"]}]},"detail-type":["AWS API Call via CloudTrail","AWS Console Sign In via CloudTrail"],"source":["aws.cloudtrail","aws.signin"]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pb := mustPlaybook(t, tt.playbook)
			if got := compact(t, GuardDuty(pb, "")); got != tt.guardDuty {
				t.Errorf("GuardDuty\n got %s\nwant %s", got, tt.guardDuty)
			}
			if got := compact(t, CloudTrail(pb, "")); got != tt.cloudTrail {
				t.Errorf("CloudTrail\n got %s\nwant %s", got, tt.cloudTrail)
			}
		})
	}
}

func TestEventBridgeSource(t *testing.T) {
	for in, want := range map[string]string{"cloudtrail.amazonaws.com": "aws.cloudtrail", "signin.amazonaws.com": "aws.signin", "securityhub.amazonaws.com": "aws.securityhub"} {
		if got := EventBridgeSource(in); got != want {
			t.Errorf("EventBridgeSource(%s) = %s, want %s", in, got, want)
		}
	}
}

// TestPatternsMatchTheAccount: with an account, only its events match; a
// GuardDuty administrator's members' findings carry theirs in
// detail.accountId, on the administrator's bus.
func TestPatternsMatchTheAccount(t *testing.T) {
	pb := mustPlaybook(t, `{"version":1,"rules":[
		{"name":"a","source":"guardduty","types":["A:B/C"],"actions":["notify"]},
		{"name":"b","source":"cloudtrail","eventSource":"cloudtrail.amazonaws.com","types":["StopLogging"],"actions":["notify"]}]}`)
	if got, want := compact(t, GuardDuty(pb, "123456789012")),
		`{"account":["123456789012"],"detail":{"accountId":["123456789012"],"service":{"archived":[false]},"type":["A:B/C"]},"detail-type":["GuardDuty Finding"],"source":["aws.guardduty"]}`; got != want {
		t.Errorf("GuardDuty\n got %s\nwant %s", got, want)
	}
	if got, want := compact(t, CloudTrail(pb, "123456789012")),
		`{"account":["123456789012"],"detail":{"eventName":["StopLogging"],"eventSource":["cloudtrail.amazonaws.com"]},"detail-type":["AWS API Call via CloudTrail"],"source":["aws.cloudtrail"]}`; got != want {
		t.Errorf("CloudTrail\n got %s\nwant %s", got, want)
	}
}

// TestDefaultPatternsFitEventBridge: an event pattern may hold at most
// 2,048 characters (EventBridge quotas, adjustable). Measured with the
// account as deployed (12 digits, in two places for GuardDuty).
func TestDefaultPatternsFitEventBridge(t *testing.T) {
	pb := playbook.Default()
	for name, p := range map[string]Pattern{"GuardDuty": GuardDuty(pb, "123456789012"), "CloudTrail": CloudTrail(pb, "123456789012")} {
		without := len(compact(t, map[string]Pattern{"GuardDuty": GuardDuty(pb, ""), "CloudTrail": CloudTrail(pb, "")}[name]))
		n := len(compact(t, p))
		t.Logf("%s pattern: %d characters (%d without the account match)", name, n, without)
		if n > 2048 {
			t.Errorf("%s pattern is %d characters, more than EventBridge's 2,048", name, n)
		}
	}
}
