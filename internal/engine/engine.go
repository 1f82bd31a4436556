// Package engine runs the data path for one event: parse it into a finding,
// consult the ledger (was it handled, what was done for it, is the breaker
// open) and the protect list, plan under the playbook, execute the plan,
// record what changed, and write the audit record. The Lambda handler and
// the operator CLI both go through it.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/autocontain/autocontain/internal/account"
	"github.com/autocontain/autocontain/internal/audit"
	"github.com/autocontain/autocontain/internal/contain"
	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/ledger"
	"github.com/autocontain/autocontain/internal/plan"
	"github.com/autocontain/autocontain/internal/playbook"
	"github.com/autocontain/autocontain/internal/protect"
)

// ErrInProgress is returned for a delivery of a finding that another
// delivery is handling at the same moment; retrying it later is safe.
var ErrInProgress = errors.New("another delivery of this finding is in progress; retry later")

// ClaimLease is how long a delivery owns a finding before another may take
// it over; longer than the function's timeout.
const ClaimLease = 5 * time.Minute

// Engine decides and acts on events.
type Engine struct {
	Playbook *playbook.Playbook
	Executor *contain.Executor
	// Guard, when set, is consulted before any principal is contained.
	Guard *protect.Guard
	// Ledger, when set, deduplicates deliveries, remembers what each
	// finding changed, and counts containments for the breaker.
	Ledger *ledger.Ledger
	// Undoer reverts what the ledger recorded; set with Ledger.
	Undoer *contain.Undoer
	// Writer reconciles IP sets from the ledger; set with Ledger.
	Writer *contain.Reconciler
	// Home is the account the responder serves: principals of any other
	// account or partition are reported, never contained. Zero means
	// unknown, and then no principal is contained.
	Home account.Account
	Log  *slog.Logger
	Now  func() time.Time
}

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now().UTC()
}

// Plan parses an event and decides what to do, without any AWS call.
func (e *Engine) Plan(raw []byte) (plan.Plan, error) {
	f, err := finding.Parse(raw)
	if err != nil {
		return plan.Plan{}, err
	}
	return plan.BuildWith(f, e.Playbook, plan.Facts{Home: e.Home}), nil
}

// Run plans and executes one event and logs its audit record. The error is
// non-nil when the event cannot be read or a step failed, so that Lambda's
// asynchronous retries apply; every action is idempotent and the ledger
// remembers finished work, so retrying is safe.
func (e *Engine) Run(ctx context.Context, raw []byte) (audit.Record, error) {
	p, err := e.Plan(raw)
	if err != nil {
		e.Log.LogAttrs(ctx, slog.LevelError, "autocontain rejected an event", slog.String("error", err.Error()))
		return audit.Record{}, fmt.Errorf("read event: %w", err)
	}
	if p.DryRun || !acts(p) {
		// Nothing to change (or a dry run, which makes no AWS call at all).
		return e.finish(ctx, e.Executor.Execute(ctx, p), nil)
	}
	f := p.Finding
	facts := plan.Facts{Home: e.Home}
	if e.Ledger != nil {
		switch v, err := e.Ledger.Claim(ctx, f.ID, f.UpdatedAt, ClaimLease, token()); {
		case err != nil:
			return e.finish(ctx, audit.New(p, e.now()), err)
		case v == ledger.AlreadyHandled:
			return e.finish(ctx, e.skipAll(f, "this delivery (finding "+f.ID+" as of "+f.UpdatedAt.Format(time.RFC3339Nano)+") was already handled"), nil)
		case v == ledger.InProgress:
			// Not a success: if that other delivery fails, this event must
			// not be lost. The error makes Lambda retry it later, when the
			// ledger will say handled, or let it claim the work.
			return e.finish(ctx, e.skipAll(f, "another delivery of this finding is being handled right now"), ErrInProgress)
		}
		rec, err := e.runClaimed(ctx, p, &facts)
		if ferr := e.Ledger.Finish(context.WithoutCancel(ctx), f.ID, f.UpdatedAt, err == nil && !rec.Failed()); ferr != nil {
			err = errors.Join(err, ferr)
		}
		return e.finish(ctx, rec, err)
	}
	rec, err := e.runClaimed(ctx, p, &facts)
	return e.finish(ctx, rec, err)
}

// runClaimed decides with everything known about the finding and acts.
func (e *Engine) runClaimed(ctx context.Context, p plan.Plan, facts *plan.Facts) (audit.Record, error) {
	f := p.Finding
	var runErr error
	if e.Ledger != nil {
		h, _, err := e.Ledger.History(ctx, f.ID)
		if err != nil {
			return audit.New(p, e.now()), err
		}
		facts.Undone = h.Undone
		facts.Blocked = h.Blocked()
		facts.Done = h.Done()
		p = plan.BuildWith(f, e.Playbook, *facts)
	}
	if e.Guard != nil && containsPrincipal(p) {
		// Protection by tag or path needs the account: checked only when a
		// principal is about to be contained.
		why, err := e.Guard.Check(ctx, f.Principal)
		facts.Protected, facts.ProtectionChecked = why, err == nil
		if err != nil {
			facts.Unverified, runErr = err.Error(), err
		}
		p = plan.BuildWith(f, e.Playbook, *facts)
	}
	if e.Ledger != nil && containsPrincipal(p) {
		max, window := e.Playbook.Settings.Breaker()
		ok, n, err := e.Ledger.Admit(ctx, f.Account, window, max)
		if err != nil {
			// Unable to count: do not contain past a limit we cannot check.
			facts.BreakerOpen, runErr = "the containment count could not be read: "+err.Error(), errors.Join(runErr, err)
		} else if !ok {
			facts.BreakerOpen = fmt.Sprintf("%d principals were already contained in account %s in the current %s window (settings.breakerMax)", n, f.Account, window)
			e.Log.LogAttrs(ctx, slog.LevelError, "AUTOCONTAIN BREAKER OPEN: principals are reported, not contained",
				slog.String("account", f.Account), slog.Int("max", max), slog.Duration("window", window))
		}
		if facts.BreakerOpen != "" {
			p = plan.BuildWith(f, e.Playbook, *facts)
		}
	}
	rec := e.Executor.Execute(ctx, p)
	if e.Ledger != nil {
		if err := e.Ledger.AddChanges(context.WithoutCancel(ctx), f.ID, rec.Changes); err != nil {
			runErr = errors.Join(runErr, err)
		}
	}
	return rec, runErr
}

// finish records a run-level error in the record, logs it once, and
// returns the record with the error that should reach Lambda.
func (e *Engine) finish(ctx context.Context, rec audit.Record, err error) (audit.Record, error) {
	if err != nil {
		rec.Error = err.Error()
		rec.Finish()
	}
	rec.Log(ctx, e.Log)
	if err != nil {
		// Wrapped, so callers can tell ErrInProgress; failed steps are in the record.
		return rec, fmt.Errorf("finding %s: %w", rec.Finding.ID, err)
	}
	return rec, rec.Err()
}

// skipAll is the record of a delivery that does nothing, with the reason.
func (e *Engine) skipAll(f finding.Finding, why string) audit.Record {
	p := plan.Plan{Finding: f, Steps: []plan.Step{{Action: plan.ActionSkip, Target: plan.Target{Kind: plan.TargetFinding}, Reason: why}}}
	return audit.New(p, e.now())
}

// acts reports whether any step of p changes the account.
func acts(p plan.Plan) bool { return slices.ContainsFunc(p.Steps, plan.Step.Acts) }

// containsPrincipal reports whether p has a step that changes a principal.
func containsPrincipal(p plan.Plan) bool {
	return slices.ContainsFunc(p.Steps, func(s plan.Step) bool { return slices.Contains(playbook.PrincipalActions, s.Action) })
}

// Undo restores what the ledger recorded for finding id (see contain.Undoer).
func (e *Engine) Undo(ctx context.Context, id string) (contain.UndoReport, error) {
	if e.Ledger == nil || e.Undoer == nil {
		return contain.UndoReport{}, errors.New("undo needs the ledger: set " + EnvLedgerTable)
	}
	rep, err := e.Undoer.Undo(ctx, id)
	e.Log.LogAttrs(ctx, slog.LevelInfo, "autocontain undo", slog.String("finding", id), slog.Any("undo", rep), slog.Any("error", err))
	return rep, err
}

// Reconcile has every configured IP set written from the ledger: expired
// blocks leave, the oldest go past WAF's limit. The schedule calls it.
func (e *Engine) Reconcile(ctx context.Context) (map[string]contain.Report, error) {
	if e.Ledger == nil || e.Writer == nil {
		return nil, errors.New("reconcile needs the ledger: set " + EnvLedgerTable)
	}
	out := map[string]contain.Report{}
	var errs []error
	for _, set := range []string{e.Playbook.Settings.IPSets.IPv4, e.Playbook.Settings.IPSets.IPv6} {
		if set == "" {
			continue
		}
		rep, err := e.Writer.Run(ctx, set)
		out[set] = rep
		errs = append(errs, err)
		level := slog.LevelInfo
		if len(rep.Evicted) > 0 || err != nil {
			level = slog.LevelWarn
		}
		e.Log.LogAttrs(ctx, level, "autocontain reconcile", slog.String("ipSet", set), slog.String("report", rep.String()), slog.Any("error", err))
	}
	return out, errors.Join(errs...)
}
