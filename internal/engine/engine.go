// Package engine runs the data path for one event: parse it into a finding,
// plan under the playbook, execute the plan, and write the audit record.
// Both the Lambda handler and the operator CLI go through it.
package engine

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/autocontain/autocontain/internal/audit"
	"github.com/autocontain/autocontain/internal/contain"
	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/plan"
	"github.com/autocontain/autocontain/internal/playbook"
)

// Engine decides and acts on events.
type Engine struct {
	Playbook *playbook.Playbook
	Executor *contain.Executor
	Log      *slog.Logger
}

// Plan parses an event and decides what to do, without any AWS call.
func (e *Engine) Plan(raw []byte) (plan.Plan, error) {
	f, err := finding.Parse(raw)
	if err != nil {
		return plan.Plan{}, err
	}
	return plan.Build(f, e.Playbook), nil
}

// Run plans and executes one event and logs its audit record. The error is
// non-nil when the event cannot be read or a step failed, so that Lambda's
// asynchronous retries apply; every action is idempotent, so retrying is safe.
func (e *Engine) Run(ctx context.Context, raw []byte) (audit.Record, error) {
	p, err := e.Plan(raw)
	if err != nil {
		e.Log.LogAttrs(ctx, slog.LevelError, "autocontain rejected an event", slog.String("error", err.Error()))
		return audit.Record{}, fmt.Errorf("read event: %w", err)
	}
	rec := e.Executor.Execute(ctx, p)
	rec.Log(ctx, e.Log)
	return rec, rec.Err()
}
