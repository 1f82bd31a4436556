package faultproxy_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	waftypes "github.com/aws/aws-sdk-go-v2/service/wafv2/types"
	"github.com/aws/smithy-go"

	"github.com/autocontain/autocontain/internal/testenv"
	"github.com/autocontain/autocontain/internal/testenv/faultproxy"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestFaultsReachTheSDKAsAWSWould checks each injected fault through the
// real SDK clients: the typed error it decodes to, and whether the SDK's
// standard retryer (3 attempts) retries it.
func TestFaultsReachTheSDKAsAWSWould(t *testing.T) {
	emu := testenv.Moto(t)
	p := faultproxy.New(emu.URL)
	t.Cleanup(p.Close)
	cfg := testenv.ConfigAt(t, p.URL())
	ctx := context.Background()
	iamc, waf := iam.NewFromConfig(cfg), wafv2.NewFromConfig(cfg)
	set, err := waf.CreateIPSet(ctx, &wafv2.CreateIPSetInput{Name: aws.String("s"), Scope: waftypes.ScopeRegional,
		IPAddressVersion: waftypes.IPAddressVersionIpv4, Addresses: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	get := func() error {
		_, err := waf.GetIPSet(ctx, &wafv2.GetIPSetInput{Name: aws.String("s"), Id: set.Summary.Id, Scope: waftypes.ScopeRegional})
		return err
	}
	update := func() error {
		_, err := waf.UpdateIPSet(ctx, &wafv2.UpdateIPSetInput{Name: aws.String("s"), Id: set.Summary.Id, Scope: waftypes.ScopeRegional,
			Addresses: []string{}, LockToken: aws.String("00000000-0000-0000-0000-000000000000")})
		return err
	}
	listUsers := func() error { _, err := iamc.ListUsers(ctx, &iam.ListUsersInput{}); return err }
	tests := []struct {
		name     string
		op       string
		fault    faultproxy.Fault
		times    int
		call     func() error
		wantCode string // "" = the call succeeds after the SDK's retries
		calls    int
	}{
		{"json_throttling_retried", "AWSWAF_20190729.GetIPSet", faultproxy.Throttling, 2, get, "", 3},
		{"json_throttling_exhausts_retries", "AWSWAF_20190729.GetIPSet", faultproxy.Throttling, 3, get, "ThrottlingException", 3},
		{"query_throttling_retried", "ListUsers", faultproxy.Throttling, 1, listUsers, "", 2},
		{"query_throttling_code", "ListUsers", faultproxy.Throttling, 3, listUsers, "Throttling", 3},
		{"server_error_retried", "ListUsers", faultproxy.ServerError, 2, listUsers, "", 3},
		{"unavailable_retried", "AWSWAF_20190729.GetIPSet", faultproxy.Unavailable, 1, get, "", 2},
		{"stale_lock_not_retried", "AWSWAF_20190729.UpdateIPSet", faultproxy.StaleLock, 1, update, "WAFOptimisticLockException", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p.Reset()
			p.Inject(tt.op, tt.fault, tt.times)
			err := tt.call()
			if got := p.Count(tt.op); got != tt.calls {
				t.Errorf("%d calls, want %d", got, tt.calls)
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
		})
	}
	var lock *waftypes.WAFOptimisticLockException
	p.Reset()
	p.Inject("AWSWAF_20190729.UpdateIPSet", faultproxy.StaleLock, 1)
	if err := update(); !errors.As(err, &lock) {
		t.Errorf("stale lock decodes to %T, want *types.WAFOptimisticLockException", err)
	}
}

func TestLimitAndDelay(t *testing.T) {
	emu := testenv.Moto(t)
	p := faultproxy.New(emu.URL)
	t.Cleanup(p.Close)
	cfg := testenv.ConfigAt(t, p.URL())
	cfg.RetryMaxAttempts = 1
	iamc := iam.NewFromConfig(cfg)
	ctx := context.Background()
	p.Limit("ListUsers", 2)
	var throttled int
	for range 5 {
		if _, err := iamc.ListUsers(ctx, &iam.ListUsersInput{}); err != nil {
			throttled++
		}
	}
	if throttled < 3 {
		t.Errorf("%d of 5 calls throttled under a quota of 2/s, want at least 3", throttled)
	}
	p.Reset()
	p.SetDelay(300 * time.Millisecond)
	p.Inject("ListUsers", faultproxy.Delay, 1)
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := iamc.ListUsers(short, &iam.ListUsersInput{}); err == nil {
		t.Error("a delayed call beat a shorter deadline")
	}
}
