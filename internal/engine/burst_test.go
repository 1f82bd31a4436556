package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"

	"github.com/autocontain/autocontain/internal/audit"
	"github.com/autocontain/autocontain/internal/emulator"
	"github.com/autocontain/autocontain/internal/playbook"
	"github.com/autocontain/autocontain/internal/testenv/faultproxy"
)

const (
	opUpdateIPSet = "UpdateIPSet"
	opGetIPSet    = "GetIPSet"
)

// deliveryTimeout stands for the function's timeout in a burst.
const deliveryTimeout = 20 * time.Second

// burstAddress is the i-th distinct public address of a burst.
func burstAddress(i int) string { return fmt.Sprintf("185.%d.%d.%d", 200+i/65536, i/256%256, i%256) }

// burstResult is what a burst measured.
type burstResult struct {
	elapsed time.Duration
	updates int // UpdateIPSet calls that reached the proxy, throttled ones included
	failed  int // deliveries that failed and were delivered again
}

// runBurst delivers n findings, each with its own address, to instances
// engines at once (like Lambda instances under reserved concurrency), with
// the proxy enforcing WAF's one UpdateIPSet per second and injecting
// throttling, server errors, timeouts (calls held past the client's
// timeout) and stale lock tokens. Each delivery runs under a deadline, as
// under Lambda's timeout; a delivery that fails is delivered again, as
// Lambda's retries would, and one told that another delivery of its
// finding is in progress is delivered again a second later, without
// counting as a failure (Lambda's retry would come about a minute later).
func runBurst(t testing.TB, fx *fixture, n, instances int) burstResult {
	t.Helper()
	fx.proxy.Limit(opUpdateIPSet, 1)
	fx.proxy.Inject(opGetIPSet, faultproxy.Throttling, 5)
	fx.proxy.Inject(opUpdateIPSet, faultproxy.StaleLock, 3)
	fx.proxy.Inject("UpdateItem", faultproxy.ServerError, 10)
	fx.proxy.Inject("PutItem", faultproxy.Unavailable, 5)
	// A call held past the client's timeout is a timeout, which the SDK
	// retries. The timeout leaves room for the emulator's queue: it serves
	// one request at a time (docs/moto-notes.md), to twenty instances.
	fx.cfg.HTTPClient = emulator.BufferBodies(awshttp.NewBuildableClient().WithTimeout(5 * time.Second))
	fx.proxy.InjectDelay("Query", 6*time.Second, 3)
	fx.proxy.InjectDelay("GetItem", 6*time.Second, 2)
	base := string(event(t, "guardduty-ec2-ssh-bruteforce.json"))
	events := make(chan []byte, n)
	for i := range n {
		events <- []byte(strings.NewReplacer(
			`"63f2f15eade2fa29161cfaa0dee8643b"`, fmt.Sprintf(`"burst%027d"`, i),
			"218.92.0.107", burstAddress(i),
		).Replace(base))
	}
	close(events)
	var failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range instances {
		eng := fx.engine(func(s *playbook.Settings) { s.TopicARN = "" })
		wg.Add(1)
		go func() {
			defer wg.Done()
			for raw := range events {
				deliver(t, eng, raw, &failed)
			}
		}()
	}
	wg.Wait()
	// A writer that failed hands its work to the next one; when there is no
	// next one, the scheduled reconcile is the backstop, as in production. It
	// waits out a lease that a failed writer could not give back (30 s).
	final := fx.engine(nil)
	for deadline := time.Now().Add(40 * time.Second); ; time.Sleep(time.Second) {
		reps, err := final.Reconcile(context.Background())
		if err != nil {
			t.Errorf("final reconcile: %v", err)
		}
		if !reps[fx.acct.IPSetV4].Deferred || time.Now().After(deadline) {
			break
		}
	}
	return burstResult{elapsed: time.Since(start), updates: fx.proxy.Count(opUpdateIPSet), failed: int(failed.Load())}
}

// deliver runs one event as Lambda would deliver it: under a deadline,
// delivered again after a failure (at most three times), and a second
// later, without counting as a failure, when another delivery of its
// finding is in progress.
func deliver(t testing.TB, eng *Engine, raw []byte, failed *atomic.Int64) {
	for attempt, deferred := 1, 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), deliveryTimeout)
		rec, err := eng.Run(ctx, raw)
		cancel()
		if err == nil {
			return
		}
		if errors.Is(err, ErrInProgress) && deferred < 60 {
			deferred++
			attempt--
			time.Sleep(time.Second)
			continue
		}
		failed.Add(1)
		if attempt == 3 {
			t.Errorf("delivery failed 3 times: %v\n%s", err, rec.Text())
			return
		}
	}
}

// TestBurstCoalescesIPSetWrites: 1,000 findings with distinct addresses,
// delivered concurrently under WAF's real quota and injected faults, all end
// in the set, and UpdateIPSet is called no more than once per elapsed second
// plus a few.
func TestBurstCoalescesIPSetWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 findings against the emulator")
	}
	fx := newFixture(t)
	const n = 1000
	res := runBurst(t, fx, n, 20)
	got := fx.state(t).IPv4
	if len(got) != n {
		t.Fatalf("the set holds %d addresses, want %d", len(got), n)
	}
	for i := range n {
		if _, ok := slices.BinarySearch(got, burstAddress(i)+"/32"); !ok {
			t.Fatalf("%s missing from the set", burstAddress(i))
		}
	}
	budget := int(res.elapsed.Seconds()) + 5
	if res.updates > budget {
		t.Errorf("%d UpdateIPSet calls in %s, want at most %d (one per second plus a few)", res.updates, res.elapsed.Round(time.Millisecond), budget)
	}
	t.Logf("%d findings in %s: %d UpdateIPSet calls, %d deliveries retried after injected faults",
		n, res.elapsed.Round(time.Millisecond), res.updates, res.failed)
}

// BenchmarkBurst measures the same burst and reports how many UpdateIPSet
// calls 1,000 findings cost: run with -benchtime=1x (make bench does).
// One burst takes many seconds, so the benchmark runs it once whatever b.N.
func BenchmarkBurst(b *testing.B) {
	fx := newFixture(b)
	b.ResetTimer()
	res := runBurst(b, fx, 1000, 20)
	b.ReportMetric(float64(res.updates), "UpdateIPSet-calls")
	b.ReportMetric(res.elapsed.Seconds(), "burst-seconds")
	b.ReportMetric(1000/res.elapsed.Seconds(), "findings/s")
}

// TestFailedStepRetriedWithoutRepeating: a step that fails is reported, the
// delivery fails (so Lambda retries it), and the retry does only what did
// not finish.
func TestFailedStepRetriedWithoutRepeating(t *testing.T) {
	fx := newFixture(t)
	eng := fx.engine(nil)
	ctx := context.Background()
	raw := fx.acct.Rewrite(event(t, "guardduty-maliciousipcaller-custom-akia.json"))
	// Three 500s exhaust the SDK's three attempts.
	fx.proxy.Inject("PutUserPolicy", faultproxy.ServerError, 3)
	rec, err := eng.Run(ctx, raw)
	if err == nil || rec.Outcome != audit.OutcomeFailed || !strings.Contains(rec.Text(), "[failed] revoke-sessions") {
		t.Fatalf("first delivery: %v\n%s", err, rec.Text())
	}
	keys, blocks := fx.proxy.Count("UpdateAccessKey"), fx.proxy.Count(opUpdateIPSet)
	rec, err = eng.Run(ctx, raw)
	if err != nil {
		t.Fatalf("retry: %v\n%s", err, rec.Text())
	}
	text := rec.Text()
	if !strings.Contains(text, "[done] revoke-sessions") || !strings.Contains(text, "skip deactivate-key") || !strings.Contains(text, "already blocked") {
		t.Errorf("retry should redo only revoke-sessions:\n%s", text)
	}
	if fx.proxy.Count("UpdateAccessKey") != keys || fx.proxy.Count(opUpdateIPSet) != blocks {
		t.Error("the retry repeated a finished step")
	}
	if st := fx.state(t); len(st.UserPolicies["alice"]) != 1 {
		t.Errorf("alice's policies %v", st.UserPolicies["alice"])
	}
}
