package main

import (
	"context"
	"flag"
	"io"
	"strings"

	"github.com/autocontain/autocontain/internal/engine"
)

// runUndo restores what autocontain changed for a finding, as its ledger
// recorded it.
func runUndo(ctx context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) error {
	lf := defineLedgerFlags(fs)
	acct := accountFlag(fs)
	const want = "name exactly one finding id"
	if err := lf.parse(fs, args, 1, want); err != nil {
		return err
	}
	if strings.TrimSpace(fs.Arg(0)) == "" {
		return usagef(want)
	}
	home, err := givenHome(*acct)
	if err != nil {
		return err
	}
	// Undo here acts with these credentials: know (and check) their account.
	return lf.run(ctx, engine.Command{Command: engine.CommandUndo, FindingID: fs.Arg(0)}, &home, stdout)
}
