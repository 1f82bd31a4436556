package plan

import (
	"fmt"
	"slices"

	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/playbook"
)

// safetyNet adds, when rule is the playbook's safety net, the report step
// that says why nothing was contained: what the rules before it would have
// needed. The notification carries it, with the finding's type and resource.
func (p *Plan) safetyNet(f finding.Finding, pb *playbook.Playbook, rule playbook.Rule) {
	if !rule.IsSafetyNet() {
		return
	}
	before := *pb
	if i := slices.IndexFunc(pb.Rules, func(r playbook.Rule) bool { return r.Name == rule.Name }); i >= 0 {
		before.Rules = pb.Rules[:i]
	}
	min, _ := pb.MinSeverity(rule)
	p.Steps = append(p.Steps, Step{Action: ActionReport, Target: Target{Kind: TargetFinding},
		Reason: fmt.Sprintf("nothing contained: %s; the safety net (rule %s, severity %g or more) tells a human about %s",
			noRuleReason(f, &before), rule.Name, min, resourceText(f))})
}

// resourceText names the finding's resource for a person: its type and,
// when the finding names it, its identity.
func resourceText(f finding.Finding) string {
	switch {
	case f.ResourceType == "" && f.Resource == "":
		return "a resource the finding does not name"
	case f.Resource == "":
		return "resource " + f.ResourceType
	}
	return "resource " + firstNonEmpty(f.ResourceType, "(type not given)") + " " + f.Resource
}

// safetyNetOff says, for a GuardDuty finding no rule took, that the
// playbook's safety net is switched off.
func safetyNetOff(f finding.Finding, pb *playbook.Playbook) string {
	if f.Source != finding.SourceGuardDuty || !pb.Settings.SafetyNet.Off() {
		return ""
	}
	for _, r := range pb.Rules {
		if r.IsSafetyNet() {
			return fmt.Sprintf("; the safety net (rule %s) is off (settings.safetyNet)", r.Name)
		}
	}
	return ""
}
