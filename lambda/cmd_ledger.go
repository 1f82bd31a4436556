package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"

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

// check refuses a command that names neither the table nor the function,
// before any work.
func (lf ledgerFlags) check(c engine.Command) error {
	if *lf.table == "" && *lf.function == "" {
		return usagef("%s needs the ledger: name its table with -table or $%s, or use -function", c.Command, engine.EnvLedgerTable)
	}
	return nil
}

// run sends c to the function if -function names one, and otherwise runs
// it here against the ledger table, with the playbook in force and the
// account home returns (nil: the command needs none), and prints its
// answer.
func (lf ledgerFlags) run(ctx context.Context, c engine.Command, home func(context.Context, aws.Config) (account.Account, error), stdout io.Writer) error {
	if *lf.function != "" {
		return invokeFunction(ctx, *lf.function, "", c.Event(), stdout)
	}
	pb, err := loadPlaybook(*lf.playbook)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(ctx)
	if err != nil {
		return err
	}
	opts := engineOptions()
	opts.LedgerTable = *lf.table
	if home != nil {
		if opts.Home, err = home(ctx, cfg); err != nil {
			return err
		}
	}
	eng := engine.New(cfg, pb, slog.New(slog.NewJSONHandler(io.Discard, nil)), opts)
	out, err := eng.Handle(ctx, c.Event())
	if werr := writeJSON(stdout, out); werr != nil {
		return werr
	}
	return err
}
