package contain

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	waftypes "github.com/aws/aws-sdk-go-v2/service/wafv2/types"

	"github.com/autocontain/autocontain/internal/ipset"
	"github.com/autocontain/autocontain/internal/ledger"
)

// Reconciler is the single writer of each WAF IP set. Findings record the
// addresses they want blocked in the ledger; whoever holds the set's lease
// writes the set from the ledger, so a burst of findings coalesces into a
// few UpdateIPSet calls, at most one a second: WAF's fixed quota for
// UpdateIPSet is one call per second per account and Region, and
// concurrent writers would invalidate each other's lock tokens (WAF
// Developer Guide, quotas; UpdateIPSet).
type Reconciler struct {
	WAF    func(region string) IPSetAPI
	Ledger *ledger.Ledger
	// Owner names this process in leases; each Run adds its own token, so
	// concurrent runs in one process are distinct writers too.
	Owner string
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	// MinInterval separates two UpdateIPSet calls of one writer.
	MinInterval time.Duration
	// Lease is how long a writer holds a set without renewing.
	Lease time.Duration
	// Max is the most addresses a set holds; past it the oldest blocks go.
	Max int
}

// runs numbers the writer runs of this process.
var runs atomic.Int64

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

// Permissions are the WAF actions of the writer.
func (r *Reconciler) Permissions() []string { return []string{"wafv2:GetIPSet", "wafv2:UpdateIPSet"} }

// Run becomes set's writer if no one else is and writes the set until the
// ledger has nothing new for it. Without the lease it returns at once,
// Deferred: the writer that holds it sees the new work before it lets go.
func (r *Reconciler) Run(ctx context.Context, setARN string) (Report, error) {
	return r.RunAs(ctx, setARN, fmt.Sprintf("%s/%d", r.Owner, runs.Add(1)))
}

// RunAs is Run under a given writer name: a delivery that took the set's
// lease on the fast path and found more work pending finishes as its writer.
func (r *Reconciler) RunAs(ctx context.Context, setARN, owner string) (Report, error) {
	var rep Report
	ref, err := ipset.Parse(setARN)
	if err != nil {
		return rep, err
	}
	tok, ok, err := r.Ledger.Acquire(ctx, setARN, owner, r.Lease)
	if err != nil || !ok {
		rep.Deferred = err == nil
		return rep, err
	}
	api := r.WAF(ref.Region)
	var last time.Time
	for {
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < 2*r.MinInterval+time.Second {
			// Out of time: leave the rest to the next writer or the schedule.
			return rep, errors.Join(errors.New("reconcile: out of time; the next writer or the scheduled reconcile finishes"),
				r.Ledger.Abandon(context.WithoutCancel(ctx), setARN, owner))
		}
		changed, err := r.pass(ctx, api, ref, &rep, &last)
		if err != nil {
			return rep, errors.Join(err, r.Ledger.Abandon(context.WithoutCancel(ctx), setARN, owner))
		}
		if changed {
			rep.Updates++
		}
		released, err := r.Ledger.Release(ctx, setARN, owner, tok)
		if released {
			return rep, nil
		}
		if err != nil {
			return rep, errors.Join(err, r.Ledger.Abandon(context.WithoutCancel(ctx), setARN, owner))
		}
		// Something was recorded meanwhile: renew the lease and go again.
		if tok, ok, err = r.Ledger.Acquire(ctx, setARN, owner, r.Lease); err != nil || !ok {
			return rep, errors.Join(err, errors.New("reconcile: lost the writer lease"), r.Ledger.Abandon(context.WithoutCancel(ctx), setARN, owner))
		}
	}
}

// Fast adds addrs, whose wants this delivery recorded, to the set whose
// lease it took while nothing else was pending: one read and one write of
// the set, no read of the ledger. It reports the addresses it put in the
// set. When they would not fit, it falls back to a full pass, which evicts
// the blocks seen longest ago and marks what it added itself.
func (r *Reconciler) Fast(ctx context.Context, setARN string, addrs []netip.Prefix) (rep Report, ours []string, err error) {
	ref, err := ipset.Parse(setARN)
	if err != nil {
		return rep, nil, err
	}
	api := r.WAF(ref.Region)
	var add addition
	err = withLockRetry(ctx, r.Sleep, ref, func() error {
		var err error
		add, err = addToSet(ctx, api, ref, addrs, r.max())
		return err
	})
	if err != nil {
		return rep, nil, err
	}
	if add.full {
		var last time.Time
		changed, err := r.pass(ctx, api, ref, &rep, &last)
		if changed {
			rep.Updates++
		}
		return rep, nil, err
	}
	if len(add.added) > 0 {
		rep.Updates, rep.Added = 1, add.added
	}
	return rep, add.added, nil
}

// pass writes the set once from the ledger. It returns whether it called
// UpdateIPSet. Blocks that expired or that no finding wants any more leave
// the set if autocontain put them there; past the set's limit the blocks
// seen longest ago go first. An address autocontain did not put in the set
// is never taken out.
func (r *Reconciler) pass(ctx context.Context, api IPSetAPI, ref ipset.Ref, rep *Report, last *time.Time) (bool, error) {
	blocks, err := r.Ledger.Blocks(ctx, ref.ARN)
	if err != nil {
		return false, err
	}
	now := r.Now()
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
	err = withLockRetry(ctx, r.Sleep, ref, func() error {
		changed, added, evicted = false, nil, nil
		got, err := api.GetIPSet(ctx, &wafv2.GetIPSetInput{Name: aws.String(ref.Name), Id: aws.String(ref.ID), Scope: waftypes.Scope(ref.Scope)})
		if err != nil {
			return fmt.Errorf("reconcile: get IP set %s: %w", ref.Name, err)
		}
		want6 := got.IPSet.IPAddressVersion == waftypes.IPAddressVersionIpv6
		// base: what stays of the set; addresses the ledger does not know,
		// or that autocontain did not put there, stay.
		present := map[netip.Prefix]bool{}
		base := []string{} // UpdateIPSet requires the list, even empty
		for _, a := range got.IPSet.Addresses {
			p, err := netip.ParsePrefix(a)
			if err == nil && drop[p.Masked()] {
				continue
			}
			if err == nil {
				present[p.Masked()] = true
			}
			base = append(base, a)
		}
		removed := len(got.IPSet.Addresses) - len(base)
		// Evictable: live blocks that are ours (in the set) or not in it
		// yet; a hand-added address is neither.
		var candidates []ledger.Block
		for _, b := range live {
			p, err := netip.ParsePrefix(b.Address)
			if err != nil || p.Addr().Is6() != want6 {
				continue
			}
			if present[p.Masked()] && !b.Ours {
				continue
			}
			candidates = append(candidates, b)
		}
		inSet := 0
		for _, b := range candidates {
			p, _ := netip.ParsePrefix(b.Address)
			if present[p.Masked()] {
				inSet++
			}
		}
		room := r.max() - (len(base) - inSet)
		if over := len(candidates) - room; over > 0 {
			// Oldest last sighting goes first.
			sort.SliceStable(candidates, func(i, j int) bool { return candidates[i].LastSeen.Before(candidates[j].LastSeen) })
			evicted = append(evicted, candidates[:min(over, len(candidates))]...)
			candidates = candidates[min(over, len(candidates)):]
		}
		out := map[netip.Prefix]bool{}
		for _, b := range evicted {
			p, _ := netip.ParsePrefix(b.Address)
			out[p.Masked()] = true
		}
		next := base[:0:0]
		for _, a := range base {
			if p, err := netip.ParsePrefix(a); err == nil && out[p.Masked()] {
				removed++
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
		if len(added) == 0 && removed == 0 {
			return nil
		}
		if wait := r.MinInterval - r.Now().Sub(*last); !last.IsZero() && wait > 0 {
			if err := r.sleep(ctx, wait); err != nil {
				return err
			}
		}
		_, err = api.UpdateIPSet(ctx, &wafv2.UpdateIPSetInput{
			Name: aws.String(ref.Name), Id: aws.String(ref.ID), Scope: waftypes.Scope(ref.Scope),
			Addresses: next, Description: got.IPSet.Description, LockToken: got.LockToken,
		})
		*last = r.Now()
		if err != nil {
			return fmt.Errorf("reconcile: update IP set %s: %w", ref.Name, err)
		}
		changed = true
		return nil
	})
	if err != nil {
		return false, err
	}
	rep.Added = append(rep.Added, added...)
	for _, b := range evicted {
		rep.Evicted = append(rep.Evicted, b.Address)
	}
	if err := r.Ledger.MarkOurs(ctx, ref.ARN, added); err != nil {
		return changed, err
	}
	return changed, r.Ledger.Forget(ctx, ref.ARN, append(gone, evicted...))
}

func (r *Reconciler) max() int {
	if r.Max > 0 {
		return r.Max
	}
	return MaxIPSetAddresses
}

func (r *Reconciler) sleep(ctx context.Context, d time.Duration) error {
	if r.Sleep != nil {
		return r.Sleep(ctx, d)
	}
	return SleepContext(ctx, d)
}

// listSome lists at most n items, then how many more there are.
func listSome(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, " ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:n], " "), len(items)-n)
}
