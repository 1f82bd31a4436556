package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/autocontain/autocontain/internal/impact"
)

// runKeys lists every IAM user's access keys, the highest impact first.
func runKeys(ctx context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) error {
	asJSON := fs.Bool("json", false, "print the keys as JSON instead of a table")
	if err := parseArgs(fs, args, 0, 0, "keys takes no arguments"); err != nil {
		return err
	}
	cfg, err := loadConfig(ctx)
	if err != nil {
		return err
	}
	api := iam.NewFromConfig(cfg)
	keys, err := impact.New(api).Keys(ctx, api, time.Now().UTC())
	if err != nil {
		return err
	}
	if *asJSON {
		if keys == nil {
			keys = []impact.Key{}
		}
		return writeJSON(stdout, keys)
	}
	return writeKeys(stdout, keys)
}

// writeKeys writes the keys as a table, one row per key.
func writeKeys(w io.Writer, keys []impact.Key) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IMPACT\tUSER\tKEY\tSTATUS\tAGE\tLAST USED\tWHY")
	for _, k := range keys {
		used := "never"
		if k.LastUsed != nil {
			used = k.LastUsed.Format(time.DateOnly)
			if k.LastUsedService != "" {
				used += " " + k.LastUsedService
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%dd\t%s\t%s\n", k.Impact.Class, k.User, k.AccessKey, k.Status, k.AgeDays, used, k.Impact.Why)
	}
	return tw.Flush()
}
