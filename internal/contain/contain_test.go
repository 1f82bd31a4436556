package contain_test

import (
	"context"
	"encoding/json"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	waftypes "github.com/aws/aws-sdk-go-v2/service/wafv2/types"

	"github.com/autocontain/autocontain/internal/audit"
	"github.com/autocontain/autocontain/internal/contain"
	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/ipset"
	"github.com/autocontain/autocontain/internal/plan"
	"github.com/autocontain/autocontain/internal/playbook"
	"github.com/autocontain/autocontain/internal/testenv"
	"github.com/autocontain/autocontain/internal/testenv/faultproxy"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var fixedNow = time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)

func clock() time.Time { return fixedNow }

// run executes the given steps as one plan with the real clients in cfg.
func run(t *testing.T, cfg aws.Config, steps ...plan.Step) audit.Record {
	t.Helper()
	ex := contain.NewExecutor(clock, contain.Registry(contain.NewClients(cfg), nil)...)
	return ex.Execute(context.Background(), plan.Plan{Finding: finding.Finding{ID: "f1"}, Steps: steps})
}

// newIAM returns the emulator's configuration and an IAM client, with the
// named users (without keys) created.
func newIAM(t *testing.T, users ...string) (aws.Config, *iam.Client) {
	t.Helper()
	cfg := testenv.Moto(t).Config(t)
	c := iam.NewFromConfig(cfg)
	for _, u := range users {
		mustUser(t, c, u, 0)
	}
	return cfg, c
}

// mustRole creates a role that EC2 may assume, at path.
func mustRole(t *testing.T, c *iam.Client, name, path string) {
	t.Helper()
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
	if _, err := c.CreateRole(context.Background(), &iam.CreateRoleInput{RoleName: aws.String(name), Path: aws.String(path), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
		t.Fatal(err)
	}
}

func mustUser(t *testing.T, c *iam.Client, name string, keys int) []string {
	t.Helper()
	ctx := context.Background()
	if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range keys {
		out, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, aws.ToString(out.AccessKey.AccessKeyId))
	}
	return ids
}

func keyStatuses(t *testing.T, c *iam.Client, user string) map[string]iamtypes.StatusType {
	t.Helper()
	out, err := c.ListAccessKeys(context.Background(), &iam.ListAccessKeysInput{UserName: aws.String(user)})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]iamtypes.StatusType{}
	for _, k := range out.AccessKeyMetadata {
		m[aws.ToString(k.AccessKeyId)] = k.Status
	}
	return m
}

func keyStep(user, key string) plan.Step {
	return plan.Step{Action: playbook.ActionDeactivateKey, Target: plan.Target{Kind: plan.TargetAccessKey, UserName: user, AccessKeyID: key}, Reason: "test"}
}

func TestDeactivateKey(t *testing.T) {
	emu := testenv.Moto(t)
	cfg := emu.Config(t)
	c := iam.NewFromConfig(cfg)
	alice := mustUser(t, c, "alice", 2)
	bob := mustUser(t, c, "bob", 1)

	rec := run(t, cfg, keyStep("alice", alice[0]))
	if rec.Steps[0].Status != audit.StatusDone || rec.Outcome != audit.OutcomeContained {
		t.Fatalf("first run: %+v", rec)
	}
	got := keyStatuses(t, c, "alice")
	if got[alice[0]] != iamtypes.StatusTypeInactive || got[alice[1]] != iamtypes.StatusTypeActive {
		t.Errorf("alice's keys = %v, want only %s Inactive", got, alice[0])
	}
	if !strings.Contains(rec.Steps[0].Detail, "Active -> Inactive") {
		t.Errorf("detail %q", rec.Steps[0].Detail)
	}

	// Idempotent: a second delivery finds it Inactive and changes nothing.
	rec = run(t, cfg, keyStep("alice", alice[0]))
	if rec.Steps[0].Status != audit.StatusUnchanged || rec.Outcome != audit.OutcomeNoChange {
		t.Errorf("second run: status %s outcome %s", rec.Steps[0].Status, rec.Outcome)
	}

	tests := []struct {
		name, user, key, wantErr string
	}{
		{"unknown_user", "mallory", alice[1], "user mallory does not exist"},
		{"key_of_another_user", "alice", bob[0], "user alice has no such access key"},
		{"unknown_key", "bob", "AKIAIOSFODNN7EXAMPLE", "user bob has no such access key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := run(t, cfg, keyStep(tt.user, tt.key))
			if rec.Steps[0].Status != audit.StatusFailed || !strings.Contains(rec.Steps[0].Error, tt.wantErr) {
				t.Errorf("step = %+v, want failure containing %q", rec.Steps[0], tt.wantErr)
			}
			if rec.Err() == nil {
				t.Error("record reports no error")
			}
		})
	}
	// Nothing else changed.
	if got := keyStatuses(t, c, "bob"); got[bob[0]] != iamtypes.StatusTypeActive {
		t.Errorf("bob's key = %v, want Active", got)
	}
	if got := keyStatuses(t, c, "alice"); got[alice[1]] != iamtypes.StatusTypeActive {
		t.Errorf("alice's second key = %v, want Active", got)
	}
}

// policyDoc decodes a policy document as IAM returns it (URL-encoded).
func policyDoc(t *testing.T, s *string) map[string]any {
	t.Helper()
	text, err := url.QueryUnescape(aws.ToString(s))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(text), &m); err != nil {
		t.Fatalf("policy %q: %v", text, err)
	}
	return m
}

func TestRevokeSessions(t *testing.T) {
	cfg, c := newIAM(t, "bob")
	ctx := context.Background()
	mustRole(t, c, "web-app-role", "/app/")
	want := map[string]any{}
	if err := json.Unmarshal([]byte(contain.RevokePolicy(fixedNow)), &want); err != nil {
		t.Fatal(err)
	}
	cond := want["Statement"].([]any)[0].(map[string]any)["Condition"].(map[string]any)["DateLessThan"].(map[string]any)
	if cond["aws:TokenIssueTime"] != "2026-11-24T03:00:00Z" {
		t.Fatalf("policy cutoff %v", cond)
	}

	role := plan.Step{Action: playbook.ActionRevokeSessions, Target: plan.Target{Kind: plan.TargetRole, RoleName: "web-app-role"}, Reason: "test"}
	user := plan.Step{Action: playbook.ActionRevokeSessions, Target: plan.Target{Kind: plan.TargetUser, UserName: "bob"}, Reason: "test"}
	rec := run(t, cfg, role, user)
	for i, s := range rec.Steps {
		if s.Status != audit.StatusDone {
			t.Fatalf("step %d: %+v", i, s)
		}
	}
	rp, err := c.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String("web-app-role"), PolicyName: aws.String(contain.RevokePolicyName)})
	if err != nil {
		t.Fatal(err)
	}
	if got := policyDoc(t, rp.PolicyDocument); !jsonEqual(got, want) {
		t.Errorf("role policy = %v, want %v", got, want)
	}
	up, err := c.GetUserPolicy(ctx, &iam.GetUserPolicyInput{UserName: aws.String("bob"), PolicyName: aws.String(contain.RevokePolicyName)})
	if err != nil {
		t.Fatal(err)
	}
	if got := policyDoc(t, up.PolicyDocument); !jsonEqual(got, want) {
		t.Errorf("user policy = %v, want %v", got, want)
	}

	// Re-running later moves the cutoff forward.
	later := fixedNow.Add(time.Hour)
	ex := contain.NewExecutor(func() time.Time { return later }, contain.Registry(contain.NewClients(cfg), nil)...)
	ex.Execute(ctx, plan.Plan{Steps: []plan.Step{role}})
	rp, err = c.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String("web-app-role"), PolicyName: aws.String(contain.RevokePolicyName)})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(mustUnescape(t, rp.PolicyDocument), "2026-11-24T04:00:00Z") {
		t.Errorf("cutoff not refreshed: %s", mustUnescape(t, rp.PolicyDocument))
	}

	missing := plan.Step{Action: playbook.ActionRevokeSessions, Target: plan.Target{Kind: plan.TargetRole, RoleName: "no-such-role"}, Reason: "test"}
	rec = run(t, cfg, missing)
	if rec.Steps[0].Status != audit.StatusFailed || !strings.Contains(rec.Steps[0].Error, "role no-such-role: it does not exist") {
		t.Errorf("missing role: %+v", rec.Steps[0])
	}
}

func mustUnescape(t *testing.T, s *string) string {
	t.Helper()
	out, err := url.QueryUnescape(aws.ToString(s))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// mustIPSet creates an IP set and returns its ARN.
func mustIPSet(t *testing.T, c *wafv2.Client, name string, v waftypes.IPAddressVersion, addrs ...string) string {
	t.Helper()
	out, err := c.CreateIPSet(context.Background(), &wafv2.CreateIPSetInput{
		Name: aws.String(name), Scope: waftypes.ScopeRegional, IPAddressVersion: v,
		Addresses: append([]string{}, addrs...), Description: aws.String("keep me"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.Summary.ARN)
}

func ipSet(t *testing.T, c *wafv2.Client, arn string) *waftypes.IPSet {
	t.Helper()
	ref, err := ipset.Parse(arn)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.GetIPSet(context.Background(), &wafv2.GetIPSetInput{Name: aws.String(ref.Name), Id: aws.String(ref.ID), Scope: waftypes.Scope(ref.Scope)})
	if err != nil {
		t.Fatal(err)
	}
	return out.IPSet
}

func blockStep(arn string, addrs ...string) plan.Step {
	s := plan.Step{Action: playbook.ActionBlockIP, Target: plan.Target{Kind: plan.TargetIPSet, ARN: arn}, Reason: "test"}
	for _, a := range addrs {
		s.Target.Addresses = append(s.Target.Addresses, netip.MustParsePrefix(a))
	}
	return s
}

func TestBlockIP(t *testing.T) {
	emu := testenv.Moto(t)
	cfg := emu.Config(t)
	c := wafv2.NewFromConfig(cfg)
	v4 := mustIPSet(t, c, "blocklist-v4", waftypes.IPAddressVersionIpv4, "80.82.77.139/32")
	v6 := mustIPSet(t, c, "blocklist-v6", waftypes.IPAddressVersionIpv6)

	rec := run(t, cfg,
		blockStep(v4, "185.220.101.42/32", "45.155.205.233/32", "80.82.77.139/32"),
		blockStep(v6, "2a0b:f4c2:2::1/128"))
	for i, s := range rec.Steps {
		if s.Status != audit.StatusDone {
			t.Fatalf("step %d: %+v", i, s)
		}
	}
	set4 := ipSet(t, c, v4)
	if got, want := slices.Sorted(slices.Values(set4.Addresses)), []string{"185.220.101.42/32", "45.155.205.233/32", "80.82.77.139/32"}; !slices.Equal(got, want) {
		t.Errorf("IPv4 set = %v, want %v", got, want)
	}
	if aws.ToString(set4.Description) != "keep me" {
		t.Errorf("description = %q: UpdateIPSet must send it back", aws.ToString(set4.Description))
	}
	if got := ipSet(t, c, v6).Addresses; !slices.Equal(got, []string{"2a0b:f4c2:2::1/128"}) {
		t.Errorf("IPv6 set = %v", got)
	}

	// Idempotent: the same addresses again change nothing, however spelt.
	rec = run(t, cfg, blockStep(v4, "45.155.205.233/32"), blockStep(v6, "2a0b:f4c2:2:0:0:0:0:1/128"))
	for i, s := range rec.Steps {
		if s.Status != audit.StatusUnchanged {
			t.Errorf("repeat step %d: %+v", i, s)
		}
	}
	if n := len(ipSet(t, c, v4).Addresses); n != 3 {
		t.Errorf("IPv4 set has %d addresses after a repeat, want 3", n)
	}

	missing := strings.Replace(v4, "blocklist-v4", "no-such-set", 1)
	tests := []struct {
		name    string
		step    plan.Step
		wantErr string
	}{
		{"set_missing", blockStep(missing, "185.220.101.43/32"), "does not exist"},
		{"wrong_family", blockStep(v6, "185.220.101.43/32"), "holds IPV6 addresses"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := run(t, cfg, tt.step)
			if rec.Steps[0].Status != audit.StatusFailed || !strings.Contains(rec.Steps[0].Error, tt.wantErr) {
				t.Errorf("step = %+v, want failure containing %q", rec.Steps[0], tt.wantErr)
			}
		})
	}
	if n := len(ipSet(t, c, v6).Addresses); n != 1 {
		t.Errorf("IPv6 set changed by a failed step: %d addresses", n)
	}
}

// TestBlockIPRetriesStaleLockToken injects WAFOptimisticLockException into
// UpdateIPSet, as real WAF answers when another writer changed the set
// since GetIPSet, and checks that block-ip reads again and succeeds.
func TestBlockIPRetriesStaleLockToken(t *testing.T) {
	emu := testenv.Moto(t)
	direct := emu.Config(t)
	c := wafv2.NewFromConfig(direct)
	v4 := mustIPSet(t, c, "blocklist-v4", waftypes.IPAddressVersionIpv4)

	proxy := faultproxy.New(emu.URL)
	t.Cleanup(proxy.Close)
	cfg := testenv.ConfigAt(t, proxy.URL())
	const update = "UpdateIPSet"
	proxy.Inject(update, faultproxy.StaleLock, 2)

	var slept []time.Duration
	clients := contain.NewClients(cfg)
	clients.Sleep = func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil }
	ex := contain.NewExecutor(clock, contain.Registry(clients, nil)...)
	rec := ex.Execute(context.Background(), plan.Plan{Steps: []plan.Step{blockStep(v4, "185.220.101.42/32")}})
	if rec.Steps[0].Status != audit.StatusDone {
		t.Fatalf("step: %+v", rec.Steps[0])
	}
	if got := proxy.Count(update); got != 3 {
		t.Errorf("UpdateIPSet calls = %d, want 3 (two conflicts, then success)", got)
	}
	if got := proxy.Count("GetIPSet"); got != 3 {
		t.Errorf("GetIPSet calls = %d, want 3: every retry must read a fresh lock token", got)
	}
	if len(slept) != 2 {
		t.Errorf("slept %d times, want 2 (jittered backoff between attempts)", len(slept))
	}
	if got := ipSet(t, c, v4).Addresses; !slices.Equal(got, []string{"185.220.101.42/32"}) {
		t.Errorf("set = %v", got)
	}

	// A writer that never stops conflicting exhausts a bounded budget (blockAttempts).
	proxy.Inject(update, faultproxy.StaleLock, 100)
	rec = ex.Execute(context.Background(), plan.Plan{Steps: []plan.Step{blockStep(v4, "45.155.205.233/32")}})
	if rec.Steps[0].Status != audit.StatusFailed || !strings.Contains(rec.Steps[0].Error, "after 40 attempts") {
		t.Errorf("step: %+v", rec.Steps[0])
	}
}

func TestDryRunMakesNoCall(t *testing.T) {
	emu := testenv.Moto(t)
	proxy := faultproxy.New(emu.URL)
	t.Cleanup(proxy.Close)
	cfg := testenv.ConfigAt(t, proxy.URL())
	ex := contain.NewExecutor(clock, contain.Registry(contain.NewClients(cfg), nil)...)
	rec := ex.Execute(context.Background(), plan.Plan{DryRun: true, Steps: []plan.Step{
		keyStep("alice", "AKIAIOSFODNN7EXAMPLE"),
		{Action: playbook.ActionRevokeSessions, Target: plan.Target{Kind: plan.TargetUser, UserName: "alice"}, Reason: "test"},
		blockStep("arn:aws:wafv2:us-east-1:123456789012:regional/ipset/x/1", "185.220.101.42/32"),
		{Action: playbook.ActionNotify, Target: plan.Target{Kind: plan.TargetTopic, ARN: "arn:aws:sns:us-east-1:123456789012:t"}, Reason: "test"},
	}})
	if rec.Outcome != audit.OutcomeDryRun {
		t.Errorf("outcome %s", rec.Outcome)
	}
	for _, s := range rec.Steps {
		if s.Status != audit.StatusPlanned {
			t.Errorf("step %s status %s", s.Action, s.Status)
		}
	}
	if n := len(proxy.Counts()); n != 0 {
		t.Errorf("dry run made AWS calls: %v", proxy.Counts())
	}
}

func TestFailedStepDoesNotStopTheOthers(t *testing.T) {
	emu := testenv.Moto(t)
	cfg := emu.Config(t)
	c := iam.NewFromConfig(cfg)
	keys := mustUser(t, c, "alice", 1)
	rec := run(t, cfg,
		plan.Step{Action: playbook.ActionRevokeSessions, Target: plan.Target{Kind: plan.TargetRole, RoleName: "gone"}, Reason: "test"},
		keyStep("alice", keys[0]))
	if rec.Steps[0].Status != audit.StatusFailed || rec.Steps[1].Status != audit.StatusDone || rec.Outcome != audit.OutcomeFailed {
		t.Fatalf("record: %+v", rec)
	}
	if keyStatuses(t, c, "alice")[keys[0]] != iamtypes.StatusTypeInactive {
		t.Error("the key after the failed step was not deactivated")
	}
}
