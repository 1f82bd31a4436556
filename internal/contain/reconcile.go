package contain

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
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
	Evicted  []string
	Updates  int
}

func (r Report) String() string {
	if r.Deferred {
		return "recorded; the set's current writer applies it"
	}
	s := fmt.Sprintf("%d update(s): +%d", r.Updates, len(r.Added))
	if len(r.Expired) > 0 {
		s += fmt.Sprintf(", %d expired", len(r.Expired))
	}
	if len(r.Evicted) > 0 {
		s += fmt.Sprintf(", %d evicted at the %d-address limit (oldest first): %v", len(r.Evicted), MaxIPSetAddresses, r.Evicted)
	}
	return s
}

// Permissions are the WAF actions of the writer.
func (r *Reconciler) Permissions() []string { return []string{"wafv2:GetIPSet", "wafv2:UpdateIPSet"} }

// Run becomes set's writer if no one else is and writes the set until the
// ledger has nothing new for it. Without the lease it returns at once,
// Deferred: the writer that holds it sees the new generation before it lets go.
func (r *Reconciler) Run(ctx context.Context, setARN string) (Report, error) {
	var rep Report
	ref, err := ipset.Parse(setARN)
	if err != nil {
		return rep, err
	}
	owner := fmt.Sprintf("%s/%d", r.Owner, runs.Add(1))
	gen, ok, err := r.Ledger.Acquire(ctx, setARN, owner, r.Lease)
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
		released, err := r.Ledger.Release(ctx, setARN, owner, gen)
		if released {
			return rep, nil
		}
		if err != nil {
			return rep, errors.Join(err, r.Ledger.Abandon(context.WithoutCancel(ctx), setARN, owner))
		}
		// Something was recorded meanwhile: renew the lease and go again.
		if gen, ok, err = r.Ledger.Acquire(ctx, setARN, owner, r.Lease); err != nil || !ok {
			return rep, errors.Join(err, errors.New("reconcile: lost the writer lease"), r.Ledger.Abandon(context.WithoutCancel(ctx), setARN, owner))
		}
	}
}

// pass writes the set once from the ledger. It returns whether it called UpdateIPSet.
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
		if !b.Until.After(now) {
			drop[p.Masked()] = true
			rep.Expired = append(rep.Expired, b.Address)
			gone = append(gone, b)
			continue
		}
		live = append(live, b)
	}
	if limit := r.max(); len(live) > limit {
		// Oldest last sighting goes first.
		sort.SliceStable(live, func(i, j int) bool { return live[i].LastSeen.Before(live[j].LastSeen) })
		for _, b := range live[:len(live)-limit] {
			p, _ := netip.ParsePrefix(b.Address)
			drop[p.Masked()] = true
			rep.Evicted = append(rep.Evicted, b.Address)
			gone = append(gone, b)
		}
		live = live[len(live)-limit:]
	}
	var changed bool
	err = withLockRetry(ctx, r.Sleep, ref, func() error {
		changed = false
		got, err := api.GetIPSet(ctx, &wafv2.GetIPSetInput{Name: aws.String(ref.Name), Id: aws.String(ref.ID), Scope: waftypes.Scope(ref.Scope)})
		if err != nil {
			return fmt.Errorf("reconcile: get IP set %s: %w", ref.Name, err)
		}
		want6 := got.IPSet.IPAddressVersion == waftypes.IPAddressVersionIpv6
		present := map[netip.Prefix]bool{}
		next := []string{} // UpdateIPSet requires the list, even empty
		// Addresses the ledger does not know (put there by hand) stay.
		for _, a := range got.IPSet.Addresses {
			p, err := netip.ParsePrefix(a)
			if err == nil && drop[p.Masked()] {
				continue
			}
			if err == nil {
				present[p.Masked()] = true
			}
			next = append(next, a)
		}
		removed := len(got.IPSet.Addresses) - len(next)
		var added []string
		for _, b := range live {
			p, err := netip.ParsePrefix(b.Address)
			if err != nil || p.Addr().Is6() != want6 || present[p.Masked()] {
				continue
			}
			present[p.Masked()] = true
			next = append(next, p.String())
			added = append(added, p.String())
		}
		if len(added) == 0 && removed == 0 {
			return nil
		}
		if len(next) > MaxIPSetAddresses {
			return fmt.Errorf("reconcile: IP set %s would hold %d addresses, more than WAF's %d", ref.Name, len(next), MaxIPSetAddresses)
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
		rep.Added = append(rep.Added, added...)
		return nil
	})
	if err != nil {
		return false, err
	}
	for _, b := range gone {
		if err := r.Ledger.Forget(ctx, ref.ARN, b.Address, b.Until); err != nil {
			return changed, err
		}
	}
	return changed, nil
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
