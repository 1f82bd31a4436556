package engine

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/autocontain/autocontain/internal/account"
	"github.com/autocontain/autocontain/internal/playbook"
	"github.com/autocontain/autocontain/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden plans in events/")

// Fixed settings, so golden plans do not depend on an emulator's ids.
const (
	goldenV4    = "arn:aws:wafv2:us-east-1:123456789012:regional/ipset/autocontain-blocklist-v4/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
	goldenV6    = "arn:aws:wafv2:us-east-1:123456789012:regional/ipset/autocontain-blocklist-v6/1a2b3c4d-5e6f-7081-92a3-b4c5d6e7f809"
	goldenTopic = "arn:aws:sns:us-east-1:123456789012:autocontain-notifications"
)

// goldenHome is the account the sample events are about, and the
// emulator's: the responder serves it.
var goldenHome = account.Account{Partition: "aws", ID: "123456789012"}

func goldenPlaybook() *playbook.Playbook {
	pb := playbook.Default()
	pb.Settings.IPSets = playbook.IPSets{IPv4: goldenV4, IPv6: goldenV6}
	pb.Settings.TopicARN = goldenTopic
	return pb
}

// TestGoldenPlans replays every sample event through parse and plan and
// compares the plan of each of its findings, as a table and as JSON, with events/NAME.plan.golden.
// Run with -update to rewrite them after a deliberate change, then review
// the diff.
func TestGoldenPlans(t *testing.T) {
	eng := &Engine{Playbook: goldenPlaybook(), Home: goldenHome}
	for _, ev := range testenv.SampleEvents(t) {
		t.Run(ev.Name, func(t *testing.T) {
			ps, err := eng.PlanAll(ev.Raw)
			if err != nil {
				t.Fatalf("plan: %v", err)
			}
			// One plan per finding; a Security Hub event may carry several.
			var got bytes.Buffer
			for i, p := range ps {
				if i > 0 {
					got.WriteString("\n")
				}
				if err := p.WriteTable(&got); err != nil {
					t.Fatal(err)
				}
				got.WriteString("\n")
				js, err := json.MarshalIndent(p, "", "  ")
				if err != nil {
					t.Fatal(err)
				}
				got.Write(js)
				got.WriteString("\n")
			}
			golden := strings.TrimSuffix(ev.Path, ".json") + ".plan.golden"
			if *update {
				if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./internal/engine -run TestGoldenPlans -update to create it)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("plan differs from %s (if the change is deliberate, rerun with -update and review the diff)\n--- got\n%s", golden, got.String())
			}
		})
	}
}
