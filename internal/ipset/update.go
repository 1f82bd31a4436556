package ipset

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	waftypes "github.com/aws/aws-sdk-go-v2/service/wafv2/types"
)

// API is the part of the WAFv2 API that reads and writes an IP set.
type API interface {
	GetIPSet(ctx context.Context, in *wafv2.GetIPSetInput, opts ...func(*wafv2.Options)) (*wafv2.GetIPSetOutput, error)
	UpdateIPSet(ctx context.Context, in *wafv2.UpdateIPSetInput, opts ...func(*wafv2.Options)) (*wafv2.UpdateIPSetOutput, error)
}

var _ API = (*wafv2.Client)(nil)

// Permissions lists the WAF actions Update needs on the IP sets: everyone
// who writes a set writes it through Update.
func Permissions() []string { return []string{"wafv2:GetIPSet", "wafv2:UpdateIPSet"} }

// MaxAddresses is WAF's limit on addresses in one IP set (WAF Developer
// Guide, quotas).
const MaxAddresses = 10000

// Set is an IP set as GetIPSet read it.
type Set struct {
	Ref Ref
	// Addresses are the set's CIDRs, as WAF returned them.
	Addresses []string
	// Version is the address family the set holds (IPV4 or IPV6).
	Version waftypes.IPAddressVersion
}

// Holds reports whether p is of the family the set holds: WAF keeps IPv4
// and IPv6 addresses in separate sets.
func (s Set) Holds(p netip.Prefix) bool {
	return p.Addr().Is6() == (s.Version == waftypes.IPAddressVersionIpv6)
}

// Check is Holds as an error that names the set, its family and p.
func (s Set) Check(p netip.Prefix) error {
	if !s.Holds(p) {
		return fmt.Errorf("IP set %s holds %s addresses, not %s", s.Ref.Name, s.Version, p)
	}
	return nil
}

// Merge computes a set's next addresses from what it holds now. Update
// calls it again, with a fresh read, for every retried round; a merge that
// returns the addresses unchanged writes nothing. An error stops Update.
type Merge func(cur Set) (next []string, err error)

// Options say how Update retries and paces its rounds.
type Options struct {
	// Retry is LockRetry or ThrottleRetry; the zero value makes one round.
	Retry Retry
	// Sleep waits between rounds; nil is SleepContext.
	Sleep func(ctx context.Context, d time.Duration) error
	// Pace, when set, spaces the UpdateIPSet calls that share it.
	Pace *Pacer
}

// Update does one read-merge-write of an IP set with WAF's lock-token
// protocol: GetIPSet, merge, and UpdateIPSet with the lock token it read,
// again with a fresh read when another writer changed the set in between
// (WAFOptimisticLockException) and, if opt.Retry says so, when WAF
// throttled the write. UpdateIPSet replaces the whole set, description
// included, so both are sent back.
func Update(ctx context.Context, api API, ref Ref, opt Options, merge Merge) error {
	return opt.Retry.run(ctx, opt.sleep(), ref, func() error {
		got, err := api.GetIPSet(ctx, &wafv2.GetIPSetInput{Name: aws.String(ref.Name), Id: aws.String(ref.ID), Scope: waftypes.Scope(ref.Scope)})
		if err != nil {
			var missing *waftypes.WAFNonexistentItemException
			if errors.As(err, &missing) {
				return fmt.Errorf("IP set %s does not exist (settings.ipSets): %w", ref.ARN, err)
			}
			return fmt.Errorf("get IP set %s: %w", ref.Name, err)
		}
		if got.IPSet == nil {
			return fmt.Errorf("get IP set %s: empty answer", ref.Name)
		}
		cur := Set{Ref: ref, Addresses: got.IPSet.Addresses, Version: got.IPSet.IPAddressVersion}
		next, err := merge(cur)
		if err != nil || slices.Equal(next, cur.Addresses) {
			return err
		}
		if next == nil {
			next = []string{} // UpdateIPSet requires the list, even empty
		}
		if err := opt.Pace.wait(ctx, opt.sleep()); err != nil {
			return err
		}
		_, err = api.UpdateIPSet(ctx, &wafv2.UpdateIPSetInput{
			Name: aws.String(ref.Name), Id: aws.String(ref.ID), Scope: waftypes.Scope(ref.Scope),
			Addresses: next, Description: got.IPSet.Description, LockToken: got.LockToken,
		})
		opt.Pace.mark()
		if err != nil {
			return fmt.Errorf("update IP set %s: %w", ref.Name, err)
		}
		return nil
	})
}

func (o Options) sleep() func(context.Context, time.Duration) error {
	if o.Sleep != nil {
		return o.Sleep
	}
	return SleepContext
}

// FullError says that an Add would have taken a set past its limit; it
// wrote nothing.
type FullError struct {
	Set         string
	Size, Limit int
}

func (e *FullError) Error() string {
	return fmt.Sprintf("IP set %s would hold %d addresses, more than WAF's %d", e.Set, e.Size, e.Limit)
}

// Add puts into the set the addresses of addrs it lacks, in one Update. It
// returns those it added and the set's size after. An address of the other
// family is an error, and so is a set that would then hold more than limit
// addresses (*FullError): either way nothing is written.
func Add(ctx context.Context, api API, ref Ref, opt Options, addrs []netip.Prefix, limit int) (added []string, size int, err error) {
	err = Update(ctx, api, ref, opt, func(cur Set) ([]string, error) {
		added = nil
		present := make(map[netip.Prefix]bool, len(cur.Addresses))
		for _, s := range cur.Addresses {
			if p, err := netip.ParsePrefix(s); err == nil {
				present[p.Masked()] = true
			}
		}
		next := slices.Clone(cur.Addresses)
		for _, p := range addrs {
			if err := cur.Check(p); err != nil {
				return nil, err
			}
			if present[p.Masked()] {
				continue
			}
			present[p.Masked()] = true
			next = append(next, p.String())
			added = append(added, p.String())
		}
		size = len(next)
		if len(added) > 0 && size > limit {
			return nil, &FullError{Set: ref.Name, Size: size, Limit: limit}
		}
		return next, nil
	})
	if err != nil {
		return nil, size, err
	}
	return added, size, nil
}

// Pacer spaces the UpdateIPSet calls of one writer at least Interval apart:
// WAF allows one UpdateIPSet per second per account and Region. It is not
// safe for concurrent use; each run of a writer has its own.
type Pacer struct {
	Interval time.Duration
	Now      func() time.Time
	last     time.Time
}

func (p *Pacer) wait(ctx context.Context, sleep func(context.Context, time.Duration) error) error {
	if p == nil || p.last.IsZero() {
		return nil
	}
	if d := p.Interval - p.Now().Sub(p.last); d > 0 {
		return sleep(ctx, d)
	}
	return nil
}

func (p *Pacer) mark() {
	if p != nil {
		p.last = p.Now()
	}
}

// Lock-token retries: UpdateIPSet fails with WAFOptimisticLockException when
// another writer changed the set since GetIPSet; the SDK does not retry that,
// so Update reads again, merges and retries, with jittered backoff.
const (
	lockAttempts = 6
	lockBackoff  = 200 * time.Millisecond
	lockMaxWait  = 3 * time.Second
)

// Throttling retries. WAF allows one call per second to each Create, Put or
// Update action and five to each Get, per account and Region, whoever calls
// ("AWS WAF quotas", WAF Developer Guide; fixed, cannot be raised). Past it
// WAF answers the generic ThrottlingException ("Rate exceeded", HTTP 400),
// not WAFLimitsExceededException, which is about resource counts: the wafv2
// model has no throttling error of its own (UpdateIPSet's errors in
// service/wafv2 deserializers.go), and users who hit the rate report
// "ThrottlingException: Rate exceeded" (aws-solutions/
// aws-waf-security-automations issue 152). The SDK's standard retryer
// retries that code (retry.DefaultThrottleErrorCodes), but with 3 attempts
// in a few seconds, while N findings blocking at once without the ledger
// need N seconds of UpdateIPSet. So ThrottleRetry retries a throttled round
// itself (a fresh GetIPSet, merge, UpdateIPSet), with full-jitter backoff,
// within a budget of attempts and time that leaves the rest of Lambda's
// 60-second timeout for the other steps, and never past ctx's deadline.
const (
	throttleAttempts = 40
	throttleBudget   = 40 * time.Second
	throttleMaxWait  = 4 * time.Second
	deadlineReserved = 5 * time.Second
)

// Retry bounds the rounds of one Update.
type Retry struct {
	attempts  int           // rounds in all, the first included
	budget    time.Duration // no retry starts later than this after the first round; 0 means no limit
	base, max time.Duration // full-jitter exponential backoff
	throttle  bool          // retry throttling too, not only lock conflicts
}

var (
	// LockRetry is for the ledger's single writer, which paces itself to
	// WAF's quota and holds a short lease: it retries lock conflicts only.
	LockRetry = Retry{attempts: lockAttempts, base: lockBackoff, max: lockMaxWait}
	// ThrottleRetry is for block-ip without the ledger, where every finding
	// writes the set itself and a burst meets WAF's quota.
	ThrottleRetry = Retry{attempts: throttleAttempts, budget: throttleBudget, base: lockBackoff, max: throttleMaxWait, throttle: true}
)

// throttles is the SDK's own test of a throttling answer (by error code,
// ThrottlingException among them); it sees through errors.Join, so a call
// that also ran out of the SDK's retry quota still counts as throttled.
var throttles = retry.IsErrorThrottles(retry.DefaultThrottles)

// run runs round, again after a lock conflict (and, if r says so, after
// throttling), with full-jitter backoff, within r's attempts and, when r
// has a time budget, that budget and ctx's deadline less deadlineReserved
// (so the write fails with the throttling error, and the delivery is
// retried, before Lambda's timeout kills it).
func (r Retry) run(ctx context.Context, sleep func(context.Context, time.Duration) error, ref Ref, round func() error) error {
	start := time.Now()
	for attempt := 1; ; attempt++ {
		err := round()
		if err == nil {
			return nil
		}
		var lock *waftypes.WAFOptimisticLockException
		retryable := errors.As(err, &lock) || r.throttle && throttles.IsErrorThrottle(err) == aws.TrueTernary
		// Full jitter: concurrent writers that collided spread out.
		d := rand.N(max(min(r.base<<min(attempt-1, 16), r.max), 1)) + time.Millisecond
		stop := !retryable || attempt >= r.attempts
		if r.budget > 0 && time.Since(start)+d > r.budget {
			stop = true
		}
		if dl, ok := ctx.Deadline(); ok && r.budget > 0 && time.Until(dl) < d+deadlineReserved {
			stop = true
		}
		if stop {
			if attempt > 1 {
				err = fmt.Errorf("%w (after %d attempts in %s)", err, attempt, time.Since(start).Round(time.Millisecond))
			}
			return err
		}
		if serr := sleep(ctx, d); serr != nil {
			return fmt.Errorf("IP set %s: waiting to retry after %v: %w", ref.Name, err, serr)
		}
	}
}

// SleepContext waits for d or until ctx is done.
func SleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
