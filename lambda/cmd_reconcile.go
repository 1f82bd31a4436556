package main

import (
	"context"
	"flag"
	"io"

	"github.com/autocontain/autocontain/internal/engine"
)

// runReconcile writes the IP sets from the ledger now.
func runReconcile(ctx context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) error {
	lf := defineLedgerFlags(fs)
	if err := lf.parse(fs, args, 0, "reconcile takes no arguments"); err != nil {
		return err
	}
	return lf.run(ctx, engine.Command{Command: engine.CommandReconcile}, nil, stdout)
}
