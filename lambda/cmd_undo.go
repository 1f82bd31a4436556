package main

import (
	"context"
	"flag"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/autocontain/autocontain/internal/account"
	"github.com/autocontain/autocontain/internal/engine"
)

// runUndo restores what autocontain changed for a finding, as its ledger
// recorded it.
func runUndo(ctx context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) error {
	lf := defineLedgerFlags(fs)
	acct := accountFlag(fs)
	const want = "name exactly one finding id"
	if err := parseArgs(fs, args, 1, 1, want); err != nil {
		return err
	}
	if strings.TrimSpace(fs.Arg(0)) == "" {
		return usagef(want)
	}
	c := engine.Command{Command: engine.CommandUndo, FindingID: fs.Arg(0)}
	if err := lf.check(c); err != nil {
		return err
	}
	wantHome, err := givenHome(*acct)
	if err != nil {
		return err
	}
	// Undo here acts with these credentials: know (and check) their account.
	return lf.run(ctx, c, func(ctx context.Context, cfg aws.Config) (account.Account, error) {
		return callerHome(ctx, sts.NewFromConfig(cfg), wantHome)
	}, stdout)
}
