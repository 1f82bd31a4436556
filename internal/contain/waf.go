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
	err = withLockRetry(ctx, a.Sleep, ref, func() error {
		var err error
		out, err = a.add(ctx, api, ref, t.Addresses)
		return err
	})
	return out, err
}

// withLockRetry runs one read-merge-write round of an IP set, again after
// a WAFOptimisticLockException, with jittered backoff, at most lockAttempts times.
func withLockRetry(ctx context.Context, sleep func(context.Context, time.Duration) error, ref ipset.Ref, round func() error) error {
	if sleep == nil {
		sleep = SleepContext
	}
	for attempt := 1; ; attempt++ {
		err := round()
		var lock *waftypes.WAFOptimisticLockException
		if !errors.As(err, &lock) || attempt == lockAttempts {
			if err != nil && attempt > 1 {
				err = fmt.Errorf("%w (after %d attempts)", err, attempt)
			}
			return err
		}
		// Full jitter: concurrent writers that collided spread out.
		d := min(lockBackoff<<(attempt-1), lockMaxWait)
		if err := sleep(ctx, rand.N(d)+time.Millisecond); err != nil {
			return fmt.Errorf("IP set %s: waiting to retry after a lock conflict: %w", ref.Name, err)
		}
	}
}

// add does one read-merge-write round.
func (a *IPBlocker) add(ctx context.Context, api IPSetAPI, ref ipset.Ref, addrs []netip.Prefix) (Outcome, error) {
	got, err := api.GetIPSet(ctx, &wafv2.GetIPSetInput{Name: aws.String(ref.Name), Id: aws.String(ref.ID), Scope: waftypes.Scope(ref.Scope)})
	if err != nil {
		var missing *waftypes.WAFNonexistentItemException
		if errors.As(err, &missing) {
			return Outcome{}, fmt.Errorf("block-ip: IP set %s does not exist (settings.ipSets): %w", ref.ARN, err)
		}
		return Outcome{}, fmt.Errorf("block-ip: get IP set %s: %w", ref.Name, err)
	}
	set := got.IPSet
	if set == nil {
		return Outcome{}, fmt.Errorf("block-ip: get IP set %s: empty answer", ref.Name)
	}
	want6 := set.IPAddressVersion == waftypes.IPAddressVersionIpv6
	present := make(map[netip.Prefix]bool, len(set.Addresses))
	for _, s := range set.Addresses {
		if p, err := netip.ParsePrefix(s); err == nil {
			present[p.Masked()] = true
		}
	}
	merged := append([]string(nil), set.Addresses...)
	var added []string
	for _, p := range addrs {
		if p.Addr().Is6() != want6 {
			return Outcome{}, fmt.Errorf("block-ip: IP set %s holds %s addresses, not %s", ref.Name, set.IPAddressVersion, p)
		}
		if present[p.Masked()] {
			continue
		}
		present[p.Masked()] = true
		merged = append(merged, p.String())
		added = append(added, p.String())
	}
	if len(added) == 0 {
		return Outcome{Detail: fmt.Sprintf("IP set %s already holds %s", ref.Name, joinPrefixes(addrs))}, nil
	}
	if len(merged) > MaxIPSetAddresses {
		return Outcome{}, fmt.Errorf("block-ip: IP set %s would hold %d addresses, more than WAF's %d", ref.Name, len(merged), MaxIPSetAddresses)
	}
	// UpdateIPSet replaces the whole set, description included: send both back.
	_, err = api.UpdateIPSet(ctx, &wafv2.UpdateIPSetInput{
		Name: aws.String(ref.Name), Id: aws.String(ref.ID), Scope: waftypes.Scope(ref.Scope),
		Addresses: merged, Description: set.Description, LockToken: got.LockToken,
	})
	if err != nil {
		return Outcome{}, fmt.Errorf("block-ip: update IP set %s: %w", ref.Name, err)
	}
	changes := make([]ledger.Change, len(added))
	for i, a := range added {
		changes[i] = ledger.Change{Kind: ledger.ChangeBlock, IPSet: ref.ARN, Address: a}
	}
	return Outcome{Changed: true, Detail: fmt.Sprintf("IP set %s += %s (now %d addresses)", ref.Name, strings.Join(added, " "), len(merged)),
		Changes: changes}, nil
}

func joinPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, " ")
}
