// Command demo shows containment happen: it starts the moto server, builds
// the sandbox account the sample events talk about, runs every event in
// events/ through the engine for real, and prints the account before and
// after. Run it with `make demo`.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/autocontain/autocontain/internal/account"
	"github.com/autocontain/autocontain/internal/emulator"
	"github.com/autocontain/autocontain/internal/engine"
	"github.com/autocontain/autocontain/internal/playbook"
	"github.com/autocontain/autocontain/internal/sandbox"
)

func main() {
	events := flag.String("events", "events", "`DIR` of sample events")
	verbose := flag.Bool("v", false, "also print each audit record as JSON")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *events, *verbose, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, dir string, verbose bool, out io.Writer) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no sample events in %s", dir)
	}
	fmt.Fprintln(out, "Starting the moto server (the local AWS emulator)...")
	srv, err := emulator.Start(ctx)
	if err != nil {
		return err
	}
	defer srv.Stop()
	cfg, err := srv.Config(ctx)
	if err != nil {
		return err
	}
	acct, err := sandbox.Create(ctx, cfg)
	if err != nil {
		return err
	}
	before, err := acct.Snapshot(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Emulator at %s. The demo account before:\n%s\n", srv.URL, before)

	pb := playbook.Default()
	pb.Settings = acct.Settings(pb.Settings)
	logOut := io.Discard
	if verbose {
		logOut = out
	}
	// The responder serves the account the credentials reach, as the CLI's apply does.
	home, err := account.OfCaller(ctx, sts.NewFromConfig(cfg))
	if err != nil {
		return err
	}
	eng := engine.New(cfg, pb, slog.New(slog.NewJSONHandler(logOut, nil)), engine.Options{LedgerTable: acct.LedgerTable, Home: home})
	for _, name := range files {
		raw, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		raw = acct.Rewrite(raw)
		fmt.Fprintf(out, "%s\n== %s\n", strings.Repeat("-", 78), filepath.Base(name))
		rec, err := eng.Run(ctx, raw)
		if rec.Finding.ID == "" {
			fmt.Fprintf(out, "rejected: %v\n", err)
			continue
		}
		fmt.Fprint(out, rec.Text())
	}
	after, err := acct.Snapshot(ctx, cfg)
	if err != nil {
		return err
	}
	msgs, err := acct.Messages(ctx, cfg, 100)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s\nThe demo account before:\n%s\nand after:\n%s\n%d notifications were published to %s.\n",
		strings.Repeat("=", 78), before, after, len(msgs), acct.TopicARN)

	// Every containment can be undone from the ledger: undo the first one.
	raw, err := os.ReadFile(files[0])
	if err != nil {
		return err
	}
	p, err := eng.Plan(acct.Rewrite(raw))
	if err != nil {
		return err
	}
	rep, err := eng.Undo(ctx, p.Finding.ID)
	if err != nil {
		return err
	}
	undone, err := acct.Snapshot(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\n$ autocontain undo %s   (%s)\n  %s\nThe account after the undo:\n%s",
		p.Finding.ID, filepath.Base(files[0]), strings.Join(rep.Restored, "\n  "), undone)
	return nil
}
