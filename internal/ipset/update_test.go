package ipset_test

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	waftypes "github.com/aws/aws-sdk-go-v2/service/wafv2/types"

	"github.com/autocontain/autocontain/internal/ipset"
	"github.com/autocontain/autocontain/internal/testenv"
	"github.com/autocontain/autocontain/internal/testenv/faultproxy"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const opUpdate = "AWSWAF_20190729.UpdateIPSet"

// fixture is two empty IP sets, IPv4 and IPv6, reached through a fault proxy.
type fixture struct {
	api    *wafv2.Client
	proxy  *faultproxy.Proxy
	v4, v6 ipset.Ref
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	p := faultproxy.New(testenv.Moto(t).URL)
	t.Cleanup(p.Close)
	fx := &fixture{api: wafv2.NewFromConfig(testenv.ConfigAt(t, p.URL())), proxy: p}
	fx.v4 = fx.create(t, waftypes.IPAddressVersionIpv4)
	fx.v6 = fx.create(t, waftypes.IPAddressVersionIpv6)
	p.Reset()
	return fx
}

// create makes an empty IP set of version v, named after it.
func (fx *fixture) create(t *testing.T, v waftypes.IPAddressVersion) ipset.Ref {
	t.Helper()
	in := &wafv2.CreateIPSetInput{Name: aws.String("blocklist-" + strings.ToLower(string(v))), Scope: waftypes.ScopeRegional, IPAddressVersion: v, Addresses: []string{}}
	out, err := fx.api.CreateIPSet(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := ipset.Parse(aws.ToString(out.Summary.ARN))
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// read returns the set as Update's merge sees it, writing nothing.
func (fx *fixture) read(t *testing.T, ref ipset.Ref) ipset.Set {
	t.Helper()
	var got ipset.Set
	if err := ipset.Update(context.Background(), fx.api, ref, ipset.Options{}, func(cur ipset.Set) ([]string, error) {
		got = cur
		return cur.Addresses, nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

// expect fails the test unless the set holds want, in that order.
func (fx *fixture) expect(t *testing.T, ref ipset.Ref, want ...string) {
	t.Helper()
	if got := fx.read(t, ref).Addresses; !slices.Equal(got, want) && len(got)+len(want) > 0 {
		t.Errorf("IP set %s holds %v, want %v", ref.Name, got, want)
	}
}

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

func noSleep(context.Context, time.Duration) error { return nil }

// TestUpdateWritesOnlyAChange: a merge that returns the set unchanged
// makes no UpdateIPSet; one that changes it writes exactly what it returns,
// an empty list included.
func TestUpdateWritesOnlyAChange(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	set := func(next ...string) ipset.Merge {
		return func(ipset.Set) ([]string, error) { return next, nil }
	}
	if err := ipset.Update(ctx, fx.api, fx.v4, ipset.Options{}, set("185.220.101.42/32", "80.82.77.139/32")); err != nil {
		t.Fatal(err)
	}
	if got := fx.read(t, fx.v4); !slices.Equal(got.Addresses, []string{"185.220.101.42/32", "80.82.77.139/32"}) || got.Version != "IPV4" {
		t.Errorf("set %+v", got)
	}
	fx.proxy.Reset()
	if err := ipset.Update(ctx, fx.api, fx.v4, ipset.Options{}, set("185.220.101.42/32", "80.82.77.139/32")); err != nil {
		t.Fatal(err)
	}
	if n := fx.proxy.Count(opUpdate); n != 0 {
		t.Errorf("an unchanged merge made %d UpdateIPSet calls", n)
	}
	if err := ipset.Update(ctx, fx.api, fx.v4, ipset.Options{}, set()); err != nil {
		t.Fatal(err)
	}
	fx.expect(t, fx.v4)
	// A merge's error stops the round before the write.
	fx.proxy.Reset()
	boom := errors.New("boom")
	if err := ipset.Update(ctx, fx.api, fx.v4, ipset.Options{Retry: ipset.LockRetry}, func(ipset.Set) ([]string, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("error %v, want the merge's", err)
	}
	if n := fx.proxy.Count(opUpdate); n != 0 {
		t.Errorf("a failed merge made %d UpdateIPSet calls", n)
	}
}

// TestAdd: the addresses a set lacks are added once; the other family and
// a set past its limit are refused, and nothing is written.
func TestAdd(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	added, size, err := ipset.Add(ctx, fx.api, fx.v4, ipset.Options{}, prefixes("185.220.101.42/32", "80.82.77.139/32", "185.220.101.42/32"), ipset.MaxAddresses)
	if err != nil || !slices.Equal(added, []string{"185.220.101.42/32", "80.82.77.139/32"}) || size != 2 {
		t.Fatalf("added %v size %d err %v", added, size, err)
	}
	fx.proxy.Reset()
	added, size, err = ipset.Add(ctx, fx.api, fx.v4, ipset.Options{}, prefixes("80.82.77.139/32"), ipset.MaxAddresses)
	if err != nil || len(added) != 0 || size != 2 || fx.proxy.Count(opUpdate) != 0 {
		t.Errorf("again: added %v size %d err %v, %d writes", added, size, err, fx.proxy.Count(opUpdate))
	}
	tests := []struct {
		name    string
		ref     ipset.Ref
		addrs   []netip.Prefix
		limit   int
		wantErr string
	}{
		{"ipv4_in_ipv6_set", fx.v6, prefixes("185.220.101.43/32"), ipset.MaxAddresses, "IP set blocklist-ipv6 holds IPV6 addresses, not 185.220.101.43/32"},
		{"ipv6_in_ipv4_set", fx.v4, prefixes("45.155.205.233/32", "2a0b:f4c2:2::1/128"), ipset.MaxAddresses, "holds IPV4 addresses, not 2a0b:f4c2:2::1/128"},
		{"past_the_limit", fx.v4, prefixes("45.155.205.233/32"), 2, "would hold 3 addresses, more than WAF's 2"},
		{"missing_set", ipset.Ref{ARN: "arn:aws:wafv2:us-east-1:123456789012:regional/ipset/gone/1", Region: "us-east-1", Scope: ipset.ScopeRegional, Name: "gone", ID: "1"},
			prefixes("45.155.205.233/32"), ipset.MaxAddresses, "does not exist (settings.ipSets)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx.proxy.Reset()
			_, _, err := ipset.Add(ctx, fx.api, tt.ref, ipset.Options{}, tt.addrs, tt.limit)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v, want %q", err, tt.wantErr)
			}
			if n := fx.proxy.Count(opUpdate); n != 0 {
				t.Errorf("%d UpdateIPSet calls", n)
			}
		})
	}
	var full *ipset.FullError
	if _, _, err := ipset.Add(ctx, fx.api, fx.v4, ipset.Options{}, prefixes("45.155.205.233/32"), 2); !errors.As(err, &full) || full.Size != 3 || full.Limit != 2 {
		t.Errorf("error %v, want a FullError", err)
	}
	fx.expect(t, fx.v4, "185.220.101.42/32", "80.82.77.139/32")
	fx.expect(t, fx.v6)
}

// TestUpdateRetries: a stale lock token is retried with a fresh read by
// both policies, within their attempts; throttling past the SDK's own
// retries only by ThrottleRetry.
func TestUpdateRetries(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	var slept []time.Duration
	sleep := func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil }
	var seen []int
	grow := func(cur ipset.Set) ([]string, error) {
		seen = append(seen, len(cur.Addresses))
		return append(slices.Clone(cur.Addresses), "185.220.101.42/32"), nil
	}

	fx.proxy.Inject(opUpdate, faultproxy.StaleLock, 2)
	if err := ipset.Update(ctx, fx.api, fx.v4, ipset.Options{Retry: ipset.LockRetry, Sleep: sleep}, grow); err != nil {
		t.Fatal(err)
	}
	if g, u := fx.proxy.Count("AWSWAF_20190729.GetIPSet"), fx.proxy.Count(opUpdate); g != 3 || u != 3 || len(seen) != 3 || len(slept) != 2 {
		t.Errorf("%d reads, %d writes, %d merges, %d sleeps; want 3, 3, 3, 2", g, u, len(seen), len(slept))
	}

	// A writer that never stops conflicting runs out of attempts.
	fx.proxy.Reset()
	fx.proxy.Inject(opUpdate, faultproxy.StaleLock, 100)
	err := ipset.Update(ctx, fx.api, fx.v4, ipset.Options{Retry: ipset.LockRetry, Sleep: noSleep}, grow)
	if err == nil || !strings.Contains(err.Error(), "after 6 attempts") || fx.proxy.Count(opUpdate) != 6 {
		t.Errorf("error %v after %d writes, want 6 attempts", err, fx.proxy.Count(opUpdate))
	}
	fx.proxy.Clear()

	// Five throttles: the SDK's three attempts take three, so the first
	// round fails throttled. ThrottleRetry goes again; LockRetry does not.
	shrink := func(ipset.Set) ([]string, error) { return []string{}, nil }
	fx.proxy.Inject(opUpdate, faultproxy.Throttling, 5)
	if err := ipset.Update(ctx, fx.api, fx.v4, ipset.Options{Retry: ipset.LockRetry, Sleep: noSleep}, shrink); err == nil {
		t.Error("LockRetry retried a throttled round")
	}
	fx.proxy.Clear()
	fx.proxy.Inject(opUpdate, faultproxy.Throttling, 5)
	if err := ipset.Update(ctx, fx.api, fx.v4, ipset.Options{Retry: ipset.ThrottleRetry, Sleep: noSleep}, shrink); err != nil {
		t.Errorf("ThrottleRetry: %v", err)
	}
	fx.expect(t, fx.v4)
}

// TestPacerSpacesWrites: writes that share a Pacer wait out its interval
// after the previous write; the first does not wait.
func TestPacerSpacesWrites(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	var slept []time.Duration
	opt := ipset.Options{Sleep: func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil },
		Pace: &ipset.Pacer{Interval: time.Second, Now: func() time.Time { return now }}}
	for i, a := range []string{"185.220.101.42/32", "80.82.77.139/32", "80.82.77.139/32"} {
		if _, _, err := ipset.Add(ctx, fx.api, fx.v4, opt, prefixes(a), ipset.MaxAddresses); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			now = now.Add(300 * time.Millisecond)
		}
	}
	// The second write waits 700 ms; the third writes nothing, so it does not wait.
	if !slices.Equal(slept, []time.Duration{700 * time.Millisecond}) {
		t.Errorf("slept %v, want [700ms]", slept)
	}
}
