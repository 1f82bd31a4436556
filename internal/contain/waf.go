package contain

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	waftypes "github.com/aws/aws-sdk-go-v2/service/wafv2/types"

	"github.com/autocontain/autocontain/internal/ipset"
	"github.com/autocontain/autocontain/internal/ledger"
	"github.com/autocontain/autocontain/internal/plan"
	"github.com/autocontain/autocontain/internal/playbook"
)

// IPSetAPI is the part of the WAFv2 API that block-ip needs.
type IPSetAPI interface {
	GetIPSet(ctx context.Context, in *wafv2.GetIPSetInput, opts ...func(*wafv2.Options)) (*wafv2.GetIPSetOutput, error)
	UpdateIPSet(ctx context.Context, in *wafv2.UpdateIPSetInput, opts ...func(*wafv2.Options)) (*wafv2.UpdateIPSetOutput, error)
}

var _ IPSetAPI = (*wafv2.Client)(nil)

// MaxIPSetAddresses is WAF's limit on addresses in one IP set (WAF
// Developer Guide, quotas).
const MaxIPSetAddresses = 10000

// Lock-token retries: UpdateIPSet fails with WAFOptimisticLockException when
// another writer changed the set since GetIPSet; the SDK does not retry that,
// so block-ip reads again, merges and retries, with jittered backoff.
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
// need N seconds of UpdateIPSet. So block-ip retries a throttled round
// itself (a fresh GetIPSet, merge, UpdateIPSet), with full-jitter backoff,
// within a budget of attempts and time that leaves the rest of Lambda's
// 60-second timeout for the other steps, and never past ctx's deadline.
const (
	blockAttempts    = 40
	blockBudget      = 40 * time.Second
	throttleMaxWait  = 4 * time.Second
	deadlineReserved = 5 * time.Second
)

// retryPolicy bounds the retries of one IP-set write.
type retryPolicy struct {
	attempts  int           // rounds in all, the first included
	budget    time.Duration // no retry starts later than this after the first round; 0 means no limit
	base, max time.Duration // full-jitter exponential backoff
	throttle  bool          // retry throttling too, not only lock conflicts
}

var (
	// lockPolicy is for the ledger's single writer, which paces itself to
	// WAF's quota and holds a short lease: it retries lock conflicts only.
	lockPolicy = retryPolicy{attempts: lockAttempts, base: lockBackoff, max: lockMaxWait}
	// blockPolicy is for block-ip without the ledger, where every finding
	// writes the set itself and a burst meets WAF's quota.
	blockPolicy = retryPolicy{attempts: blockAttempts, budget: blockBudget, base: lockBackoff, max: throttleMaxWait, throttle: true}
)

// throttles is the SDK's own test of a throttling answer (by error code,
// ThrottlingException among them); it sees through errors.Join, so a call
// that also ran out of the SDK's retry quota still counts as throttled.
var throttles = retry.IsErrorThrottles(retry.DefaultThrottles)

// IPBlocker adds addresses to a WAFv2 IP set with the lock-token protocol.
type IPBlocker struct {
	WAF   func(region string) IPSetAPI
	Sleep func(ctx context.Context, d time.Duration) error
}

// Name implements Action.
func (*IPBlocker) Name() string { return playbook.ActionBlockIP }

// Permissions implements Action.
func (*IPBlocker) Permissions() []string { return []string{"wafv2:GetIPSet", "wafv2:UpdateIPSet"} }

// Execute implements Action.
func (a *IPBlocker) Execute(ctx context.Context, req Request) (Outcome, error) {
	t := req.Step.Target
	if t.Kind != plan.TargetIPSet || len(t.Addresses) == 0 {
		return Outcome{}, fmt.Errorf("block-ip needs an IP set and addresses, got %s", t)
	}
	ref, err := ipset.Parse(t.ARN)
	if err != nil {
		return Outcome{}, fmt.Errorf("block-ip: %w", err)
	}
	api := a.WAF(ref.Region)
	var out Outcome
	err = withRetry(ctx, a.Sleep, ref, blockPolicy, func() error {
		var err error
		out, err = a.add(ctx, api, ref, t.Addresses)
		return err
	})
	return out, err
}

// withLockRetry runs one read-merge-write round of an IP set, again after
// a WAFOptimisticLockException, with jittered backoff, at most lockAttempts times.
func withLockRetry(ctx context.Context, sleep func(context.Context, time.Duration) error, ref ipset.Ref, round func() error) error {
	return withRetry(ctx, sleep, ref, lockPolicy, round)
}

// withRetry runs one read-merge-write round of an IP set, again after a
// lock conflict (and, if pol says so, after throttling), with full-jitter
// backoff, within pol's attempts and, when pol has a time budget, that
// budget and ctx's deadline less deadlineReserved (so the step fails with
// the throttling error, and the delivery is retried, before Lambda's
// timeout kills it).
func withRetry(ctx context.Context, sleep func(context.Context, time.Duration) error, ref ipset.Ref, pol retryPolicy, round func() error) error {
	if sleep == nil {
		sleep = SleepContext
	}
	start := time.Now()
	for attempt := 1; ; attempt++ {
		err := round()
		if err == nil {
			return nil
		}
		var lock *waftypes.WAFOptimisticLockException
		retryable := errors.As(err, &lock) || pol.throttle && throttles.IsErrorThrottle(err) == aws.TrueTernary
		// Full jitter: concurrent writers that collided spread out.
		d := rand.N(min(pol.base<<min(attempt-1, 16), pol.max)) + time.Millisecond
		stop := !retryable || attempt == pol.attempts
		if pol.budget > 0 && time.Since(start)+d > pol.budget {
			stop = true
		}
		if dl, ok := ctx.Deadline(); ok && pol.budget > 0 && time.Until(dl) < d+deadlineReserved {
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

// add does one read-merge-write round.
func (a *IPBlocker) add(ctx context.Context, api IPSetAPI, ref ipset.Ref, addrs []netip.Prefix) (Outcome, error) {
	r, err := addToSet(ctx, api, ref, addrs, MaxIPSetAddresses)
	switch {
	case err != nil:
		return Outcome{}, err
	case r.full:
		return Outcome{}, fmt.Errorf("block-ip: IP set %s would hold %d addresses, more than WAF's %d", ref.Name, r.size, MaxIPSetAddresses)
	case len(r.added) == 0:
		return Outcome{Detail: fmt.Sprintf("IP set %s already holds %s", ref.Name, joinPrefixes(addrs))}, nil
	}
	changes := make([]ledger.Change, len(r.added))
	for i, a := range r.added {
		changes[i] = ledger.Change{IPSet: ref.ARN, Address: a}
	}
	return Outcome{Changed: true, Detail: fmt.Sprintf("IP set %s += %s (now %d addresses)", ref.Name, strings.Join(r.added, " "), r.size),
		Changes: changes}, nil
}

// addition is what one round of addToSet did.
type addition struct {
	// added are the addresses it put in the set.
	added []string
	// size is how many addresses the set holds (or would hold, if full).
	size int
	// full: the set would hold more than the limit; nothing was written.
	full bool
}

// addToSet does one read-merge-write round of an IP set with the lock-token
// protocol: it reads the set, adds the addresses it lacks, and writes it
// back with the lock token it read, unless nothing is missing or the set
// would then hold more than limit addresses. Both block-ip without the
// ledger and the ledger's fast path write through it.
func addToSet(ctx context.Context, api IPSetAPI, ref ipset.Ref, addrs []netip.Prefix, limit int) (addition, error) {
	got, err := api.GetIPSet(ctx, &wafv2.GetIPSetInput{Name: aws.String(ref.Name), Id: aws.String(ref.ID), Scope: waftypes.Scope(ref.Scope)})
	if err != nil {
		var missing *waftypes.WAFNonexistentItemException
		if errors.As(err, &missing) {
			return addition{}, fmt.Errorf("block-ip: IP set %s does not exist (settings.ipSets): %w", ref.ARN, err)
		}
		return addition{}, fmt.Errorf("block-ip: get IP set %s: %w", ref.Name, err)
	}
	set := got.IPSet
	if set == nil {
		return addition{}, fmt.Errorf("block-ip: get IP set %s: empty answer", ref.Name)
	}
	want6 := set.IPAddressVersion == waftypes.IPAddressVersionIpv6
	present := make(map[netip.Prefix]bool, len(set.Addresses))
	for _, s := range set.Addresses {
		if p, err := netip.ParsePrefix(s); err == nil {
			present[p.Masked()] = true
		}
	}
	merged := append([]string(nil), set.Addresses...)
	var r addition
	for _, p := range addrs {
		if p.Addr().Is6() != want6 {
			return addition{}, fmt.Errorf("block-ip: IP set %s holds %s addresses, not %s", ref.Name, set.IPAddressVersion, p)
		}
		if present[p.Masked()] {
			continue
		}
		present[p.Masked()] = true
		merged = append(merged, p.String())
		r.added = append(r.added, p.String())
	}
	r.size = len(merged)
	if len(r.added) == 0 {
		return r, nil
	}
	if r.size > limit {
		return addition{size: r.size, full: true}, nil
	}
	// UpdateIPSet replaces the whole set, description included: send both back.
	_, err = api.UpdateIPSet(ctx, &wafv2.UpdateIPSetInput{
		Name: aws.String(ref.Name), Id: aws.String(ref.ID), Scope: waftypes.Scope(ref.Scope),
		Addresses: merged, Description: set.Description, LockToken: got.LockToken,
	})
	if err != nil {
		return addition{}, fmt.Errorf("block-ip: update IP set %s: %w", ref.Name, err)
	}
	return r, nil
}

func joinPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, " ")
}
