package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/autocontain/autocontain/internal/audit"
	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/plan"
	"github.com/autocontain/autocontain/internal/testenv/faultproxy"
)

// securityHubPairs names each Security Hub sample with the GuardDuty
// samples whose findings it carries, in order.
var securityHubPairs = []struct {
	copy      string
	originals []string
}{
	{"securityhub-guardduty-maliciousipcaller-custom-akia.json", []string{"guardduty-maliciousipcaller-custom-akia.json"}},
	{"securityhub-guardduty-instance-credential-exfiltration-outsideaws.json", []string{"guardduty-instance-credential-exfiltration-outsideaws.json"}},
	{"securityhub-guardduty-root-credential-usage.json", []string{"guardduty-root-credential-usage.json"}},
	{"securityhub-guardduty-ipv6-caller.json", []string{"guardduty-ipv6-caller.json"}},
	{"securityhub-guardduty-ec2-backdoor-ccactivity.json", []string{"guardduty-ec2-backdoor-ccactivity.json"}},
	{"securityhub-two-findings.json", []string{"guardduty-maliciousipcaller-custom-akia.json", "guardduty-ipv6-caller.json"}},
}

// TestSecurityHubCopiesGetTheSamePlans: a GuardDuty finding read from
// Security Hub's event gets the plan its GuardDuty original gets, step for
// step. Two fields of the finding legitimately differ and are left out of
// the comparison: Via (securityhub) and Accounts (the JSON paths the
// accounts were read from: detail.findings[0].AwsAccountId and .Id instead
// of detail.accountId).
func TestSecurityHubCopiesGetTheSamePlans(t *testing.T) {
	eng := &Engine{Playbook: goldenPlaybook(), Home: goldenHome}
	for _, pair := range securityHubPairs {
		t.Run(pair.copy, func(t *testing.T) {
			copies, err := eng.PlanAll(event(t, pair.copy))
			if err != nil {
				t.Fatal(err)
			}
			if len(copies) != len(pair.originals) {
				t.Fatalf("%d findings, want %d", len(copies), len(pair.originals))
			}
			for i, name := range pair.originals {
				orig, err := eng.Plan(event(t, name))
				if err != nil {
					t.Fatal(err)
				}
				got := copies[i]
				if got.Finding.Via != "securityhub" || orig.Finding.Via != "" {
					t.Errorf("via: copy %q, original %q", got.Finding.Via, orig.Finding.Via)
				}
				if len(got.Steps) != len(orig.Steps) {
					t.Fatalf("finding %d: %d steps, the original %s has %d", i, len(got.Steps), name, len(orig.Steps))
				}
				for j := range got.Steps {
					if a, b := asJSON(t, got.Steps[j]), asJSON(t, orig.Steps[j]); a != b {
						t.Errorf("finding %d, step %d:\n%s\nthe original's:\n%s", i, j+1, a, b)
					}
				}
				if a, b := asJSON(t, comparable(got)), asJSON(t, comparable(orig)); a != b {
					t.Errorf("finding %d: plan\n%s\nthe original's (%s):\n%s", i, a, name, b)
				}
			}
		})
	}
}

// comparable is p without the finding fields a Security Hub copy
// legitimately has of its own (SeverityFloor: its number is people's to
// change within GuardDuty's band, so decisions use the band's floor; the
// steps must still be the original's), and with only the part of an instance that
// ASFF's AwsEc2Instance carries (no state, no profile id, and of each
// interface its id and VPC only: no subnet, groups or addresses).
func comparable(p plan.Plan) plan.Plan {
	p.Finding.Via, p.Finding.Accounts, p.Finding.SeverityFloor = "", nil, 0
	if in := p.Finding.Instance; in != nil {
		c := finding.Instance{ID: in.ID, ProfileARN: in.ProfileARN, Tags: slices.Clone(in.Tags)}
		for _, n := range in.Interfaces {
			c.Interfaces = append(c.Interfaces, finding.Interface{ID: n.ID, VPC: n.VPC})
		}
		slices.SortFunc(c.Tags, func(a, b finding.Tag) int { return strings.Compare(a.Key, b.Key) })
		p.Finding.Instance = &c
	}
	return p
}

func asJSON(t *testing.T, v any) string {
	t.Helper()
	raw, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// TestSecurityHubCopyIsADuplicate: a responder subscribed to both GuardDuty
// and Security Hub receives each finding twice; the ledger treats the copy
// as the original (the same finding id and updatedAt), so it acts once,
// whichever arrives first. An event of two findings is two deliveries, each
// with its own claim and record.
func TestSecurityHubCopyIsADuplicate(t *testing.T) {
	fx := newFixture(t)
	eng := fx.engine(nil)
	ctx := context.Background()
	original := fx.acct.Rewrite(event(t, "guardduty-maliciousipcaller-custom-akia.json"))
	copyOf := fx.acct.Rewrite(event(t, "securityhub-guardduty-maliciousipcaller-custom-akia.json"))
	both := fx.acct.Rewrite(event(t, "securityhub-two-findings.json"))
	ipv6Original := fx.acct.Rewrite(event(t, "guardduty-ipv6-caller.json"))

	rec, err := eng.Run(ctx, original)
	if err != nil || rec.Outcome != audit.OutcomeContained {
		t.Fatalf("the original: %v\n%s", err, rec.Text())
	}
	calls := mutatingCalls(fx.proxy)
	out, err := eng.Handle(ctx, copyOf)
	if err != nil {
		t.Fatal(err)
	}
	dup, ok := out.(audit.Record)
	if !ok {
		t.Fatalf("the result of a one-finding event is %T, want an audit.Record", out)
	}
	if !handledBefore(dup) {
		t.Errorf("the Security Hub copy was not a duplicate:\n%s", dup.Text())
	}
	if extra := mutatingCalls(fx.proxy) - calls; extra != 0 {
		t.Errorf("the copy made %d mutating calls, want 0", extra)
	}

	// Two findings in one event: the first was handled (above), the
	// second is new and contained; then its GuardDuty original is a
	// duplicate in turn.
	out, err = eng.Handle(ctx, both)
	if err != nil {
		t.Fatal(err)
	}
	recs, ok := out.([]audit.Record)
	if !ok || len(recs) != 2 {
		t.Fatalf("the result of a two-finding event is %T %v, want two audit records", out, out)
	}
	if !handledBefore(recs[0]) {
		t.Errorf("finding 1 of 2 was not a duplicate:\n%s", recs[0].Text())
	}
	if recs[1].Outcome != audit.OutcomeContained || recs[1].Finding.ID != "a8feba18beb8daac6a27805dada8dc3a" {
		t.Errorf("finding 2 of 2 was not contained:\n%s", recs[1].Text())
	}
	calls = mutatingCalls(fx.proxy)
	rec, err = eng.Run(ctx, ipv6Original)
	if err != nil || !handledBefore(rec) {
		t.Errorf("the original of finding 2, after its copy: %v\n%s", err, rec.Text())
	}
	if extra := mutatingCalls(fx.proxy) - calls; extra != 0 {
		t.Errorf("the original after its copy made %d mutating calls, want 0", extra)
	}
}

// handledBefore reports whether rec is the record of a delivery the ledger
// found already handled.
func handledBefore(rec audit.Record) bool {
	return rec.Outcome != audit.OutcomeContained && len(rec.Steps) == 1 && rec.Steps[0].Action == plan.ActionSkip &&
		strings.Contains(rec.Steps[0].Reason, "was already handled")
}

// TestSecurityHubEventOfTwoFindings replays the two-finding sample against
// a fresh account: both findings are contained, each with its own record.
func TestSecurityHubEventOfTwoFindings(t *testing.T) {
	fx := newFixture(t)
	eng := fx.engine(nil)
	recs, err := eng.RunAll(context.Background(), fx.acct.Rewrite(event(t, "securityhub-two-findings.json")))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2", len(recs))
	}
	for i, rec := range recs {
		if rec.Outcome != audit.OutcomeContained {
			t.Errorf("finding %d: %s", i+1, rec.Text())
		}
	}
	st := fx.state(t)
	if strings.Join(st.IPv4, ",") != "185.220.101.42/32" || strings.Join(st.IPv6, ",") != "2a0b:f4c2:2::1/128" {
		t.Errorf("IP sets: %v %v", st.IPv4, st.IPv6)
	}
}

// TestSecurityHubSeverityCannotBeSteered: a Security Hub copy's top-level
// Severity is people's to change (BatchUpdateFindings, automation rules),
// within the band GuardDuty's label fixes. Wherever it is moved in the
// band, the copy is decided alike, by the band's floor: a rule whose
// minimum lies inside the band takes the GuardDuty original, never the
// copy, and the copy's plan does not depend on the number.
func TestSecurityHubSeverityCannotBeSteered(t *testing.T) {
	orig, err := (&Engine{Playbook: goldenPlaybook(), Home: goldenHome}).Plan(event(t, "guardduty-ipv6-caller.json"))
	if err != nil {
		t.Fatal(err)
	}
	pb := goldenPlaybook()
	for i := range pb.Rules {
		if pb.Rules[i].Name == orig.Rule {
			pb.Rules[i].MinSeverity = 4.5 // inside MEDIUM (4.0–6.9); the original is 5
		}
	}
	eng := &Engine{Playbook: pb, Home: goldenHome}
	if gd, err := eng.Plan(event(t, "guardduty-ipv6-caller.json")); err != nil || gd.Rule != orig.Rule {
		t.Fatalf("the GuardDuty original: rule %q (%v), want %s", gd.Rule, err, orig.Rule)
	}
	var first string
	for _, product := range []string{"4.0", "5.0", "6.9"} {
		ps, err := eng.PlanAll(event(t, "securityhub-guardduty-ipv6-caller.json", `"Product": 5.0`, `"Product": `+product))
		if err != nil {
			t.Fatal(err)
		}
		p := ps[0]
		if p.Rule == orig.Rule {
			t.Errorf("Severity.Product %s: the copy took rule %s, whose minimum 4.5 lies inside the band", product, p.Rule)
		}
		p.Finding.Severity = 0
		if got := asJSON(t, p); first == "" {
			first = got
		} else if got != first {
			t.Errorf("Severity.Product %s: the copy's plan differs from Product 4.0's:\n%s\n%s", product, got, first)
		}
	}
}

// TestSecurityHubDeferralHidesNoFailure: Lambda counts one Errors per
// invocation, and the stack's error alarm subtracts DeliveriesInProgress
// from it. So an event of two findings counts at most one deferral, and
// none when the other finding really failed: the failure must page. The
// event goes through RunAll (the CLI) and Handle (the Lambda entry), each
// an invocation that meets the same state. The count is timestamped at
// the invocation's start, as Lambda timestamps Errors, so that both fall
// in the same period of the alarm.
func TestSecurityHubDeferralHidesNoFailure(t *testing.T) {
	tests := []struct {
		name string
		// claimed[i]: another delivery holds finding i's claim.
		claimed [2]bool
		// fail makes the first finding (alice's key) fail, retryably.
		fail       bool
		errorType  string
		inProgress int
	}{
		{"one_deferred_one_failed", [2]bool{false, true}, true, "StepFailed", 0},
		{"both_deferred", [2]bool{true, true}, false, errorTypeInProgress, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t)
			eng := fx.engine(nil)
			var logs bytes.Buffer
			eng.Log = slog.New(slog.NewJSONHandler(&logs, nil))
			// A clock a minute on at each reading: the invocation's start
			// is the first reading.
			var clock time.Time
			eng.Now = func() time.Time {
				clock = clock.Add(time.Minute)
				return clock
			}
			ctx := context.Background()
			raw := fx.acct.Rewrite(event(t, "securityhub-two-findings.json"))
			ps, err := eng.PlanAll(raw)
			if err != nil || len(ps) != 2 {
				t.Fatalf("%d plans: %v", len(ps), err)
			}
			for i, p := range ps {
				if tt.claimed[i] {
					if _, err := eng.claim(ctx, p.Finding, "other-delivery"); err != nil {
						t.Fatal(err)
					}
				}
			}
			if tt.fail {
				fx.proxy.Inject("UpdateAccessKey", faultproxy.Throttling, 1000)
			}
			invocations := map[string]func() ([]audit.Record, error){
				"RunAll": func() ([]audit.Record, error) { return eng.RunAll(ctx, raw) },
				"Handle": func() ([]audit.Record, error) {
					out, err := eng.Handle(ctx, raw)
					recs, _ := out.([]audit.Record)
					return recs, err
				},
			}
			for _, entry := range []string{"RunAll", "Handle"} {
				logs.Reset()
				clock = time.Now().UTC().Truncate(time.Millisecond)
				start := clock.Add(time.Minute)
				recs, err := invocations[entry]()
				if err == nil || ErrorType(err) != tt.errorType {
					t.Errorf("%s: error %v (errorType %q), want errorType %q", entry, err, ErrorType(err), tt.errorType)
				}
				if len(recs) != 2 {
					t.Fatalf("%s: %d records, want 2", entry, len(recs))
				}
				for i, rec := range recs {
					want := audit.OutcomeInProgress
					if !tt.claimed[i] {
						want = audit.OutcomeFailed
					}
					if rec.Outcome != want {
						t.Errorf("%s: finding %d: outcome %q, want %q\n%s", entry, i+1, rec.Outcome, want, rec.Text())
					}
				}
				counts, stamps := metricCounts(t, logs.String())
				for _, at := range stamps {
					if !at.Equal(start) {
						t.Errorf("%s: a metric timestamped %s, want the invocation's start %s", entry, at, start)
					}
				}
				if counts[MetricInProgress] != tt.inProgress {
					t.Errorf("%s: %d counts of %s, want %d:\n%s", entry, counts[MetricInProgress], MetricInProgress, tt.inProgress, logs.String())
				}
				if counts[MetricFailedPermanently] != 0 {
					t.Errorf("%s: %s counted a retried invocation", entry, MetricFailedPermanently)
				}
			}
		})
	}
}

// metricCounts sums, per metric name, the values of the embedded-format
// metrics (CloudWatch User Guide, "Embedded metric format specification")
// in logs, one JSON object a line, and lists their timestamps.
func metricCounts(t *testing.T, logs string) (map[string]int, []time.Time) {
	t.Helper()
	counts := map[string]int{}
	var stamps []time.Time
	for line := range strings.Lines(logs) {
		var entry map[string]json.RawMessage
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("a log line that is not JSON: %v\n%s", err, line)
		}
		var emf struct {
			Timestamp         int64
			CloudWatchMetrics []struct {
				Metrics []struct{ Name string }
			}
		}
		if raw, ok := entry["_aws"]; !ok {
			continue
		} else if err := json.Unmarshal(raw, &emf); err != nil {
			t.Fatalf("_aws: %v\n%s", err, line)
		}
		stamps = append(stamps, time.UnixMilli(emf.Timestamp).UTC())
		for _, d := range emf.CloudWatchMetrics {
			for _, m := range d.Metrics {
				var v int
				if err := json.Unmarshal(entry[m.Name], &v); err != nil {
					t.Fatalf("metric %s without a count: %v\n%s", m.Name, err, line)
				}
				counts[m.Name] += v
			}
		}
	}
	return counts, stamps
}
