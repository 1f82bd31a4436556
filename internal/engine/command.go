package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/autocontain/autocontain/internal/audit"
	"github.com/autocontain/autocontain/internal/failure"
	"github.com/autocontain/autocontain/internal/status"
)

// Command is an instruction to the function itself rather than an event:
// {"autocontain": {"command": "reconcile"}} from the scheduled rule, or
// {"autocontain": {"command": "undo", "findingId": "..."}} or
// {"autocontain": {"command": "status", "last": 20}} from an operator.
type Command struct {
	Command   string `json:"command"`
	FindingID string `json:"findingId,omitempty"`
	// Last is how many decisions status lists (0: status.DefaultLast).
	Last int `json:"last,omitempty"`
}

// Command names.
const (
	CommandReconcile = "reconcile"
	CommandUndo      = "undo"
	// CommandStatus reads the ledger and answers with a status.Status.
	CommandStatus = "status"
)

// envelope is how a command travels: {"autocontain": command}. An event
// has no "autocontain" key.
type envelope struct {
	Autocontain *Command `json:"autocontain"`
}

// Event returns the invocation that carries c to the function, the one
// ParseCommand reads: {"autocontain": {"command": ...}}.
func (c Command) Event() []byte {
	// Two strings cannot fail to encode.
	b, _ := json.Marshal(envelope{&c})
	return b
}

// Object returns Event decoded to plain maps, for encoders that take a
// value rather than JSON text (the CDK's RuleTargetInput.fromObject).
func (c Command) Object() map[string]any {
	var v map[string]any
	_ = json.Unmarshal(c.Event(), &v)
	return v
}

// ParseCommand reports whether raw is a command, and reads it.
func ParseCommand(raw []byte) (Command, bool, error) {
	if !bytes.Contains(raw, []byte(`"autocontain"`)) {
		return Command{}, false, nil
	}
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil || env.Autocontain == nil {
		return Command{}, false, nil
	}
	c := *env.Autocontain
	switch c.Command {
	case CommandReconcile:
	case CommandUndo:
		if c.FindingID == "" {
			return c, true, failure.Mark(errors.New("command undo needs a findingId"), ErrEventRejected)
		}
	case CommandStatus:
		if err := status.CheckLast(c.Last); err != nil {
			return c, true, failure.Mark(fmt.Errorf("command status: %w", err), ErrEventRejected)
		}
	default:
		return c, true, failure.Mark(fmt.Errorf("unknown command %q (want %q, %q or %q)", c.Command, CommandReconcile, CommandUndo, CommandStatus), ErrEventRejected)
	}
	return c, true, nil
}

// deliver runs an event's findings (RunAll) in an invocation that started
// at start. Its result is the audit record of the one finding most events
// carry, or the list of records, one per finding, of a Security Hub event
// that carries several.
func (e *Engine) deliver(ctx context.Context, start time.Time, raw []byte) (any, error) {
	recs, err := e.runAll(ctx, start, raw)
	if len(recs) == 1 {
		return recs[0], err
	}
	if len(recs) == 0 {
		return audit.Record{}, err
	}
	return recs, err
}

// Handle serves one invocation: a command, or an event to contain.
func (e *Engine) Handle(ctx context.Context, raw []byte) (any, error) {
	start := e.now()
	c, ok, err := ParseCommand(raw)
	if !ok {
		rec, err := e.deliver(ctx, start, raw)
		if failure.IsPermanent(err) {
			// Retrying cannot mend it (the principal is gone, IAM refuses
			// the change): the record says what failed, and the metric,
			// which the stack alarms on, tells people. An error would have
			// Lambda repeat the hopeless delivery twice before it
			// dead-letters. The ledger did not mark it handled, so a new
			// delivery (an updated finding, an operator's apply) acts again.
			// Never an event that deliver counted as deferred: a deferral
			// is worth a retry, so an event with one is not permanent.
			e.metric(ctx, start, slog.LevelError, MetricFailedPermanently, "autocontain delivery failed permanently: not retried")
			return rec, nil
		}
		return rec, err
	}
	if err != nil {
		return nil, err
	}
	switch c.Command {
	case CommandUndo:
		return e.Undo(ctx, c.FindingID)
	case CommandStatus:
		return e.Status(ctx, c.Last)
	default:
		return e.Reconcile(ctx)
	}
}
