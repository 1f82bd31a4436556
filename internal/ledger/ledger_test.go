package ledger_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/autocontain/autocontain/internal/failure"
	"github.com/autocontain/autocontain/internal/ledger"
	"github.com/autocontain/autocontain/internal/sandbox"
	"github.com/autocontain/autocontain/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func newLedger(t *testing.T, now *time.Time) *ledger.Ledger {
	t.Helper()
	emu := testenv.Moto(t)
	cfg := emu.Config(t)
	if err := sandbox.CreateLedgerTable(context.Background(), cfg, "ledger"); err != nil {
		t.Fatal(err)
	}
	return &ledger.Ledger{DB: dynamodb.NewFromConfig(cfg), Table: "ledger", Now: func() time.Time { return *now }}
}

func TestClaim(t *testing.T) {
	now := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	l := newLedger(t, &now)
	ctx := context.Background()
	at := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	step := func(name string, want ledger.Verdict, updatedAt time.Time) {
		t.Helper()
		got, _, err := l.Claim(ctx, "f1", updatedAt, time.Minute, name)
		if err != nil || got != want {
			t.Fatalf("%s: verdict %v (%v), want %v", name, got, err, want)
		}
	}
	end := func(updatedAt time.Time, ok bool) {
		t.Helper()
		if _, err := l.Commit(ctx, ledger.Commit{Finding: "f1", UpdatedAt: updatedAt, OK: ok}); err != nil {
			t.Fatal(err)
		}
	}
	step("first delivery", ledger.Claimed, at)
	step("concurrent delivery", ledger.InProgress, at)
	if v, _, err := l.Claim(ctx, "f1", at, time.Minute, "first delivery"); err != nil || v != ledger.Claimed {
		t.Fatalf("a retried write of its own claim: %v %v", v, err)
	}
	step("an update while the first runs", ledger.InProgress, at.Add(time.Hour))
	end(at, false)
	step("retry after a failure", ledger.Claimed, at)
	now = now.Add(2 * time.Minute)
	step("handler died, lease ran out", ledger.Claimed, at)
	end(at, true)
	step("redelivery after success", ledger.AlreadyHandled, at)
	step("updated finding", ledger.Claimed, at.Add(time.Hour))
}

func TestPrepareAndCommit(t *testing.T) {
	now := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	l := newLedger(t, &now)
	ctx := context.Background()
	const set = "arn:aws:wafv2:us-east-1:123456789012:regional/ipset/s/1"
	at := now.Add(-time.Hour)
	key := ledger.Hold{Action: "deactivate-key", Account: "123456789012", Principal: "user/alice", Resource: "key/AKIAEXAMPLE"}
	pol := ledger.Hold{Action: "revoke-sessions", Account: "123456789012", Principal: "user/alice", Resource: "policy/P"}
	if v, _, err := l.Claim(ctx, "f1", at, time.Minute, "tok1"); err != nil || v != ledger.Claimed {
		t.Fatal(v, err)
	}
	prep := ledger.Prep{Finding: "f1", Token: "tok1", Account: "123456789012", Principals: []string{key.PrincipalKey()},
		BreakerMax: 1, BreakerWindow: time.Hour, Holds: []ledger.Hold{key, pol},
		Wants: []ledger.Want{{Set: set, Addrs: []string{"185.220.101.1/32"}, Until: now.Add(time.Hour)}}, Lease: time.Minute}
	res, err := l.Prepare(ctx, prep)
	if err != nil || res.BreakerOpen || res.Leases[set] != "tok1" {
		t.Fatalf("prepare: %+v %v", res, err)
	}
	// The same prepare again (a retried transaction) changes nothing.
	if res, err := l.Prepare(ctx, prep); err != nil || res.BreakerOpen {
		t.Fatalf("prepare again: %+v %v", res, err)
	}
	unreleased, err := l.Commit(ctx, ledger.Commit{Finding: "f1", UpdatedAt: at, OK: true,
		Done: map[string]time.Time{"deactivate-key": now}, Changed: []ledger.Hold{key},
		Ours: map[string][]string{set: {"185.220.101.1/32"}}, Leases: res.Leases, Token: "tok1"})
	if err != nil || len(unreleased) != 0 {
		t.Fatalf("commit: %v %v", unreleased, err)
	}
	h, ok, err := l.History(ctx, "f1")
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if len(h.Holds) != 2 || !h.Blocked()["185.220.101.1/32"] || h.Done["deactivate-key"].IsZero() {
		t.Errorf("history %+v", h)
	}
	blocks, _ := l.Blocks(ctx, set)
	if len(blocks) != 1 || !blocks[0].Ours || len(blocks[0].Findings) != 1 {
		t.Errorf("blocks %+v", blocks)
	}
	// Another principal does not fit a breaker of 1; the wants are still
	// recorded, the holds are not.
	bob := ledger.Hold{Action: "revoke-sessions", Account: "123456789012", Principal: "user/bob", Resource: "policy/P"}
	res, err = l.Prepare(ctx, ledger.Prep{Finding: "f2", Token: "tok2", Account: "123456789012", Principals: []string{bob.PrincipalKey()},
		BreakerMax: 1, BreakerWindow: time.Hour, Holds: []ledger.Hold{bob},
		Wants: []ledger.Want{{Set: set, Addrs: []string{"185.220.101.2/32"}, Until: now.Add(time.Hour)}}, Lease: time.Minute})
	if err != nil || !res.BreakerOpen || res.Leases[set] != "tok2" {
		t.Fatalf("breaker: %+v %v", res, err)
	}
	if h, _, _ := l.History(ctx, "f2"); len(h.Holds) != 0 || !h.Blocked()["185.220.101.2/32"] {
		t.Errorf("f2 history %+v", h)
	}
	// f2 holds the set's lease; a third delivery's bump makes the set dirty,
	// so f2 cannot give the lease back as clean.
	if err := l.Want(ctx, set, []string{"185.220.101.3/32"}, "f3", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	unreleased, err = l.Commit(ctx, ledger.Commit{Finding: "f2", UpdatedAt: at, OK: true, Leases: res.Leases, Token: "tok2"})
	if err != nil || len(unreleased) != 1 {
		t.Fatalf("commit with more pending: %v %v", unreleased, err)
	}
	// Releasing a hold restores nothing while another finding holds it.
	if _, err := l.Prepare(ctx, ledger.Prep{Finding: "f4", Token: "tok4", Holds: []ledger.Hold{key}}); err != nil {
		t.Fatal(err)
	}
	if r, err := l.ReleaseHold(ctx, key, "f1"); err != nil || len(r.Holders) != 1 || !r.Changed {
		t.Errorf("release f1: %+v %v", r, err)
	}
	if r, err := l.ReleaseHold(ctx, key, "f4"); err != nil || len(r.Holders) != 0 || !r.Changed {
		t.Errorf("release f4: %+v %v", r, err)
	}
	if ok, err := l.ForgetHold(ctx, key); !ok || err != nil {
		t.Errorf("forget: %v %v", ok, err)
	}
	if r, _ := l.ReleaseHold(ctx, key, "f4"); !r.Missing {
		t.Errorf("a forgotten hold: %+v", r)
	}
}

func TestLeaseAndToken(t *testing.T) {
	now := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	l := newLedger(t, &now)
	ctx := context.Background()
	const set = "arn:aws:wafv2:us-east-1:123456789012:regional/ipset/s/1"
	if err := l.Want(ctx, set, []string{"185.220.101.1/32"}, "f1", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	tok, ok, err := l.Acquire(ctx, set, "a", 30*time.Second)
	if err != nil || !ok || tok == "" {
		t.Fatalf("acquire: token %q ok %v err %v", tok, ok, err)
	}
	if _, ok, _ := l.Acquire(ctx, set, "b", 30*time.Second); ok {
		t.Fatal("a second writer got the lease")
	}
	if err := l.Want(ctx, set, []string{"185.220.101.2/32"}, "f2", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if released, _ := l.Release(ctx, set, "a", tok); released {
		t.Fatal("released although something was recorded since")
	}
	tok, _, _ = l.Acquire(ctx, set, "a", 30*time.Second)
	if released, err := l.Release(ctx, set, "a", tok); !released || err != nil {
		t.Fatalf("release at the current token: %v %v", released, err)
	}
	if _, ok, _ := l.Acquire(ctx, set, "b", 30*time.Second); !ok {
		t.Fatal("the lease was not free after release")
	}
	now = now.Add(time.Minute)
	if _, ok, _ := l.Acquire(ctx, set, "c", 30*time.Second); !ok {
		t.Fatal("an expired lease was not taken over")
	}
	// Unwant: a block is unwanted only when no finding wants it.
	if err := l.Want(ctx, set, []string{"185.220.101.1/32"}, "f3", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := l.Unwant(ctx, set, []string{"185.220.101.1/32"}, "f1"); err != nil {
		t.Fatal(err)
	}
	if b := block(t, l, set, "185.220.101.1/32"); len(b.Findings) != 1 {
		t.Errorf("findings %v, want f3's", b.Findings)
	}
	if err := l.Unwant(ctx, set, []string{"185.220.101.1/32", "185.220.101.9/32"}, "f3"); err != nil {
		t.Fatal(err)
	}
	if b := block(t, l, set, "185.220.101.1/32"); len(b.Findings) != 0 {
		t.Errorf("findings %v, want none", b.Findings)
	}
	// Forget keeps a block that was wanted again since it was read.
	stale := block(t, l, set, "185.220.101.2/32")
	now = now.Add(time.Second)
	if err := l.Want(ctx, set, []string{stale.Address}, "f4", now.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := l.Forget(ctx, set, []ledger.Block{stale}); err != nil {
		t.Fatal(err)
	}
	if blocks, _ := l.Blocks(ctx, set); len(blocks) != 2 {
		t.Errorf("a block wanted again was forgotten: %v", blocks)
	}
}

func block(t *testing.T, l *ledger.Ledger, set, addr string) ledger.Block {
	t.Helper()
	blocks, err := l.Blocks(context.Background(), set)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range blocks {
		if b.Address == addr {
			return b
		}
	}
	t.Fatalf("no block of %s in %v", addr, blocks)
	return ledger.Block{}
}

// TestHoldsOfAnEarlierVersionAreRead: a finding contained before holds
// named their action (keys hold#ACCOUNT#KIND#NAME#RESOURCE) can still be
// undone: its holds are read with the action that made them, and released
// at the items where they are stored.
func TestHoldsOfAnEarlierVersionAreRead(t *testing.T) {
	now := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	l := newLedger(t, &now)
	ctx := context.Background()
	db := l.DB.(*dynamodb.Client)
	legacy := []string{"hold#123456789012#key-deactivated#alice#AKIAEXAMPLE", "hold#123456789012#role-policy-written#web#P"}
	put := func(item map[string]ddbtypes.AttributeValue) {
		t.Helper()
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(l.Table), Item: item}); err != nil {
			t.Fatal(err)
		}
	}
	put(map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "finding#old"}, "sk": &ddbtypes.AttributeValueMemberS{Value: "finding"},
		"holds": &ddbtypes.AttributeValueMemberSS{Value: legacy}})
	for _, k := range legacy {
		put(map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: k}, "sk": &ddbtypes.AttributeValueMemberS{Value: "hold"},
			"holders": &ddbtypes.AttributeValueMemberSS{Value: []string{"old"}}, "changed": &ddbtypes.AttributeValueMemberBOOL{Value: true}})
	}
	h, ok, err := l.History(ctx, "old")
	if err != nil || !ok || len(h.Holds) != 2 {
		t.Fatalf("history %+v %v %v", h, ok, err)
	}
	want := []string{"deactivate-key user/alice key/AKIAEXAMPLE", "revoke-sessions role/web policy/P"}
	for i, hd := range h.Holds {
		if got := hd.Action + " " + hd.Principal + " " + hd.Resource; got != want[i] {
			t.Errorf("hold %d: %s, want %s", i, got, want[i])
		}
		if r, err := l.ReleaseHold(ctx, hd, "old"); err != nil || r.Missing || !r.Changed || len(r.Holders) != 0 {
			t.Errorf("release %s: %+v %v", hd, r, err)
		}
	}
}

// TestPrepareStaysWithinOneTransaction: a finding with many holds and
// addresses (an attack sequence of many actors) is prepared: the fast path
// makes room for the holds in its one transaction of at most 100 writes,
// and more holds than one transaction records are refused, permanently.
func TestPrepareStaysWithinOneTransaction(t *testing.T) {
	now := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	l := newLedger(t, &now)
	ctx := context.Background()
	const set = "arn:aws:wafv2:us-east-1:123456789012:regional/ipset/s/1"
	holds := func(n int) []ledger.Hold {
		var hs []ledger.Hold
		for i := range n {
			hs = append(hs, ledger.Hold{Action: "revoke-sessions", Account: "123456789012", Principal: fmt.Sprintf("user/u%d", i), Resource: "policy/P"})
		}
		return hs
	}
	var addrs []string
	for i := range 45 {
		addrs = append(addrs, fmt.Sprintf("185.220.101.%d/32", i+1))
	}
	prep := ledger.Prep{Finding: "f1", Token: "tok1", Account: "123456789012", Holds: holds(60),
		Wants: []ledger.Want{{Set: set, Addrs: addrs, Until: now.Add(time.Hour)}}, Lease: time.Minute}
	if _, err := l.Prepare(ctx, prep); err != nil {
		t.Fatalf("60 holds and 45 addresses: %v", err)
	}
	h, _, err := l.History(ctx, "f1")
	if err != nil || len(h.Holds) != 60 || len(h.Blocked()) != 45 {
		t.Errorf("history: %d holds, %d blocked (%v)", len(h.Holds), len(h.Blocked()), err)
	}
	prep.Finding, prep.Holds = "f2", holds(ledger.MaxHolds+1)
	if _, err := l.Prepare(ctx, prep); err == nil || !failure.IsPermanent(err) {
		t.Errorf("%d holds: %v, want a permanent error", ledger.MaxHolds+1, err)
	}
}

// TestOrganizationBreaker: in organization mode a principal is admitted
// only when both its account's window and the organization's have room;
// the organization's counts principals of every account, and a refusal by
// either counts the principal in neither.
func TestOrganizationBreaker(t *testing.T) {
	now := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	l := newLedger(t, &now)
	ctx := context.Background()
	prep := func(finding, account string, orgMax int) ledger.Prepared {
		t.Helper()
		h := ledger.Hold{Action: "revoke-sessions", Account: account, Principal: "user/alice", Resource: "policy/P"}
		res, err := l.Prepare(ctx, ledger.Prep{Finding: finding, Token: "t-" + finding, Account: account, Principals: []string{h.PrincipalKey()},
			BreakerMax: min(orgMax, 2), BreakerWindow: time.Hour, Organization: "o-abcdefghij", OrgBreakerMax: orgMax, Holds: []ledger.Hold{h}})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	// Same-named users of two accounts are two principals of the organization.
	for i, acct := range []string{"111111111111", "222222222222"} {
		if res := prep(fmt.Sprint("f", i), acct, 2); res.BreakerOpen {
			t.Fatalf("account %s refused: %+v", acct, res)
		}
	}
	res := prep("f3", "333333333333", 2)
	if !res.BreakerOpen || !res.OrgBreakerOpen {
		t.Fatalf("the organization's third principal was admitted past orgBreakerMax 2: %+v", res)
	}
	if h, _, _ := l.History(ctx, "f3"); len(h.Holds) != 0 {
		t.Errorf("a refused principal holds %+v", h.Holds)
	}
	// Refused by the organization's window, it was not counted in its
	// account's either: without the organization's breaker it is admitted
	// (an account window of 10 that had counted it would still admit it,
	// so a max of 1 proves it).
	h := ledger.Hold{Action: "revoke-sessions", Account: "333333333333", Principal: "user/bob", Resource: "policy/P"}
	res, err := l.Prepare(ctx, ledger.Prep{Finding: "f4", Token: "t-f4", Account: "333333333333", Principals: []string{h.PrincipalKey()},
		BreakerMax: 1, BreakerWindow: time.Hour, Holds: []ledger.Hold{h}})
	if err != nil || res.BreakerOpen {
		t.Fatalf("account 333333333333 counted a principal the organization refused: %+v %v", res, err)
	}
	// An account breaker's refusal is not the organization's: alice is
	// account 333333333333's second principal, past its max of 1.
	al := ledger.Hold{Action: "revoke-sessions", Account: "333333333333", Principal: "user/alice", Resource: "policy/P"}
	res, err = l.Prepare(ctx, ledger.Prep{Finding: "f5", Token: "t-f5", Account: "333333333333", Principals: []string{al.PrincipalKey()},
		BreakerMax: 1, BreakerWindow: time.Hour, Organization: "o-abcdefghij", OrgBreakerMax: 5, Holds: []ledger.Hold{al}})
	if err != nil || !res.BreakerOpen || res.OrgBreakerOpen {
		t.Errorf("account breaker: %+v %v", res, err)
	}
}

// TestInstanceHoldKeepsTheFirstPrior: an isolated instance's hold reads
// back from a finding's history, and the ledger keeps what the first
// change said the instance had before: a later finding's (which found it
// isolated already) never replaces it.
func TestInstanceHoldKeepsTheFirstPrior(t *testing.T) {
	now := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	l := newLedger(t, &now)
	ctx := context.Background()
	hd := ledger.Hold{Action: "isolate-instance", Account: "123456789012", Principal: "instance/i-0123456789abcdef0", Resource: "isolation"}
	for _, f := range []string{"f1", "f2"} {
		if _, err := l.Prepare(ctx, ledger.Prep{Finding: f, Token: "tok-" + f, Account: "123456789012", Principals: []string{hd.PrincipalKey()},
			BreakerMax: 5, BreakerWindow: time.Hour, Holds: []ledger.Hold{hd}}); err != nil {
			t.Fatal(err)
		}
	}
	first, second := hd, hd
	first.Prior, second.Prior = "eni-0123456789abcdef0=sg-0123456789abcdef0", "eni-0123456789abcdef0=sg-0fffffffffffffff0"
	if _, err := l.Commit(ctx, ledger.Commit{Finding: "f1", UpdatedAt: now, OK: true, Changed: []ledger.Hold{first}}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Commit(ctx, ledger.Commit{Finding: "f2", UpdatedAt: now, OK: true, Changed: []ledger.Hold{second}}); err != nil {
		t.Fatal(err)
	}
	h, ok, err := l.History(ctx, "f1")
	if err != nil || !ok || len(h.Holds) != 1 || h.Holds[0].Principal != hd.Principal || h.Holds[0].Resource != "isolation" {
		t.Fatalf("history of f1: %+v %v %v", h, ok, err)
	}
	if r, err := l.ReleaseHold(ctx, hd, "f1"); err != nil || !r.Changed || r.Prior != first.Prior || len(r.Holders) != 1 {
		t.Errorf("release f1: %+v %v; want changed, prior %q, f2 still holding", r, err, first.Prior)
	}
}
