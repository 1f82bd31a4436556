package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/autocontain/autocontain/internal/account"
	"github.com/autocontain/autocontain/internal/engine"
	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/playbook"
)

// command is one of the CLI's commands. The table below drives both
// dispatch and the usage text.
type command struct {
	name string
	// synopsis is its flags and arguments, as the usage and -h show them.
	synopsis string
	// about says what it does, in lines of the usage's Commands section.
	about string
	// run runs it: fs is its flag set (whose -h prints the synopsis),
	// args what follows the command's name.
	run func(ctx context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) error
}

// commands are the CLI's commands, in the order the usage lists them.
var commands = []command{
	{"plan", "[-json] [-playbook FILE] [-account ACCOUNT] [-impact] EVENT.json...", `Print what autocontain would do about each event. Makes no AWS call.
A principal is contained only in the account the responder
serves: name it with -account or $AUTOCONTAIN_ACCOUNT, or the
plan says it could not check and contains no principal.
-impact reads each principal's impact class from IAM (and the
account from the credentials), as apply does; it changes nothing.`, runPlan},
	{"apply", "[-json] [-playbook FILE] [-account ACCOUNT] [-dry-run] [-v] EVENT.json...", `Plan and execute each event against the account of the default
credential chain (AWS_PROFILE, AWS_REGION, ...; AWS_ENDPOINT_URL
points it at an emulator), found with sts:GetCallerIdentity;
-account, if given, must name that account. Principals of any
other account or partition are reported, not contained.`, runApply},
	{"invoke", "-function NAME [-region REGION] EVENT.json", `Send an event to the deployed Lambda function and print its result.`, runInvoke},
	{"undo", "[-table TABLE | -function NAME] [-playbook FILE] [-account ACCOUNT] FINDING-ID", `Restore what autocontain changed for a finding, as its ledger
recorded it: reactivate the keys it deactivated, delete the deny
policies it wrote (if still its own), unblock the addresses it
added. Locally with the ledger table, or through the function.`, runUndo},
	{"status", "[-table TABLE | -function NAME] [-playbook FILE] [-json] [-last N]", `Print what autocontain holds contained right now, from its ledger:
the principals held, by what, for which findings, since when, and
the undo command of each finding; the addresses each IP set
blocks; the breakers' counts; the last N decisions (default 20).
Locally with the ledger table, or through the function.`, runStatus},
	{"reconcile", "[-table TABLE | -function NAME] [-playbook FILE]", `Write the IP sets from the ledger now: expired blocks leave, the
oldest go past WAF's 10,000-address limit (the schedule does this).`, runReconcile},
	{"keys", "[-json]", `List every IAM user's access keys, the highest impact first: the
privilege class of the user's policies (admin, escalation,
list-all, scoped, or unknown), status, age and last use. Reads
IAM with the default credential chain; changes nothing.`, runKeys},
	{"playbook", "[-check FILE]", `Print the playbook in force, or check a playbook file.`, runPlaybook},
}

const (
	usageHead = "autocontain contains abused AWS credentials and addresses.\n"
	usageTail = `An EVENT is a file holding one EventBridge event, or - for standard input.
The playbook in force is $AUTOCONTAIN_PLAYBOOK, else the file named by
$AUTOCONTAIN_PLAYBOOK_FILE (or -playbook), else the embedded default; the
AUTOCONTAIN_* setting variables override its settings (see README).

Exit codes: 0 success; 1 a failure (a step failed, the invoked function
returned an error, or an AWS call, the AWS configuration or the network
failed); 2 a usage or input error (bad flags or arguments, an unreadable
or invalid event, an invalid playbook, an -account other than the
credentials').

Run 'autocontain COMMAND -h' for a command's flags.
`
)

// usage is the CLI's usage text, made from the command table.
func usage() string {
	width := 0
	for _, c := range commands {
		width = max(width, len(c.name))
	}
	var b strings.Builder
	b.WriteString(usageHead + "\nUsage:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  autocontain %-*s %s\n", width, c.name, c.synopsis)
	}
	b.WriteString("\nCommands:\n")
	for _, c := range commands {
		for i, line := range strings.Split(c.about, "\n") {
			name := ""
			if i == 0 {
				name = c.name
			}
			fmt.Fprintf(&b, "  %-*s %s\n", width, name, line)
		}
	}
	return b.String() + "\n" + usageTail
}

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // a failure: the work ran and failed, or something failed at run time
	exitUsage  = 2 // only a usage or input error: bad flags or arguments, an unreadable or invalid event or playbook
)

// runCLI runs the command args name and returns the process's exit code.
func runCLI(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage())
		return exitUsage
	}
	name, args := args[0], args[1:]
	switch name {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage())
		return exitOK
	}
	i := commandIndex(name)
	if i < 0 {
		fmt.Fprintf(stderr, "autocontain: unknown command %q\n\n%s", name, usage())
		return exitUsage
	}
	c := commands[i]
	err := c.run(ctx, newFlags(c, stderr), args, stdout)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	fmt.Fprintf(stderr, "autocontain %s: %s\n", name, finding.MaskKeys(err.Error()))
	if errors.As(err, new(usageError)) {
		return exitUsage
	}
	return exitFailed
}

// commandIndex returns the index of the command called name in commands,
// or -1.
func commandIndex(name string) int {
	for i, c := range commands {
		if c.name == name {
			return i
		}
	}
	return -1
}

// usageError marks an error in what the user asked for (flags, arguments,
// an event or playbook file), found before the work starts: exit 2. Every
// other error is a failure: exit 1.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// usagef returns a usage error.
func usagef(format string, a ...any) error {
	return usageError{fmt.Errorf(format, a...)}
}

// newFlags returns c's flag set, whose -h prints c's synopsis and flags to
// stderr.
func newFlags(c command, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: autocontain %s %s\n\nFlags:\n", c.name, c.synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseArgs parses args into fs and checks that between lo and hi
// arguments (hi < 0: no limit) follow the flags; if not, it prints the
// usage and returns a usage error saying want.
func parseArgs(fs *flag.FlagSet, args []string, lo, hi int, want string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if n := fs.NArg(); n < lo || (hi >= 0 && n > hi) {
		fs.Usage()
		return usagef("%s", want)
	}
	return nil
}

// playbookFlag defines -playbook on fs.
func playbookFlag(fs *flag.FlagSet) *string {
	return fs.String("playbook", "", "playbook `FILE` (default: $AUTOCONTAIN_PLAYBOOK_FILE, else the embedded default)")
}

// loadPlaybook returns the playbook in force; file, if set, replaces
// $AUTOCONTAIN_PLAYBOOK and $AUTOCONTAIN_PLAYBOOK_FILE. Any error is the
// user's input: a usage error.
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
	pb, err := playbook.FromEnv(lookup)
	if err != nil {
		return nil, usageError{err}
	}
	return pb, nil
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
		return account.Account{}, usagef("-account / $%s: %w", envAccount, err)
	}
	return a, nil
}

// callerHome returns the account the credentials act in (one
// sts:GetCallerIdentity), and refuses a given account (from givenHome) that
// names another: the actions would land in the credentials' account
// whatever the flag says.
func callerHome(ctx context.Context, api account.CallerIdentityAPI, want account.Account) (account.Account, error) {
	home, err := account.OfCaller(ctx, api)
	if err != nil {
		return account.Account{}, err
	}
	if !want.IsZero() && want != home {
		return account.Account{}, usagef("-account / $%s says %s, but the credentials act in %s: refused", envAccount, want, home)
	}
	return home, nil
}

// localEngine returns an engine that acts here, with the default credential
// chain, the playbook pb and the ledger table (if not empty). If want is
// not nil, the engine learns the credentials' account (one
// sts:GetCallerIdentity) and callerHome refuses a *want that names another.
func localEngine(ctx context.Context, pb *playbook.Playbook, log *slog.Logger, table string, want *account.Account) (*engine.Engine, error) {
	cfg, err := loadConfig(ctx)
	if err != nil {
		return nil, err
	}
	opts := engineOptions()
	if table != "" {
		opts.LedgerTable = table
	}
	if want != nil {
		if opts.Home, err = callerHome(ctx, sts.NewFromConfig(cfg), *want); err != nil {
			return nil, err
		}
		orgID, memberRole, err := orgSettings()
		if err != nil {
			return nil, usagef("%v", err)
		}
		withOrganization(&opts, cfg, orgID, memberRole)
	}
	return engine.New(cfg, pb, log, opts), nil
}

// writeJSON writes v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
