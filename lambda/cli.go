package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	lambdasvc "github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/autocontain/autocontain/internal/account"
	"github.com/autocontain/autocontain/internal/audit"
	"github.com/autocontain/autocontain/internal/engine"
	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/playbook"
)

const usage = `autocontain contains abused AWS credentials and addresses.

Usage:
  autocontain plan   [-json] [-playbook FILE] [-account ACCOUNT] EVENT.json...
  autocontain apply  [-json] [-playbook FILE] [-account ACCOUNT] [-dry-run] EVENT.json...
  autocontain invoke -function NAME [-region REGION] EVENT.json
  autocontain undo   [-table TABLE | -function NAME] [-account ACCOUNT] FINDING-ID
  autocontain reconcile [-table TABLE | -function NAME]
  autocontain playbook [-check FILE]

Commands:
  plan      Print what autocontain would do about each event. Makes no AWS call.
            A principal is contained only in the account the responder
            serves: name it with -account or $AUTOCONTAIN_ACCOUNT, or the
            plan says it could not check and contains no principal.
  apply     Plan and execute each event against the account of the default
            credential chain (AWS_PROFILE, AWS_REGION, ...; AWS_ENDPOINT_URL
            points it at an emulator), found with sts:GetCallerIdentity;
            -account, if given, must name that account. Principals of any
            other account or partition are reported, not contained.
            Exits 1 if a step failed.
  invoke    Send an event to the deployed Lambda function and print its result.
  undo      Restore what autocontain changed for a finding, as its ledger
            recorded it: reactivate the keys it deactivated, delete the deny
            policies it wrote (if still its own), unblock the addresses it
            added. Locally with the ledger table, or through the function.
  reconcile Write the IP sets from the ledger now: expired blocks leave, the
            oldest go past WAF's 10,000-address limit (the schedule does this).
  playbook  Print the playbook in force, or check a playbook file.

An EVENT is a file holding one EventBridge event, or - for standard input.
The playbook in force is $AUTOCONTAIN_PLAYBOOK, else the file named by
$AUTOCONTAIN_PLAYBOOK_FILE (or -playbook), else the embedded default; the
AUTOCONTAIN_* setting variables override its settings (see README).

Run 'autocontain COMMAND -h' for a command's flags.
`

// exit codes
const (
	exitOK     = 0
	exitFailed = 1 // a step failed, or the invoked function returned an error
	exitUsage  = 2 // bad flags, unreadable files, invalid events or playbook
)

func runCLI(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, args := args[0], args[1:]
	var err error
	switch cmd {
	case "plan":
		err = cmdPlan(args, stdout, stderr)
	case "apply":
		err = cmdApply(ctx, args, stdout, stderr)
	case "invoke":
		err = cmdInvoke(ctx, args, stdout, stderr)
	case "playbook":
		err = cmdPlaybook(args, stdout, stderr)
	case "undo", "reconcile":
		err = cmdLedger(ctx, cmd, args, stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "autocontain: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
	}
	var failed failedError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &failed):
		fmt.Fprintf(stderr, "autocontain %s: %s\n", cmd, finding.MaskKeys(err.Error()))
		return exitFailed
	default:
		fmt.Fprintf(stderr, "autocontain %s: %s\n", cmd, finding.MaskKeys(err.Error()))
		return exitUsage
	}
}

// failedError marks errors that mean "the work ran and something failed",
// as opposed to "the work could not start".
type failedError struct{ error }

func (e failedError) Unwrap() error { return e.error }

// newFlags returns a flag set whose -h prints synopsis and flags to stderr.
func newFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: autocontain %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// loadPlaybook returns the playbook in force; file, if set, replaces
// $AUTOCONTAIN_PLAYBOOK and $AUTOCONTAIN_PLAYBOOK_FILE.
func loadPlaybook(file string) (*playbook.Playbook, error) {
	lookup := os.LookupEnv
	if file != "" {
		lookup = func(k string) (string, bool) {
			switch k {
			case playbook.EnvPlaybook:
				return "", false
			case playbook.EnvPlaybookFile:
				return file, true
			}
			return os.LookupEnv(k)
		}
	}
	return playbook.FromEnv(lookup)
}

// envAccount names the account the CLI's responder serves, as -account.
const envAccount = "AUTOCONTAIN_ACCOUNT"

// accountFlag defines -account on fs.
func accountFlag(fs *flag.FlagSet) *string {
	return fs.String("account", os.Getenv(envAccount),
		"the `ACCOUNT` the responder serves: 123456789012, or PARTITION:123456789012 outside the aws partition (default $"+envAccount+")")
}

// givenHome reads -account; the zero Account when it is empty.
func givenHome(s string) (account.Account, error) {
	if s == "" {
		return account.Account{}, nil
	}
	a, err := account.Parse(s)
	if err != nil {
		return account.Account{}, fmt.Errorf("-account / $%s: %w", envAccount, err)
	}
	return a, nil
}

// callerHome returns the account the credentials act in (one
// sts:GetCallerIdentity), and refuses a -account that names another: the
// actions would land in the credentials' account whatever the flag says.
func callerHome(ctx context.Context, api account.CallerIdentityAPI, given string) (account.Account, error) {
	want, err := givenHome(given)
	if err != nil {
		return account.Account{}, err
	}
	home, err := account.OfCaller(ctx, api)
	if err != nil {
		return account.Account{}, err
	}
	if !want.IsZero() && want != home {
		return account.Account{}, fmt.Errorf("-account / $%s says %s, but the credentials act in %s: refused", envAccount, want, home)
	}
	return home, nil
}

// playbookFlag defines -playbook on fs.
func playbookFlag(fs *flag.FlagSet) *string {
	return fs.String("playbook", "", "playbook `FILE` (default: $AUTOCONTAIN_PLAYBOOK_FILE, else the embedded default)")
}

// parseWithEvents parses the flags of a command that takes event files,
// requires at least one, and loads the playbook in force.
func parseWithEvents(fs *flag.FlagSet, args []string, pbFile *string) (*playbook.Playbook, error) {
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return nil, errors.New("name at least one event file")
	}
	return loadPlaybook(*pbFile)
}

// readEvent reads one event file, or standard input for "-".
func readEvent(name string) ([]byte, error) {
	var r io.Reader
	if name == "-" {
		r = os.Stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	// One byte more than the limit, so Parse can say the event is too big.
	data, err := io.ReadAll(io.LimitReader(r, finding.MaxEventSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return data, nil
}

func cmdPlan(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("plan", "plan [-json] [-playbook FILE] [-account ACCOUNT] EVENT.json...", stderr)
	asJSON := fs.Bool("json", false, "print each plan as JSON instead of a table")
	pbFile := playbookFlag(fs)
	acct := accountFlag(fs)
	pb, err := parseWithEvents(fs, args, pbFile)
	if err != nil {
		return err
	}
	// plan makes no AWS call: the account comes from the flag or the
	// variable, or is unknown, and then the plan contains no principal.
	home, err := givenHome(*acct)
	if err != nil {
		return err
	}
	eng := &engine.Engine{Playbook: pb, Home: home}
	for i, name := range fs.Args() {
		raw, err := readEvent(name)
		if err != nil {
			return err
		}
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

func cmdApply(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("apply", "apply [-json] [-playbook FILE] [-account ACCOUNT] [-dry-run] EVENT.json...", stderr)
	asJSON := fs.Bool("json", false, "print each audit record as JSON instead of text")
	pbFile := playbookFlag(fs)
	acct := accountFlag(fs)
	dryRun := fs.Bool("dry-run", false, "decide and record, change nothing (overrides the playbook's dryRun)")
	verbose := fs.Bool("v", false, "also log each audit record to stderr as JSON")
	pb, err := parseWithEvents(fs, args, pbFile)
	if err != nil {
		return err
	}
	if *dryRun {
		pb.Settings.DryRun = true
	}
	events := make([][]byte, fs.NArg())
	for i, name := range fs.Args() {
		if events[i], err = readEvent(name); err != nil {
			return err
		}
	}
	cfg, err := loadConfig(ctx)
	if err != nil {
		return fmt.Errorf("load AWS configuration: %w", err)
	}
	opts := engineOptions()
	if opts.Home, err = callerHome(ctx, sts.NewFromConfig(cfg), *acct); err != nil {
		return err
	}
	logOut := io.Discard
	if *verbose {
		logOut = stderr
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
		return failedError{fmt.Errorf("a step failed for %s", strings.Join(failed, ", "))}
	}
	return nil
}

// invoker is the part of the Lambda API that invoke needs.
type invoker interface {
	Invoke(ctx context.Context, in *lambdasvc.InvokeInput, opts ...func(*lambdasvc.Options)) (*lambdasvc.InvokeOutput, error)
}

var _ invoker = (*lambdasvc.Client)(nil)

func cmdInvoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("invoke", "invoke -function NAME [-region REGION] EVENT.json", stderr)
	function := fs.String("function", "", "`NAME` or ARN of the deployed autocontain function (required)")
	region := fs.String("region", "", "`REGION` of the function (default: the configured region)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *function == "" || fs.NArg() != 1 {
		fs.Usage()
		return errors.New("name the function with -function and exactly one event file")
	}
	raw, err := readEvent(fs.Arg(0))
	if err != nil {
		return err
	}
	// Refuse what the function would refuse, before the round trip.
	if _, err := finding.Parse(raw); err != nil {
		return fmt.Errorf("%s: %w", fs.Arg(0), err)
	}
	cfg, err := loadConfig(ctx)
	if err != nil {
		return fmt.Errorf("load AWS configuration: %w", err)
	}
	if *region != "" {
		cfg.Region = *region
	}
	return invoke(ctx, lambdasvc.NewFromConfig(cfg), *function, raw, stdout)
}

// invoke runs the function synchronously and prints its answer, indented.
func invoke(ctx context.Context, api invoker, function string, event []byte, stdout io.Writer) error {
	out, err := api.Invoke(ctx, &lambdasvc.InvokeInput{
		FunctionName:   aws.String(function),
		InvocationType: lambdatypes.InvocationTypeRequestResponse,
		Payload:        event,
	})
	if err != nil {
		return fmt.Errorf("invoke %s: %w", function, err)
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, out.Payload, "", "  ") != nil {
		pretty.Reset()
		pretty.Write(out.Payload)
	}
	fmt.Fprintln(stdout, pretty.String())
	if out.FunctionError != nil {
		return failedError{fmt.Errorf("function %s returned an error (%s)", function, aws.ToString(out.FunctionError))}
	}
	return nil
}

func cmdPlaybook(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("playbook", "playbook [-check FILE]", stderr)
	check := fs.String("check", "", "validate playbook `FILE` and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return errors.New("playbook takes no arguments")
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

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// cmdLedger runs undo or reconcile, locally against the ledger table or
// through the deployed function.
func cmdLedger(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer) error {
	synopsis := "reconcile [-table TABLE | -function NAME]"
	if cmd == "undo" {
		synopsis = "undo [-table TABLE | -function NAME] [-account ACCOUNT] FINDING-ID"
	}
	fs := newFlags(cmd, synopsis, stderr)
	table := fs.String("table", os.Getenv(engine.EnvLedgerTable), "the ledger's DynamoDB `TABLE` (default $"+engine.EnvLedgerTable+")")
	function := fs.String("function", "", "run it in the deployed function `NAME` instead")
	pbFile := playbookFlag(fs)
	var acct *string
	if cmd == "undo" {
		acct = accountFlag(fs)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	want := 0
	if cmd == "undo" {
		want = 1
	}
	if fs.NArg() != want {
		fs.Usage()
		if want == 1 {
			return errors.New("name exactly one finding id")
		}
		return errors.New("reconcile takes no arguments")
	}
	command := engine.Command{Command: cmd, FindingID: fs.Arg(0)}
	cfg, err := loadConfig(ctx)
	if err != nil {
		return fmt.Errorf("load AWS configuration: %w", err)
	}
	if *function != "" {
		event, err := json.Marshal(map[string]engine.Command{"autocontain": command})
		if err != nil {
			return err
		}
		return invoke(ctx, lambdasvc.NewFromConfig(cfg), *function, event, stdout)
	}
	if *table == "" {
		return fmt.Errorf("%s needs the ledger: name its table with -table or $%s, or use -function", cmd, engine.EnvLedgerTable)
	}
	pb, err := loadPlaybook(*pbFile)
	if err != nil {
		return err
	}
	opts := engineOptions()
	opts.LedgerTable = *table
	if acct != nil {
		// Undo acts with these credentials: know (and check) their account.
		if opts.Home, err = callerHome(ctx, sts.NewFromConfig(cfg), *acct); err != nil {
			return err
		}
	}
	eng := engine.New(cfg, pb, slog.New(slog.NewJSONHandler(io.Discard, nil)), opts)
	raw, err := json.Marshal(map[string]engine.Command{"autocontain": command})
	if err != nil {
		return err
	}
	out, err := eng.Handle(ctx, raw)
	if werr := writeJSON(stdout, out); werr != nil {
		return werr
	}
	if err != nil {
		return failedError{err}
	}
	return nil
}
