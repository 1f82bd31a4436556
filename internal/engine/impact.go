package engine

import (
	"context"
	"slices"

	"github.com/autocontain/autocontain/internal/account"
	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/impact"
	"github.com/autocontain/autocontain/internal/plan"
	"github.com/autocontain/autocontain/internal/playbook"
)

// withImpact reads the privilege class of each of the finding's principals
// from IAM (package impact) and plans again with it, so that the plan
// shows it and rules with an impact field can match. It reads only when
// the engine can read IAM (Engine.Impact), the run is not a dry run (a dry
// run makes no AWS call), the plan does something or a rule could match on
// the class (readings cost IAM calls, which share IAM's throttling with
// containment in a burst), and the principal is in the account the engine
// serves (each principal on its own): the same name in another account is
// another principal. Each run has its own lookup, so what it caches lives
// only as long as the invocation. A failure to read makes the class
// unknown, which the plan says and which never blocks containment.
func (e *Engine) withImpact(ctx context.Context, p plan.Plan, facts plan.Facts, in *side) plan.Plan {
	f := p.Finding
	s := e.Playbook.Settings
	switch {
	case in.impact == nil, p.DryRun, f.Sample && !s.ActOnSamples, f.Archived && !s.ActOnArchived:
		return p
	case !acts(p) && !slices.ContainsFunc(e.Playbook.Rules, func(r playbook.Rule) bool { return len(r.Impact) > 0 }):
		return p
	}
	reach := facts.Reach
	if reach == nil {
		reach = account.Single{Home: e.Home}
	}
	// The account the side's IAM client reads.
	reads := e.Home
	if in.account != "" {
		reads = account.Account{Partition: e.Home.Partition, ID: in.account}
	}
	// One lookup per run, shared by the finding's principals: what it
	// read for one (a group, a managed policy) it does not read again.
	l := impact.New(in.impact)
	read := false
	for i, pr := range f.Principals() {
		if d := reach.Reach(f.About(pr)); !d.OK || d.Account != reads {
			continue
		}
		imp := l.Principal(ctx, pr)
		if imp == (finding.Impact{}) {
			continue
		}
		read = true
		if i == 0 {
			f.Principal.Impact = imp
		} else {
			f.Actors = slices.Clone(f.Actors)
			f.Actors[i-1].Impact = imp
		}
	}
	if !read {
		return p
	}
	return plan.BuildWith(f, e.Playbook, facts)
}

// PlanImpact is Plan with what a run reads from IAM before planning: the
// principal's impact class (Impact), and the role of the instance
// profile of a finding about an instance. It changes nothing.
func (e *Engine) PlanImpact(ctx context.Context, raw []byte) (plan.Plan, error) {
	p, err := e.Plan(raw)
	if err != nil {
		return p, err
	}
	return e.planImpact(ctx, p)
}

// PlanAllImpact is PlanAll with each principal's impact class read from
// IAM, as PlanImpact reads it. It changes nothing.
func (e *Engine) PlanAllImpact(ctx context.Context, raw []byte) ([]plan.Plan, error) {
	ps, err := e.PlanAll(raw)
	if err != nil {
		return nil, err
	}
	for i := range ps {
		if ps[i], err = e.planImpact(ctx, ps[i]); err != nil {
			return nil, err
		}
	}
	return ps, nil
}

func (e *Engine) planImpact(ctx context.Context, p plan.Plan) (plan.Plan, error) {
	facts, in, err := e.scope(ctx, p)
	if err != nil {
		return p, err
	}
	if e.Org != nil {
		p = plan.BuildWith(p.Finding, e.Playbook, facts)
	}
	return e.withInstanceRole(ctx, e.withImpact(ctx, p, facts, in), &facts, in)
}
