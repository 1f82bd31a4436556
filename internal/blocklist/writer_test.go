package blocklist_test

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"

	"github.com/autocontain/autocontain/internal/blocklist"
	"github.com/autocontain/autocontain/internal/ipset"
	"github.com/autocontain/autocontain/internal/ledger"
	"github.com/autocontain/autocontain/internal/playbook"
	"github.com/autocontain/autocontain/internal/sandbox"
	"github.com/autocontain/autocontain/internal/testenv"
	"github.com/autocontain/autocontain/internal/testenv/faultproxy"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// fixture is a writer of the sandbox's IPv4 set, on a clock the test
// moves, reaching WAF through a fault proxy.
type fixture struct {
	w *blocklist.Writer
	// snapshot reads the sandbox account's state.
	snapshot func(context.Context) (sandbox.State, error)
	proxy    *faultproxy.Proxy
	set      string
	now      time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	p := faultproxy.New(testenv.Moto(t).URL)
	t.Cleanup(p.Close)
	cfg := testenv.ConfigAt(t, p.URL())
	acct, err := sandbox.Create(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	snapshot := func(ctx context.Context) (sandbox.State, error) { return acct.Snapshot(ctx, cfg) }
	fx := &fixture{snapshot: snapshot, proxy: p, set: acct.IPSetV4, now: time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)}
	clock := func() time.Time { return fx.now }
	waf := wafv2.NewFromConfig(cfg)
	fx.w = &blocklist.Writer{
		WAF:    func(string) ipset.API { return waf },
		Ledger: &ledger.Ledger{DB: dynamodb.NewFromConfig(cfg), Table: acct.LedgerTable, Now: clock},
		Owner:  "test", Now: clock, Lease: 30 * time.Second, TTL: time.Hour,
		Sleep: func(context.Context, time.Duration) error { return nil },
	}
	return fx
}

func (fx *fixture) ipv4(t *testing.T) []string {
	t.Helper()
	st, err := fx.snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.IPv4
}

// byHand puts addrs into the set as a person would, outside the ledger.
func (fx *fixture) byHand(t *testing.T, addrs ...string) {
	t.Helper()
	ref, err := ipset.Parse(fx.set)
	if err != nil {
		t.Fatal(err)
	}
	if err := ipset.Update(context.Background(), fx.w.WAF(ref.Region), ref, ipset.Options{}, func(cur ipset.Set) ([]string, error) {
		return append(slices.Clone(cur.Addresses), addrs...), nil
	}); err != nil {
		t.Fatal(err)
	}
}

// want records that finding id wants addr blocked, seen now.
func (fx *fixture) want(t *testing.T, id string, addrs ...string) {
	t.Helper()
	if err := fx.w.Ledger.Want(context.Background(), fx.set, addrs, id, fx.now.Add(fx.w.TTL)); err != nil {
		t.Fatal(err)
	}
}

func (fx *fixture) run(t *testing.T) blocklist.Report {
	t.Helper()
	rep, err := fx.w.Run(context.Background(), fx.set)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestExpiry: a block leaves the set when its TTL has passed since its last
// sighting; a new sighting renews it.
func TestExpiry(t *testing.T) {
	fx := newFixture(t)
	fx.want(t, "f1", "185.220.101.42/32", "80.82.77.139/32")
	if rep := fx.run(t); len(rep.Added) != 2 || rep.Updates != 1 {
		t.Errorf("report %+v", rep)
	}
	fx.now = fx.now.Add(50 * time.Minute)
	fx.want(t, "f2", "80.82.77.139/32")
	fx.now = fx.now.Add(20 * time.Minute) // the first sighting is 70 min old, the second 20
	rep := fx.run(t)
	if !slices.Equal(rep.Expired, []string{"185.220.101.42/32"}) || rep.Updates != 1 {
		t.Errorf("report %+v, want the first address expired", rep)
	}
	if got := fx.ipv4(t); !slices.Equal(got, []string{"80.82.77.139/32"}) {
		t.Errorf("set %v", got)
	}
	blocks, err := fx.w.Ledger.Blocks(context.Background(), fx.set)
	if err != nil || len(blocks) != 1 {
		t.Errorf("the ledger holds %d blocks (%v), want the renewed one", len(blocks), err)
	}
}

// TestEvictionAtTheLimit: past the set's limit the blocks seen longest ago
// go first, and an address a person put in the set counts against the
// limit but never goes.
func TestEvictionAtTheLimit(t *testing.T) {
	fx := newFixture(t)
	fx.w.Max = 4
	fx.byHand(t, "198.51.100.7/32")
	for i := range 5 {
		fx.now = fx.now.Add(time.Minute)
		fx.want(t, fmt.Sprintf("f%d", i), fmt.Sprintf("185.220.101.%d/32", i))
	}
	rep := fx.run(t)
	if !slices.Equal(rep.Evicted, []string{"185.220.101.0/32", "185.220.101.1/32"}) || !strings.Contains(rep.String(), "2 not blocked or evicted") {
		t.Errorf("report %+v (%s)", rep, rep)
	}
	want := []string{"185.220.101.2/32", "185.220.101.3/32", "185.220.101.4/32", "198.51.100.7/32"}
	if got := fx.ipv4(t); !slices.Equal(got, want) {
		t.Errorf("set %v, want %v", got, want)
	}
	// A newer sighting pushes out the oldest block in the set.
	fx.now = fx.now.Add(time.Minute)
	fx.want(t, "f5", "185.220.101.5/32")
	if rep := fx.run(t); !slices.Equal(rep.Evicted, []string{"185.220.101.2/32"}) || !slices.Equal(rep.Added, []string{"185.220.101.5/32"}) {
		t.Errorf("report %+v", rep)
	}
	want = []string{"185.220.101.3/32", "185.220.101.4/32", "185.220.101.5/32", "198.51.100.7/32"}
	if got := fx.ipv4(t); !slices.Equal(got, want) {
		t.Errorf("set %v, want %v", got, want)
	}
}

// TestOnlyOursLeave: undo and expiry take out only what the writer put in
// the set; an address that was there before autocontain wanted it stays.
func TestOnlyOursLeave(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	fx.byHand(t, "198.51.100.7/32")
	fx.want(t, "f1", "198.51.100.7/32", "185.220.101.42/32")
	fx.want(t, "f2", "80.82.77.139/32")
	if rep := fx.run(t); !slices.Equal(rep.Added, []string{"185.220.101.42/32", "80.82.77.139/32"}) {
		t.Errorf("report %+v", rep)
	}
	done, left, err := fx.w.Unblock(ctx, fx.set, []string{"198.51.100.7/32", "185.220.101.42/32"}, "f1")
	if err != nil {
		t.Fatal(err)
	}
	if done != "unblocked 185.220.101.42/32 in IP set autocontain-blocklist-v4" ||
		len(left) != 1 || !strings.Contains(left[0], "198.51.100.7/32 stay(s) in IP set autocontain-blocklist-v4: in the set before autocontain wanted them") {
		t.Errorf("done %q left %q", done, left)
	}
	if got := fx.ipv4(t); !slices.Equal(got, []string{"198.51.100.7/32", "80.82.77.139/32"}) {
		t.Errorf("set after undo %v", got)
	}
	fx.now = fx.now.Add(2 * fx.w.TTL)
	rep := fx.run(t)
	if !slices.Equal(rep.Expired, []string{"80.82.77.139/32"}) {
		t.Errorf("report %+v", rep)
	}
	if got := fx.ipv4(t); !slices.Equal(got, []string{"198.51.100.7/32"}) {
		t.Errorf("set after expiry %v, want only the hand-added address", got)
	}
}

// TestWriterRetriesStaleLockToken: a lock conflict on UpdateIPSet is
// retried with a fresh read; a writer that keeps conflicting gives up, and
// gives the lease back for the next one.
func TestWriterRetriesStaleLockToken(t *testing.T) {
	const opUpdate = "AWSWAF_20190729.UpdateIPSet"
	fx := newFixture(t)
	fx.want(t, "f1", "185.220.101.42/32")
	fx.proxy.Inject(opUpdate, faultproxy.StaleLock, 2)
	if rep := fx.run(t); rep.Updates != 1 || fx.proxy.Count(opUpdate) != 3 {
		t.Errorf("report %+v after %d UpdateIPSet calls, want one update after 3", rep, fx.proxy.Count(opUpdate))
	}
	fx.want(t, "f2", "80.82.77.139/32")
	fx.proxy.Inject(opUpdate, faultproxy.StaleLock, 100)
	_, err := fx.w.Run(context.Background(), fx.set)
	if err == nil || !strings.Contains(err.Error(), "reconcile: update IP set autocontain-blocklist-v4") || !strings.Contains(err.Error(), "after 6 attempts") {
		t.Errorf("error %v", err)
	}
	fx.proxy.Clear()
	if rep := fx.run(t); rep.Deferred || !slices.Equal(rep.Added, []string{"80.82.77.139/32"}) {
		t.Errorf("next writer: %+v", rep)
	}
}

// TestBlock: block-ip's part with the ledger records the wants and writes
// them, on the fast path or as the set's writer, and says which addresses
// the limit kept out.
func TestBlock(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	req := blocklist.Request{Set: fx.set, Addresses: []netip.Prefix{netip.MustParsePrefix("185.220.101.42/32")}, Finding: "f1", Now: fx.now}
	b, err := fx.w.Block(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if want := "185.220.101.42/32 wanted in IP set autocontain-blocklist-v4 until 2026-11-24T04:00:00Z; 1 update(s): +1"; b.Detail != want {
		t.Errorf("detail %q, want %q", b.Detail, want)
	}
	if len(b.Changes) != 1 || b.Changes[0].Action != playbook.ActionBlockIP || b.Changes[0].Account != "123456789012" || b.Changes[0].Address != "185.220.101.42/32" || b.Changes[0].Applied {
		t.Errorf("changes %+v", b.Changes)
	}

	// The fast path adds only its own addresses and marks them applied.
	req.Addresses, req.Finding, req.Leased = []netip.Prefix{netip.MustParsePrefix("80.82.77.139/32")}, "f2", true
	if b, err = fx.w.Block(ctx, req); err != nil || len(b.Changes) != 1 || !b.Changes[0].Applied {
		t.Errorf("fast path: %+v, %v", b, err)
	}
	if got := fx.ipv4(t); !slices.Equal(got, []string{"185.220.101.42/32", "80.82.77.139/32"}) {
		t.Errorf("set %v", got)
	}

	// At the limit the fast path falls back to a full pass: the oldest
	// sighting goes, and a step whose own addresses were kept out fails.
	fx.w.Max = 2
	fx.now = fx.now.Add(time.Minute)
	req.Addresses, req.Finding, req.Now = []netip.Prefix{netip.MustParsePrefix("45.155.205.233/32")}, "f3", fx.now
	if b, err = fx.w.Block(ctx, req); err != nil {
		t.Fatal(err)
	}
	if got := fx.ipv4(t); !slices.Equal(got, []string{"45.155.205.233/32", "80.82.77.139/32"}) {
		t.Errorf("set %v, want the oldest sighting evicted", got)
	}
	fx.now = fx.now.Add(time.Minute)
	req.Addresses, req.Finding, req.Now, req.Leased = []netip.Prefix{netip.MustParsePrefix("45.155.205.234/32"), netip.MustParsePrefix("45.155.205.235/32"), netip.MustParsePrefix("45.155.205.236/32")}, "f4", fx.now, false
	if _, err = fx.w.Block(ctx, req); err == nil || !strings.HasPrefix(err.Error(), "2 of 3 addresses not blocked: the IP set is at its address limit") {
		t.Errorf("error %v", err)
	}
	if got := fx.ipv4(t); !slices.Equal(got, []string{"45.155.205.236/32", "80.82.77.139/32"}) {
		t.Errorf("set %v", got)
	}

	if _, err := fx.w.Block(ctx, blocklist.Request{Set: fx.set, Addresses: req.Addresses, Now: fx.now}); err == nil || !strings.Contains(err.Error(), "needs the finding's id") {
		t.Errorf("no finding id: %v", err)
	}
}
