package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/autocontain/autocontain/internal/engine"
)

// runPlan prints the plan of each event. It makes no AWS call.
func runPlan(_ context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) error {
	asJSON := fs.Bool("json", false, "print each plan as JSON instead of a table")
	pbFile := playbookFlag(fs)
	acct := accountFlag(fs)
	if err := parseArgs(fs, args, 1, -1, "name at least one event file"); err != nil {
		return err
	}
	pb, err := loadPlaybook(*pbFile)
	if err != nil {
		return err
	}
	// plan makes no AWS call: the account comes from the flag or the
	// variable, or is unknown, and then the plan contains no principal.
	home, err := givenHome(*acct)
	if err != nil {
		return err
	}
	events, err := readEvents(fs.Args())
	if err != nil {
		return err
	}
	eng := &engine.Engine{Playbook: pb, Home: home}
	for i, raw := range events {
		name := fs.Arg(i)
		p, err := eng.Plan(raw)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if *asJSON {
			if err := writeJSON(stdout, p); err != nil {
				return err
			}
			continue
		}
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		fmt.Fprintf(stdout, "== %s\n", name)
		if err := p.WriteTable(stdout); err != nil {
			return err
		}
	}
	return nil
}
