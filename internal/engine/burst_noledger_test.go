package engine

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/autocontain/autocontain/internal/playbook"
)

// TestBurstWithoutLedgerBlocksEveryAddress: without the ledger every
// finding writes the IP set itself, so a burst of findings delivered at once
// meets WAF's quota (one UpdateIPSet per second, five GetIPSet, per account
// and Region; the proxy answers past it as WAF does, ThrottlingException).
// Each finding is delivered once, by its own engine (a Lambda instance each),
// and every address must end in the set: the over-quota answer is retried
// within the delivery, not lost.
func TestBurstWithoutLedgerBlocksEveryAddress(t *testing.T) {
	if testing.Short() {
		t.Skip("a burst under WAF's quota takes about a second per finding")
	}
	fx := newFixture(t)
	fx.proxy.Limit(opUpdateIPSet, 1)
	fx.proxy.Limit(opGetIPSet, 5)
	const n = 20
	base := string(event(t, "guardduty-ec2-ssh-bruteforce.json"))
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := time.Now()
	for i := range n {
		pb := sandboxPlaybook(fx.acct, func(s *playbook.Settings) { s.TopicARN = "" })
		eng := New(fx.cfg, pb, slog.New(slog.NewJSONHandler(io.Discard, nil)), Options{Home: goldenHome})
		raw := []byte(strings.NewReplacer(
			`"63f2f15eade2fa29161cfaa0dee8643b"`, fmt.Sprintf(`"burst%027d"`, i),
			"218.92.0.107", burstAddress(i),
		).Replace(base))
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Lambda's timeout is 60 s; the delivery must finish within it.
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			_, errs[i] = eng.Run(ctx, raw)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	failed := 0
	for i, err := range errs {
		if err != nil {
			failed++
			if failed <= 3 {
				t.Errorf("delivery %d failed: %v", i, err)
			}
		}
	}
	got := fx.state(t).IPv4
	missing := 0
	for i := range n {
		if _, ok := slices.BinarySearch(got, burstAddress(i)+"/32"); !ok {
			missing++
		}
	}
	if missing > 0 || failed > 0 {
		t.Errorf("%d of %d addresses ended in the set, %d deliveries failed", n-missing, n, failed)
	}
	t.Logf("%d findings without the ledger in %s: %d UpdateIPSet calls (throttled included), %d GetIPSet",
		n, elapsed.Round(time.Millisecond), fx.proxy.Count(opUpdateIPSet), fx.proxy.Count(opGetIPSet))
}
