package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/autocontain/autocontain/internal/account"
	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/playbook"
)

// eventFlags are the flags of the commands that take event files (plan,
// apply).
type eventFlags struct {
	asJSON            *bool
	playbook, account *string
}

// defineEventFlags defines -json (saying what it prints as JSON), -playbook
// and -account on fs.
func defineEventFlags(fs *flag.FlagSet, jsonUsage string) eventFlags {
	return eventFlags{asJSON: fs.Bool("json", false, jsonUsage), playbook: playbookFlag(fs), account: accountFlag(fs)}
}

// eventInput is the input of a command that takes event files, read and
// checked.
type eventInput struct {
	pb     *playbook.Playbook
	home   account.Account // as -account gives it; zero if not given
	names  []string
	events [][]byte
	asJSON bool
}

// parse parses args into fs and reads all the user's input (the playbook,
// -account, every event), so that a mistake in any stops the command
// before any AWS call.
func (ef eventFlags) parse(fs *flag.FlagSet, args []string) (eventInput, error) {
	if err := parseArgs(fs, args, 1, -1, "name at least one event file"); err != nil {
		return eventInput{}, err
	}
	pb, err := loadPlaybook(*ef.playbook)
	if err != nil {
		return eventInput{}, err
	}
	home, err := givenHome(*ef.account)
	if err != nil {
		return eventInput{}, err
	}
	events, err := readEvents(fs.Args())
	if err != nil {
		return eventInput{}, err
	}
	return eventInput{pb: pb, home: home, names: fs.Args(), events: events, asJSON: *ef.asJSON}, nil
}

// write prints the result v of the i-th event: as JSON, or with text under
// a "== NAME" heading, a blank line between events.
func (in eventInput) write(w io.Writer, i int, v any, text func(io.Writer) error) error {
	if in.asJSON {
		return writeJSON(w, v)
	}
	if i > 0 {
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "== %s\n", in.names[i])
	return text(w)
}

// readEvents reads the event files names (standard input for "-") and
// checks that each is an event autocontain reads, so that a bad one stops
// the command before any AWS call.
func readEvents(names []string) ([][]byte, error) {
	events := make([][]byte, len(names))
	for i, name := range names {
		raw, err := readEvent(name)
		if err != nil {
			return nil, usageError{err}
		}
		if _, err := finding.ParseAll(raw); err != nil {
			return nil, usagef("%s: %w", name, err)
		}
		events[i] = raw
	}
	return events, nil
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
