package engine

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/autocontain/autocontain/internal/playbook"
	"github.com/autocontain/autocontain/internal/sandbox"
	"github.com/autocontain/autocontain/internal/testenv"
	"github.com/autocontain/autocontain/internal/testenv/faultproxy"
	"github.com/autocontain/autocontain/internal/testenv/sandboxtest"
)

// fixture is a sandbox account reached through a fault proxy, and a way to
// make engines ("Lambda instances") that share its ledger.
type fixture struct {
	emu   *testenv.Emulator
	acct  *sandbox.Account
	cfg   aws.Config // through the proxy
	proxy *faultproxy.Proxy
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	emu := testenv.Moto(t)
	acct, _ := sandboxtest.New(t, emu)
	p := faultproxy.New(emu.URL)
	t.Cleanup(p.Close)
	return &fixture{emu: emu, acct: acct, cfg: testenv.ConfigAt(t, p.URL()), proxy: p}
}

// engine is newEngine on the fixture's account, through the proxy.
func (fx *fixture) engine(mutate func(*playbook.Settings)) *Engine {
	return newEngine(fx.cfg, fx.acct, mutate)
}

func (fx *fixture) state(t testing.TB) sandbox.State {
	t.Helper()
	st, err := fx.acct.Snapshot(context.Background(), fx.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// newEngine is an engine ("Lambda instance") for the sandbox account acct,
// reached through cfg, with the account's ledger and sandboxPlaybook's
// playbook.
func newEngine(cfg aws.Config, acct *sandbox.Account, mutate func(*playbook.Settings)) *Engine {
	return New(cfg, sandboxPlaybook(acct, mutate), slog.New(slog.NewJSONHandler(io.Discard, nil)), Options{LedgerTable: acct.LedgerTable, Home: goldenHome})
}

// sandboxPlaybook is the default playbook with acct's settings (its IP
// sets and topic), changed by mutate when it is not nil.
func sandboxPlaybook(acct *sandbox.Account, mutate func(*playbook.Settings)) *playbook.Playbook {
	pb := playbook.Default()
	pb.Settings = acct.Settings(pb.Settings)
	if mutate != nil {
		mutate(&pb.Settings)
	}
	return pb
}

// event is the sample event events/NAME with the replacements (old, new
// pairs) made.
func event(t testing.TB, name string, replace ...string) []byte {
	t.Helper()
	return []byte(strings.NewReplacer(replace...).Replace(string(testenv.Event(t, name))))
}
