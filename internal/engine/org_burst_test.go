package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	waftypes "github.com/aws/aws-sdk-go-v2/service/wafv2/types"

	"github.com/autocontain/autocontain/internal/playbook"
	"github.com/autocontain/autocontain/internal/sandbox"
)

// burstRegions are the Regions of the organization burst: each member has
// its two IP sets in each.
var burstRegions = []string{"us-east-1", "us-west-2"}

// burstMember is a member account of the organization burst: user alice
// with one key, and the member stack's IP sets in each Region.
type burstMember struct {
	id   string
	key  string
	cfg  aws.Config
	sets map[string]string // Region -> IPv4 set ARN
}

// orgBurstResult is what an organization burst measured.
type orgBurstResult struct {
	elapsed    time.Duration
	updates    int // UpdateIPSet calls, throttled ones included
	assumes    int // AssumeRole calls
	pairs      int // (instance, member account) pairs that handled a finding
	failed     int
	contained  int // members whose alice is contained
	lost       int // addresses missing from their set
	principals int // distinct principals the findings named
}

// runOrgBurst delivers n findings spread over members accounts and
// burstRegions to instances engines at once, each finding with its own
// address and naming its member's alice, under WAF's one UpdateIPSet per
// second per account and Region (the proxy keeps the quota per caller and
// Region). Each instance has its own caches, as Lambda instances do.
func runOrgBurst(t testing.TB, n, members, instances, orgMax int) orgBurstResult {
	t.Helper()
	ctx := context.Background()
	fx := newFixture(t)
	direct := fx.emu.Config(t)
	orgID, ids := createOrganization(t, direct, members)
	ms := make([]burstMember, members)
	for i, id := range ids {
		ms[i] = newBurstMember(t, direct, id)
	}
	fx.proxy.Reset()
	fx.proxy.Limit(opUpdateIPSet, 1)
	base := string(event(t, "guardduty-maliciousipcaller-custom-akia.json"))
	type delivery struct {
		member int
		raw    []byte
	}
	events := make(chan delivery, n)
	for i := range n {
		m, region := ms[i%members], burstRegions[i/members%len(burstRegions)]
		raw := strings.NewReplacer(
			`"accountId": "123456789012"`, `"accountId": "`+m.id+`"`,
			`"df1db1afefc8cb0e1936524a9ad401f8"`, fmt.Sprintf(`"orgburst%024d"`, i),
			`"region": "us-east-1"`, `"region": "`+region+`"`,
			"185.220.101.42", burstAddress(i),
		).Replace(base)
		events <- delivery{member: i % members, raw: (&sandbox.Account{Keys: map[string][]string{"alice": {m.key}}}).Rewrite([]byte(raw))}
	}
	close(events)
	mutate := func(s *playbook.Settings) {
		s.TopicARN = ""
		// A window no test run straddles.
		s.BreakerWindow = "1000h"
		s.OrgBreakerMax = orgMax
	}
	var failed atomic.Int64
	var mu sync.Mutex
	pairs := map[[2]int]bool{}
	var wg sync.WaitGroup
	var last *Engine
	start := time.Now()
	for in := range instances {
		eng := orgEngine(fx, orgID, mutate)
		last = eng
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range events {
				mu.Lock()
				pairs[[2]int{in, d.member}] = true
				mu.Unlock()
				deliver(t, eng, d.raw, &failed)
			}
		}()
	}
	wg.Wait()
	// Counted before the final reconcile, which assumes the role of each
	// member its instance did not serve.
	res := orgBurstResult{elapsed: time.Since(start), updates: fx.proxy.Count(opUpdateIPSet), assumes: fx.proxy.Count("AssumeRole"),
		pairs: len(pairs), failed: int(failed.Load()), principals: members}
	// The scheduled reconcile is the backstop for a writer that failed.
	if _, err := last.Reconcile(ctx); err != nil {
		t.Errorf("final reconcile: %v", err)
	}
	for mi, m := range ms {
		k, err := iam.NewFromConfig(m.cfg).ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("alice")})
		if err != nil {
			t.Fatal(err)
		}
		if k.AccessKeyMetadata[0].Status == "Inactive" {
			res.contained++
		}
		for ri, region := range burstRegions {
			got := burstSet(t, m, region)
			for i := mi + ri*members; i < n; i += members * len(burstRegions) {
				if _, ok := slices.BinarySearch(got, burstAddress(i)+"/32"); !ok {
					res.lost++
				}
			}
		}
	}
	return res
}

// newBurstMember builds member id through its member role: alice and her
// key, and the two IP sets in each Region, named as the member stack names
// them.
func newBurstMember(t testing.TB, direct aws.Config, id string) burstMember {
	t.Helper()
	ctx := context.Background()
	m := burstMember{id: id, cfg: memberConfig(direct, id), sets: map[string]string{}}
	iamc := iam.NewFromConfig(m.cfg)
	if _, err := iamc.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("alice")}); err != nil {
		t.Fatal(err)
	}
	k, err := iamc.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("alice")})
	if err != nil {
		t.Fatal(err)
	}
	m.key = aws.ToString(k.AccessKey.AccessKeyId)
	for _, region := range burstRegions {
		waf := wafv2.NewFromConfig(m.cfg, func(o *wafv2.Options) { o.Region = region })
		for _, s := range []struct {
			name    string
			version waftypes.IPAddressVersion
		}{{"autocontain-blocklist-v4", waftypes.IPAddressVersionIpv4}, {"autocontain-blocklist-v6", waftypes.IPAddressVersionIpv6}} {
			out, err := waf.CreateIPSet(ctx, &wafv2.CreateIPSetInput{Name: aws.String(s.name), Scope: waftypes.ScopeRegional, IPAddressVersion: s.version, Addresses: []string{}})
			if err != nil {
				t.Fatal(err)
			}
			if s.version == waftypes.IPAddressVersionIpv4 {
				m.sets[region] = aws.ToString(out.Summary.ARN)
			}
		}
	}
	return m
}

// burstSet reads member m's IPv4 set in region, sorted.
func burstSet(t testing.TB, m burstMember, region string) []string {
	t.Helper()
	arn := m.sets[region]
	parts := strings.Split(arn, "/")
	out, err := wafv2.NewFromConfig(m.cfg, func(o *wafv2.Options) { o.Region = region }).GetIPSet(context.Background(),
		&wafv2.GetIPSetInput{Id: aws.String(parts[len(parts)-1]), Name: aws.String(parts[len(parts)-2]), Scope: waftypes.ScopeRegional})
	if err != nil {
		t.Fatal(err)
	}
	got := slices.Clone(out.IPSet.Addresses)
	slices.Sort(got)
	return got
}

// TestOrganizationBurst: 1,000 findings over 50 member accounts and two
// Regions, delivered by 20 instances at once under WAF's quota per account
// and Region: no address is lost, each instance assumes each member's role
// at most once, and the organization's breaker admits exactly
// orgBreakerMax of the 50 principals (each account's own breaker would
// admit all of them).
func TestOrganizationBurst(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 findings over 50 accounts against the emulator")
	}
	// A fifth of the benchmark's burst (BenchmarkOrganizationBurst runs
	// the 1,000 findings over 50 accounts in make bench), with an
	// organization breaker below the accounts' count, so every bound is
	// still checked, in a fifth of the time.
	const n, members, instances, orgMax = 200, 20, 10, 12
	res := runOrgBurst(t, n, members, instances, orgMax)
	if res.lost != 0 {
		t.Errorf("%d of %d addresses missing from their member's set", res.lost, n)
	}
	if res.assumes > res.pairs {
		t.Errorf("%d AssumeRole calls for %d (instance, account) pairs: more than one per account per instance", res.assumes, res.pairs)
	}
	if res.contained != orgMax {
		t.Errorf("%d members' principals contained, want orgBreakerMax = %d", res.contained, orgMax)
	}
	t.Logf("%d findings over %d accounts in %s: %d UpdateIPSet calls, %d AssumeRole calls for %d (instance, account) pairs, %d principals contained of %d, %d deliveries retried",
		n, members, res.elapsed.Round(time.Millisecond), res.updates, res.assumes, res.pairs, res.contained, res.principals, res.failed)
}

// BenchmarkOrganizationBurst measures the same burst once (make bench runs
// it with the others): its duration, UpdateIPSet and AssumeRole calls.
func BenchmarkOrganizationBurst(b *testing.B) {
	res := runOrgBurst(b, 1000, 50, 20, playbook.DefaultOrgBreakerMax)
	b.ReportMetric(res.elapsed.Seconds(), "burst-seconds")
	b.ReportMetric(float64(res.updates), "UpdateIPSet-calls")
	b.ReportMetric(float64(res.assumes), "AssumeRole-calls")
	b.ReportMetric(float64(res.lost), "lost-addresses")
	b.ReportMetric(float64(res.contained), "principals-contained")
}
