package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/autocontain/autocontain/internal/audit"
)

// runApply plans and executes each event against the account of the
// default credential chain.
func runApply(ctx context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) error {
	ef := defineEventFlags(fs, "print each audit record as JSON instead of text")
	dryRun := fs.Bool("dry-run", false, "decide and record, change nothing (overrides the playbook's dryRun)")
	verbose := fs.Bool("v", false, "also log each audit record to stderr as JSON")
	in, err := ef.parse(fs, args)
	if err != nil {
		return err
	}
	if *dryRun {
		in.pb.Settings.DryRun = true
	}
	logOut := io.Discard
	if *verbose {
		logOut = fs.Output()
	}
	log := slog.New(audit.MaskingHandler(slog.NewJSONHandler(logOut, nil)))
	eng, err := localEngine(ctx, in.pb, log, "", &in.home)
	if err != nil {
		return err
	}
	var failed []string
	for i, raw := range in.events {
		// One record per finding: a Security Hub event may carry several.
		recs, runErr := eng.RunAll(ctx, raw)
		if len(recs) == 0 && runErr != nil {
			return fmt.Errorf("%s: %w", in.names[i], runErr)
		}
		for _, rec := range recs {
			text := func(w io.Writer) error { _, err := io.WriteString(w, rec.Text()); return err }
			if err := in.write(stdout, i, rec, text); err != nil {
				return err
			}
		}
		if runErr != nil {
			failed = append(failed, in.names[i])
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("a step failed for %s", strings.Join(failed, ", "))
	}
	return nil
}
