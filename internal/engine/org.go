package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	waftypes "github.com/aws/aws-sdk-go-v2/service/wafv2/types"

	"github.com/autocontain/autocontain/internal/account"
	"github.com/autocontain/autocontain/internal/contain"
	"github.com/autocontain/autocontain/internal/failure"
	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/impact"
	"github.com/autocontain/autocontain/internal/ipset"
	"github.com/autocontain/autocontain/internal/plan"
	"github.com/autocontain/autocontain/internal/playbook"
	"github.com/autocontain/autocontain/internal/protect"
)

// side is what a delivery acts through in one account: the home account's
// clients, or a member account's, built on its member role's credentials.
type side struct {
	executor *contain.Executor
	guard    *protect.Guard
	impact   impact.PolicyReader
	// instances reads an instance's current tags (withInstanceRole).
	instances instanceReader
	waf       func(region string) ipset.API
	// creds are the member role's; nil in the home account.
	creds *account.MemberCredentials
	// account is the member account's id; "" for the home account.
	account string
}

// home is the side of the responder's own account.
func (e *Engine) home() *side {
	return &side{executor: e.Executor, guard: e.Guard, impact: e.Impact, instances: e.Instances}
}

// orgState is what organization mode keeps for the life of the process:
// each member account's side, and each member's IP sets by account and
// Region, found once.
type orgState struct {
	build func(id string) *side
	mu    sync.Mutex
	sides map[string]*side
	sets  map[string]playbook.IPSets
}

// member returns account id's side, built once per process, and gets its
// credentials (one AssumeRole per credential lifetime, shared by every
// delivery): a failure fails the delivery, to be retried.
func (e *Engine) member(ctx context.Context, id string) (*side, string, error) {
	o := e.org
	o.mu.Lock()
	s, ok := o.sides[id]
	if !ok {
		s = o.build(id)
		o.sides[id] = s
	}
	o.mu.Unlock()
	session, err := s.creds.Session(ctx)
	return s, session, err
}

// scope decides, before planning, which account a finding's plan acts in
// and what the planner must know of it: the facts (the reacher; in
// organization mode, the membership of the finding's account and its IP
// sets) and the side that acts. Single-account mode makes no call. In
// organization mode a dry run makes none either, so it cannot tell a
// member from an outsider and contains no member's principal.
func (e *Engine) scope(ctx context.Context, p plan.Plan) (plan.Facts, *side, error) {
	facts := plan.Facts{Home: e.Home, Reach: e.Reach}
	if e.Org == nil {
		return facts, e.home(), nil
	}
	f := p.Finding
	org := e.Org.Unchecked()
	facts.Reach = org
	if p.DryRun {
		return facts, e.home(), nil
	}
	r, err := e.Org.Reacher(ctx, f)
	if err != nil {
		return facts, nil, err
	}
	org = r.(account.Org)
	facts.Reach = org
	m, asked := org.Members[f.Account]
	if asked && !m.Member {
		// An outsider's addresses are not blocked here either: the
		// responder acts only for the organization.
		facts.IPSets, facts.IPSetsWhere = &playbook.IPSets{}, fmt.Sprintf("account %s, which is not an active account of organization %s", f.Account, e.Org.ID)
	}
	if !m.Member {
		return facts, e.home(), nil
	}
	// A member of the organization: act through its role, if the plan
	// acts there at all.
	draft := plan.BuildWith(f, e.Playbook, facts)
	rule, _ := e.Playbook.Match(f)
	blocks := rule.Has(playbook.ActionBlockIP) && len(f.Addresses) > 0
	if !slices.ContainsFunc(draft.Steps, func(s plan.Step) bool { return holds(s.Action) }) && plan.InstanceProfile(f, rule, facts) == "" && !blocks {
		return facts, e.home(), nil
	}
	s, session, err := e.member(ctx, f.Account)
	if err != nil {
		return facts, nil, fmt.Errorf("account %s of organization %s: %w", f.Account, e.Org.ID, err)
	}
	org.Session = session
	facts.Reach = org
	if blocks {
		sets, err := e.memberSets(ctx, s, f.Account, f.Region)
		if err != nil {
			return facts, nil, err
		}
		facts.IPSets, facts.IPSetsWhere = &sets, fmt.Sprintf("account %s, Region %s", f.Account, firstNonEmpty(f.Region, "(none named)"))
	}
	return facts, s, nil
}

// ipSetLister is the part of the WAFv2 API that finds a member's IP sets.
type ipSetLister interface {
	ListIPSets(ctx context.Context, in *wafv2.ListIPSetsInput, opts ...func(*wafv2.Options)) (*wafv2.ListIPSetsOutput, error)
}

var _ ipSetLister = (*wafv2.Client)(nil)

// memberSets finds the member stack's IP sets in account id and region by
// their names (plan.IPSetV4Name, plan.IPSetV6Name; REGIONAL), through the
// member role, and keeps what it found for the life of the process. A set
// not found is "": block-ip then says so; the next delivery looks again.
func (e *Engine) memberSets(ctx context.Context, s *side, id, region string) (playbook.IPSets, error) {
	if region == "" {
		return playbook.IPSets{}, nil
	}
	k := id + "/" + region
	e.org.mu.Lock()
	sets, ok := e.org.sets[k]
	e.org.mu.Unlock()
	if ok {
		return sets, nil
	}
	api, ok := s.waf(region).(ipSetLister)
	if !ok {
		return sets, failure.Permanent(errors.New("the WAF client cannot list IP sets"))
	}
	in := &wafv2.ListIPSetsInput{Scope: waftypes.ScopeRegional, Limit: aws.Int32(100)}
	for {
		out, err := api.ListIPSets(ctx, in)
		if err != nil {
			return sets, fmt.Errorf("find the IP sets of account %s in %s (wafv2:ListIPSets): %w", id, region, err)
		}
		for _, set := range out.IPSets {
			switch aws.ToString(set.Name) {
			case plan.IPSetV4Name:
				sets.IPv4 = aws.ToString(set.ARN)
			case plan.IPSetV6Name:
				sets.IPv6 = aws.ToString(set.ARN)
			}
		}
		if aws.ToString(out.NextMarker) == "" || len(out.IPSets) == 0 {
			break
		}
		in.NextMarker = out.NextMarker
	}
	if e.Ledger != nil {
		// The scheduled reconcile writes the sets the ledger lists.
		for _, set := range []string{sets.IPv4, sets.IPv6} {
			if set == "" {
				continue
			}
			if err := e.Ledger.RegisterSet(ctx, set); err != nil {
				return sets, err
			}
		}
	}
	if sets.IPv4 != "" && sets.IPv6 != "" {
		e.org.mu.Lock()
		e.org.sets[k] = sets
		e.org.mu.Unlock()
	}
	return sets, nil
}

// newOrg sets organization mode up on e: each member's side is built on
// cfg with the member role's credentials; the writer and undo reach each
// member through it.
func (e *Engine) newOrg(cfg aws.Config, org *account.Organization, home contain.Clients) {
	e.Org = org
	roles := protect.OrganizationRoles(org.RoleName)
	e.Guard.Roles = roles
	e.org = &orgState{sides: map[string]*side{}, sets: map[string]playbook.IPSets{}, build: func(id string) *side {
		mcfg := cfg.Copy()
		creds := org.Member(id)
		mcfg.Credentials = creds
		c := contain.NewClients(mcfg)
		// The topic is the central account's: notify publishes with the
		// responder's own credentials.
		c.SNS = home.SNS
		iamc := iam.NewFromConfig(mcfg)
		return &side{
			executor:  e.executor(c),
			guard:     &protect.Guard{IAM: iamc, SelfRoleARN: e.Guard.SelfRoleARN, Patterns: e.Guard.Patterns, Roles: roles},
			impact:    iamc,
			instances: c.EC2,
			waf:       c.WAF,
			creds:     creds,
			account:   id,
		}
	}}
	in := func(ctx context.Context, id string) (*side, error) {
		if id == "" || id == e.Home.ID {
			return &side{executor: e.Executor, waf: home.WAF}, nil
		}
		s, _, err := e.member(ctx, id)
		return s, err
	}
	if e.Writer != nil {
		e.Writer.In = func(ctx context.Context, id string) (func(string) ipset.API, error) {
			s, err := in(ctx, id)
			if err != nil {
				return nil, err
			}
			return s.waf, nil
		}
	}
	if e.Undoer != nil {
		e.Undoer.In = func(ctx context.Context, id string) (map[string]contain.Reverter, error) {
			s, err := in(ctx, id)
			if err != nil {
				return nil, err
			}
			return s.executor.Reverters(), nil
		}
	}
}

// breakerOpen says which breaker refused the finding's principals.
func (e *Engine) breakerOpen(f finding.Finding, orgOpen bool) string {
	max, window := e.Playbook.Settings.Breaker()
	if orgOpen && e.Org != nil {
		return fmt.Sprintf("%d principals were already contained in organization %s, every account together, in the current %s window (settings.orgBreakerMax)",
			e.Playbook.Settings.OrgBreaker(), e.Org.ID, window)
	}
	return fmt.Sprintf("%d principals were already contained in account %s in the current %s window (settings.breakerMax)", max, f.Account, window)
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
