package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/autocontain/autocontain/internal/engine"
)

// runPlan prints the plan of each event. It makes no AWS call, unless
// -impact asks it to read the principals' impact classes.
func runPlan(ctx context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) error {
	ef := defineEventFlags(fs, "print each plan as JSON instead of a table")
	withImpact := fs.Bool("impact", false, "read each principal's impact class from IAM (and the account from sts:GetCallerIdentity) with the default credential chain; changes nothing")
	in, err := ef.parse(fs, args)
	if err != nil {
		return err
	}
	// plan makes no AWS call: the account comes from the flag or the
	// variable, or is unknown, and then the plan contains no principal.
	eng := &engine.Engine{Playbook: in.pb, Home: in.home}
	if *withImpact {
		cfg, err := loadConfig(ctx)
		if err != nil {
			return err
		}
		if eng.Home, err = callerHome(ctx, sts.NewFromConfig(cfg), in.home); err != nil {
			return err
		}
		eng.Impact = iam.NewFromConfig(cfg)
	}
	for i, raw := range in.events {
		ps, err := eng.PlanAllImpact(ctx, raw)
		if err != nil {
			return fmt.Errorf("%s: %w", in.names[i], err)
		}
		// One plan per finding: a Security Hub event may carry several.
		for _, p := range ps {
			if err := in.write(stdout, i, p, p.WriteTable); err != nil {
				return err
			}
		}
	}
	return nil
}
