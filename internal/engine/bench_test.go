package engine

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/autocontain/autocontain/internal/audit"
	"github.com/autocontain/autocontain/internal/playbook"
	"github.com/autocontain/autocontain/internal/testenv"
	"github.com/autocontain/autocontain/internal/testenv/faultproxy"
)

// BenchmarkParsePlan measures turning one sample event into a plan: parse,
// normalize, match the playbook, decide. No AWS call is involved.
func BenchmarkParsePlan(b *testing.B) {
	eng := &Engine{Playbook: goldenPlaybook(), Home: goldenHome}
	for _, ev := range testenv.SampleEvents(b) {
		raw := ev.Raw
		b.Run(ev.Name, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := eng.PlanAll(raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkApply measures a full containment per finding against the moto
// server, with the ledger and without it: each iteration is a new finding
// about a fresh IAM user, whose key is deactivated and sessions revoked,
// whose fresh address is blocked in the WAF IP set, and a notification
// published; each sub-benchmark starts from a fresh account. Most of the
// time is the emulator's HTTP round trips (about 20 calls per finding), so
// it measures the engine plus a local Python emulator, not AWS's latency;
// the ratio of the two is the ledger's cost against the emulator. The
// calls go through the fault proxy, which injects nothing but counts them:
// calls/op is every AWS call of a finding, ledger-calls/op is the DynamoDB round trips per finding (0 without the
// ledger), waf-calls/op the GetIPSet and UpdateIPSet calls. Most of the
// ledger's time is moto's: its TransactWriteItems deep-copies the table it
// writes, for its rollback (moto/dynamodb/models), so each of the two
// transactions costs time in proportion to the ledger's size.
//
// Both engines are built by New, paced as in production: with the ledger,
// the IP set's writer spaces the UpdateIPSet calls of one run a second
// apart; without it, block-ip writes the set at once and backs off only
// after a lock conflict or WAF's throttling. Neither waits here: each finding makes one write,
// and the proxy does not apply WAF's quota of one UpdateIPSet per second
// (Limit is not set), so back-to-back findings are not throttled as they
// would be in AWS. waf-calls/op shows it: 2 is one read and one write, no
// retried round and so no wait. The figures are the cost of one finding,
// not the throughput of a burst under WAF's quota (BenchmarkBurst).
func BenchmarkApply(b *testing.B) {
	template := testenv.Event(b, "guardduty-maliciousipcaller-custom-akia.json")
	for _, bb := range []struct {
		name   string
		engine func(fx *fixture) *Engine
	}{
		{"ledger", func(fx *fixture) *Engine {
			// Every iteration contains a new principal: keep the breaker out of it.
			return fx.engine(func(s *playbook.Settings) { s.BreakerMax = 1 << 20 })
		}},
		{"no-ledger", func(fx *fixture) *Engine {
			return New(fx.cfg, sandboxPlaybook(fx.acct, nil), slog.New(slog.NewJSONHandler(io.Discard, nil)), Options{Home: goldenHome})
		}},
	} {
		b.Run(bb.name, func(b *testing.B) {
			// Each starts from a fresh account: an empty ledger and IP set.
			fx := newFixture(b)
			eng := bb.engine(fx)
			i, calls, ledger, waf := 0, 0, 0, 0
			for b.Loop() {
				b.StopTimer()
				i++
				event := benchFinding(b, fx, template, i)
				callsBefore, ledgerBefore, wafBefore := allCalls(fx.proxy), ledgerCalls(fx.proxy), wafCalls(fx.proxy)
				b.StartTimer()
				rec, err := eng.Run(context.Background(), event)
				b.StopTimer()
				calls += allCalls(fx.proxy) - callsBefore
				ledger += ledgerCalls(fx.proxy) - ledgerBefore
				waf += wafCalls(fx.proxy) - wafBefore
				if err != nil || rec.Outcome != audit.OutcomeContained {
					b.Fatalf("%v\n%s", err, rec.Text())
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(calls)/float64(i), "calls/op")
			b.ReportMetric(float64(ledger)/float64(i), "ledger-calls/op")
			b.ReportMetric(float64(waf)/float64(i), "waf-calls/op")
		})
	}
}

// benchFinding is the template finding made new for iteration i: a fresh
// user with an access key, a fresh address and a new finding id (the
// ledger skips one already handled).
func benchFinding(b testing.TB, fx *fixture, template []byte, i int) []byte {
	b.Helper()
	ctx, c := context.Background(), iam.NewFromConfig(fx.cfg)
	user := fmt.Sprintf("bench-%d", i)
	if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(user)}); err != nil {
		b.Fatal(err)
	}
	key, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(user)})
	if err != nil {
		b.Fatal(err)
	}
	return []byte(strings.NewReplacer(
		`"alice"`, `"`+user+`"`,
		"AKIA5EXAMPLEALICE7Q2", aws.ToString(key.AccessKey.AccessKeyId),
		"185.220.101.42", fmt.Sprintf("185.%d.%d.%d", 100+i/65536, i/256%256, i%256),
		`"id": "df1db1afefc8cb0e1936524a9ad401f8"`, fmt.Sprintf(`"id": "bench%027d"`, i),
	).Replace(string(template)))
}

// wafCalls counts the IP set reads and writes that reached the proxy.
func wafCalls(p *faultproxy.Proxy) int { return p.Count(opGetIPSet) + p.Count(opUpdateIPSet) }

// allCalls is every request the proxy has forwarded.
func allCalls(p *faultproxy.Proxy) int {
	n := 0
	for _, c := range p.Counts() {
		n += c
	}
	return n
}
