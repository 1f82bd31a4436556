package engine

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/autocontain/autocontain/internal/audit"
	"github.com/autocontain/autocontain/internal/blocklist"
	"github.com/autocontain/autocontain/internal/contain"
	"github.com/autocontain/autocontain/internal/playbook"
	"github.com/autocontain/autocontain/internal/testenv"
	"github.com/autocontain/autocontain/internal/testenv/faultproxy"
)

// mutating are the calls that change the account (as opposed to reads and
// the ledger's own bookkeeping).
var mutating = []string{"UpdateAccessKey", "PutUserPolicy", "PutRolePolicy", "DeleteUserPolicy", "DeleteRolePolicy",
	"AttachUserPolicy", "AttachRolePolicy", "DetachUserPolicy", "DetachRolePolicy",
	"UpdateIPSet", "Publish"}

func mutatingCalls(p *faultproxy.Proxy) int {
	n := 0
	for _, op := range mutating {
		n += p.Count(op)
	}
	return n
}

// TestRedeliveryChangesNothing delivers every sample event twice: the
// second round leaves the account as it was and makes no mutating call.
func TestRedeliveryChangesNothing(t *testing.T) {
	fx := newFixture(t)
	eng := fx.engine(nil)
	ctx := context.Background()
	var events [][]byte
	for _, ev := range testenv.SampleEvents(t) {
		events = append(events, fx.acct.Rewrite(ev.Raw))
	}
	for _, raw := range events {
		if _, err := eng.RunAll(ctx, raw); err != nil {
			t.Fatalf("first delivery: %v", err)
		}
	}
	first, calls := fx.state(t), mutatingCalls(fx.proxy)
	if calls == 0 {
		t.Fatal("the first round made no mutating call")
	}
	for _, raw := range events {
		recs, err := eng.RunAll(ctx, raw)
		if err != nil {
			t.Fatalf("second delivery: %v", err)
		}
		for _, rec := range recs {
			if rec.Outcome == audit.OutcomeContained {
				t.Errorf("second delivery of %s contained again: %s", rec.Finding.ID, rec.Text())
			}
		}
	}
	if extra := mutatingCalls(fx.proxy) - calls; extra != 0 {
		t.Errorf("the second delivery made %d mutating calls, want 0", extra)
	}
	if again := fx.state(t); again.String() != first.String() {
		t.Errorf("the second delivery changed the account:\n%s\nwas\n%s", again, first)
	}
	t.Logf("first round: %d mutating calls; second round: 0", calls)
}

// TestConcurrentDeliveriesActOnce: the same event delivered to eight
// instances at once is acted on by exactly one; the others are told to
// retry while it runs (so nothing is lost if it fails), then find it handled.
func TestConcurrentDeliveriesActOnce(t *testing.T) {
	fx := newFixture(t)
	raw := fx.acct.Rewrite(event(t, "guardduty-maliciousipcaller-custom-akia.json"))
	var wg sync.WaitGroup
	outcomes := make([]string, 8)
	for i := range outcomes {
		eng := fx.engine(nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				rec, err := eng.Run(context.Background(), raw)
				if errors.Is(err, ErrInProgress) {
					// As Lambda would: retry later.
					time.Sleep(50 * time.Millisecond)
					continue
				}
				if err != nil {
					t.Errorf("delivery %d: %v", i, err)
				}
				outcomes[i] = rec.Outcome
				return
			}
		}()
	}
	wg.Wait()
	if n := slices.Index(outcomes, audit.OutcomeContained); n < 0 || slices.Index(outcomes[n+1:], audit.OutcomeContained) >= 0 {
		t.Errorf("outcomes %v: want exactly one contained", outcomes)
	}
	if got := fx.proxy.Count("UpdateAccessKey"); got != 1 {
		t.Errorf("UpdateAccessKey calls = %d, want 1", got)
	}
	if got := fx.proxy.Count("Publish"); got != 1 {
		t.Errorf("notifications = %d, want 1", got)
	}
}

// TestUpdatedFindingActsOnlyOnWhatIsNew: GuardDuty re-sends an active
// finding with a new updatedAt, a higher count and sometimes new addresses.
func TestUpdatedFindingActsOnlyOnWhatIsNew(t *testing.T) {
	fx := newFixture(t)
	eng := fx.engine(nil)
	ctx := context.Background()
	first := fx.acct.Rewrite(event(t, "guardduty-maliciousipcaller-custom-akia.json"))
	if rec, err := eng.Run(ctx, first); err != nil || rec.Outcome != audit.OutcomeContained {
		t.Fatalf("first: %v %s", err, rec.Text())
	}
	calls := fx.proxy.Count("UpdateAccessKey") + fx.proxy.Count("PutUserPolicy")
	updated := fx.acct.Rewrite(event(t, "guardduty-maliciousipcaller-custom-akia.json",
		`"updatedAt": "2026-11-20T`, `"updatedAt": "2026-11-21T`, `"count": 7`, `"count": 9`, `"ipAddressV4": "185.220.101.42"`, `"ipAddressV4": "185.220.101.43"`))
	rec, err := eng.Run(ctx, updated)
	if err != nil {
		t.Fatalf("updated: %v\n%s", err, rec.Text())
	}
	text := rec.Text()
	if !strings.Contains(text, "already done for this finding") || !strings.Contains(text, "185.220.101.43/32") {
		t.Errorf("the update should skip the principal and block only the new address:\n%s", text)
	}
	if got := fx.proxy.Count("UpdateAccessKey") + fx.proxy.Count("PutUserPolicy"); got != calls {
		t.Errorf("the update made %d more principal calls", got-calls)
	}
	if st := fx.state(t); !slices.Contains(st.IPv4, "185.220.101.43/32") || !slices.Contains(st.IPv4, "185.220.101.42/32") {
		t.Errorf("IPv4 set %v", st.IPv4)
	}
}

// TestBreaker: past breakerMax principals in a window, principals are
// reported, not contained; addresses are still blocked.
func TestBreaker(t *testing.T) {
	fx := newFixture(t)
	eng := fx.engine(func(s *playbook.Settings) { s.BreakerMax = 2 })
	ctx := context.Background()
	for _, name := range []string{"guardduty-maliciousipcaller-custom-akia.json", "guardduty-credentialaccess-anomalousbehavior.json"} {
		if rec, err := eng.Run(ctx, fx.acct.Rewrite(event(t, name))); err != nil || rec.Outcome != audit.OutcomeContained {
			t.Fatalf("%s: %v\n%s", name, err, rec.Text())
		}
	}
	rec, err := eng.Run(ctx, fx.acct.Rewrite(event(t, "guardduty-recon-maliciousipcaller.json")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rec.Text(), "BREAKER OPEN") || !strings.Contains(rec.Text(), "[done] block-ip") {
		t.Errorf("third principal:\n%s", rec.Text())
	}
	if st := fx.state(t); len(st.UserPolicies["bob"]) != 0 {
		t.Errorf("bob was contained past the breaker: %v", st.UserPolicies["bob"])
	}
	if !slices.Contains(fx.state(t).IPv4, "80.82.77.139/32") {
		t.Error("the address was not blocked while the breaker was open")
	}
}

// TestUndo undoes each kind of action and checks the account is back.
func TestUndo(t *testing.T) {
	fx := newFixture(t)
	eng := fx.engine(nil)
	ctx := context.Background()
	before := fx.state(t)
	alice := fx.acct.Rewrite(event(t, "guardduty-maliciousipcaller-custom-akia.json"))
	role := fx.acct.Rewrite(event(t, "guardduty-instance-credential-exfiltration-outsideaws.json"))
	for _, raw := range [][]byte{alice, role} {
		if rec, err := eng.Run(ctx, raw); err != nil || rec.Outcome != audit.OutcomeContained {
			t.Fatalf("%v\n%s", err, rec.Text())
		}
	}
	pAlice, _ := eng.Plan(alice)
	pRole, _ := eng.Plan(role)
	for _, id := range []string{pAlice.Finding.ID, pRole.Finding.ID} {
		rep, err := eng.Undo(ctx, id)
		if err != nil {
			t.Fatalf("undo %s: %v", id, err)
		}
		if len(rep.Restored) == 0 || len(rep.Left) != 0 {
			t.Errorf("undo %s: %+v", id, rep)
		}
	}
	if after := fx.state(t); after.String() != before.String() {
		t.Errorf("after undo:\n%s\nwant the state before:\n%s", after, before)
	}
	if _, err := eng.Undo(ctx, pAlice.Finding.ID); !errors.Is(err, contain.ErrAlreadyUndone) {
		t.Errorf("second undo: %v", err)
	}
	if _, err := eng.Undo(ctx, "no-such-finding"); !errors.Is(err, contain.ErrNothingToUndo) {
		t.Errorf("undo of an unknown finding: %v", err)
	}
	// A later delivery of an undone finding does not contain it again.
	later := fx.acct.Rewrite(event(t, "guardduty-maliciousipcaller-custom-akia.json", `"updatedAt": "2026-11-20T`, `"updatedAt": "2026-11-22T`))
	rec, err := eng.Run(ctx, later)
	if err != nil || !strings.Contains(rec.Text(), "undid this finding") {
		t.Errorf("after undo: %v\n%s", err, rec.Text())
	}
}

// TestUndoLeavesWhatItDidNotWrite: a key and a deny policy that a later
// containment holds too stay as they are.
func TestUndoLeavesWhatItDidNotWrite(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	clock := t0
	eng := fx.engine(nil)
	eng.Executor = contain.NewExecutor(func() time.Time { return clock }, contain.Registry(clientsOf(eng, fx.cfg))...)
	first := fx.acct.Rewrite(event(t, "cloudtrail-stoplogging-iamuser.json"))
	second := fx.acct.Rewrite(event(t, "guardduty-maliciousipcaller-custom-akia.json"))
	if _, err := eng.Run(ctx, first); err != nil {
		t.Fatal(err)
	}
	clock = t0.Add(time.Hour)
	if _, err := eng.Run(ctx, second); err != nil {
		t.Fatal(err)
	}
	p, _ := eng.Plan(first)
	rep, err := eng.Undo(ctx, p.Finding.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Restored) != 0 || len(rep.Left) != 2 || !strings.Contains(strings.Join(rep.Left, "\n"), "still held by finding df1db1afefc8cb0e1936524a9ad401f8") {
		t.Errorf("undo report %+v: want the key and the policy left, held by the later finding", rep)
	}
	out, err := iam.NewFromConfig(fx.cfg).GetUserPolicy(ctx, &iam.GetUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String(contain.RevokePolicyName)})
	if err != nil {
		t.Fatalf("the later policy was deleted: %v", err)
	}
	if doc, _ := url.QueryUnescape(aws.ToString(out.PolicyDocument)); !strings.Contains(doc, "2026-11-24T04:00:00Z") {
		t.Errorf("policy %s", doc)
	}
}

// clientsOf rebuilds the engine's action clients (to swap its clock), with
// its IP-set writer: contain.Registry's arguments.
func clientsOf(e *Engine, cfg aws.Config) (contain.Clients, *blocklist.Writer) {
	return contain.NewClients(cfg), e.Writer
}

// TestExpiryAndEviction drives the writer with a clock: blocks expire after
// the TTL, and past the set's limit the oldest sightings go first.
func TestExpiryAndEviction(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	eng := fx.engine(nil)
	clock := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	eng.Ledger.Now = func() time.Time { return clock }
	eng.Writer.Now = eng.Ledger.Now
	eng.Writer.Max = 3
	set := fx.acct.IPSetV4
	for i := range 5 {
		clock = clock.Add(time.Minute)
		if err := eng.Ledger.Want(ctx, set, []string{fmt.Sprintf("185.220.101.%d/32", i)}, fmt.Sprintf("f%d", i), clock.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := eng.Writer.Run(ctx, set)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"185.220.101.2/32", "185.220.101.3/32", "185.220.101.4/32"}
	if got := fx.state(t).IPv4; !slices.Equal(got, want) {
		t.Errorf("set %v, want the 3 newest %v", got, want)
	}
	if !slices.Equal(rep.Evicted, []string{"185.220.101.0/32", "185.220.101.1/32"}) || !strings.Contains(rep.String(), "evicted") {
		t.Errorf("report %+v", rep)
	}
	clock = clock.Add(2 * time.Hour)
	reps, err := eng.Reconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := fx.state(t).IPv4; len(got) != 0 {
		t.Errorf("set %v after expiry, want empty", got)
	}
	if r := reps[set]; len(r.Expired) != 3 {
		t.Errorf("reconcile report %+v", r)
	}
	if blocks, _ := eng.Ledger.Blocks(ctx, set); len(blocks) != 0 {
		t.Errorf("the ledger still holds %d blocks", len(blocks))
	}
}

// TestProtectedPrincipalIsNeverContained: a user tagged
// autocontain:protected=true gets a skip step and the notification, never an
// action; the finding's address is still blocked.
func TestProtectedPrincipalIsNeverContained(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	if _, err := iam.NewFromConfig(fx.cfg).TagUser(ctx, &iam.TagUserInput{UserName: aws.String("alice"),
		Tags: []iamtypes.Tag{{Key: aws.String("autocontain:protected"), Value: aws.String("true")}}}); err != nil {
		t.Fatal(err)
	}
	before := fx.state(t)
	rec, err := fx.engine(nil).Run(ctx, fx.acct.Rewrite(event(t, "guardduty-maliciousipcaller-custom-akia.json")))
	if err != nil {
		t.Fatal(err)
	}
	text := rec.Text()
	if !strings.Contains(text, "skip contain-principal") || !strings.Contains(text, "tagged autocontain:protected=true") || !strings.Contains(text, "[done] notify") {
		t.Errorf("record:\n%s", text)
	}
	after := fx.state(t)
	if fmt.Sprint(after.KeyStatus) != fmt.Sprint(before.KeyStatus) || len(after.UserPolicies["alice"]) != 0 {
		t.Errorf("a protected user was changed:\n%s", after)
	}
	if fx.proxy.Count("UpdateAccessKey")+fx.proxy.Count("PutUserPolicy") != 0 {
		t.Error("a protected user was written to")
	}
	if !slices.Contains(after.IPv4, "185.220.101.42/32") {
		t.Error("the attacker's address was not blocked")
	}
	msgs, err := fx.acct.Messages(ctx, fx.cfg, 5)
	if err != nil || len(msgs) != 1 || !strings.Contains(msgs[0], "protected") {
		t.Errorf("notification %v (%v)", msgs, err)
	}
}
