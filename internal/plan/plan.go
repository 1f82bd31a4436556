// Package plan decides what to do about a finding: from the finding and the
// playbook it builds a Plan, an ordered list of steps each with its action,
// target and reason, including the steps that were decided against and why.
// It makes no AWS call; a Plan is a value that can be printed, compared with a
// golden file and executed later.
package plan

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/autocontain/autocontain/internal/finding"
)

// Pseudo-actions: steps that record a decision and change nothing.
const (
	// ActionSkip: an action the playbook asked for was decided against; the reason says why.
	ActionSkip = "skip"
	// ActionReport: the principal (or, for the safety net, the finding) cannot
	// be contained automatically; a human must act.
	ActionReport = "report"
	// SkippedPrincipal is what a skip step names when it stops every
	// principal action at once (deactivate-key and revoke-sessions).
	SkippedPrincipal = "contain-principal"
)

// Plan is what autocontain will do about one finding.
type Plan struct {
	Finding finding.Finding `json:"finding"`
	// Rule is the playbook rule that matched, if any.
	Rule string `json:"rule,omitempty"`
	// DryRun plans are recorded, never executed.
	DryRun bool `json:"dryRun"`
	// ActsIn, in organization mode, names the member account the plan acts
	// in and the role it acts through (and, once assumed, the role
	// session); empty when it acts in the responder's own account.
	ActsIn string `json:"actsIn,omitempty"`
	Steps  []Step `json:"steps"`
}

// The names of the IP sets the member stack makes in each member account
// and Region (REGIONAL), by which organization mode finds them.
const (
	IPSetV4Name = "autocontain-blocklist-v4"
	IPSetV6Name = "autocontain-blocklist-v6"
)

// Step is one decision.
type Step struct {
	// Action is a playbook action name, or ActionSkip or ActionReport.
	Action string `json:"action"`
	// Skipped is the action a skip step decided against.
	Skipped string `json:"skipped,omitempty"`
	Target  Target `json:"target"`
	Reason  string `json:"reason"`
}

// Acts reports whether executing the step changes anything.
func (s Step) Acts() bool { return s.Action != ActionSkip && s.Action != ActionReport }

// Target is what a step acts on. Which fields are set depends on Kind.
type Target struct {
	// Kind is one of the Target* constants.
	Kind        string `json:"kind"`
	UserName    string `json:"userName,omitempty"`
	RoleName    string `json:"roleName,omitempty"`
	AccessKeyID string `json:"accessKeyId,omitempty"`
	// ARN is the principal's, the IP set's or the topic's.
	ARN string `json:"arn,omitempty"`
	// Addresses are the CIDRs a block-ip step adds, the addresses a skip
	// step leaves alone, or the networks a restrict-source step allows.
	Addresses []netip.Prefix `json:"addresses,omitempty"`
	// Policy is the managed policy a quarantine step attaches.
	Policy string `json:"policy,omitempty"`
	// InstanceID is the EC2 instance an isolate-instance step isolates.
	InstanceID string `json:"instanceId,omitempty"`
	// Snapshot: the isolate-instance step also snapshots the instance's
	// EBS volumes.
	Snapshot bool `json:"snapshot,omitempty"`
	// AutoScaling: the isolate-instance step may isolate an instance of an
	// Auto Scaling group.
	AutoScaling bool `json:"autoScaling,omitempty"`
}

// Target kinds.
const (
	TargetNone      = "none"
	TargetAccessKey = "access-key"
	TargetUser      = "user"
	TargetRole      = "role"
	TargetPrincipal = "principal"
	TargetIPSet     = "ip-set"
	TargetAddresses = "addresses"
	TargetTopic     = "topic"
	TargetFinding   = "finding"
	TargetInstance  = "instance"
)

// String renders the target for people; access keys are masked.
func (t Target) String() string {
	switch t.Kind {
	case TargetAccessKey:
		return fmt.Sprintf("key %s of user %s", finding.MaskKey(t.AccessKeyID), t.UserName)
	case TargetUser:
		return "user " + t.UserName
	case TargetRole:
		return "role " + t.RoleName
	case TargetPrincipal:
		return "principal " + firstNonEmpty(t.ARN, t.UserName, t.RoleName, "(unnamed)")
	case TargetIPSet:
		return fmt.Sprintf("IP set %s += %s", ipSetName(t.ARN), joinPrefixes(t.Addresses))
	case TargetAddresses:
		return joinPrefixes(t.Addresses)
	case TargetTopic:
		if t.ARN == "" {
			return "topic (none)"
		}
		return "topic " + lastSegment(t.ARN, ":")
	case TargetFinding:
		return "finding"
	case TargetInstance:
		return "instance " + t.InstanceID
	}
	return "-"
}

// ID names what a principal or instance step changes: "key/AKIA...",
// "user/NAME", "role/NAME" or "instance/i-..."; "" for other targets.
func (t Target) ID() string {
	switch t.Kind {
	case TargetAccessKey:
		return "key/" + t.AccessKeyID
	case TargetUser:
		return "user/" + t.UserName
	case TargetRole:
		return "role/" + t.RoleName
	case TargetInstance:
		return instanceEntity + t.InstanceID
	}
	return ""
}

// Entity names the IAM user or role a principal step changes, as
// finding.Principal.Entity does ("user/NAME", "role/NAME"): a key's user;
// or the instance an instance step changes ("instance/i-...").
func (t Target) Entity() string {
	switch t.Kind {
	case TargetAccessKey, TargetUser:
		return userEntity + t.UserName
	case TargetRole:
		return roleEntity + t.RoleName
	case TargetInstance:
		return instanceEntity + t.InstanceID
	}
	return ""
}

// Prefixes of the entities Target.Entity names.
const (
	userEntity = "user/"
	roleEntity = "role/"
	// instanceEntity names an EC2 instance in the ledger's holds.
	instanceEntity = "instance/"
)

// EntityTarget is the target of the user or the role an entity names
// ("user/NAME", "role/NAME"), the inverse of Target.Entity; ok is false
// for anything else. The ledger's holds name their principals so.
func EntityTarget(entity string) (t Target, ok bool) {
	if role, ok := strings.CutPrefix(entity, roleEntity); ok && role != "" {
		return Target{Kind: TargetRole, RoleName: role}, true
	}
	if user, ok := strings.CutPrefix(entity, userEntity); ok && user != "" {
		return Target{Kind: TargetUser, UserName: user}, true
	}
	if id, ok := strings.CutPrefix(entity, instanceEntity); ok && id != "" {
		return Target{Kind: TargetInstance, InstanceID: id}, true
	}
	return Target{}, false
}

func joinPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, " ")
}

// ipSetName shortens arn:...:regional/ipset/NAME/ID to NAME.
func ipSetName(arn string) string {
	parts := strings.Split(arn, "/")
	if len(parts) >= 3 {
		return parts[len(parts)-2]
	}
	return arn
}

func lastSegment(s, sep string) string {
	return s[strings.LastIndex(s, sep)+1:]
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
