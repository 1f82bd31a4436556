package ledger_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

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
		got, err := l.Claim(ctx, "f1", updatedAt, time.Minute, name)
		if err != nil || got != want {
			t.Fatalf("%s: verdict %v (%v), want %v", name, got, err, want)
		}
	}
	step("first delivery", ledger.Claimed, at)
	step("concurrent delivery", ledger.InProgress, at)
	if v, err := l.Claim(ctx, "f1", at, time.Minute, "first delivery"); err != nil || v != ledger.Claimed {
		t.Fatalf("a retried write of its own claim: %v %v", v, err)
	}
	if err := l.Finish(ctx, "f1", at, false); err != nil {
		t.Fatal(err)
	}
	step("retry after a failure", ledger.Claimed, at)
	now = now.Add(2 * time.Minute)
	step("handler died, lease ran out", ledger.Claimed, at)
	if err := l.Finish(ctx, "f1", at, true); err != nil {
		t.Fatal(err)
	}
	step("redelivery after success", ledger.AlreadyHandled, at)
	step("updated finding", ledger.Claimed, at.Add(time.Hour))
}

func TestAdmit(t *testing.T) {
	now := time.Date(2026, 11, 24, 3, 10, 0, 0, time.UTC)
	l := newLedger(t, &now)
	ctx := context.Background()
	for i := 1; i <= 3; i++ {
		ok, n, err := l.Admit(ctx, "123456789012", time.Hour, 2)
		if err != nil {
			t.Fatal(err)
		}
		if ok != (i <= 2) || (ok && n != int64(i)) {
			t.Errorf("admission %d: ok %v count %d", i, ok, n)
		}
	}
	if ok, _, _ := l.Admit(ctx, "210987654321", time.Hour, 2); !ok {
		t.Error("another account shares the count")
	}
	now = now.Add(time.Hour)
	if ok, n, _ := l.Admit(ctx, "123456789012", time.Hour, 2); !ok || n != 1 {
		t.Errorf("next window: ok %v count %d", ok, n)
	}
}

func TestLeaseAndGeneration(t *testing.T) {
	now := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	l := newLedger(t, &now)
	ctx := context.Background()
	const set = "arn:aws:wafv2:us-east-1:123456789012:regional/ipset/s/1"
	if err := l.Want(ctx, set, []string{"185.220.101.1/32"}, "f1", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	gen, ok, err := l.Acquire(ctx, set, "a", 30*time.Second)
	if err != nil || !ok || gen != 1 {
		t.Fatalf("acquire: gen %d ok %v err %v", gen, ok, err)
	}
	if _, ok, _ := l.Acquire(ctx, set, "b", 30*time.Second); ok {
		t.Fatal("a second writer got the lease")
	}
	if err := l.Want(ctx, set, []string{"185.220.101.2/32"}, "f2", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if released, _ := l.Release(ctx, set, "a", gen); released {
		t.Fatal("released although something was recorded since")
	}
	gen, _, _ = l.Acquire(ctx, set, "a", 30*time.Second)
	if released, err := l.Release(ctx, set, "a", gen); !released || err != nil {
		t.Fatalf("release at the current generation: %v %v", released, err)
	}
	if _, ok, _ := l.Acquire(ctx, set, "b", 30*time.Second); !ok {
		t.Fatal("the lease was not free after release")
	}
	now = now.Add(time.Minute)
	if _, ok, _ := l.Acquire(ctx, set, "c", 30*time.Second); !ok {
		t.Fatal("an expired lease was not taken over")
	}
	blocks, err := l.Blocks(ctx, set)
	if err != nil || len(blocks) != 2 {
		t.Fatalf("blocks %v %v", blocks, err)
	}
	// Unwant: the block expires only when no finding wants it.
	if err := l.Want(ctx, set, []string{"185.220.101.1/32"}, "f3", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if gone, _ := l.Unwant(ctx, set, "185.220.101.1/32", "f1"); gone {
		t.Error("expired although f3 still wants it")
	}
	if gone, _ := l.Unwant(ctx, set, "185.220.101.1/32", "f3"); !gone {
		t.Error("not expired when no finding wants it")
	}
	// Forget keeps a block that was wanted again since it was read.
	blocks, _ = l.Blocks(ctx, set)
	var stale ledger.Block
	for _, b := range blocks {
		if b.Address == "185.220.101.2/32" {
			stale = b
		}
	}
	now = now.Add(time.Second)
	if err := l.Want(ctx, set, []string{stale.Address}, "f4", now.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := l.Forget(ctx, set, stale.Address, stale.Until); err != nil {
		t.Fatal(err)
	}
	if blocks, _ = l.Blocks(ctx, set); len(blocks) != 2 {
		t.Errorf("a block wanted again was forgotten: %v", blocks)
	}
}
