package faultproxy_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	waftypes "github.com/aws/aws-sdk-go-v2/service/wafv2/types"
	"github.com/aws/smithy-go"

	"github.com/autocontain/autocontain/internal/testenv"
	"github.com/autocontain/autocontain/internal/testenv/faultproxy"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// WAF's operations by their AWS names; TestFaultsReachTheSDKAsAWSWould
// also names operations by their full JSON targets.
const (
	opGetIPSet    = "GetIPSet"
	opUpdateIPSet = "UpdateIPSet"
	opListIPSets  = "ListIPSets"
)

// setup returns a proxy in front of a freshly reset emulator and an SDK
// configuration pointed at it whose standard retryer (3 attempts) waits at
// most a millisecond between attempts, so retries cost no time.
func setup(t *testing.T) (*faultproxy.Proxy, aws.Config) {
	t.Helper()
	emu := testenv.Moto(t)
	p := faultproxy.New(emu.URL)
	t.Cleanup(p.Close)
	cfg := testenv.ConfigAt(t, p.URL())
	cfg.Retryer = func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxBackoff = time.Millisecond })
	}
	return p, cfg
}

// ipSet is a WAF IP set made through the proxy.
type ipSet struct {
	waf    *wafv2.Client
	id     *string
	name   string
	scoped waftypes.Scope
}

func newIPSet(t *testing.T, waf *wafv2.Client) *ipSet {
	t.Helper()
	out, err := waf.CreateIPSet(context.Background(), &wafv2.CreateIPSetInput{Name: aws.String("blocked"),
		Scope: waftypes.ScopeRegional, IPAddressVersion: waftypes.IPAddressVersionIpv4, Addresses: []string{}})
	if err != nil {
		t.Fatalf("CreateIPSet: %v", err)
	}
	return &ipSet{waf: waf, id: out.Summary.Id, name: "blocked", scoped: waftypes.ScopeRegional}
}

func (s *ipSet) get(ctx context.Context) (*wafv2.GetIPSetOutput, error) {
	return s.waf.GetIPSet(ctx, &wafv2.GetIPSetInput{Name: &s.name, Id: s.id, Scope: s.scoped})
}

func (s *ipSet) update(ctx context.Context, token string, addrs ...string) error {
	_, err := s.waf.UpdateIPSet(ctx, &wafv2.UpdateIPSetInput{Name: &s.name, Id: s.id, Scope: s.scoped,
		Addresses: append([]string{}, addrs...), LockToken: &token})
	return err
}

// TestFaultsReachTheSDKAsAWSWould injects each fault into calls of every
// protocol the product uses (JSON: WAF, DynamoDB, EventBridge; query: IAM,
// SNS; EC2's query; REST-JSON: Lambda) through the real SDK clients, and checks the
// error the SDK decodes, its HTTP status, and how many attempts the
// standard retryer made (3 at most): throttling and 5xx are retried, a
// stale lock token and access denied are not.
func TestFaultsReachTheSDKAsAWSWould(t *testing.T) {
	p, cfg := setup(t)
	ctx := context.Background()
	iamc, waf, topics := iam.NewFromConfig(cfg), wafv2.NewFromConfig(cfg), sns.NewFromConfig(cfg)
	ddb, events, fns := dynamodb.NewFromConfig(cfg), eventbridge.NewFromConfig(cfg), lambda.NewFromConfig(cfg)
	set := newIPSet(t, waf)

	getIPSet := func() error { _, err := set.get(ctx); return err }
	listIPSets := func() error {
		_, err := waf.ListIPSets(ctx, &wafv2.ListIPSetsInput{Scope: waftypes.ScopeRegional})
		return err
	}
	staleUpdate := func() error { return set.update(ctx, "stale") }
	listUsers := func() error { _, err := iamc.ListUsers(ctx, &iam.ListUsersInput{}); return err }
	listTopics := func() error { _, err := topics.ListTopics(ctx, &sns.ListTopicsInput{}); return err }
	listTables := func() error { _, err := ddb.ListTables(ctx, &dynamodb.ListTablesInput{}); return err }
	listRules := func() error { _, err := events.ListRules(ctx, &eventbridge.ListRulesInput{}); return err }
	listFunctions := func() error { _, err := fns.ListFunctions(ctx, &lambda.ListFunctionsInput{}); return err }
	describeVpcs := func() error { _, err := ec2.NewFromConfig(cfg).DescribeVpcs(ctx, &ec2.DescribeVpcsInput{}); return err }

	tests := []struct {
		name     string
		op       string
		fault    faultproxy.Fault
		times    int
		call     func() error
		wantCode string // "" = the call succeeds after the SDK's retries
		status   int    // the HTTP status of the final error
		calls    int    // attempts that reached the proxy
	}{
		{"json_throttling_retried", opGetIPSet, faultproxy.Throttling, 2, getIPSet, "", 0, 3},
		{"json_throttling_exhausts_retries", opGetIPSet, faultproxy.Throttling, 3, getIPSet, "ThrottlingException", 400, 3},
		{"json_server_error_retried", opListIPSets, faultproxy.ServerError, 2, listIPSets, "", 0, 3},
		{"json_unavailable_exhausts_retries", opListIPSets, faultproxy.Unavailable, 3, listIPSets, "ServiceUnavailable", 503, 3},
		{"stale_lock_not_retried", opUpdateIPSet, faultproxy.StaleLock, 1, staleUpdate, "WAFOptimisticLockException", 400, 1},
		{"query_throttling_retried", "ListUsers", faultproxy.Throttling, 1, listUsers, "", 0, 2},
		{"query_throttling_exhausts_retries", "ListUsers", faultproxy.Throttling, 3, listUsers, "Throttling", 400, 3},
		{"query_server_error_exhausts_retries", "ListUsers", faultproxy.ServerError, 3, listUsers, "InternalFailure", 500, 3},
		{"sns_throttling_code", "ListTopics", faultproxy.Throttling, 3, listTopics, "Throttling", 400, 3},
		{"sns_unavailable_retried", "ListTopics", faultproxy.Unavailable, 2, listTopics, "", 0, 3},
		{"dynamodb_throttling_retried", "DynamoDB_20120810.ListTables", faultproxy.Throttling, 2, listTables, "", 0, 3},
		{"dynamodb_server_error_code", "DynamoDB_20120810.ListTables", faultproxy.ServerError, 3, listTables, "InternalFailure", 500, 3},
		{"events_throttling_retried", "AWSEvents.ListRules", faultproxy.Throttling, 1, listRules, "", 0, 2},
		{"lambda_rest_throttling_code", "GET /2015-03-31/functions", faultproxy.Throttling, 3, listFunctions, "ThrottlingException", 400, 3},
		{"lambda_rest_access_denied_not_retried", "GET /2015-03-31/functions", faultproxy.AccessDenied, 1, listFunctions, "AccessDeniedException", 403, 1},
		{"query_access_denied_not_retried", "ListUsers", faultproxy.AccessDenied, 1, listUsers, "AccessDenied", 403, 1},
		// EC2's own error document and codes.
		{"ec2_access_denied_not_retried", "DescribeVpcs", faultproxy.AccessDenied, 1, describeVpcs, "UnauthorizedOperation", 403, 1},
		{"ec2_throttling_retried", "DescribeVpcs", faultproxy.Throttling, 1, describeVpcs, "", 0, 2},
		{"ec2_throttling_code", "DescribeVpcs", faultproxy.Throttling, 3, describeVpcs, "RequestLimitExceeded", 400, 3},
		{"short_name_matches_target", "ListIPSets", faultproxy.Throttling, 1, listIPSets, "", 0, 2},
		{"full_target_matches", "AWSWAF_20190729.ListIPSets", faultproxy.Throttling, 1, listIPSets, "", 0, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p.Reset()
			p.Inject(tt.op, tt.fault, tt.times)
			err := tt.call()
			if got := p.Count(tt.op); got != tt.calls {
				t.Errorf("%d calls of %s reached the proxy, want %d (all: %v)", got, tt.op, tt.calls, p.Counts())
			}
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("call failed: %v", err)
				}
				return
			}
			var api smithy.APIError
			if !errors.As(err, &api) || api.ErrorCode() != tt.wantCode {
				t.Fatalf("error = %v, want code %s", err, tt.wantCode)
			}
			var resp *awshttp.ResponseError
			if !errors.As(err, &resp) || resp.HTTPStatusCode() != tt.status {
				t.Errorf("error = %v, want HTTP status %d", err, tt.status)
			}
		})
	}

	t.Run("stale_lock_is_typed", func(t *testing.T) {
		p.Reset()
		p.Inject(opUpdateIPSet, faultproxy.StaleLock, 1)
		cur, err := set.get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var lock *waftypes.WAFOptimisticLockException
		if err := set.update(ctx, *cur.LockToken, "192.0.2.1/32"); !errors.As(err, &lock) {
			t.Fatalf("stale lock decodes to %T (%v), want *types.WAFOptimisticLockException", err, err)
		}
		// The injected fault stood in for the call: the set is unchanged.
		if after, err := set.get(ctx); err != nil || len(after.IPSet.Addresses) != 0 || *after.LockToken != *cur.LockToken {
			t.Errorf("after an injected stale lock: %+v, %v; want the set untouched", after, err)
		}
	})
}

// TestLostReplyRepeatsAppliedCalls shows what a lost reply does: the call
// takes effect, the SDK sees a connection error and retries, and the retry
// meets the first attempt's effect.
func TestLostReplyRepeatsAppliedCalls(t *testing.T) {
	p, cfg := setup(t)
	ctx := context.Background()
	iamc, waf := iam.NewFromConfig(cfg), wafv2.NewFromConfig(cfg)

	t.Run("iam_create_user", func(t *testing.T) {
		p.Inject("CreateUser", faultproxy.LostReply, 1)
		_, err := iamc.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("twice")})
		var exists *iamtypes.EntityAlreadyExistsException
		if !errors.As(err, &exists) {
			t.Fatalf("CreateUser after a lost reply: %v, want EntityAlreadyExists from the retry", err)
		}
		if got := p.Count("CreateUser"); got != 2 {
			t.Errorf("%d CreateUser calls, want 2", got)
		}
	})

	t.Run("waf_update_ip_set", func(t *testing.T) {
		set := newIPSet(t, waf)
		cur, err := set.get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		p.Inject(opUpdateIPSet, faultproxy.LostReply, 1)
		err = set.update(ctx, *cur.LockToken, "198.51.100.7/32")
		var lock *waftypes.WAFOptimisticLockException
		if !errors.As(err, &lock) {
			t.Fatalf("UpdateIPSet after a lost reply: %v, want WAFOptimisticLockException from the retry (moto enforces lock tokens)", err)
		}
		after, err := set.get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(after.IPSet.Addresses) != 1 || after.IPSet.Addresses[0] != "198.51.100.7/32" {
			t.Errorf("addresses %v: the first attempt should have applied", after.IPSet.Addresses)
		}
	})
}

// TestDelay checks that a delayed call is forwarded after its delay, and
// that one whose client gives up first never reaches the server.
func TestDelay(t *testing.T) {
	p, cfg := setup(t)
	ctx := context.Background()
	iamc := iam.NewFromConfig(cfg)

	p.InjectDelay("CreateUser", 100*time.Millisecond, 1)
	start := time.Now()
	if _, err := iamc.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("late")}); err != nil {
		t.Fatalf("a delayed call within the deadline failed: %v", err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("delayed call took %v, want at least 100ms", d)
	}

	p.InjectDelay("CreateUser", 400*time.Millisecond, 1)
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := iamc.CreateUser(short, &iam.CreateUserInput{UserName: aws.String("never")}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a call delayed past its deadline: %v, want context.DeadlineExceeded", err)
	}
	time.Sleep(500 * time.Millisecond) // past the delay: a forwarded call would have landed
	var missing *iamtypes.NoSuchEntityException
	if _, err := iamc.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("never")}); !errors.As(err, &missing) {
		t.Errorf("GetUser of the abandoned call's user: %v, want NoSuchEntity", err)
	}
	if got := p.Count("CreateUser"); got != 2 {
		t.Errorf("%d CreateUser calls, want 2", got)
	}
}

// TestLimit enforces WAF's quota of one UpdateIPSet per second: a second
// update within the second is throttled, one after it goes through.
func TestLimit(t *testing.T) {
	p, cfg := setup(t)
	cfg.RetryMaxAttempts = 1
	ctx := context.Background()
	set := newIPSet(t, wafv2.NewFromConfig(cfg))
	p.Limit("UpdateIPSet", 1)
	update := func(addr string) error {
		cur, err := set.get(ctx)
		if err != nil {
			return err
		}
		return set.update(ctx, *cur.LockToken, addr)
	}
	if err := update("192.0.2.1/32"); err != nil {
		t.Fatalf("first update: %v", err)
	}
	var api smithy.APIError
	err := update("192.0.2.2/32")
	if !errors.As(err, &api) || api.ErrorCode() != "ThrottlingException" {
		t.Fatalf("second update within the second: %v, want ThrottlingException", err)
	}
	// As WAF's: unmodeled (not WAFLimitsExceededException), and a throttle to the SDK.
	var limits *waftypes.WAFLimitsExceededException
	if errors.As(err, &limits) || retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) != aws.TrueTernary {
		t.Errorf("second update within the second: %T %v, want an unmodeled throttle", err, err)
	}
	time.Sleep(time.Second)
	if err := update("192.0.2.3/32"); err != nil {
		t.Fatalf("update a second later: %v", err)
	}
	if got := p.Count(opUpdateIPSet); got != 3 {
		t.Errorf("%d UpdateIPSet calls, want 3", got)
	}
	p.Limit("UpdateIPSet", 0)
	if err := update("192.0.2.4/32"); err != nil {
		t.Fatalf("update after the quota was removed: %v", err)
	}
}

// TestConcurrentCallsAreCounted makes calls from many goroutines while
// faults are being injected: every call is counted once, every fault used
// once (run with -race).
func TestConcurrentCallsAreCounted(t *testing.T) {
	p, cfg := setup(t)
	const workers, each, faults = 8, 5, 10
	// One call may draw every fault (the SDK's default of 3 attempts let a
	// call meet three in a row and fail, a flake seen in CI): with faults+1
	// attempts each call succeeds however the faults fall.
	iamc := iam.NewFromConfig(cfg, func(o *iam.Options) {
		o.Retryer = retry.AddWithMaxAttempts(o.Retryer, faults+1)
	})
	p.Inject("ListUsers", faultproxy.Throttling, faults)
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for range workers {
		wg.Go(func() {
			for range each {
				_, err := iamc.ListUsers(context.Background(), &iam.ListUsersInput{})
				errs <- err
				p.Counts() // reads race with writes if unguarded
			}
		})
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if err != nil {
			failed++
		}
	}
	// Each fault costs exactly one retry.
	if got, want := p.Count("ListUsers"), workers*each+faults; got != want || failed != 0 {
		t.Errorf("%d calls, %d failed; want %d calls, none failed", got, failed, want)
	}
}

// TestSDKRetryQuotaRunsOut records a property of the SDK that burst tests
// meet: each client's standard retryer draws retries from a bucket of 500
// tokens (5 per throttling retry, 14 per other retry), and once it is
// empty a call fails at once with ratelimit.QuotaExceededError, however
// many attempts are allowed. ratelimit.None turns the bucket off.
func TestSDKRetryQuotaRunsOut(t *testing.T) {
	p, cfg := setup(t)
	tests := []struct {
		name    string
		fault   faultproxy.Fault
		limiter retry.RateLimiter
		want    int // calls before the quota runs out (0: it does not)
	}{
		{"throttling", faultproxy.Throttling, nil, 101},
		{"server_error", faultproxy.ServerError, nil, 36},
		{"no_bucket", faultproxy.Throttling, ratelimit.None, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p.Reset()
			p.Inject("ListUsers", tt.fault, 150)
			c := iam.NewFromConfig(cfg, func(o *iam.Options) {
				o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
					so.MaxAttempts, so.MaxBackoff = 1000, time.Microsecond
					if tt.limiter != nil {
						so.RateLimiter = tt.limiter
					}
				})
				o.RetryMaxAttempts = 0
			})
			_, err := c.ListUsers(context.Background(), &iam.ListUsersInput{})
			var quota ratelimit.QuotaExceededError
			if tt.want == 0 {
				if err != nil || p.Count("ListUsers") != 151 {
					t.Fatalf("without a bucket: %v after %d calls, want success after 151", err, p.Count("ListUsers"))
				}
				return
			}
			if !errors.As(err, &quota) {
				t.Fatalf("after %d calls: %v, want ratelimit.QuotaExceededError", p.Count("ListUsers"), err)
			}
			if got := p.Count("ListUsers"); got != tt.want {
				t.Errorf("quota ran out after %d calls, want %d", got, tt.want)
			}
		})
	}
}

// TestForwardsUnchanged checks that calls without faults pass through
// intact, bodies included (the query protocol's body is read to name the
// call, then restored: a signed body that changed would be refused).
func TestForwardsUnchanged(t *testing.T) {
	p, cfg := setup(t)
	ctx := context.Background()
	iamc := iam.NewFromConfig(cfg)
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}`
	if _, err := iamc.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("u")}); err != nil {
		t.Fatal(err)
	}
	if _, err := iamc.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("u"), PolicyName: aws.String("deny"), PolicyDocument: &doc}); err != nil {
		t.Fatal(err)
	}
	out, err := iamc.GetUserPolicy(ctx, &iam.GetUserPolicyInput{UserName: aws.String("u"), PolicyName: aws.String("deny")})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(*out.PolicyDocument, "Deny") {
		t.Errorf("policy document %q lost its content", *out.PolicyDocument)
	}
	want := map[string]int{"CreateUser": 1, "PutUserPolicy": 1, "GetUserPolicy": 1}
	if got := p.Counts(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("counts %v, want %v", got, want)
	}
	// Plain HTTP requests are named by method and path.
	resp, err := http.Get(p.URL() + "/moto-api/data.json")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || p.Count("GET /moto-api/data.json") != 1 {
		t.Errorf("GET through the proxy: %s, counted %d", resp.Status, p.Count("GET /moto-api/data.json"))
	}
}

func TestNewRejectsANonURL(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New accepted a target that is not a URL")
		}
	}()
	faultproxy.New("127.0.0.1:5000")
}

// TestSNSMessageSizeInBytes: SNS refuses a message over 262,144 bytes.
// moto counts characters, so it takes 140,000 two-byte characters (280,000
// bytes); the proxy refuses them as SNS does, and lets 262,144 bytes through.
func TestSNSMessageSizeInBytes(t *testing.T) {
	emu := testenv.Moto(t)
	p := faultproxy.New(emu.URL)
	t.Cleanup(p.Close)
	ctx := context.Background()
	direct, proxied := sns.NewFromConfig(emu.Config(t)), sns.NewFromConfig(testenv.ConfigAt(t, p.URL()))
	topic, err := direct.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("size")})
	if err != nil {
		t.Fatal(err)
	}
	publish := func(c *sns.Client, msg string) error {
		_, err := c.Publish(ctx, &sns.PublishInput{TopicArn: topic.TopicArn, Message: aws.String(msg)})
		return err
	}
	wide := strings.Repeat("é", 140000)
	if err := publish(direct, wide); err != nil {
		t.Errorf("moto refused 140,000 characters (280,000 bytes): %v; if moto now counts bytes, update docs/moto-notes.md", err)
	}
	var api smithy.APIError
	if err := publish(proxied, wide); !errors.As(err, &api) || api.ErrorCode() != "InvalidParameter" || !strings.Contains(api.ErrorMessage(), "Message too long") {
		t.Errorf("proxy: 280,000 bytes: %v, want InvalidParameter: Message too long", err)
	}
	if err := publish(proxied, strings.Repeat("a", faultproxy.MaxSNSMessage)); err != nil {
		t.Errorf("proxy: exactly 262,144 bytes: %v", err)
	}
	if err := publish(direct, strings.Repeat("a", faultproxy.MaxSNSMessage+1)); !errors.As(err, &api) || api.ErrorCode() != "InvalidParameter" {
		t.Errorf("moto: 262,145 ASCII characters: %v, want InvalidParameter", err)
	}
	if got := p.Count("Publish"); got != 2 {
		t.Errorf("Publish counted %d times, want 2", got)
	}
}

// TestLimitPerCallerAndRegion: WAF's quota is per account and Region, so
// the proxy keeps one window per caller (the signature's access key) and
// Region: within one second, another Region's update and another caller's
// go through, the same caller's second update in the same Region does not.
func TestLimitPerCallerAndRegion(t *testing.T) {
	p, cfg := setup(t)
	cfg.RetryMaxAttempts = 1
	ctx := context.Background()
	west := cfg.Copy()
	west.Region = "us-west-2"
	other := cfg.Copy()
	other.Credentials = credentials.NewStaticCredentialsProvider("AKIAOTHERCALLER00001", "secret", "")
	sets := []*ipSet{newIPSet(t, wafv2.NewFromConfig(cfg)), newIPSet(t, wafv2.NewFromConfig(west)), newIPSet(t, wafv2.NewFromConfig(other))}
	p.Limit("UpdateIPSet", 1)
	update := func(set *ipSet, addr string) error {
		cur, err := set.get(ctx)
		if err != nil {
			return err
		}
		return set.update(ctx, *cur.LockToken, addr)
	}
	for i, set := range sets {
		if err := update(set, fmt.Sprintf("192.0.2.%d/32", i+1)); err != nil {
			t.Errorf("first update of caller and Region %d: %v", i, err)
		}
	}
	var api smithy.APIError
	if err := update(sets[0], "192.0.2.9/32"); !errors.As(err, &api) || api.ErrorCode() != "ThrottlingException" {
		t.Errorf("the same caller's second update in the same Region within the second: %v, want ThrottlingException", err)
	}
}

// TestLogKeepsTheOrderOfQueryCalls: the log has each query-protocol call,
// faults included, in the order made, with its form fields; a JSON call is
// not in it.
func TestLogKeepsTheOrderOfQueryCalls(t *testing.T) {
	p, cfg := setup(t)
	ctx := context.Background()
	c := iam.NewFromConfig(cfg)
	p.Inject("GetUser", faultproxy.AccessDenied, 1)
	for _, name := range []string{"first", "second"} {
		if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(name)}); err != nil {
			t.Fatal(err)
		}
	}
	_, _ = c.GetUser(ctx, &iam.GetUserInput{UserName: aws.String("first")})
	if _, err := dynamodb.NewFromConfig(cfg).ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, call := range p.Log() {
		got = append(got, call.Op+" "+call.Form.Get("UserName"))
	}
	if want := []string{"CreateUser first", "CreateUser second", "GetUser first"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("log %q, want %q", got, want)
	}
	p.Reset()
	if len(p.Log()) != 0 {
		t.Errorf("Reset left %d calls in the log", len(p.Log()))
	}
}
