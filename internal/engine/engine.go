// Package engine runs the data path for one event: parse it into a finding,
// plan under the playbook, execute the plan, and write the audit record.
// Both the Lambda handler and the operator CLI go through it.
package engine

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/autocontain/autocontain/internal/audit"
	"github.com/autocontain/autocontain/internal/contain"
	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/plan"
	"github.com/autocontain/autocontain/internal/playbook"
	"github.com/autocontain/autocontain/internal/protect"
)

// Engine decides and acts on events.
type Engine struct {
	Playbook *playbook.Playbook
	Executor *contain.Executor
	// Guard, when set, is consulted before any principal is contained.
	Guard *protect.Guard
	Log   *slog.Logger
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
	var guardErr error
	if e.Guard != nil && !p.DryRun && containsPrincipal(p) {
		// Protection by tag or path needs the account: checked only when a
		// principal is about to be contained, and never in a dry run, which
		// makes no AWS call at all.
		why, err := e.Guard.Check(ctx, p.Finding.Principal)
		facts := plan.Facts{Protected: why}
		if err != nil {
			facts.Unverified, guardErr = err.Error(), err
		}
		p = plan.BuildWith(p.Finding, e.Playbook, facts)
	}
	rec := e.Executor.Execute(ctx, p)
	if guardErr != nil {
		rec.Error = guardErr.Error()
		rec.Finish()
	}
	rec.Log(ctx, e.Log)
	return rec, rec.Err()
}

// containsPrincipal reports whether p has a step that changes a principal.
func containsPrincipal(p plan.Plan) bool {
	for _, s := range p.Steps {
		if slices.Contains(playbook.PrincipalActions, s.Action) {
			return true
		}
	}
	return false
}

// EnvSelfRoleARN names the responder's own role, which is never contained.
// The CDK stack sets it to the Lambda's execution role.
const EnvSelfRoleARN = "AUTOCONTAIN_SELF_ROLE_ARN"

// New returns an engine that acts on the account cfg reaches, with the
// real AWS clients. It makes no network call. selfRoleARN is the
// responder's own role ("" when unknown, as for an operator at a terminal).
func New(cfg aws.Config, pb *playbook.Playbook, log *slog.Logger, selfRoleARN string) *Engine {
	return &Engine{
		Playbook: pb,
		Executor: contain.NewExecutor(func() time.Time { return time.Now().UTC() }, contain.Registry(contain.NewClients(cfg))...),
		Guard:    &protect.Guard{IAM: iam.NewFromConfig(cfg), SelfRoleARN: selfRoleARN, Patterns: pb.Settings.Protect},
		Log:      log,
	}
}
