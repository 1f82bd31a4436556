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
	"github.com/autocontain/autocontain/internal/failure"
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

// Reverter is an action whose changes undo can put back: the executor
// records what each of its steps holds (Hold), and undo restores it (Undo)
// or contains it again (Step). Every principal action is a Reverter
// (TestEveryActionIsComplete).
type Reverter interface {
	Action
	// Hold names the resource a step of the action contains, in account,
	// as the ledger records it.
	Hold(account string, s plan.Step) (ledger.Hold, error)
	// Step is the step that contains a held resource again.
	Step(h ledger.Hold) (plan.Step, error)
	// Undo restores a resource the action changed. done says what it
	// restored; left says what it left as it was, and why.
	Undo(ctx context.Context, h ledger.Hold) (done, left string, err error)
	// UndoPermissions lists the IAM actions Undo needs beyond Permissions.
	UndoPermissions() []string
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
	// Account and Region are where the finding is, so where the step
	// acts; Finding is the finding's id. Undo's re-containment of a hold
	// knows the account only.
	Account, Region, Finding string
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
	// Changes are the addresses a block step recorded; a Reverter's change
	// is recorded by the executor from its Hold.
	Changes []ledger.Change
	// Prior is what a Reverter's resource was before autocontain changed
	// it, in the action's terms, for undo to restore: the ledger keeps the
	// first one recorded for the hold (ledger.Hold.Prior), unless
	// ReplacesPrior. An unchanged outcome carries it too when the step
	// found autocontain's own earlier change (of a delivery that died
	// before the ledger recorded it): the hold is then recorded as
	// autocontain's change.
	Prior string
	// ReplacesPrior: this step changed the resource itself, and Prior is
	// what it read just before, so it replaces what the ledger kept: the
	// resource may have been restored by hand, and changed again, since
	// an earlier change recorded it.
	ReplacesPrior bool
}

// Clients are the AWS API clients the actions need. A nil client is fine
// for an action that is never executed (listing permissions, dry runs).
type Clients struct {
	IAM IAMAPI
	// EC2 reaches Region (isolate-instance).
	EC2    EC2API
	Region string
	// WAF returns the WAFv2 client for a region: an IP set lives in the
	// region of its ARN, and CLOUDFRONT sets are served from us-east-1.
	WAF func(region string) ipset.API
	SNS Publisher
	// Sleep waits between lock-token retries; time.Sleep-like, but
	// honouring ctx. Nil waits for real.
	Sleep func(ctx context.Context, d time.Duration) error
}

// IAMAPI is the part of the IAM API that the principal actions need.
type IAMAPI interface {
	keyAPI
	policyAPI
	attachAPI
}

// Registry returns every action, in one explicit list: adding an action is
// one new file, one line here and its declaration in playbook.Specs
// (README, "Adding an action"; TestEveryActionIsComplete keeps them whole).
// With the ledger, blocks is the IP sets' writer; nil without it.
func Registry(c Clients, blocks *blocklist.Writer) []Action {
	return []Action{
		&KeyDeactivator{IAM: c.IAM},
		&SessionRevoker{IAM: c.IAM},
		&Quarantiner{IAM: c.IAM},
		&SourceRestrictor{IAM: c.IAM},
		&Isolator{EC2: c.EC2, Region: c.Region},
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
		out, err := e.run(ctx, p, s, &rec, held)
		st.DurationMS = e.now().Sub(start).Milliseconds()
		if err == nil && (out.Changed || out.Prior != "") {
			err = e.record(&rec, p, s, out, start)
		}
		switch {
		case err != nil:
			st.Status, st.Error = audit.StatusFailed, err.Error()
			st.ErrorCode, st.Permanent = failure.Code(err), failure.IsPermanent(err)
		case out.Changed:
			st.Status, st.Detail = audit.StatusDone, out.Detail
		default:
			st.Status, st.Detail = audit.StatusUnchanged, out.Detail
		}
	}
	rec.Finish()
	return rec
}

// record adds what a changed step changed to rec, each change marked with
// its action and account: a Reverter's from its Hold, an address action's
// as it reported them.
func (e *Executor) record(rec *audit.Record, p plan.Plan, s plan.Step, out Outcome, at time.Time) error {
	h, ok, err := e.Hold(p, s)
	if err != nil {
		return fmt.Errorf("%s changed %s but cannot name what it holds: %w", s.Action, s.Target, err)
	}
	if ok {
		rec.Changes = append(rec.Changes, ledger.Change{Action: h.Action, Account: h.Account, Principal: h.Principal, Resource: h.Resource, Prior: out.Prior,
			ReplacesPrior: out.ReplacesPrior, At: at})
	}
	for _, c := range out.Changes {
		c.Action = s.Action
		if c.Account == "" {
			c.Account = p.Finding.Account
		}
		rec.Changes = append(rec.Changes, c)
	}
	return nil
}

// Hold names what step s of plan p holds when it runs, for the ledger to
// record before it does; ok is false for a step whose action holds nothing.
func (e *Executor) Hold(p plan.Plan, s plan.Step) (h ledger.Hold, ok bool, err error) {
	a, found := e.actions[s.Action]
	if !found {
		return ledger.Hold{}, false, fmt.Errorf("no action named %q is registered", s.Action)
	}
	r, ok := a.(Reverter)
	if !ok {
		return ledger.Hold{}, false, nil
	}
	h, err = r.Hold(p.Finding.Account, s)
	return h, err == nil, err
}

// Reverters returns the registered actions that undo can put back, by name.
func (e *Executor) Reverters() map[string]Reverter {
	out := map[string]Reverter{}
	for name, a := range e.actions {
		if r, ok := a.(Reverter); ok {
			out[name] = r
		}
	}
	return out
}

// UndoPermissions lists the IAM actions undo needs beyond the actions'.
func UndoPermissions() []string {
	var out []string
	for _, a := range Registry(Clients{}, nil) {
		if r, ok := a.(Reverter); ok {
			out = append(out, r.UndoPermissions()...)
		}
	}
	return out
}

func (e *Executor) run(ctx context.Context, p plan.Plan, s plan.Step, rec *audit.Record, held Held) (Outcome, error) {
	a, ok := e.actions[s.Action]
	if !ok {
		return Outcome{}, failure.Permanent(fmt.Errorf("no action named %q is registered", s.Action))
	}
	if err := ctx.Err(); err != nil {
		return Outcome{}, fmt.Errorf("not started: %w", err)
	}
	return a.Execute(ctx, Request{Step: s, Record: rec, Now: e.now(), Held: held,
		Account: p.Finding.Account, Region: p.Finding.Region, Finding: p.Finding.ID})
}
