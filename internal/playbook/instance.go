package playbook

import (
	"fmt"
	"slices"
	"strings"

	"github.com/autocontain/autocontain/internal/finding"
)

// ResourceRoles are the values of a rule's resourceRole
// (GuardDuty's service.resourceRole).
var ResourceRoles = []string{finding.RoleActor, finding.RoleTarget}

// instanceResources are the resource parts of the GuardDuty finding types
// (ThreatPurpose:ResourceTypeAffected/ThreatFamilyName) whose findings can
// be about an EC2 instance: EC2 findings always are (GuardDuty User Guide,
// "GuardDuty EC2 finding types": "always have a Resource Type of
// Instance"), Runtime Monitoring findings are when the agent runs on one.
var instanceResources = []string{"EC2", "Runtime"}

// validateResourceFields checks resourceRole and resourceTypes, which only
// GuardDuty findings carry.
func (r *Rule) validateResourceFields() error {
	if r.Source != finding.SourceGuardDuty {
		switch {
		case r.ResourceRole != "":
			return fmt.Errorf("resourceRole: only GuardDuty rules have one (service.resourceRole); a %s record has none", r.Source)
		case len(r.ResourceTypes) > 0:
			return fmt.Errorf("resourceTypes: only GuardDuty rules have them (resource.resourceType); a %s record has none", r.Source)
		}
		return nil
	}
	if r.ResourceRole != "" && !slices.Contains(ResourceRoles, r.ResourceRole) {
		return fmt.Errorf("resourceRole: %q is not one of %v (GuardDuty writes them in upper case)", r.ResourceRole, ResourceRoles)
	}
	for i, t := range r.ResourceTypes {
		switch {
		case t == "" || strings.TrimSpace(t) != t || strings.ContainsAny(t, " \t\r\n*"):
			return fmt.Errorf("resourceTypes[%d]: %q is not a GuardDuty resource type such as Instance", i, t)
		case slices.Index(r.ResourceTypes, t) != i:
			return fmt.Errorf("resourceTypes[%d]: %q is listed twice", i, t)
		}
	}
	return nil
}

// validateIsolate refuses isolate-instance in a rule that can never take a
// finding about an instance: the step would only ever be a skip, which is
// a mistake in the playbook, not a decision.
func (r *Rule) validateIsolate() error {
	i := slices.Index(r.Actions, ActionIsolateInstance)
	if i < 0 {
		return nil
	}
	why := ""
	switch {
	case r.Source != finding.SourceGuardDuty:
		why = "a " + string(r.Source) + " record does not describe an instance; only a GuardDuty finding about one (resourceType Instance) does"
	case len(r.ResourceTypes) > 0 && !slices.Contains(r.ResourceTypes, finding.ResourceInstance):
		why = fmt.Sprintf("resourceTypes %v leave out %s, the only resource type that is an instance", r.ResourceTypes, finding.ResourceInstance)
	case !slices.ContainsFunc(r.Types, canNameInstance):
		why = fmt.Sprintf("none of its types can be about an instance: only EC2 findings (Backdoor:EC2/*, ...) and Runtime Monitoring findings (*:Runtime/*) are; types %v", r.Types)
	}
	if why != "" {
		return fmt.Errorf("actions[%d]: %q: %s", i, ActionIsolateInstance, why)
	}
	return nil
}

// canNameInstance reports whether some GuardDuty finding type that p
// matches can be about an EC2 instance: its resource part
// (ThreatPurpose:Resource/...) is EC2 or Runtime, or p leaves it open with
// a star. A finding type has one colon, and its first slash follows it.
func canNameInstance(p Pattern) bool {
	s := string(p)
	if p == CatchAll {
		return true
	}
	_, rest, found := strings.Cut(s, ":")
	if !found {
		return strings.Contains(s, "*")
	}
	resource, _, found := strings.Cut(rest, "/")
	if strings.Contains(resource, "*") {
		return true
	}
	return found && slices.Contains(instanceResources, resource)
}
