package plan

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/autocontain/autocontain/internal/account"
	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/playbook"
)

// Facts are what the planner is told beyond the finding and the playbook:
// the responder's account, what the account says of the principal (package
// protect), and what the ledger remembers of the finding. The zero value
// means nothing was checked.
type Facts struct {
	// InstanceRoles maps the ARN of an instance profile to the ARN of its
	// role, read from IAM (iam:GetInstanceProfile) before planning; "" when
	// the profile has no role. A profile not in it was not read (a plan or a
	// dry run reads nothing), and its role is not contained.
	InstanceRoles map[string]string
	// InstanceProtected: the instance's tags, as the engine read them from
	// EC2 when it handled the finding, protect it (the finding's may be
	// older); its role is then not contained either.
	InstanceProtected bool
	// InstanceRoleUnread says why the role of the instance's profile could
	// not be read when the run tried: the role is not contained, and the
	// rest of the plan (the isolation) goes ahead.
	InstanceRoleUnread string
	// Home is the account the responder serves. A principal is contained
	// only when the finding, the principal and the partition are all
	// Home's; when Home is unknown, no principal is contained.
	Home account.Account
	// Reach decides which accounts' principals the responder may contain;
	// nil is single-account mode, account.Single{Home}. Organization mode
	// gives its own, which also knows the organization's accounts.
	Reach account.Reacher
	// ProtectionChecked: the principals' protect tags and paths were read
	// (package protect). A dry run does not read them, and says so.
	ProtectionChecked bool
	// Protection is what the account says of each principal, by its
	// entity (finding.Principal.Entity: "user/NAME", "role/NAME").
	Protection map[string]Protection
	// BreakerOpen says why principals are not being contained right now
	// (the blast-radius breaker): the principal is reported instead.
	BreakerOpen string
	// Done maps the principal steps that earlier deliveries of the same
	// finding completed (DoneKey) to when: an updated or retried finding
	// does not repeat them.
	Done map[string]time.Time
	// Blocked are the addresses earlier deliveries of the finding blocked.
	Blocked map[string]bool
	// Undone: an operator undid this finding's containment; nothing is done again.
	Undone bool
	// IPSets, when set, are the IP sets block-ip writes to instead of
	// settings.ipSets: in organization mode, the ones the member stack
	// made in the finding's account and Region, found by name (IPSetsWhere
	// says where, for a skip's reason).
	IPSets      *playbook.IPSets
	IPSetsWhere string
}

// Protection is what the account says of one principal (package protect).
type Protection struct {
	// Protected says why the principal is exempt from containment; "" when it is not.
	Protected string
	// Unverified says why protection could not be checked; the principal is
	// then not contained, to be safe.
	Unverified string
}

// DoneKey is the key under which the ledger remembers that a delivery of
// the finding did action to target: "deactivate-key key/AKIA...",
// "revoke-sessions role/NAME". Deliveries made before findings could name
// several principals remembered the bare action name, which stands for the
// finding's Principal.
func DoneKey(action string, t Target) string { return action + " " + t.ID() }

// Build decides what to do about f under pb. It never fails: every case
// that cannot be acted on becomes a skip or report step that says why.
func Build(f finding.Finding, pb *playbook.Playbook) Plan {
	return BuildWith(f, pb, Facts{})
}

// ProtectionCheck is what the step that notes an unchecked protection
// names as skipped.
const ProtectionCheck = "protection-check"

// BuildWith is Build with facts learned from the account.
func BuildWith(f finding.Finding, pb *playbook.Playbook, facts Facts) Plan {
	p := Plan{Finding: f, DryRun: pb.Settings.DryRun}
	s := pb.Settings
	switch {
	case f.Sample && !s.ActOnSamples:
		p.skip("", Target{Kind: TargetFinding}, "GuardDuty generated this finding as a sample; settings.actOnSamples is off")
		return p
	case f.Archived && !s.ActOnArchived:
		p.skip("", Target{Kind: TargetFinding}, "the finding is archived (suppressed or closed by a person); settings.actOnArchived is off")
		return p
	}
	if facts.Undone {
		p.skip("", Target{Kind: TargetFinding}, "an operator undid this finding's containment (autocontain undo): it is not contained again")
		return p
	}
	rule, ok := pb.Match(f)
	if !ok {
		p.skip("", Target{Kind: TargetFinding}, noRuleReason(f, pb))
		return p
	}
	p.Rule = rule.Name
	if facts.Reach != nil {
		if d := facts.Reach.Reach(f); d.OK && d.How != "own" {
			// Organization mode: the plan names the account it acts in
			// and the role it acts through.
			p.ActsIn = "account " + d.Account.ID + " " + d.How
		}
	}
	p.safetyNet(f, pb, rule)
	principalsPlanned := false
	for _, spec := range playbook.Specs {
		action := spec.Name
		if !rule.Has(action) {
			continue
		}
		switch spec.Category {
		case playbook.OnPrincipal:
			// Every principal action of every principal at once, principal
			// by principal, in the order the finding names them.
			if !principalsPlanned {
				principalsPlanned = true
				p.principalSteps(rule, pb, facts)
			}
		case playbook.OnInstance:
			p.instanceSteps(spec, pb, facts)
		case playbook.OnAddresses:
			p.blockSteps(action, f, pb, facts)
		case playbook.OnTopic:
			if s.TopicARN == "" {
				p.skip(action, Target{Kind: TargetTopic}, "no SNS topic is configured (settings.topicArn)")
			} else {
				p.add(action, Target{Kind: TargetTopic, ARN: s.TopicARN}, "publish the decision and its outcome")
			}
		default:
			// Never a silent drop: an action the planner cannot place is
			// reported (TestEveryActionIsPlanned keeps this unreachable).
			p.Steps = append(p.Steps, Step{Action: ActionReport, Target: Target{Kind: TargetFinding},
				Reason: fmt.Sprintf("the playbook asks for %s, of category %q, which the planner does not know: nothing done", action, spec.Category)})
		}
	}
	return p
}

func (p *Plan) add(action string, t Target, reason string) {
	p.Steps = append(p.Steps, Step{Action: action, Target: t, Reason: reason})
}

func (p *Plan) skip(action string, t Target, reason string) {
	p.Steps = append(p.Steps, Step{Action: ActionSkip, Skipped: action, Target: t, Reason: reason})
}

// noRuleReason explains why no rule matched, naming a rule that would have
// matched but for the severity, if there is one.
func noRuleReason(f finding.Finding, pb *playbook.Playbook) string {
	// f at the highest severity: what a rule needs beside the severity
	// (its type, principal kind, resource role and type) f has.
	top := finding.Finding{Source: f.Source, EventSource: f.EventSource, Type: f.Type, Severity: 10, Principal: f.Principal,
		ResourceRole: f.ResourceRole, ResourceType: f.ResourceType}
	for _, r := range pb.Rules {
		need, on := pb.MinSeverity(r)
		if on && r.Source == f.Source && r.Matches(top, 0) {
			if f.Source == finding.SourceGuardDuty && f.DecidingSeverity() < need {
				return fmt.Sprintf("rule %s matches %s but needs severity %g or more; this finding is %s",
					r.Name, f.Type, need, severityText(f))
			}
		}
	}
	what := f.Type
	if f.Source == finding.SourceCloudTrail {
		what = f.EventSource + " " + f.Type
	}
	return fmt.Sprintf("no playbook rule matches %s %s by a principal of kind %s", f.Source, what, f.Principal.Kind) + safetyNetOff(f, pb)
}

// ContainsPrincipal reports whether a step (so far) changes a principal.
func (p Plan) ContainsPrincipal() bool {
	return slices.ContainsFunc(p.Steps, func(s Step) bool { return playbook.IsPrincipal(s.Action) })
}

// principalSteps plans rule's principal actions for each principal of the
// finding: the gate that stops them all for that principal, or one step
// per action. A step that an earlier principal of the same finding already
// planned (two sessions of one role) is not repeated.
func (p *Plan) principalSteps(rule playbook.Rule, pb *playbook.Playbook, facts Facts) {
	seen := map[string]bool{}
	stopped, isInstance := p.instancePrincipalGate(facts)
	if stopped {
		return
	}
	for i, pr := range Principals(p.Finding, facts) {
		if p.principalGate(pr, pb, facts) {
			continue
		}
		acting := false
		for _, spec := range playbook.Specs {
			if spec.Category != playbook.OnPrincipal || !rule.Has(spec.Name) {
				continue
			}
			s := carried(spec, principalStep(spec, pr), pb.Settings, firstNonEmpty(p.Finding.Partition, facts.Home.Partition))
			if isInstance && s.Acts() {
				s.Reason += instanceRoleWhy(p.Finding.Instance)
			}
			if s.Acts() {
				key := DoneKey(s.Action, s.Target)
				if seen[key] {
					continue
				}
				seen[key] = true
				at, done := facts.Done[key]
				if !done && i == 0 {
					at, done = facts.Done[s.Action]
				}
				if done {
					s = Step{Action: ActionSkip, Skipped: s.Action, Target: s.Target, Reason: "already done for this finding at " + at.UTC().Format(time.RFC3339)}
				}
				acting = acting || s.Acts()
			}
			p.Steps = append(p.Steps, s)
		}
		if p.DryRun && !facts.ProtectionChecked && acting {
			// A dry run reads nothing from the account, so a principal a
			// real run would skip for its tag or path is planned here.
			p.skip(ProtectionCheck, principalTarget(pr),
				"dry run: the principal's protect tag ("+finding.ProtectTag+") and path were not read; a real run may leave it alone")
		}
	}
}

// principalGate adds the one step that stops every principal action, if
// there is one: the finding names no principal, the principal is outside
// the responder's account or partition, is protected, or is of a kind that
// cannot be contained. It reports whether it stopped them.
func (p *Plan) principalGate(pr finding.Principal, pb *playbook.Playbook, facts Facts) bool {
	t := principalTarget(pr)
	if pr.Kind == finding.KindNone {
		p.skip(SkippedPrincipal, Target{Kind: TargetNone}, "the finding names no principal")
		return true
	}
	reach := facts.Reach
	if reach == nil {
		reach = account.Single{Home: facts.Home}
	}
	if d := reach.Reach(p.Finding.About(pr)); !d.OK {
		why := d.Reason + "; a human must act in that account (addresses are still blocked)"
		if d.Unchecked {
			why = d.Reason + ": not contained, to be safe (addresses are still blocked)"
		}
		p.Steps = append(p.Steps, Step{Action: ActionReport, Target: t, Reason: why})
		return true
	}
	partition := firstNonEmpty(p.Finding.Partition, facts.Home.Partition)
	if pat, ok := pb.Protected(principalARNs(pr, partition, p.Finding.Account)...); ok {
		p.skip(SkippedPrincipal, t, fmt.Sprintf("the principal is protected by %q (settings.protect); a human must decide", pat))
		return true
	}
	known := facts.Protection[pr.Entity()]
	if known.Protected != "" {
		p.skip(SkippedPrincipal, t, fmt.Sprintf("the principal is protected: %s; a human must decide", known.Protected))
		return true
	}
	if facts.BreakerOpen != "" {
		p.Steps = append(p.Steps, Step{Action: ActionReport, Target: t,
			Reason: "BREAKER OPEN: " + facts.BreakerOpen + "; principals are reported, not contained, until the window ends (addresses are still blocked)"})
		return true
	}
	if known.Unverified != "" {
		p.Steps = append(p.Steps, Step{Action: ActionReport, Target: t,
			Reason: fmt.Sprintf("could not verify that the principal is not protected (%s): not contained, to be safe", known.Unverified)})
		return true
	}
	if p.viaServiceGate(pr, pb) {
		return true
	}
	var why string
	switch pr.Kind {
	case finding.KindRoot:
		why = "the root user cannot be restricted by IAM policies, nor can its temporary credentials " +
			"(IAM User Guide, \"Disabling permissions for temporary security credentials\"): " +
			"a human must secure root (rotate its password and keys, check MFA) and review its activity"
	case finding.KindService:
		why = fmt.Sprintf("an AWS service (%s) acted on the account's behalf: there is no credential of ours to contain", firstNonEmpty(pr.InvokedBy, "unnamed"))
	case finding.KindFederated:
		if pr.UserName != "" {
			return false
		}
		why = "a federated session whose issuing IAM user the event does not name (or root issued it): " +
			"there is no user to put a session deny on; a human must find who called GetFederationToken"
	case finding.KindUnknown:
		why = fmt.Sprintf("principal type %q with access key %q is not one autocontain can contain safely; not guessing",
			pr.Type, finding.MaskKey(pr.AccessKeyID))
	default:
		return false
	}
	p.Steps = append(p.Steps, Step{Action: ActionReport, Target: t, Reason: why})
	return true
}

// principalStep is the step of one principal action for a containable
// principal, on the part of the principal the action contains.
func principalStep(spec playbook.ActionSpec, pr finding.Principal) Step {
	why := spec.Why(pr.Kind)
	step := func(t Target) Step { return Step{Action: spec.Name, Target: t, Reason: why} }
	switch {
	case spec.Contains == playbook.PartKey && why != "":
		return step(Target{Kind: TargetAccessKey, UserName: pr.UserName, AccessKeyID: pr.AccessKeyID})
	case spec.Contains == playbook.PartKey:
		switch {
		case pr.AccessKeyID == "":
			why = "the event names no access key"
		case strings.HasPrefix(pr.AccessKeyID, "ASIA"):
			why = fmt.Sprintf("%s is a temporary credential: it cannot be deactivated, only denied by revoke-sessions", finding.MaskKey(pr.AccessKeyID))
		default:
			why = fmt.Sprintf("%s is not a long-term access key of an IAM user", finding.MaskKey(pr.AccessKeyID))
		}
	case why == "":
		why = fmt.Sprintf("%s does not act on a principal of kind %s", spec.Name, pr.Kind)
	case pr.Kind == finding.KindAssumedRole:
		return step(Target{Kind: TargetRole, RoleName: pr.RoleName, ARN: pr.RoleARN})
	default:
		return step(Target{Kind: TargetUser, UserName: pr.UserName})
	}
	return Step{Action: ActionSkip, Skipped: spec.Name, Target: principalTarget(pr), Reason: why}
}

// carried is st, a step principalStep planned, completed with what its
// action takes from the settings (spec.Carry), or a skip when they leave
// it nothing to do.
func carried(spec playbook.ActionSpec, st Step, s playbook.Settings, partition string) Step {
	if spec.Carry == nil || st.Action != spec.Name {
		return st
	}
	c, skip := spec.Carry(s, partition)
	if skip != "" {
		return Step{Action: ActionSkip, Skipped: spec.Name, Target: st.Target, Reason: skip}
	}
	st.Target.Policy = c.Policy
	st.Target.Addresses = slices.Clone(c.Networks)
	switch {
	case c.Policy != "":
		st.Reason += " (" + c.Policy + ")"
	case len(c.Networks) > 0:
		st.Reason += " (allowed: " + joinPrefixes(c.Networks) + ")"
	}
	return st
}

// blockSteps plans block-ip: one step per address family with every
// blockable address, and a skip step for each address left alone.
func (p *Plan) blockSteps(action string, f finding.Finding, pb *playbook.Playbook, facts Facts) {
	done := facts.Blocked
	if len(f.Addresses) == 0 {
		p.skip(action, Target{Kind: TargetAddresses}, "the finding carries no remote address")
		return
	}
	if f.ResourceRole == "ACTOR" {
		p.skip(action, addrTarget(f.Addresses...), "the account's resource was the actor: the remote addresses are its victims, not attackers")
		return
	}
	var v4, v6 []netip.Prefix
	for _, a := range f.Addresses {
		if r, why := reservedRange(a); why != "" {
			p.skip(action, addrTarget(a), fmt.Sprintf("%s is in %s, %s: never blocked", a, r, why))
			continue
		}
		if why := allowListed(pb, a); why != "" {
			p.skip(action, addrTarget(a), why)
			continue
		}
		if done[hostPrefix(a).String()] {
			p.skip(action, addrTarget(a), fmt.Sprintf("%s was already blocked for this finding", a))
			continue
		}
		if hostPrefix(a).Addr().Is4() { // an IPv4-mapped address is its IPv4 address
			v4 = append(v4, hostPrefix(a))
		} else {
			v6 = append(v6, hostPrefix(a))
		}
	}
	sets, v4Field, v6Field := pb.Settings.IPSets, "settings.ipSets.ipv4", "settings.ipSets.ipv6"
	if facts.IPSets != nil {
		sets = *facts.IPSets
		v4Field, v6Field = "none named "+IPSetV4Name+" in "+facts.IPSetsWhere, "none named "+IPSetV6Name+" in "+facts.IPSetsWhere
	}
	for _, fam := range []struct {
		name, field, arn string
		addrs            []netip.Prefix
	}{
		{"IPv4", v4Field, sets.IPv4, v4},
		{"IPv6", v6Field, sets.IPv6, v6},
	} {
		if len(fam.addrs) == 0 {
			continue
		}
		if fam.arn == "" {
			p.skip(action, Target{Kind: TargetAddresses, Addresses: fam.addrs}, fmt.Sprintf("no %s IP set is configured (%s)", fam.name, fam.field))
			continue
		}
		p.add(action, Target{Kind: TargetIPSet, ARN: fam.arn, Addresses: fam.addrs},
			fmt.Sprintf("block %s in the web ACL's IP set", plural(len(fam.addrs), "attacker "+fam.name+" address", "attacker "+fam.name+" addresses")))
	}
}

func addrTarget(as ...netip.Addr) Target {
	t := Target{Kind: TargetAddresses}
	for _, a := range as {
		t.Addresses = append(t.Addresses, hostPrefix(a))
	}
	return t
}

func principalTarget(pr finding.Principal) Target {
	return Target{Kind: TargetPrincipal, ARN: pr.ARN, UserName: pr.UserName, RoleName: pr.RoleName, AccessKeyID: pr.AccessKeyID}
}

// principalARNs lists the ARNs a protect pattern is matched against: the
// principal's own and those of the user or role behind it, in the given
// partition. GuardDuty gives names without paths, so derived ARNs have none.
func principalARNs(pr finding.Principal, partition, account string) []string {
	arns := []string{pr.ARN, pr.RoleARN}
	if account != "" && partition != "" {
		if pr.UserName != "" {
			arns = append(arns, "arn:"+partition+":iam::"+account+":user/"+pr.UserName)
		}
		if pr.RoleName != "" {
			arns = append(arns, "arn:"+partition+":iam::"+account+":role/"+pr.RoleName)
		}
	}
	return slices.DeleteFunc(arns, func(s string) bool { return s == "" })
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// severityText is the finding's severity for people, "8 (high)", and the
// floor decisions use when people may have moved the number (floorText).
func severityText(f finding.Finding) string {
	return fmt.Sprintf("%g (%s)%s", f.Severity, finding.SeverityLabel(f.Severity), floorText(f))
}

// floorText says which severity decisions use when it is not the number
// itself: "" when it is.
func floorText(f finding.Finding) string {
	if f.SeverityFloor == 0 {
		return ""
	}
	return fmt.Sprintf(", decided as %g, its band's lowest (Security Hub users can change the number within the band)", f.SeverityFloor)
}
