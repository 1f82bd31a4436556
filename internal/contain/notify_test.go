package contain

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/autocontain/autocontain/internal/audit"
	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/plan"
	"github.com/autocontain/autocontain/internal/playbook"
	"github.com/autocontain/autocontain/internal/testenv"
	"github.com/autocontain/autocontain/internal/testenv/faultproxy"
)

// bigRecord is the record of a finding with n addresses, all blocked in one
// step (its target and detail name every one), whose block-ip step failed
// with errText.
func bigRecord(n int, errText string) audit.Record {
	addrs := make([]netip.Addr, n)
	prefixes := make([]netip.Prefix, n)
	for i := range n {
		addrs[i] = netip.AddrFrom4([4]byte{45, byte(i >> 16), byte(i >> 8), byte(i)})
		prefixes[i] = netip.PrefixFrom(addrs[i], 32)
	}
	f := finding.Finding{Source: finding.SourceGuardDuty, ID: "big-finding-0001", Type: "Recon:EC2/PortProbeUnprotectedPort",
		Severity: 5, Account: "123456789012", Region: "us-east-1", UpdatedAt: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), Addresses: addrs}
	p := plan.Plan{Finding: f, Rule: "port-probe", Steps: []plan.Step{
		{Action: playbook.ActionBlockIP, Target: plan.Target{Kind: plan.TargetIPSet, ARN: "arn:aws:wafv2:us-east-1:123456789012:regional/ipset/blocklist/1111", Addresses: prefixes}, Reason: "block attacker addresses"},
		{Action: playbook.ActionNotify, Target: plan.Target{Kind: plan.TargetTopic, ARN: "arn:aws:sns:us-east-1:123456789012:t"}, Reason: "publish"},
	}}
	rec := audit.New(p, time.Date(2026, 11, 25, 12, 0, 1, 0, time.UTC))
	rec.Steps[0].Detail = "IP set blocklist += " + rec.Steps[0].Target[strings.Index(rec.Steps[0].Target, "+= ")+3:]
	if errText != "" {
		rec.Steps[0].Status, rec.Steps[0].Error = audit.StatusFailed, errText
	} else {
		rec.Steps[0].Status = audit.StatusDone
	}
	rec.Finish()
	return rec
}

// TestNotificationAlwaysFits: whatever the record's size, the message is
// valid UTF-8 of at most 262,144 bytes (SNS counts bytes), and still names
// the outcome, the finding and how many addresses there were; a record that
// fits is sent whole.
func TestNotificationAlwaysFits(t *testing.T) {
	longErr := "WAFInvalidParameterException: " + strings.Repeat("Ungültige Adresse → ", 20000) // ~460 KB, multi-byte
	for _, tc := range []struct {
		name    string
		rec     audit.Record
		want    []string
		summary bool
	}{
		{"small record whole", bigRecord(3, ""), []string{"autocontain: contained", "big-finding-0001", "45.0.0.2"}, false},
		{"17,000 addresses", bigRecord(17000, ""), []string{"autocontain: contained", "big-finding-0001", "Addresses: 17000 in all; the first 25", "16975 more left out", "more words"}, true},
		{"100,000 addresses", bigRecord(100000, ""), []string{"autocontain: contained", "big-finding-0001", "Addresses: 100000 in all", "99975 more left out"}, true},
		{"long multi-byte error", bigRecord(2, longErr), []string{"autocontain: failed", "big-finding-0001", "ERROR: WAFInvalidParameterException: Ungültige", "bytes, left out"}, true},
		{"100,000 addresses and a long error", bigRecord(100000, longErr), []string{"autocontain: failed", "big-finding-0001", "100000 in all"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := notification(tc.rec, "")
			if err != nil {
				t.Fatal(err)
			}
			if len(msg) > maxMessage || !utf8.ValidString(msg) {
				t.Fatalf("message is %d bytes (limit %d), valid UTF-8: %v", len(msg), maxMessage, utf8.ValidString(msg))
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message lacks %q:\n%.3000s", w, msg)
				}
			}
			if got := strings.Contains(msg, "is a summary"); got != tc.summary {
				t.Errorf("summary note shown: %v, want %v", got, tc.summary)
			}
			t.Logf("%d bytes", len(msg))
		})
	}
}

func TestShorten(t *testing.T) {
	words := make([]string, 5000)
	for i := range words {
		words[i] = fmt.Sprintf("198.51.%d.%d/32", i/256, i%256)
	}
	s := shorten(strings.Join(words, " ") + " (now 5000 addresses)")
	if len(s) > maxField+200 || !strings.HasPrefix(s, "198.51.0.0/32 ") || !strings.HasSuffix(s, "(now 5000 addresses)") || !strings.Contains(s, "more words") {
		t.Errorf("shorten: %d bytes: %s", len(s), s)
	}
	if got := truncateUTF8("aé", 2); got != "a" {
		t.Errorf("truncateUTF8 split a character: %q", got)
	}
	if got := shorten("short"); got != "short" {
		t.Errorf("shorten(short) = %q", got)
	}
}

// TestNotifyLargeRecordReachesSNS publishes records too large for SNS
// through the fault proxy (which refuses a message over 262,144 bytes, as
// SNS does) to moto, and reads back what was published: one message each,
// within the limit, naming the outcome, the finding and the counts.
func TestNotifyLargeRecordReachesSNS(t *testing.T) {
	emu := testenv.Moto(t)
	proxy := faultproxy.New(emu.URL)
	t.Cleanup(proxy.Close)
	ctx := context.Background()
	topic, err := sns.NewFromConfig(emu.Config(t)).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("autocontain-notifications")})
	if err != nil {
		t.Fatal(err)
	}
	n := &Notifier{SNS: sns.NewFromConfig(testenv.ConfigAt(t, proxy.URL()))}
	step := plan.Step{Action: playbook.ActionNotify, Target: plan.Target{Kind: plan.TargetTopic, ARN: aws.ToString(topic.TopicArn)}}
	for i, tc := range []struct {
		name string
		rec  audit.Record
		want []string
	}{
		{"17,000 addresses", bigRecord(17000, ""), []string{"autocontain: contained", "big-finding-0001", "17000 in all"}},
		{"long multi-byte error", bigRecord(2, strings.Repeat("Ungültige Adresse → ", 20000)), []string{"autocontain: failed", "big-finding-0001", "bytes, left out"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := tc.rec
			if _, err := n.Execute(ctx, Request{Step: step, Record: &rec}); err != nil {
				t.Fatalf("notify: %v", err)
			}
			msgs := emu.Published(t, aws.ToString(topic.TopicArn))
			if len(msgs) != i+1 {
				t.Fatalf("%d messages published, want %d", len(msgs), i+1)
			}
			msg := msgs[i].Message
			if len(msg) > maxMessage {
				t.Errorf("published %d bytes", len(msg))
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message lacks %q:\n%.2000s", w, msg)
				}
			}
		})
	}
}
