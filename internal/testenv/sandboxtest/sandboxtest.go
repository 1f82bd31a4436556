// Package sandboxtest builds the sandbox account (package sandbox: the
// users, roles, IP sets, topic and ledger table the sample events talk
// about) in a test's emulator.
//
// It is not part of testenv because sandbox imports finding, ipset, ledger
// and playbook: were testenv to import it, those packages' own tests could
// not use testenv (an import cycle).
package sandboxtest

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/autocontain/autocontain/internal/sandbox"
	"github.com/autocontain/autocontain/internal/testenv"
)

// New builds the sandbox account in emu, which the test holds
// (testenv.Moto), and returns it with an SDK configuration that reaches emu
// directly. It fails the test if the account cannot be built.
func New(tb testing.TB, emu *testenv.Emulator) (*sandbox.Account, aws.Config) {
	tb.Helper()
	cfg := emu.Config(tb)
	acct, err := sandbox.Create(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("build the sandbox account: %v", err)
	}
	return acct, cfg
}
