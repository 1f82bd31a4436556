package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/autocontain/autocontain/internal/audit"
	"github.com/autocontain/autocontain/internal/testenv"
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
// server, ledger included: a new finding about a fresh IAM user, whose key
// is deactivated and sessions revoked, whose address is blocked in the WAF
// IP set by its writer, and a notification published. Most of the time is
// the emulator's HTTP round trips (about 20 calls per finding), so it
// measures the engine plus a local Python emulator, not AWS's latency.
// The calls go through the fault proxy, which injects nothing but counts
// them: ledger-calls/op is the DynamoDB round trips per finding.
func BenchmarkApply(b *testing.B) {
	fx := newFixture(b)
	ctx, cfg, proxy := context.Background(), fx.cfg, fx.proxy
	template := testenv.Event(b, "guardduty-maliciousipcaller-custom-akia.json")
	eng := fx.engine(nil)
	// Every iteration contains a new principal: keep the breaker out of it.
	eng.Playbook.Settings.BreakerMax = 1 << 20
	c := iam.NewFromConfig(cfg)
	i, calls := 0, 0
	for b.Loop() {
		b.StopTimer()
		i++
		user := fmt.Sprintf("bench-%d", i)
		if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(user)}); err != nil {
			b.Fatal(err)
		}
		key, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(user)})
		if err != nil {
			b.Fatal(err)
		}
		event := strings.NewReplacer(
			`"alice"`, `"`+user+`"`,
			"AKIA5EXAMPLEALICE7Q2", aws.ToString(key.AccessKey.AccessKeyId),
			"185.220.101.42", fmt.Sprintf("185.%d.%d.%d", 100+i/65536, i/256%256, i%256),
			// A new finding each time: the ledger skips one already handled.
			`"id": "df1db1afefc8cb0e1936524a9ad401f8"`, fmt.Sprintf(`"id": "bench%027d"`, i),
		).Replace(string(template))
		before := ledgerCalls(proxy)
		b.StartTimer()
		rec, err := eng.Run(ctx, []byte(event))
		b.StopTimer()
		calls += ledgerCalls(proxy) - before
		if err != nil || rec.Outcome != audit.OutcomeContained {
			b.Fatalf("%v\n%s", err, rec.Text())
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(calls)/float64(i), "ledger-calls/op")
}
