package main

import (
	"context"
	"flag"
	"fmt"
	"io"
)

// runPlaybook prints the playbook in force, or checks a playbook file.
func runPlaybook(_ context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) error {
	check := fs.String("check", "", "validate playbook `FILE` and exit")
	if err := parseArgs(fs, args, 0, 0, "playbook takes no arguments"); err != nil {
		return err
	}
	pb, err := loadPlaybook(*check)
	if err != nil {
		return err
	}
	if *check != "" {
		fmt.Fprintf(stdout, "%s: valid, %d rules\n", *check, len(pb.Rules))
		return nil
	}
	return writeJSON(stdout, pb)
}
