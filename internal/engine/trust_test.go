package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	waftypes "github.com/aws/aws-sdk-go-v2/service/wafv2/types"

	"github.com/autocontain/autocontain/internal/audit"
	"github.com/autocontain/autocontain/internal/contain"
	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/ipset"
	"github.com/autocontain/autocontain/internal/ledger"
	"github.com/autocontain/autocontain/internal/playbook"
	"github.com/autocontain/autocontain/internal/testenv/faultproxy"
)

// The trust tests: undo restores only what nobody else still holds, the
// ledger stays exact under lost replies and large findings, and a
// duplicate delivery is retried without looking like a failure.

const (
	akiaEvent = "guardduty-maliciousipcaller-custom-akia.json"
	roleEvent = "guardduty-instance-credential-exfiltration-outsideaws.json"
	akiaID    = `"id": "df1db1afefc8cb0e1936524a9ad401f8"`
	roleID    = `"id": "ec964d3d4496eba592913bcbacbb07b7"`
)

// withID returns the replacement that gives a sample event another finding id.
func withID(idLine, id string) []string {
	return []string{idLine, `"id": "` + id + `"`}
}

func (fx *fixture) run(t *testing.T, eng *Engine, raw []byte) audit.Record {
	t.Helper()
	rec, err := eng.Run(context.Background(), raw)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, rec.Text())
	}
	return rec
}

// keyStatus is the status of the user's key that the sample events name
// (sandbox.Account.Rewrite puts the user's first key in them).
func (fx *fixture) keyStatus(t *testing.T, user string) string {
	t.Helper()
	keys := fx.acct.Keys[user]
	if len(keys) == 0 {
		t.Fatalf("user %s has no key", user)
	}
	s, ok := fx.state(t).KeyStatus[user][keys[0]]
	if !ok {
		t.Fatalf("user %s's key %s is gone", user, keys[0])
	}
	return s
}

// TestUndoReleasesOnlyItsOwnHold: findings A and B both contain alice's key
// and her sessions. Undo of A leaves both in place, because B still holds
// them, even though B changed nothing on the key itself; undo of B restores
// them.
func TestUndoReleasesOnlyItsOwnHold(t *testing.T) {
	fx := newFixture(t)
	eng := fx.engine(nil)
	ctx := context.Background()
	a := fx.acct.Rewrite(event(t, akiaEvent, withID(akiaID, "finding-a")...))
	b := fx.acct.Rewrite(event(t, akiaEvent, withID(akiaID, "finding-b")...))
	if rec := fx.run(t, eng, a); rec.Outcome != audit.OutcomeContained {
		t.Fatalf("A: %s", rec.Text())
	}
	fx.run(t, eng, b)
	if _, err := eng.Undo(ctx, "finding-a"); err != nil {
		t.Fatalf("undo A: %v", err)
	}
	if got := fx.keyStatus(t, "alice"); got != "Inactive" {
		t.Errorf("after undo of A the key is %s: B still holds it", got)
	}
	if pols := fx.state(t).UserPolicies["alice"]; !slices.Contains(pols, contain.RevokePolicyName) {
		t.Errorf("after undo of A alice's deny is gone (%v): B still holds it", pols)
	}
	// B's re-delivery is already handled: the key must still be contained.
	if rec := fx.run(t, eng, b); rec.Outcome == audit.OutcomeContained {
		t.Errorf("B's redelivery acted again: %s", rec.Text())
	}
	rep, err := eng.Undo(ctx, "finding-b")
	if err != nil {
		t.Fatalf("undo B: %v", err)
	}
	if got := fx.keyStatus(t, "alice"); got != "Active" {
		t.Errorf("after undo of both the key is %s, want Active (report %+v)", got, rep)
	}
	if pols := fx.state(t).UserPolicies["alice"]; slices.Contains(pols, contain.RevokePolicyName) {
		t.Errorf("after undo of both alice's deny is still there (report %+v)", rep)
	}
}

// TestUndoKeepsASharedDeny: two findings revoke the same role within one
// second, so the documents are identical. Undo of A must not delete B's deny.
func TestUndoKeepsASharedDeny(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	clock := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	eng := fx.engine(nil)
	eng.Executor = contain.NewExecutor(func() time.Time { return clock }, contain.Registry(clientsOf(eng, fx.cfg))...)
	fx.run(t, eng, fx.acct.Rewrite(event(t, roleEvent, withID(roleID, "role-a")...)))
	fx.run(t, eng, fx.acct.Rewrite(event(t, roleEvent, withID(roleID, "role-b")...)))
	if _, err := eng.Undo(ctx, "role-a"); err != nil {
		t.Fatal(err)
	}
	c := iam.NewFromConfig(fx.cfg)
	if _, err := c.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String("web-app-role"), PolicyName: aws.String(contain.RevokePolicyName)}); err != nil {
		t.Fatalf("undo of A deleted the deny that B still holds: %v", err)
	}
	if _, err := eng.Undo(ctx, "role-b"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String("web-app-role"), PolicyName: aws.String(contain.RevokePolicyName)}); err == nil {
		t.Error("after undo of both the deny is still there")
	}
}

// addByHand puts addr into the set as a person would, outside autocontain.
func (fx *fixture) addByHand(t *testing.T, setARN, addr string) {
	t.Helper()
	ctx := context.Background()
	ref, err := ipset.Parse(setARN)
	if err != nil {
		t.Fatal(err)
	}
	c := wafv2.NewFromConfig(fx.cfg, func(o *wafv2.Options) { o.Region = ref.Region })
	got, err := c.GetIPSet(ctx, &wafv2.GetIPSetInput{Name: aws.String(ref.Name), Id: aws.String(ref.ID), Scope: waftypes.Scope(ref.Scope)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateIPSet(ctx, &wafv2.UpdateIPSetInput{Name: aws.String(ref.Name), Id: aws.String(ref.ID), Scope: waftypes.Scope(ref.Scope),
		Addresses: append(got.IPSet.Addresses, addr), LockToken: got.LockToken}); err != nil {
		t.Fatal(err)
	}
}

// TestHandAddedAddressesStay: an address that was in the IP set before
// autocontain first wanted it was put there by a person: undo, expiry and
// eviction never remove it.
func TestHandAddedAddressesStay(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	eng := fx.engine(nil)
	clock := time.Now().UTC()
	eng.Ledger.Now = func() time.Time { return clock }
	eng.Writer.Now = eng.Ledger.Now
	set := fx.acct.IPSetV4
	fx.addByHand(t, set, "185.220.101.42/32")
	fx.addByHand(t, set, "80.82.77.139/32")
	fx.run(t, eng, fx.acct.Rewrite(event(t, akiaEvent)))
	fx.run(t, eng, fx.acct.Rewrite(event(t, "guardduty-recon-maliciousipcaller.json")))
	p, _ := eng.Plan(fx.acct.Rewrite(event(t, akiaEvent)))
	if _, err := eng.Undo(ctx, p.Finding.ID); err != nil {
		t.Fatal(err)
	}
	if st := fx.state(t); !slices.Contains(st.IPv4, "185.220.101.42/32") {
		t.Errorf("undo removed a hand-added address: %v", st.IPv4)
	}
	// Expiry: past the TTL the recon finding's block expires, but the
	// address was there before it.
	clock = clock.Add(eng.Playbook.Settings.TTL() + time.Hour)
	if _, err := eng.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if st := fx.state(t); !slices.Contains(st.IPv4, "80.82.77.139/32") {
		t.Errorf("expiry removed a hand-added address: %v", st.IPv4)
	}
	// Eviction: a set limit of one evicts the older of two blocks, but
	// never a hand-added one.
	eng.Writer.Max = 1
	for i, id := range []string{"evict-1", "evict-2"} {
		clock = clock.Add(time.Minute)
		raw := fx.acct.Rewrite(event(t, "guardduty-recon-maliciousipcaller.json",
			`"80.82.77.139"`, `"80.82.77.`+fmt.Sprint(140+i)+`"`, `"id": "`, `"id": "`+id))
		fx.run(t, eng, raw)
	}
	st := fx.state(t)
	for _, a := range []string{"185.220.101.42/32", "80.82.77.139/32"} {
		if !slices.Contains(st.IPv4, a) {
			t.Errorf("eviction removed hand-added %s: %v", a, st.IPv4)
		}
	}
}

// TestBreakerCountsPrincipals: the breaker counts distinct principals, not
// deliveries: four findings about alice leave room for bob under a limit of 3.
func TestBreakerCountsPrincipals(t *testing.T) {
	fx := newFixture(t)
	eng := fx.engine(func(s *playbook.Settings) { s.BreakerMax = 3 })
	for i := range 4 {
		fx.run(t, eng, fx.acct.Rewrite(event(t, akiaEvent, withID(akiaID, fmt.Sprintf("alice-%d", i))...)))
	}
	rec := fx.run(t, eng, fx.acct.Rewrite(event(t, "guardduty-recon-maliciousipcaller.json")))
	if strings.Contains(rec.Text(), "BREAKER OPEN") {
		t.Errorf("bob is only the second principal, but the breaker is open:\n%s", rec.Text())
	}
	if st := fx.state(t); !slices.Contains(st.UserPolicies["bob"], contain.RevokePolicyName) {
		t.Errorf("bob was not contained: %v", st.UserPolicies["bob"])
	}
}

// ledgerWrites are the DynamoDB operations that write.
var ledgerWrites = []string{"UpdateItem", "PutItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}

// TestLostLedgerRepliesDuplicateNothing loses the reply of every ledger
// write in turn (the write took effect; the SDK retries it). Nothing may be
// recorded twice: undo then restores each thing once and leaves nothing
// behind, and the breaker still counts one principal.
func TestLostLedgerRepliesDuplicateNothing(t *testing.T) {
	fx := newFixture(t)
	eng := fx.engine(func(s *playbook.Settings) { s.BreakerMax = 1 })
	ctx := context.Background()
	n := 0
	for _, op := range ledgerWrites {
		for pos := 0; pos < 6; pos++ {
			n++
			id := fmt.Sprintf("lost-%d", n)
			fx.proxy.Clear()
			fx.proxy.Inject(op, faultproxy.Pass, pos)
			fx.proxy.Inject(op, faultproxy.LostReply, 1)
			rec := fx.run(t, eng, fx.acct.Rewrite(event(t, akiaEvent, withID(akiaID, id)...)))
			fx.proxy.Clear()
			if rec.Outcome != audit.OutcomeContained || strings.Contains(rec.Text(), "BREAKER OPEN") {
				t.Fatalf("%s lost at call %d: alice is one principal under a breaker of 1:\n%s", op, pos+1, rec.Text())
			}
			h, _, err := eng.Ledger.History(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			for _, c := range h.Changes() {
				k := c.Action + c.Principal + c.Resource + c.IPSet + c.Address
				if seen[k] {
					t.Errorf("%s lost at call %d: change %s recorded twice", op, pos+1, k)
				}
				seen[k] = true
			}
			rep, err := eng.Undo(ctx, id)
			if err != nil || len(rep.Left) != 0 || len(rep.Restored) == 0 {
				t.Fatalf("%s lost at call %d: undo %+v: %v", op, pos+1, rep, err)
			}
		}
	}
}

// TestTenThousandAddresses: a finding with 10,000 addresses (WAF's limit for one set) completes, is
// recorded, and can be undone.
func TestTenThousandAddresses(t *testing.T) {
	fx := newFixture(t)
	eng := fx.engine(nil)
	ctx := context.Background()
	var ips []string
	for i := range 9999 { // and the event's own, 10,000 in all
		ips = append(ips, fmt.Sprintf(`"45.%d.%d.%d"`, 10+i/65536, i/256%256, i%256))
	}
	raw := fx.acct.Rewrite(event(t, akiaEvent, withID(akiaID, "big")...))
	raw = bytes.Replace(raw, []byte(`"actionType": "AWS_API_CALL",`),
		[]byte(`"actionType": "AWS_API_CALL", "kubernetesApiCallAction": {"sourceIPs": [`+strings.Join(ips, ",")+`]},`), 1)
	start := time.Now()
	rec := fx.run(t, eng, raw)
	t.Logf("contained in %s: %v", time.Since(start), fx.proxy.Counts())
	if rec.Outcome != audit.OutcomeContained {
		t.Fatalf("outcome %s", rec.Outcome)
	}
	if got := len(fx.state(t).IPv4); got != 10000 {
		t.Fatalf("the set holds %d addresses, want 10000", got)
	}
	start = time.Now()
	rep, err := eng.Undo(ctx, "big")
	if err != nil {
		t.Fatalf("undo: %v", err)
	}
	t.Logf("undone in %s: %v", time.Since(start), fx.proxy.Counts())
	if got := len(fx.state(t).IPv4); got != 0 {
		t.Errorf("after undo the set holds %d addresses (report: %d restored, %d left)", got, len(rep.Restored), len(rep.Left))
	}
}

// TestMoreAddressesThanTheSetHolds: a finding with more addresses than the
// set can hold says what it did not block.
func TestMoreAddressesThanTheSetHolds(t *testing.T) {
	fx := newFixture(t)
	eng := fx.engine(nil)
	eng.Writer.Max = 5
	var ips []string
	for i := range 8 {
		ips = append(ips, fmt.Sprintf(`"45.10.0.%d"`, i+1))
	}
	raw := fx.acct.Rewrite(event(t, akiaEvent, withID(akiaID, "over")...))
	raw = bytes.Replace(raw, []byte(`"actionType": "AWS_API_CALL",`),
		[]byte(`"actionType": "AWS_API_CALL", "kubernetesApiCallAction": {"sourceIPs": [`+strings.Join(ips, ",")+`]},`), 1)
	rec, _ := eng.Run(context.Background(), raw)
	text := rec.Text()
	if !strings.Contains(text, "not blocked") || !strings.Contains(text, "4 ") {
		t.Errorf("the record does not say which 4 of 9 addresses were not blocked:\n%s", text)
	}
	if got := len(fx.state(t).IPv4); got != 5 {
		t.Errorf("the set holds %d, want its limit 5", got)
	}
}

// TestClaimLeaseFollowsTheTimeout: a delivery that dies holding its claim
// (the function timed out) must not keep Lambda's first retry, about a
// minute after the timeout, from taking the work over.
func TestClaimLeaseFollowsTheTimeout(t *testing.T) {
	fx := newFixture(t)
	eng := fx.engine(nil)
	clock := time.Now().UTC()
	eng.Ledger.Now = func() time.Time { return clock }
	raw := fx.acct.Rewrite(event(t, akiaEvent))
	p, _ := eng.Plan(raw)
	const timeout = 60 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// The dead delivery's claim, taken with the lease the engine uses.
	if _, err := eng.claim(ctx, p.Finding, "dead-delivery"); err != nil {
		t.Fatal(err)
	}
	// Lambda retries an asynchronous invocation about one minute after
	// the failure, which the timeout caused.
	clock = clock.Add(timeout + time.Minute)
	rec, err := eng.Run(context.Background(), raw)
	if err != nil || rec.Outcome != audit.OutcomeContained {
		t.Errorf("Lambda's first retry could not take over: %v\n%s", err, rec.Text())
	}
}

// TestDuplicateDeliveryIsNotAFailure: a delivery that arrives while
// another is handling the event is retried (an error for Lambda) but is
// not recorded as failed, nor logged at error level.
func TestDuplicateDeliveryIsNotAFailure(t *testing.T) {
	fx := newFixture(t)
	eng := fx.engine(nil)
	var logs bytes.Buffer
	eng.Log = slog.New(slog.NewJSONHandler(&logs, nil))
	raw := fx.acct.Rewrite(event(t, akiaEvent))
	p, _ := eng.Plan(raw)
	if _, err := eng.claim(context.Background(), p.Finding, "other-delivery"); err != nil {
		t.Fatal(err)
	}
	rec, err := eng.Run(context.Background(), raw)
	if !errors.Is(err, ErrInProgress) {
		t.Errorf("error %v, want ErrInProgress so that Lambda retries", err)
	}
	if rec.Outcome != audit.OutcomeInProgress {
		t.Errorf("outcome %q, want %q", rec.Outcome, audit.OutcomeInProgress)
	}
	if strings.Contains(logs.String(), `"level":"ERROR"`) {
		t.Errorf("a duplicate delivery was logged as an error:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), `"DeliveriesInProgress":1`) {
		t.Errorf("no DeliveriesInProgress metric (the error alarm subtracts it):\n%s", logs.String())
	}
}

// TestLedgerRoundTrips: the happy path of a new finding costs at most three
// ledger round trips.
func TestLedgerRoundTrips(t *testing.T) {
	fx := newFixture(t)
	eng := fx.engine(nil)
	before := ledgerCalls(fx.proxy)
	rec := fx.run(t, eng, fx.acct.Rewrite(event(t, akiaEvent)))
	if rec.Outcome != audit.OutcomeContained {
		t.Fatal(rec.Text())
	}
	if got := ledgerCalls(fx.proxy) - before; got > 3 {
		t.Errorf("%d ledger round trips for one finding, want at most 3: %v", got, fx.proxy.Counts())
	}
}

// ledgerCalls counts the DynamoDB calls that reached the proxy.
func ledgerCalls(p *faultproxy.Proxy) int {
	n := 0
	for op, c := range p.Counts() {
		if strings.HasPrefix(op, "DynamoDB_") {
			n += c
		}
	}
	return n
}

// TestUndoIsLoggedAtWarning: undo through the function can be started by
// anyone allowed to invoke it, so it is logged at warning level with the
// finding and what it restored.
func TestUndoIsLoggedAtWarning(t *testing.T) {
	fx := newFixture(t)
	eng := fx.engine(nil)
	var logs bytes.Buffer
	fx.run(t, eng, fx.acct.Rewrite(event(t, akiaEvent)))
	eng.Log = slog.New(slog.NewJSONHandler(&logs, nil))
	if _, err := eng.Undo(context.Background(), "df1db1afefc8cb0e1936524a9ad401f8"); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if !strings.Contains(out, `"level":"WARN"`) || !strings.Contains(out, "df1db1afefc8cb0e1936524a9ad401f8") || !strings.Contains(out, "reactivated key") {
		t.Errorf("undo log:\n%s", out)
	}
}

// TestUndoStaysInItsAccount: undo run with credentials of another account
// than the one a hold is in leaves that hold alone and says so.
func TestUndoStaysInItsAccount(t *testing.T) {
	fx := newFixture(t)
	fx.run(t, fx.engine(nil), fx.acct.Rewrite(event(t, akiaEvent)))
	other := fx.engine(nil)
	other.Undoer.Account = "210987654321"
	rep, err := other.Undo(context.Background(), "df1db1afefc8cb0e1936524a9ad401f8")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Left) != 2 || !strings.Contains(rep.Left[0], "is in account 123456789012, not 210987654321") {
		t.Errorf("report %+v", rep)
	}
	if got := fx.keyStatus(t, "alice"); got != "Inactive" {
		t.Errorf("the key is %s after an undo from another account", got)
	}
}

// claim is the engine's claim of a delivery, with the lease it uses.
func (e *Engine) claim(ctx context.Context, f finding.Finding, tok string) (ledger.Verdict, error) {
	v, _, err := e.Ledger.Claim(ctx, f.ID, f.UpdatedAt, e.claimLease(ctx), tok)
	return v, err
}

// TestUnverifiedProtectionIsRetried: when protection cannot be checked (an
// IAM error), the principal is reported and the delivery fails; it must not
// count as handled, so Lambda's retry decides again and contains.
func TestUnverifiedProtectionIsRetried(t *testing.T) {
	fx := newFixture(t)
	eng := fx.engine(nil)
	raw := fx.acct.Rewrite(event(t, akiaEvent))
	fx.proxy.Inject("GetUser", faultproxy.ServerError, 3)
	rec, err := eng.Run(context.Background(), raw)
	if err == nil || !strings.Contains(rec.Text(), "could not verify") {
		t.Fatalf("first delivery: %v\n%s", err, rec.Text())
	}
	if got := fx.keyStatus(t, "alice"); got != "Active" {
		t.Fatalf("the key is %s although protection was not verified", got)
	}
	rec, err = eng.Run(context.Background(), raw)
	if err != nil || rec.Outcome != audit.OutcomeContained {
		t.Errorf("the retry did not contain: %v\n%s", err, rec.Text())
	}
	if got := fx.keyStatus(t, "alice"); got != "Inactive" {
		t.Errorf("after the retry the key is %s", got)
	}
}
