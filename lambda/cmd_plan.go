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
	in, err := defineEventFlags(fs, "print each plan as JSON instead of a table").parse(fs, args)
	if err != nil {
		return err
	}
	// plan makes no AWS call: the account comes from the flag or the
	// variable, or is unknown, and then the plan contains no principal.
	eng := &engine.Engine{Playbook: in.pb, Home: in.home}
	for i, raw := range in.events {
		p, err := eng.Plan(raw)
		if err != nil {
			return fmt.Errorf("%s: %w", in.names[i], err)
		}
		if err := in.write(stdout, i, p, p.WriteTable); err != nil {
			return err
		}
	}
	return nil
}
