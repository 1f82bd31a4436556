// Package contain executes plans: each action kind is one small type behind
// the Action interface, over the narrow part of the AWS API it needs. Actions
// are idempotent, so a re-delivered event is safe.
package contain

import (
	"context"
	"fmt"
	"time"

	"github.com/autocontain/autocontain/internal/audit"
	"github.com/autocontain/autocontain/internal/blocklist"
	"github.com/autocontain/autocontain/internal/ipset"
	"github.com/autocontain/autocontain/internal/ledger"
	"github.com/autocontain/autocontain/internal/plan"
)

// Action contains one target. Implementations are idempotent.
type Action interface {
	// Name is the playbook's name for the action ("deactivate-key").
	Name() string
	// Permissions lists the IAM actions the responder's role must grant.
	Permissions() []string
	// Execute carries out one step of the plan.
	Execute(ctx context.Context, req Request) (Outcome, error)
}

// Request is what an action gets to work with.
type Request struct {
	Step plan.Step
	// Record is the audit record so far: earlier steps have their status.
	Record *audit.Record
	// Now is the time of execution.
	Now time.Time
	// Held is what the delivery recorded in the ledger before executing.
	Held Held
}

// Held is what a delivery recorded in the ledger before it executed its
// plan (ledger.Prepare).
type Held struct {
	// Prepared: the plan's holds and wanted addresses are recorded; block
	// steps need not record them again.
	Prepared bool
	// Leases names the IP sets this delivery writes on the fast path, with
	// its writer name.
	Leases map[string]string
}

// Outcome is what an action did.
type Outcome struct {
	// Changed is false when the account already was as the action wants it.
	Changed bool
	// Detail says what changed, for the audit record.
	Detail string
	// Changes are what undo needs to put things back.
	Changes []ledger.Change
}

// Clients are the AWS API clients the actions need. A nil client is fine
// for an action that is never executed (listing permissions, dry runs).
type Clients struct {
	IAM IAMAPI
	// WAF returns the WAFv2 client for a region: an IP set lives in the
	// region of its ARN, and CLOUDFRONT sets are served from us-east-1.
	WAF func(region string) ipset.API
	SNS Publisher
	// Sleep waits between lock-token retries; time.Sleep-like, but
	// honouring ctx. Nil waits for real.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Registry returns every action, in one explicit list: adding an action is
// one new file and one line here. With the ledger, blocks is the IP sets'
// writer; nil without it.
func Registry(c Clients, blocks *blocklist.Writer) []Action {
	return []Action{
		&KeyDeactivator{IAM: c.IAM},
		&SessionRevoker{IAM: c.IAM},
		&IPBlocker{WAF: c.WAF, Sleep: c.Sleep, Writer: blocks},
		&Notifier{SNS: c.SNS},
	}
}

// Executor runs plans with a set of actions.
type Executor struct {
	actions map[string]Action
	now     func() time.Time
}

// NewExecutor returns an executor for actions; now is the clock.
func NewExecutor(now func() time.Time, actions ...Action) *Executor {
	e := &Executor{actions: make(map[string]Action, len(actions)), now: now}
	for _, a := range actions {
		e.actions[a.Name()] = a
	}
	return e
}

// Execute runs every acting step of p in order and returns the audit record.
// A failed step does not stop the others: containing what can be contained
// beats stopping at the first error. A dry-run plan makes no call at all.
func (e *Executor) Execute(ctx context.Context, p plan.Plan) audit.Record {
	return e.ExecuteHeld(ctx, p, Held{})
}

// ExecuteHeld is Execute for a delivery that recorded its plan in the
// ledger first.
func (e *Executor) ExecuteHeld(ctx context.Context, p plan.Plan, held Held) audit.Record {
	rec := audit.New(p, e.now())
	if p.DryRun {
		return rec
	}
	for i, s := range p.Steps {
		if !s.Acts() {
			continue
		}
		st := &rec.Steps[i]
		start := e.now()
		out, err := e.run(ctx, s, &rec, held)
		st.DurationMS = e.now().Sub(start).Milliseconds()
		switch {
		case err != nil:
			st.Status, st.Error = audit.StatusFailed, err.Error()
		case out.Changed:
			st.Status, st.Detail = audit.StatusDone, out.Detail
			rec.Changes = append(rec.Changes, out.Changes...)
		default:
			st.Status, st.Detail = audit.StatusUnchanged, out.Detail
		}
	}
	rec.Finish()
	return rec
}

func (e *Executor) run(ctx context.Context, s plan.Step, rec *audit.Record, held Held) (Outcome, error) {
	a, ok := e.actions[s.Action]
	if !ok {
		return Outcome{}, fmt.Errorf("no action named %q is registered", s.Action)
	}
	if err := ctx.Err(); err != nil {
		return Outcome{}, fmt.Errorf("not started: %w", err)
	}
	return a.Execute(ctx, Request{Step: s, Record: rec, Now: e.now(), Held: held})
}
