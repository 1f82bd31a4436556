package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"os"

	"github.com/autocontain/autocontain/internal/account"
	"github.com/autocontain/autocontain/internal/engine"
)

// ledgerFlags are the flags of the commands that work on the ledger (undo,
// reconcile): locally against its table, or through the deployed function.
type ledgerFlags struct {
	table, function, playbook *string
}

// defineLedgerFlags defines -table, -function and -playbook on fs.
func defineLedgerFlags(fs *flag.FlagSet) ledgerFlags {
	return ledgerFlags{
		table:    fs.String("table", os.Getenv(engine.EnvLedgerTable), "the ledger's DynamoDB `TABLE` (default $"+engine.EnvLedgerTable+")"),
		function: fs.String("function", "", "run it in the deployed function `NAME` instead"),
		playbook: playbookFlag(fs),
	}
}

// parse parses args into fs, wants n arguments (saying want otherwise), and
// refuses a command that names neither the table nor the function.
func (lf ledgerFlags) parse(fs *flag.FlagSet, args []string, n int, want string) error {
	if err := parseArgs(fs, args, n, n, want); err != nil {
		return err
	}
	if *lf.table == "" && *lf.function == "" {
		return usagef("%s needs the ledger: name its table with -table or $%s, or use -function", fs.Name(), engine.EnvLedgerTable)
	}
	return nil
}

// run sends c to the function if -function names one, and otherwise runs
// it here against the ledger table with the playbook in force, and prints
// its answer. Run here, it checks the credentials' account against want
// (see localEngine; nil: c needs no account).
func (lf ledgerFlags) run(ctx context.Context, c engine.Command, want *account.Account, stdout io.Writer) error {
	if *lf.function != "" {
		return invokeFunction(ctx, *lf.function, "", c.Event(), stdout)
	}
	eng, err := lf.engine(ctx, want)
	if err != nil {
		return err
	}
	out, err := eng.Handle(ctx, c.Event())
	if werr := writeJSON(stdout, out); werr != nil {
		return werr
	}
	return err
}

// engine returns an engine that works here on the ledger table, with the
// playbook in force (see localEngine for want).
func (lf ledgerFlags) engine(ctx context.Context, want *account.Account) (*engine.Engine, error) {
	pb, err := loadPlaybook(*lf.playbook)
	if err != nil {
		return nil, err
	}
	return localEngine(ctx, pb, slog.New(slog.NewJSONHandler(io.Discard, nil)), *lf.table, want)
}
