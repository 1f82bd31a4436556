package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/plan"
)

func testPlan() plan.Plan {
	return plan.Plan{
		Finding: finding.Finding{Source: finding.SourceGuardDuty, ID: "f1", Type: "Recon:IAMUser/TorIPCaller", Severity: 7.5,
			Account: "123456789012", Region: "us-east-1", Addresses: []netip.Addr{netip.MustParseAddr("185.220.101.42")},
			Principal: finding.Principal{Kind: finding.KindIAMUserKey, UserName: "alice", AccessKeyID: "AKIA5EXAMPLEALICE7Q2"}},
		Rule: "known-bad-caller",
		Steps: []plan.Step{
			{Action: "deactivate-key", Target: plan.Target{Kind: plan.TargetAccessKey, UserName: "alice", AccessKeyID: "AKIA5EXAMPLEALICE7Q2"}, Reason: "r1"},
			{Action: plan.ActionSkip, Skipped: "block-ip", Target: plan.Target{Kind: plan.TargetAddresses}, Reason: "r2"},
			{Action: plan.ActionReport, Target: plan.Target{Kind: plan.TargetPrincipal}, Reason: "r3"},
			{Action: "notify", Target: plan.Target{Kind: plan.TargetTopic, ARN: "arn:aws:sns:us-east-1:123456789012:t"}, Reason: "r4"},
		},
	}
}

func TestOutcome(t *testing.T) {
	tests := []struct {
		name     string
		dryRun   bool
		statuses []string // of steps 0 and 3
		err      string
		want     string
	}{
		{"dry_run", true, []string{StatusPlanned, StatusPlanned}, "", OutcomeDryRun},
		{"contained", false, []string{StatusDone, StatusDone}, "", OutcomeContained},
		{"notify_alone_contains_nothing", false, []string{StatusUnchanged, StatusDone}, "", OutcomeReported},
		{"failed_step", false, []string{StatusFailed, StatusDone}, "", OutcomeFailed},
		{"run_error", false, []string{StatusDone, StatusDone}, "guard failed", OutcomeFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testPlan()
			p.DryRun = tt.dryRun
			r := New(p, time.Unix(0, 0))
			r.Steps[0].Status, r.Steps[3].Status = tt.statuses[0], tt.statuses[1]
			r.Error = tt.err
			r.Finish()
			if r.Outcome != tt.want {
				t.Errorf("outcome %s, want %s", r.Outcome, tt.want)
			}
			if (r.Err() != nil) != (tt.want == OutcomeFailed) {
				t.Errorf("Err() = %v", r.Err())
			}
		})
	}
	// Without a report step and nothing changed: no-change.
	p := testPlan()
	p.Steps = p.Steps[:2]
	r := New(p, time.Unix(0, 0))
	r.Steps[0].Status = StatusUnchanged
	r.Finish()
	if r.Outcome != OutcomeNoChange {
		t.Errorf("outcome %s, want no-change", r.Outcome)
	}
}

func TestRecordMasksKeysAndLogsOnce(t *testing.T) {
	r := New(testPlan(), time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC))
	r.Steps[0].Status = StatusFailed
	r.Steps[0].Error = "boom"
	r.Finish()
	var logs bytes.Buffer
	r.Log(context.Background(), slog.New(slog.NewJSONHandler(&logs, nil)))
	if n := strings.Count(logs.String(), "\n"); n != 1 {
		t.Fatalf("%d log lines, want 1", n)
	}
	var entry struct {
		Level string `json:"level"`
		Audit Record `json:"audit"`
	}
	if err := json.Unmarshal(logs.Bytes(), &entry); err != nil {
		t.Fatal(err)
	}
	if entry.Level != "ERROR" || entry.Audit.Finding.SeverityLabel != "high" || entry.Audit.Principal.AccessKey != "AKIA…E7Q2" {
		t.Errorf("entry %+v", entry)
	}
	for _, out := range []string{logs.String(), r.Text()} {
		if strings.Contains(out, "AKIA5EXAMPLEALICE7Q2") {
			t.Errorf("unmasked key in %s", out)
		}
	}
	text := r.Text()
	for _, want := range []string{"autocontain: failed", "Severity: 7.5 (high)", "[failed] deactivate-key", "ERROR: boom", "[skipped] skip block-ip", "[reported] report", "185.220.101.42"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
}

// TestCallIsRecorded: the record and its text, which the notification
// carries, say that a CloudTrail call failed and what it was made through.
func TestCallIsRecorded(t *testing.T) {
	p := plan.Plan{Finding: finding.Finding{Source: finding.SourceCloudTrail, ID: "e1", Type: "StopLogging",
		EventSource: "cloudtrail.amazonaws.com", ErrorCode: "AccessDenied", Failed: true, ViaService: "cloudformation.amazonaws.com",
		Principal: finding.Principal{Kind: finding.KindAssumedRole, RoleName: "r"}}}
	r := New(p, time.Unix(0, 0))
	const want = "failed: AccessDenied, made through cloudformation.amazonaws.com"
	if r.Finding.Call != want || !strings.Contains(r.Text(), "Call: "+want+"\n") {
		t.Errorf("call %q, text:\n%s", r.Finding.Call, r.Text())
	}
	p.Finding.ErrorCode, p.Finding.Failed, p.Finding.ViaService = "", false, ""
	if r := New(p, time.Unix(0, 0)); r.Finding.Call != "" || strings.Contains(r.Text(), "Call:") {
		t.Errorf("a direct call that succeeded: call %q, text:\n%s", r.Finding.Call, r.Text())
	}
}
