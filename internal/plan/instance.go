package plan

import (
	"fmt"
	"strings"
	"time"

	"github.com/autocontain/autocontain/internal/account"
	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/playbook"
)

// instanceSteps plans an instance action (isolate-instance) for the
// instance the finding is about, behind its gates: the finding names an
// instance; the account rule (the instance is in an account the responder
// reaches); the protect tag and the Auto Scaling tag as the finding shows
// them (the action reads the instance again, and refuses, rather than
// trust them); the breaker, which counts an isolated instance as it counts
// a contained principal.
func (p *Plan) instanceSteps(spec playbook.ActionSpec, pb *playbook.Playbook, facts Facts) {
	f := p.Finding
	action := spec.Name
	in := f.Instance
	if in == nil {
		why := "the finding names no EC2 instance (GuardDuty leaves an instance's details out when it was already terminated)"
		if f.ResourceType != finding.ResourceInstance {
			why = fmt.Sprintf("the finding is about %s, not an EC2 instance", firstNonEmpty(f.ResourceType, "a resource of no type"))
		}
		p.skip(action, Target{Kind: TargetNone}, why)
		return
	}
	t := Target{Kind: TargetInstance, InstanceID: in.ID}
	if why, stop := instanceGate(f, facts); stop {
		p.Steps = append(p.Steps, Step{Action: ActionReport, Target: t, Reason: "not isolated: " + why})
		return
	}
	if facts.BreakerOpen != "" {
		p.Steps = append(p.Steps, Step{Action: ActionReport, Target: t,
			Reason: "BREAKER OPEN: " + facts.BreakerOpen + "; instances are reported, not isolated, until the window ends"})
		return
	}
	var c playbook.Carried
	if spec.Carry != nil {
		c, _ = spec.Carry(pb.Settings, f.Partition)
	}
	t.Snapshot, t.AutoScaling = c.Snapshot, c.AutoScaling
	group := in.AutoScalingGroup()
	if group != "" && !c.AutoScaling {
		p.skip(action, t, fmt.Sprintf("the instance is in Auto Scaling group %s (tag %s): the group would replace the instance "+
			"(a failed load-balancer health check, a scale-in), terminating it with its evidence; settings.isolateAutoScaling allows it", group, finding.AutoScalingTag))
		return
	}
	if at, done := facts.Done[DoneKey(action, t)]; done {
		p.skip(action, t, "already done for this finding at "+at.UTC().Format(time.RFC3339))
		return
	}
	why := "move every network interface of the instance to an isolation security group that allows nothing, " +
		"through an all-open group first so that tracked connections are cut too; the instance keeps running, for forensics"
	if c.Snapshot {
		why += "; snapshot its EBS volumes (settings.snapshotVolumes)"
	}
	if group != "" {
		why += fmt.Sprintf("; it is in Auto Scaling group %s, which may replace it (settings.isolateAutoScaling)", group)
	}
	p.add(action, t, why)
	if p.DryRun {
		// A dry run reads nothing from the account, and isolate-instance,
		// which reads the instance's tags as EC2 has them now and refuses
		// a protected one, does not run: an instance tagged since its
		// finding is planned here (as principalSteps notes for principals).
		p.skip(ProtectionCheck, Target{Kind: TargetInstance, InstanceID: in.ID},
			"dry run: the instance's current tags were not read from EC2; a real run leaves it alone if it is tagged "+
				finding.ProtectTag+"=true now (or, unless settings.isolateAutoScaling, "+finding.AutoScalingTag+")")
	}
}

// instanceGate says why nothing may be done to the finding's instance or
// with its credentials, if anything stops it: the account rule, then the
// protect tag as the finding shows it.
func instanceGate(f finding.Finding, facts Facts) (why string, stop bool) {
	reach := facts.Reach
	if reach == nil {
		reach = account.Single{Home: facts.Home}
	}
	if d := reach.Reach(f); !d.OK {
		if d.Unchecked {
			return d.Reason + ": not contained, to be safe", true
		}
		return d.Reason + "; a human must act in that account", true
	}
	if f.Instance.Protected() {
		return fmt.Sprintf("the instance is tagged %s=true (as the finding shows it): a human must decide", finding.ProtectTag), true
	}
	if facts.InstanceProtected {
		return fmt.Sprintf("the instance is tagged %s=true (as EC2 shows it now): a human must decide", finding.ProtectTag), true
	}
	return "", false
}

// Principals are the principals a plan for f considers containing: the
// finding's own, or, for a finding about an instance that names none, the
// role of the instance's profile once the engine has read it
// (Facts.InstanceRoles): the instance's credentials are that role's.
func Principals(f finding.Finding, facts Facts) []finding.Principal {
	if pr, ok := instanceRole(f, facts); ok {
		return []finding.Principal{pr}
	}
	return f.Principals()
}

// InstanceProfile is the instance profile whose role the engine must read
// (iam:GetInstanceProfile) before planning f under rule: the finding is
// about an instance with a profile that names no principal, rule has a
// principal action, and the account rule and the instance's protect tag
// let the planner act on it. "" when nothing needs reading.
func InstanceProfile(f finding.Finding, rule playbook.Rule, facts Facts) string {
	in := f.Instance
	if in == nil || in.ProfileARN == "" || f.Principal.Kind != finding.KindNone || len(f.Actors) > 0 || !hasPrincipalAction(rule) {
		return ""
	}
	if _, stop := instanceGate(f, facts); stop {
		return ""
	}
	return in.ProfileARN
}

func hasPrincipalAction(rule playbook.Rule) bool {
	for _, a := range rule.Actions {
		if playbook.IsPrincipal(a) {
			return true
		}
	}
	return false
}

// instanceRole is the principal of the role of the instance's profile,
// when the engine read it and it has one.
func instanceRole(f finding.Finding, facts Facts) (finding.Principal, bool) {
	in := f.Instance
	if in == nil || in.ProfileARN == "" || f.Principal.Kind != finding.KindNone || len(f.Actors) > 0 {
		return finding.Principal{}, false
	}
	arn := facts.InstanceRoles[in.ProfileARN]
	if arn == "" {
		return finding.Principal{}, false
	}
	partition, acct, _ := finding.SplitARN(arn)
	return finding.Principal{Kind: finding.KindAssumedRole, Type: "AssumedRole", RoleName: arn[strings.LastIndex(arn, "/")+1:],
		ARN: arn, RoleARN: arn, Account: acct, Partition: partition}, true
}

// instancePrincipalGate adds, for a finding about an instance that names
// no principal, the step that stops the principal actions on the
// instance's role, when one does: the instance has no profile, the profile
// or the instance is out of reach, protected, the profile has no role, or
// its role was not read (a plan or a dry run reads nothing). It reports
// whether it stopped them, and whether the finding is about an instance
// at all (when not, the finding's own principals are planned).
func (p *Plan) instancePrincipalGate(facts Facts) (stopped, isInstance bool) {
	f := p.Finding
	in := f.Instance
	if in == nil || f.Principal.Kind != finding.KindNone || len(f.Actors) > 0 {
		return false, false
	}
	profile := Target{Kind: TargetPrincipal, ARN: in.ProfileARN}
	switch why, stop := instanceGate(f, facts); {
	case in.ProfileARN == "":
		p.skip(SkippedPrincipal, Target{Kind: TargetInstance, InstanceID: in.ID},
			"the instance has no instance profile, so no role credentials to revoke")
	case stop:
		p.Steps = append(p.Steps, Step{Action: ActionReport, Target: profile,
			Reason: "the instance's role is not contained either: " + why})
	default:
		arn, read := facts.InstanceRoles[in.ProfileARN]
		switch {
		case !read && facts.InstanceRoleUnread != "":
			p.skip(SkippedPrincipal, profile, "the role of the instance's profile could not be read ("+facts.InstanceRoleUnread+
				"): not contained by this delivery, which fails so that its retry reads it again")
		case !read:
			p.skip(SkippedPrincipal, profile, "the role of the instance's profile is read from IAM (iam:GetInstanceProfile) when the finding is handled, "+
				"and contained then; a dry run, or autocontain plan without -impact, does not read it")
		case arn == "":
			p.skip(SkippedPrincipal, profile, "the instance profile has no role, so no role credentials to revoke")
		default:
			return false, true
		}
	}
	return true, true
}

// instanceRoleWhy is what a principal step on an instance's role adds to
// its reason: how far it reaches.
func instanceRoleWhy(in *finding.Instance) string {
	return fmt.Sprintf(" — the role of instance %s (instance profile %s): every instance that uses the role loses its current credentials "+
		"until it gets new ones from the instance metadata service, which rotates them before they expire "+
		"(EC2 User Guide, \"Retrieve security credentials from instance metadata\")", in.ID, in.ProfileName())
}
