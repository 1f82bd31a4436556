package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/autocontain/autocontain/internal/audit"
	"github.com/autocontain/autocontain/internal/engine"
)

// runApply plans and executes each event against the account of the
// default credential chain.
func runApply(ctx context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) error {
	asJSON := fs.Bool("json", false, "print each audit record as JSON instead of text")
	pbFile := playbookFlag(fs)
	acct := accountFlag(fs)
	dryRun := fs.Bool("dry-run", false, "decide and record, change nothing (overrides the playbook's dryRun)")
	verbose := fs.Bool("v", false, "also log each audit record to stderr as JSON")
	if err := parseArgs(fs, args, 1, -1, "name at least one event file"); err != nil {
		return err
	}
	pb, err := loadPlaybook(*pbFile)
	if err != nil {
		return err
	}
	if *dryRun {
		pb.Settings.DryRun = true
	}
	want, err := givenHome(*acct)
	if err != nil {
		return err
	}
	events, err := readEvents(fs.Args())
	if err != nil {
		return err
	}
	cfg, err := loadConfig(ctx)
	if err != nil {
		return err
	}
	opts := engineOptions()
	if opts.Home, err = callerHome(ctx, sts.NewFromConfig(cfg), want); err != nil {
		return err
	}
	logOut := io.Discard
	if *verbose {
		logOut = fs.Output()
	}
	eng := engine.New(cfg, pb, slog.New(audit.MaskingHandler(slog.NewJSONHandler(logOut, nil))), opts)
	var failed []string
	for i, raw := range events {
		name := fs.Arg(i)
		rec, err := eng.Run(ctx, raw)
		if rec.Finding.ID == "" && err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if *asJSON {
			if err := writeJSON(stdout, rec); err != nil {
				return err
			}
		} else {
			if i > 0 {
				fmt.Fprintln(stdout)
			}
			fmt.Fprintf(stdout, "== %s\n%s", name, rec.Text())
		}
		if err != nil {
			failed = append(failed, name)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("a step failed for %s", strings.Join(failed, ", "))
	}
	return nil
}
