package engine

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/autocontain/autocontain/internal/failure"
)

// TestBadTimestampFailsTheDelivery: an event whose time is missing or not
// RFC 3339 is refused with an error naming the field, and that error is
// transient, not permanent: Handle returns it, so Lambda retries the event
// and then sends it to the function's on-failure destination, the
// dead-letter queue the stack alarms on (infra TestFailedDeliveriesReachAlarmedDeadLetters).
// Nothing is dropped as a permanent failure, which would only be logged.
// The forms AWS writes, with or without fractional seconds, and RFC 3339's
// lower-case t and z, are planned.
func TestBadTimestampFailsTheDelivery(t *testing.T) {
	const gdTime, ctTime = `"updatedAt": "2026-11-20T04:24:51.117Z"`, `"eventTime": "2026-11-20T11:02:37Z"`
	gd, ct := "guardduty-maliciousipcaller-custom-akia.json", "cloudtrail-stoplogging-iamuser.json"
	// rewrite returns the sample event with one field replaced, failing
	// when the sample no longer holds the original.
	rewrite := func(t *testing.T, name, old, new string) []byte {
		t.Helper()
		if !strings.Contains(string(event(t, name)), old) {
			t.Fatalf("event %s no longer holds %s: update the test", name, old)
		}
		return event(t, name, old, new)
	}
	refused := []struct {
		name, event, old, new, field string
	}{
		{"guardduty_no_zone", gd, gdTime, `"updatedAt": "2026-11-20T04:24:51.117"`, "detail.updatedAt"},
		{"guardduty_missing", gd, gdTime, `"updatedAtX": "2026-11-20T04:24:51.117Z"`, "detail.updatedAt is missing"},
		{"guardduty_decimal_comma", gd, gdTime, `"updatedAt": "2026-11-20T04:24:51,117Z"`, "detail.updatedAt"},
		{"cloudtrail_space", ct, ctTime, `"eventTime": "2026-11-20 11:02:37Z"`, "detail.eventTime"},
		{"cloudtrail_epoch", ct, ctTime, `"eventTime": "1763636557"`, "detail.eventTime"},
		{"cloudtrail_empty", ct, ctTime, `"eventTime": ""`, "detail.eventTime is missing"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			eng := &Engine{Playbook: goldenPlaybook(), Home: goldenHome, Log: slog.New(slog.NewJSONHandler(&logs, nil))}
			_, err := eng.Handle(context.Background(), rewrite(t, tt.event, tt.old, tt.new))
			if err == nil || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("Handle returned %v, want an error naming %s", err, tt.field)
			}
			if failure.IsPermanent(err) || strings.Contains(logs.String(), MetricFailedPermanently) {
				t.Errorf("a bad timestamp is a permanent failure (%v): Lambda would not retry it nor dead-letter it\n%s", err, logs.String())
			}
			if !strings.Contains(logs.String(), "rejected an event") {
				t.Errorf("the refusal is not logged:\n%s", logs.String())
			}
		})
	}
	accepted := []struct{ name, event, old, new string }{
		{"guardduty_whole_seconds", gd, gdTime, `"updatedAt": "2026-11-20T04:24:51Z"`},
		{"guardduty_offset", gd, gdTime, `"updatedAt": "2026-11-20T05:24:51.117+01:00"`},
		{"cloudtrail_fraction", ct, ctTime, `"eventTime": "2026-11-20T11:02:37.5Z"`},
		{"cloudtrail_lower_case", ct, ctTime, `"eventTime": "2026-11-20t11:02:37z"`},
	}
	for _, tt := range accepted {
		t.Run(tt.name, func(t *testing.T) {
			eng := &Engine{Playbook: goldenPlaybook(), Home: goldenHome}
			p, err := eng.Plan(rewrite(t, tt.event, tt.old, tt.new))
			if err != nil || p.Rule == "" {
				t.Fatalf("plan: %v (rule %q)", err, p.Rule)
			}
		})
	}
}
