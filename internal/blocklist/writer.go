// Package blocklist keeps WAF IP sets in step with the blocks the ledger
// records: findings record the addresses they want blocked, with an expiry,
// and one writer per set writes it from the ledger, evicting the oldest
// sightings at WAF's address limit and never removing an address a person
// put there.
package blocklist

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/autocontain/autocontain/internal/ipset"
	"github.com/autocontain/autocontain/internal/ledger"
)

// Writer is the single writer of each WAF IP set. Findings record the
// addresses they want blocked in the ledger; whoever holds the set's lease
// writes the set from the ledger, so a burst of findings coalesces into a
// few UpdateIPSet calls, at most one a second: WAF's fixed quota for
// UpdateIPSet is one call per second per account and Region, and
// concurrent writers would invalidate each other's lock tokens (WAF
// Developer Guide, quotas; UpdateIPSet).
type Writer struct {
	WAF func(region string) ipset.API
	// In, when set, gives the WAF clients of the account a set is in:
	// organization mode writes each member's sets through its member role.
	// Nil writes every set with WAF.
	In     func(ctx context.Context, account string) (func(region string) ipset.API, error)
	Ledger *ledger.Ledger
	// Owner names this process in leases; each Run adds its own number, so
	// concurrent runs in one process are distinct writers too.
	Owner string
	Now   func() time.Time
	// Sleep waits between retries and paces writes; nil waits for real.
	Sleep func(ctx context.Context, d time.Duration) error
	// MinInterval separates two UpdateIPSet calls of one writer.
	MinInterval time.Duration
	// Lease is how long a writer holds a set without renewing.
	Lease time.Duration
	// Max is the most addresses a set holds; past it the oldest blocks go.
	// Zero is WAF's limit.
	Max int
	// TTL is how long a block lasts after its last sighting; zero is
	// playbook.DefaultBlockTTL.
	TTL time.Duration

	runs atomic.Int64 // numbers the runs of this writer
}

// Permissions lists what the writer needs: the IP sets' WAF actions and
// the ledger's table.
func Permissions() []string { return slices.Concat(ipset.Permissions(), ledger.Permissions()) }

// Report says what one reconciliation did.
type Report struct {
	// Deferred: another writer holds the set; it will apply what was recorded.
	Deferred bool
	Added    []string
	Expired  []string
	// Unwanted: no finding wants them any more (undo).
	Unwanted []string
	// Kept: expired or unwanted blocks left in the set, because they were
	// in it before autocontain wanted them (a person put them there).
	Kept []string
	// Evicted: blocks seen longest ago, out of the set (or never put in
	// it) at its address limit.
	Evicted []string
	Updates int
}

func (r Report) String() string {
	if r.Deferred {
		return "recorded; the set's current writer applies it"
	}
	s := fmt.Sprintf("%d update(s): +%d", r.Updates, len(r.Added))
	if len(r.Expired) > 0 {
		s += fmt.Sprintf(", %d expired", len(r.Expired))
	}
	if len(r.Unwanted) > 0 {
		s += fmt.Sprintf(", %d no longer wanted", len(r.Unwanted))
	}
	if len(r.Evicted) > 0 {
		s += fmt.Sprintf(", %d not blocked or evicted at the set's address limit (oldest sightings first): %s", len(r.Evicted), listSome(r.Evicted, 10))
	}
	return s
}

// Run becomes set's writer if no one else is and writes the set until the
// ledger has nothing new for it. Without the lease it returns at once,
// Deferred: the writer that holds it sees the new work before it lets go.
func (w *Writer) Run(ctx context.Context, setARN string) (Report, error) {
	return w.RunAs(ctx, setARN, fmt.Sprintf("%s/%d", w.Owner, w.runs.Add(1)))
}

// RunAs is Run under a given writer name: a delivery that took the set's
// lease on the fast path and found more work pending finishes as its writer.
func (w *Writer) RunAs(ctx context.Context, setARN, owner string) (Report, error) {
	var rep Report
	ref, err := ipset.Parse(setARN)
	if err != nil {
		return rep, err
	}
	api, err := w.api(ctx, ref)
	if err != nil {
		return rep, err
	}
	tok, ok, err := w.Ledger.Acquire(ctx, setARN, owner, w.Lease)
	if err != nil || !ok {
		rep.Deferred = err == nil
		return rep, err
	}
	pace := w.pacer()
	for {
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < 2*w.MinInterval+time.Second {
			// Out of time: leave the rest to the next writer or the schedule.
			return rep, errors.Join(errors.New("reconcile: out of time; the next writer or the scheduled reconcile finishes"),
				w.Ledger.Abandon(context.WithoutCancel(ctx), setARN, owner))
		}
		changed, err := w.pass(ctx, api, ref, &rep, pace)
		if err != nil {
			return rep, errors.Join(err, w.Ledger.Abandon(context.WithoutCancel(ctx), setARN, owner))
		}
		if changed {
			rep.Updates++
		}
		released, err := w.Ledger.Release(ctx, setARN, owner, tok)
		if released {
			return rep, nil
		}
		if err != nil {
			return rep, errors.Join(err, w.Ledger.Abandon(context.WithoutCancel(ctx), setARN, owner))
		}
		// Something was recorded meanwhile: renew the lease and go again.
		if tok, ok, err = w.Ledger.Acquire(ctx, setARN, owner, w.Lease); err != nil || !ok {
			return rep, errors.Join(err, errors.New("reconcile: lost the writer lease"), w.Ledger.Abandon(context.WithoutCancel(ctx), setARN, owner))
		}
	}
}

// Fast adds addrs, whose wants this delivery recorded, to the set whose
// lease it took while nothing else was pending: one read and one write of
// the set, no read of the ledger. It reports the addresses it put in the
// set. When they would not fit, it falls back to a full pass, which evicts
// the blocks seen longest ago and marks what it added itself.
func (w *Writer) Fast(ctx context.Context, setARN string, addrs []netip.Prefix) (rep Report, ours []string, err error) {
	ref, err := ipset.Parse(setARN)
	if err != nil {
		return rep, nil, err
	}
	api, err := w.api(ctx, ref)
	if err != nil {
		return rep, nil, err
	}
	pace := w.pacer()
	added, _, err := ipset.Add(ctx, api, ref, w.options(pace), addrs, w.max())
	if full := (*ipset.FullError)(nil); errors.As(err, &full) {
		changed, err := w.pass(ctx, api, ref, &rep, pace)
		if changed {
			rep.Updates++
		}
		return rep, nil, err
	}
	if err != nil {
		return rep, nil, err
	}
	if len(added) > 0 {
		rep.Updates, rep.Added = 1, added
	}
	return rep, added, nil
}

// pass writes the set once from the ledger. It returns whether it called
// UpdateIPSet. Blocks that expired or that no finding wants any more leave
// the set if autocontain put them there; past the set's limit the blocks
// seen longest ago go first. An address autocontain did not put in the set
// is never taken out.
func (w *Writer) pass(ctx context.Context, api ipset.API, ref ipset.Ref, rep *Report, pace *ipset.Pacer) (bool, error) {
	blocks, err := w.Ledger.Blocks(ctx, ref.ARN)
	if err != nil {
		return false, err
	}
	now := w.Now()
	var live, gone []ledger.Block
	drop := map[netip.Prefix]bool{}
	for _, b := range blocks {
		p, err := netip.ParsePrefix(b.Address)
		if err != nil {
			continue
		}
		switch {
		case len(b.Findings) == 0:
			rep.Unwanted = append(rep.Unwanted, b.Address)
		case !b.Until.After(now):
			rep.Expired = append(rep.Expired, b.Address)
		default:
			live = append(live, b)
			continue
		}
		if b.Ours {
			drop[p.Masked()] = true
		} else {
			rep.Kept = append(rep.Kept, b.Address)
		}
		gone = append(gone, b)
	}
	var changed bool
	var added []string
	var evicted []ledger.Block
	err = ipset.Update(ctx, api, ref, w.options(pace), func(cur ipset.Set) ([]string, error) {
		var next []string
		next, added, evicted = w.merge(cur, live, drop)
		changed = !slices.Equal(next, cur.Addresses)
		return next, nil
	})
	if err != nil {
		return false, fmt.Errorf("reconcile: %w", err)
	}
	rep.Added = append(rep.Added, added...)
	for _, b := range evicted {
		rep.Evicted = append(rep.Evicted, b.Address)
	}
	if err := w.Ledger.MarkOurs(ctx, ref.ARN, added); err != nil {
		return changed, err
	}
	return changed, w.Ledger.Forget(ctx, ref.ARN, append(gone, evicted...))
}

// merge computes the set's next addresses: what it holds, less drop, plus
// the live blocks of its family, less the oldest sightings past the limit.
// Addresses the ledger does not know, or that autocontain did not put
// there, stay, and count against the limit.
func (w *Writer) merge(cur ipset.Set, live []ledger.Block, drop map[netip.Prefix]bool) (next, added []string, evicted []ledger.Block) {
	present := map[netip.Prefix]bool{}
	base := []string{}
	for _, a := range cur.Addresses {
		p, err := netip.ParsePrefix(a)
		if err == nil && drop[p.Masked()] {
			continue
		}
		if err == nil {
			present[p.Masked()] = true
		}
		base = append(base, a)
	}
	// Evictable: live blocks that are ours (in the set) or not in it yet;
	// a hand-added address is neither.
	var candidates []ledger.Block
	inSet := 0
	for _, b := range live {
		p, err := netip.ParsePrefix(b.Address)
		if err != nil || !cur.Holds(p) {
			continue
		}
		if present[p.Masked()] && !b.Ours {
			continue
		}
		if present[p.Masked()] {
			inSet++
		}
		candidates = append(candidates, b)
	}
	room := w.max() - (len(base) - inSet)
	if over := len(candidates) - room; over > 0 {
		// Oldest last sighting goes first.
		sort.SliceStable(candidates, func(i, j int) bool { return candidates[i].LastSeen.Before(candidates[j].LastSeen) })
		evicted = candidates[:min(over, len(candidates))]
		candidates = candidates[min(over, len(candidates)):]
	}
	out := map[netip.Prefix]bool{}
	for _, b := range evicted {
		p, _ := netip.ParsePrefix(b.Address)
		out[p.Masked()] = true
	}
	next = base[:0:0]
	for _, a := range base {
		if p, err := netip.ParsePrefix(a); err == nil && out[p.Masked()] {
			continue
		}
		next = append(next, a)
	}
	for _, b := range candidates {
		p, _ := netip.ParsePrefix(b.Address)
		if present[p.Masked()] {
			continue
		}
		next = append(next, p.String())
		added = append(added, p.String())
	}
	return next, added, evicted
}

// options are the writer's Update options: lock conflicts retried, writes
// paced by pace.
func (w *Writer) options(pace *ipset.Pacer) ipset.Options {
	return ipset.Options{Retry: ipset.LockRetry, Sleep: w.Sleep, Pace: pace}
}

// pacer spaces the writes of one run MinInterval apart.
// api is the WAF client of the set's account and Region.
func (w *Writer) api(ctx context.Context, ref ipset.Ref) (ipset.API, error) {
	if w.In == nil {
		return w.WAF(ref.Region), nil
	}
	in, err := w.In(ctx, ref.Account)
	if err != nil {
		return nil, fmt.Errorf("IP set %s: %w", ref.ARN, err)
	}
	return in(ref.Region), nil
}

func (w *Writer) pacer() *ipset.Pacer { return &ipset.Pacer{Interval: w.MinInterval, Now: w.Now} }

func (w *Writer) max() int {
	if w.Max > 0 {
		return w.Max
	}
	return ipset.MaxAddresses
}

// listSome lists at most n items, then how many more there are.
func listSome(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, " ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:n], " "), len(items)-n)
}
