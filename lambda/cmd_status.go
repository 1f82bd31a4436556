package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/autocontain/autocontain/internal/engine"
	"github.com/autocontain/autocontain/internal/status"
)

// runStatus prints what the ledger holds contained right now: read here
// from the table, or by the deployed function from its own.
func runStatus(ctx context.Context, fs *flag.FlagSet, args []string, stdout io.Writer) error {
	lf := defineLedgerFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	last := fs.Int("last", status.DefaultLast, "list the last `N` decisions")
	if err := lf.parse(fs, args, 0, "status takes no arguments"); err != nil {
		return err
	}
	if err := status.CheckLast(*last); err != nil {
		return usagef("-last: %v", err)
	}
	c := engine.Command{Command: engine.CommandStatus, Last: *last}
	var st status.Status
	if *lf.function != "" {
		out, err := callFunction(ctx, *lf.function, "", c.Event())
		if err != nil {
			return err
		}
		if st, err = statusAnswer(*lf.function, out.Payload, aws.ToString(out.FunctionError)); err != nil {
			return err
		}
	} else {
		// Reading needs no account: no sts:GetCallerIdentity.
		eng, err := lf.engine(ctx, nil)
		if err != nil {
			return err
		}
		if st, err = eng.Status(ctx, *last); err != nil {
			return err
		}
	}
	if *asJSON {
		return writeJSON(stdout, st)
	}
	return status.WriteTable(stdout, st)
}

// statusAnswer reads the function's answer to the status command.
func statusAnswer(function string, payload []byte, functionError string) (status.Status, error) {
	if functionError != "" {
		var e struct {
			Message string `json:"errorMessage"`
		}
		_ = json.Unmarshal(payload, &e)
		msg := fmt.Sprintf("function %s returned an error (%s): %s", function, functionError, e.Message)
		if strings.Contains(e.Message, "unknown command") {
			msg += "; a function deployed before status existed does not know it: deploy this version"
		}
		return status.Status{}, fmt.Errorf("%s", msg)
	}
	// Fields a newer function adds are let through: only a status has a time.
	var st status.Status
	if err := json.Unmarshal(payload, &st); err != nil || st.At.IsZero() {
		return status.Status{}, fmt.Errorf("function %s did not answer with a status (is it autocontain?): %.200s", function, payload)
	}
	return st, nil
}
