// Package engine runs the data path for one event: parse it into a finding,
// consult the ledger (was it handled, what was done for it, is the breaker
// open) and the protect list, plan under the playbook, execute the plan,
// record what changed, and write the audit record. The Lambda handler and
// the operator CLI both go through it.
package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/autocontain/autocontain/internal/account"
	"github.com/autocontain/autocontain/internal/audit"
	"github.com/autocontain/autocontain/internal/blocklist"
	"github.com/autocontain/autocontain/internal/contain"
	"github.com/autocontain/autocontain/internal/failure"
	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/impact"
	"github.com/autocontain/autocontain/internal/ledger"
	"github.com/autocontain/autocontain/internal/plan"
	"github.com/autocontain/autocontain/internal/playbook"
	"github.com/autocontain/autocontain/internal/protect"
)

// ErrInProgress is returned for a delivery of a finding that another
// delivery is handling at the same moment; retrying it later is safe.
var ErrInProgress = errors.New("another delivery of this finding is in progress; retry later")

// ErrOutsider is returned, in organization mode, for a finding about an
// account that is not an active account of the organization: it is
// reported and notified, nothing is changed, and the delivery fails so
// that Lambda retries it and its dead-letter queue alarms (the account may
// be joining; if not, a human must know that findings arrive for it).
var ErrOutsider = errors.New("the finding's account is not an active account of the organization")

// Claim leases. A delivery owns its finding until its function's deadline
// plus claimMargin, so that a delivery that died holding its claim (the
// function timed out) does not keep Lambda's first asynchronous retry,
// about a minute after the failure, from taking the work over. Without a
// deadline (the CLI) the lease is DefaultClaimLease.
const (
	claimMargin       = 10 * time.Second
	DefaultClaimLease = 2 * time.Minute
	// writerLease is how long a delivery holds an IP set's writer lease on
	// the fast path.
	writerLease = 30 * time.Second
)

// Engine decides and acts on events.
type Engine struct {
	Playbook *playbook.Playbook
	Executor *contain.Executor
	// Guard, when set, is consulted before any principal is contained.
	Guard *protect.Guard
	// Ledger, when set, deduplicates deliveries, remembers what each
	// finding holds, and counts contained principals for the breaker.
	Ledger *ledger.Ledger
	// Undoer reverts what the ledger recorded; set with Ledger.
	Undoer *contain.Undoer
	// Writer reconciles IP sets from the ledger; set with Ledger.
	Writer *blocklist.Writer
	// Home is the account the responder serves: principals of any other
	// account or partition are reported, never contained. Zero means
	// unknown, and then no principal is contained.
	Home account.Account
	// Reach decides which accounts' principals are contained; nil is
	// single-account mode (account.Single{Home}).
	Reach account.Reacher
	Log   *slog.Logger
	Now   func() time.Time
	// FunctionName is the Lambda function's name, the dimension of the
	// metrics the engine logs; empty outside Lambda.
	FunctionName string
	// UndoCommand is the command line an operator runs to undo a
	// finding's containment, but for the finding's id; notifications show
	// it (contain.Notifier.Undo). Empty without a ledger.
	UndoCommand string

	// Impact, when set, is where a run reads the privilege class of the
	// finding's principal before planning (withImpact); nil reads nothing.
	Impact impact.PolicyReader
	// Instances reads an instance's current tags before a finding about it
	// is planned (withInstanceRole); nil reads nothing.
	Instances instanceReader

	// Org, when set, is organization mode: the responder also acts in the
	// organization's accounts, each through its member role (New sets it
	// up from Options.Organization).
	Org *account.Organization
	org *orgState
}

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now().UTC()
}

// Plan parses an event and decides what to do, without any AWS call. An
// event that carries several findings (Security Hub's) is an error here:
// PlanAll decides for each.
func (e *Engine) Plan(raw []byte) (plan.Plan, error) {
	f, err := finding.Parse(raw)
	if err != nil {
		return plan.Plan{}, err
	}
	return e.planOf(f), nil
}

// PlanAll parses an event and decides, for each finding it carries, what
// to do, without any AWS call.
func (e *Engine) PlanAll(raw []byte) ([]plan.Plan, error) {
	fs, err := finding.ParseAll(raw)
	if err != nil {
		return nil, err
	}
	ps := make([]plan.Plan, len(fs))
	for i, f := range fs {
		ps[i] = e.planOf(f)
	}
	return ps, nil
}

// planOf decides what to do about f, without any AWS call.
func (e *Engine) planOf(f finding.Finding) plan.Plan {
	reach := e.Reach
	if e.Org != nil {
		// No call: the membership of a member account is not known here,
		// and its principals are not contained (Run looks it up).
		reach = e.Org.Unchecked()
	}
	return plan.BuildWith(f, e.Playbook, plan.Facts{Home: e.Home, Reach: reach})
}

// Run plans and executes one event and logs its audit record. The error is
// non-nil when the event cannot be read or a step failed, so that Lambda's
// asynchronous retries apply; every action is idempotent and the ledger
// remembers finished work, so retrying is safe. An event that carries
// several findings is refused here: RunAll handles it.
func (e *Engine) Run(ctx context.Context, raw []byte) (audit.Record, error) {
	start := e.now()
	f, err := finding.Parse(raw)
	if err != nil {
		return audit.Record{}, e.rejected(ctx, err)
	}
	rec, err := e.run(ctx, f)
	e.deferred(ctx, start, err)
	return rec, err
}

// RunAll runs each finding an event carries as a delivery of its own, in
// order: its own ledger claim and deduplication, its own audit record. The
// error joins each finding's (each names its finding); an event any of
// whose findings cannot be read is refused whole, and nothing is done.
func (e *Engine) RunAll(ctx context.Context, raw []byte) ([]audit.Record, error) {
	return e.runAll(ctx, e.now(), raw)
}

// runAll is RunAll of an invocation that started at start.
func (e *Engine) runAll(ctx context.Context, start time.Time, raw []byte) ([]audit.Record, error) {
	fs, err := finding.ParseAll(raw)
	if err != nil {
		return nil, e.rejected(ctx, err)
	}
	recs := make([]audit.Record, len(fs))
	errs := make([]error, len(fs))
	for i, f := range fs {
		recs[i], errs[i] = e.run(ctx, f)
	}
	err = errors.Join(errs...)
	e.deferred(ctx, start, err)
	return recs, err
}

// rejected logs an event that cannot be read, and returns its error.
func (e *Engine) rejected(ctx context.Context, err error) error {
	e.Log.LogAttrs(ctx, slog.LevelError, "autocontain rejected an event", slog.String("error", err.Error()))
	return failure.Mark(fmt.Errorf("read event: %w", err), ErrEventRejected)
}

// run plans and executes one finding and logs its audit record.
func (e *Engine) run(ctx context.Context, f finding.Finding) (audit.Record, error) {
	p := e.planOf(f)
	// In organization mode the member role's session is named after the
	// finding that needed it.
	ctx = account.WithFinding(ctx, p.Finding.ID)
	base, in, err := e.scope(ctx, p)
	if e.Org != nil {
		p = plan.BuildWith(p.Finding, e.Playbook, base)
	}
	if err != nil {
		return e.finish(ctx, audit.New(p, e.now()), err)
	}
	p = e.withImpact(ctx, p, base, in)
	// A role that could not be read is not contained; the rest goes
	// ahead, and the error keeps the delivery unhandled, to be retried.
	p, roleErr := e.withInstanceRole(ctx, p, &base, in)
	if org, ok := base.Reach.(account.Org); ok && !p.DryRun {
		if m, asked := org.Members[p.Finding.Account]; asked && !m.Member {
			// Nothing to hold or block: no ledger claim, and every retry
			// reports again until the account joins or the retries end.
			return e.finish(ctx, in.executor.Execute(ctx, p), errors.Join(roleErr, failure.Transient(fmt.Errorf("%w: %s", ErrOutsider, m.Why))))
		}
	}
	if p.DryRun || !acts(p) {
		// Nothing to change (or a dry run, which makes no AWS call at all).
		return e.finish(ctx, in.executor.Execute(ctx, p), roleErr)
	}
	if e.Ledger == nil {
		p, err := e.guard(ctx, p, &base, in.guard)
		return e.finish(ctx, in.executor.Execute(ctx, p), errors.Join(roleErr, err))
	}
	f = p.Finding
	tok := ledger.NewToken()
	switch v, h, err := e.Ledger.Claim(ctx, f.ID, f.UpdatedAt, e.claimLease(ctx), tok); {
	case err != nil:
		return e.finish(ctx, audit.New(p, e.now()), err)
	case v == ledger.AlreadyHandled:
		return e.finish(ctx, e.skipAll(f, "this delivery (finding "+f.ID+" as of "+f.UpdatedAt.Format(time.RFC3339Nano)+") was already handled"), nil)
	case v == ledger.InProgress:
		// Not a success: if that other delivery fails, this event must
		// not be lost. The error makes Lambda retry it later, when the
		// ledger will say handled, or let it claim the work. Nor a
		// failure: its own outcome, kept off the error alarm.
		return e.finish(ctx, e.skipAll(f, "another delivery of this finding is being handled right now; Lambda retries this one"), ErrInProgress)
	default:
		rec, err := e.runClaimed(ctx, p, h, tok, base, in, roleErr)
		return e.finish(ctx, rec, err)
	}
}

// claimLease is how long a delivery owns its finding: until its deadline
// and a margin, or DefaultClaimLease without a deadline.
func (e *Engine) claimLease(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return max(time.Until(dl), 0) + claimMargin
	}
	return DefaultClaimLease
}

// guard checks protection by tag and path, which needs the account, of
// each principal that is about to be contained, and plans again with what
// it learned. The error says why protection could not be verified.
func (e *Engine) guard(ctx context.Context, p plan.Plan, facts *plan.Facts, g *protect.Guard) (plan.Plan, error) {
	if g == nil || !p.ContainsPrincipal() {
		return p, nil
	}
	contained := map[string]bool{}
	for _, s := range p.Steps {
		if playbook.IsPrincipal(s.Action) {
			contained[s.Target.Entity()] = true
		}
	}
	facts.Protection, facts.ProtectionChecked = map[string]plan.Protection{}, true
	var errs []error
	for _, pr := range plan.Principals(p.Finding, *facts) {
		entity := pr.Entity()
		if _, checked := facts.Protection[entity]; checked || !contained[entity] {
			continue
		}
		why, err := g.Check(ctx, pr)
		known := plan.Protection{Protected: why}
		if err != nil {
			known.Unverified, facts.ProtectionChecked = err.Error(), false
			errs = append(errs, failure.Mark(err, ErrProtectionUnverified))
		}
		facts.Protection[entity] = known
	}
	return plan.BuildWith(p.Finding, e.Playbook, *facts), errors.Join(errs...)
}

// runClaimed decides with everything known about the finding, records what
// it is about to hold and block (Prepare), acts, and records what it did
// (Commit): three ledger round trips with the claim, on the happy path.
func (e *Engine) runClaimed(ctx context.Context, p plan.Plan, h ledger.History, tok string, facts plan.Facts, in *side, roleErr error) (audit.Record, error) {
	f := p.Finding
	facts.Undone, facts.Blocked, facts.Done = h.Undone, h.Blocked(), h.Done
	p, runErr := e.guard(ctx, plan.BuildWith(f, e.Playbook, facts), &facts, in.guard)
	runErr = errors.Join(roleErr, runErr)
	fail := func(err error) (audit.Record, error) {
		rec := audit.New(p, e.now())
		_, cerr := e.Ledger.Commit(context.WithoutCancel(ctx), decided(ledger.Commit{Finding: f.ID, UpdatedAt: f.UpdatedAt}, f, audit.OutcomeFailed))
		return rec, errors.Join(runErr, err, cerr)
	}
	prep, err := e.prep(p, tok)
	if err != nil {
		return fail(err)
	}
	if why := tooMany(prep); why != "" {
		// More than the breaker or one ledger transaction ever admits at
		// once: report the principals (addresses are still blocked).
		facts.BreakerOpen = why
		e.Log.LogAttrs(ctx, slog.LevelError, "AUTOCONTAIN BREAKER OPEN: principals are reported, not contained",
			slog.String("finding", f.ID), slog.String("reason", why))
		p = plan.BuildWith(f, e.Playbook, facts)
		if prep, err = e.prep(p, tok); err != nil {
			return fail(err)
		}
	}
	var held ledger.Prepared
	if len(prep.Holds)+len(prep.Wants) > 0 {
		var err error
		if held, err = e.Ledger.Prepare(ctx, prep); err != nil {
			return fail(err)
		}
	}
	if held.BreakerOpen {
		max, window := e.Playbook.Settings.Breaker()
		facts.BreakerOpen = e.breakerOpen(f, held.OrgBreakerOpen)
		e.Log.LogAttrs(ctx, slog.LevelError, "AUTOCONTAIN BREAKER OPEN: principals are reported, not contained",
			slog.String("account", f.Account), slog.Int("max", max), slog.Duration("window", window), slog.Bool("organization", held.OrgBreakerOpen))
		p = plan.BuildWith(f, e.Playbook, facts)
	}
	rec := in.executor.ExecuteHeld(ctx, p, contain.Held{Prepared: true, Leases: held.Leases})
	// A delivery that could not verify protection, or read the role of an
	// instance's profile, did not contain that principal: it is not
	// handled, so the retry decides again.
	unreleased, err := e.Ledger.Commit(context.WithoutCancel(ctx), e.commit(p, rec, held, tok, runErr == nil))
	runErr = errors.Join(runErr, err)
	for _, set := range unreleased {
		// More was recorded for the set while this delivery wrote it: as
		// its writer still, read everything and write it again.
		if _, err := e.Writer.RunAs(context.WithoutCancel(ctx), set, held.Leases[set]); err != nil {
			runErr = errors.Join(runErr, err)
		}
	}
	return rec, runErr
}

// tooMany says why prep cannot be admitted whatever the breaker's window
// holds: the finding names more principals than the breaker admits, or
// would hold more than one ledger transaction records; "" when neither.
func tooMany(prep ledger.Prep) string {
	switch {
	case len(prep.Principals) > prep.BreakerMax:
		return fmt.Sprintf("this finding names %d principals to contain, more than the breaker admits at once (settings.breakerMax %d)",
			len(prep.Principals), prep.BreakerMax)
	case prep.Organization != "" && len(prep.Principals) > prep.OrgBreakerMax:
		return fmt.Sprintf("this finding names %d principals to contain, more than the organization's breaker admits at once (settings.orgBreakerMax %d)",
			len(prep.Principals), prep.OrgBreakerMax)
	case len(prep.Holds) > ledger.MaxHolds:
		return fmt.Sprintf("this finding would hold %d resources, more than one ledger transaction records (%d)", len(prep.Holds), ledger.MaxHolds)
	}
	return ""
}

// prep lists what p's acting steps will hold and block.
func (e *Engine) prep(p plan.Plan, tok string) (ledger.Prep, error) {
	f := p.Finding
	max, window := e.Playbook.Settings.Breaker()
	prep := ledger.Prep{Finding: f.ID, Token: tok, Account: f.Account, BreakerMax: max, BreakerWindow: window, Lease: writerLease}
	if e.Org != nil {
		prep.Organization, prep.OrgBreakerMax = e.Org.ID, e.Playbook.Settings.OrgBreaker()
	}
	seen := map[string]bool{}
	for _, s := range p.Steps {
		if !s.Acts() {
			continue
		}
		switch cat := playbook.CategoryOf(s.Action); cat {
		case playbook.OnPrincipal, playbook.OnInstance:
			// An isolated instance counts in the breaker as a contained
			// principal does ("ACCOUNT/instance/i-...").
			hd, ok, err := e.Executor.Hold(p, s)
			if err == nil && !ok {
				err = fmt.Errorf("%s contains a %s but cannot say what it holds: undo could not restore it", s.Action, cat)
			}
			if err != nil {
				return prep, failure.Permanent(err)
			}
			prep.Holds = append(prep.Holds, hd)
			if pr := hd.PrincipalKey(); !seen[pr] {
				seen[pr] = true
				prep.Principals = append(prep.Principals, pr)
			}
		case playbook.OnAddresses:
			w := ledger.Want{Set: s.Target.ARN, Until: e.now().Add(e.Playbook.Settings.TTL())}
			for _, a := range s.Target.Addresses {
				w.Addrs = append(w.Addrs, a.String())
			}
			prep.Wants = append(prep.Wants, w)
		}
	}
	return prep, nil
}

// commit is what the delivery records when it ends; it is handled when
// every step succeeded and nothing else failed (ok).
func (e *Engine) commit(p plan.Plan, rec audit.Record, held ledger.Prepared, tok string, ok bool) ledger.Commit {
	f := p.Finding
	c := ledger.Commit{Finding: f.ID, UpdatedAt: f.UpdatedAt, OK: ok && !rec.Failed(), Done: map[string]time.Time{},
		Ours: map[string][]string{}, Leases: held.Leases, Token: tok}
	for i, s := range rec.Steps {
		switch {
		case s.Status == audit.StatusFailed && playbook.CategoryOf(s.Action) == playbook.OnAddresses:
			c.Abandon = true
		case s.Status != audit.StatusDone && s.Status != audit.StatusUnchanged:
		case holds(s.Action) && i < len(p.Steps):
			// The record's steps are the plan's, in its order.
			c.Done[plan.DoneKey(s.Action, p.Steps[i].Target)] = rec.Time
		}
	}
	for _, ch := range rec.Changes {
		if hd, ok := ch.Hold(); ok {
			c.Changed = append(c.Changed, hd)
		}
		if ch.IPSet != "" && ch.Applied {
			c.Ours[ch.IPSet] = append(c.Ours[ch.IPSet], ch.Address)
		}
	}
	outcome := rec.Outcome
	if !ok {
		// The run failed besides its steps (finish makes it failed).
		outcome = audit.OutcomeFailed
	}
	return decided(c, f, outcome)
}

// decided adds to c what status lists of the decision: its outcome, and the
// finding's type, account and principal (or, for a finding about no
// principal, its resource).
func decided(c ledger.Commit, f finding.Finding, outcome string) ledger.Commit {
	c.Outcome, c.Type, c.Account, c.Subject = outcome, f.Type, f.Account, cmp.Or(f.Principal.Entity(), f.Resource)
	return c
}

// finish records a run-level error in the record, logs it once, and
// returns the record with the error that should reach Lambda.
func (e *Engine) finish(ctx context.Context, rec audit.Record, err error) (audit.Record, error) {
	switch {
	case errors.Is(err, ErrInProgress):
		// Retried, but not a failure: its own outcome, logged at warning
		// level (the event's run counts it: deferred).
		rec.Outcome = audit.OutcomeInProgress
	case err != nil:
		rec.Error, rec.ErrorCode = err.Error(), failure.Code(err)
		rec.Finish()
	}
	rec.Log(ctx, e.Log)
	if err != nil {
		// Wrapped, so callers can tell ErrInProgress; failed steps are in the
		// record. It becomes Lambda's errorMessage: key ids masked.
		return rec, finding.MaskError(fmt.Errorf("finding %s: %w", rec.Finding.ID, err))
	}
	return rec, rec.Err()
}

// skipAll is the record of a delivery that does nothing, with the reason.
func (e *Engine) skipAll(f finding.Finding, why string) audit.Record {
	p := plan.Plan{Finding: f, Steps: []plan.Step{{Action: plan.ActionSkip, Target: plan.Target{Kind: plan.TargetFinding}, Reason: why}}}
	return audit.New(p, e.now())
}

// holds reports whether the action named name holds what it contains: a
// principal action's or an instance action's steps are recorded in the
// ledger, counted by the breaker, and undone.
func holds(name string) bool {
	c := playbook.CategoryOf(name)
	return c == playbook.OnPrincipal || c == playbook.OnInstance
}

// acts reports whether any step of p changes the account.
func acts(p plan.Plan) bool { return slices.ContainsFunc(p.Steps, plan.Step.Acts) }

// Undo restores what the ledger recorded for finding id (see contain.Undoer).
func (e *Engine) Undo(ctx context.Context, id string) (contain.UndoReport, error) {
	if e.Ledger == nil || e.Undoer == nil {
		return contain.UndoReport{}, failure.Mark(errors.New("undo needs the ledger: set "+EnvLedgerTable), ErrNoLedger)
	}
	rep, err := e.Undoer.Undo(account.WithFinding(ctx, "undo-"+id), id)
	// The report and the error leave the process (log, Lambda result, CLI):
	// key ids masked.
	rep.Finding = finding.MaskKeys(rep.Finding)
	for _, l := range []*[]string{&rep.Restored, &rep.Left} {
		*l = slices.Clone(*l)
		for i, s := range *l {
			(*l)[i] = finding.MaskKeys(s)
		}
	}
	err = finding.MaskError(err)
	// Anyone allowed to invoke the function can start an undo: always
	// worth a look, at warning level.
	e.Log.LogAttrs(ctx, slog.LevelWarn, "autocontain undo", slog.String("finding", rep.Finding),
		slog.Any("restored", rep.Restored), slog.Any("left", rep.Left), slog.Any("error", err))
	return rep, err
}

// Metric names, in CloudWatch embedded metric format: a log line that
// CloudWatch Logs turns into a metric (CloudWatch User Guide, "Embedded
// metric format specification"). The stack alarms on them.
const (
	MetricNamespace  = "autocontain"
	MetricInProgress = "DeliveriesInProgress"
	// MetricFailedPermanently counts deliveries whose steps failed in a way
	// that retrying cannot mend: they are not retried (Handle), so the
	// function's error metric does not see them, and the stack alarms on
	// this one instead.
	MetricFailedPermanently = "DeliveriesFailedPermanently"
)

// deferred logs one DeliveriesInProgress, in embedded metric format, for
// an event whose run (started at start) failed only because other
// deliveries held its findings' claims (errorType DeliveryInProgress):
// nothing else. The stack's error alarm subtracts the metric from the
// function's Errors, which Lambda counts once per invocation, so it is
// counted once per event, however many of its findings were deferred, and
// not at all when anything else failed with them: a real failure must
// page.
func (e *Engine) deferred(ctx context.Context, start time.Time, err error) {
	if ErrorType(err) == errorTypeInProgress {
		e.metric(ctx, start, slog.LevelWarn, MetricInProgress, "autocontain delivery deferred: another delivery of the finding is in progress")
	}
}

// metric logs one count of metric name in embedded metric format, with
// msg, timestamped at: the invocation's start, because Lambda timestamps
// an Errors data point when the function was invoked, not when the error
// occurred (Lambda Developer Guide, "Types of metrics for Lambda
// functions"), and the alarm must see both in the same period.
func (e *Engine) metric(ctx context.Context, at time.Time, level slog.Level, name, msg string) {
	e.Log.LogAttrs(ctx, level, msg,
		slog.Group("_aws",
			slog.Int64("Timestamp", at.UnixMilli()),
			slog.Any("CloudWatchMetrics", []map[string]any{{
				"Namespace":  MetricNamespace,
				"Dimensions": [][]string{{"FunctionName"}},
				"Metrics":    []map[string]string{{"Name": name, "Unit": "Count"}},
			}}),
		),
		slog.String("FunctionName", e.FunctionName), slog.Int(name, 1))
}

// Reconcile has every configured IP set written from the ledger: expired
// blocks leave, the oldest go past WAF's limit. The schedule calls it.
func (e *Engine) Reconcile(ctx context.Context) (map[string]blocklist.Report, error) {
	if e.Ledger == nil || e.Writer == nil {
		return nil, failure.Mark(errors.New("reconcile needs the ledger: set "+EnvLedgerTable), ErrNoLedger)
	}
	out := map[string]blocklist.Report{}
	var errs []error
	sets := []string{e.Playbook.Settings.IPSets.IPv4, e.Playbook.Settings.IPSets.IPv6}
	if e.Org != nil {
		// Organization mode: also every member's sets, as found.
		members, err := e.Ledger.Sets(ctx)
		if err != nil {
			return out, err
		}
		sets = append(sets, members...)
	}
	for _, set := range sets {
		if _, done := out[set]; set == "" || done {
			continue
		}
		rep, err := e.Writer.Run(account.WithFinding(ctx, "reconcile"), set)
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
