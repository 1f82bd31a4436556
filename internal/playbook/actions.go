package playbook

import (
	"net/netip"

	"github.com/autocontain/autocontain/internal/finding"
)

// The actions a rule can name. Each is declared once, in Specs; package
// contain implements each, and a test there keeps the two in step.
const (
	// ActionDeactivateKey sets a long-term access key (AKIA...) of an IAM user to Inactive.
	ActionDeactivateKey = "deactivate-key"
	// ActionRevokeSessions denies every token issued before now, on the role
	// of an assumed-role session or on the IAM user that minted the tokens.
	ActionRevokeSessions = "revoke-sessions"
	// ActionQuarantine attaches a managed deny policy (by default AWS's
	// AWSCompromisedKeyQuarantineV3) to the user or role.
	ActionQuarantine = "quarantine"
	// ActionRestrictSource denies the user or role every request that does
	// not come from settings.allowCidrs (or from an AWS service on its behalf).
	ActionRestrictSource = "restrict-source"
	// ActionIsolateInstance moves every network interface of an EC2 instance
	// to an isolation security group (through an all-allow group first, so
	// that tracked connections are cut too), keeping the instance running.
	ActionIsolateInstance = "isolate-instance"
	// ActionBlockIP adds the finding's attacker addresses to the WAF IP sets.
	ActionBlockIP = "block-ip"
	// ActionNotify publishes the decision and its outcome to the SNS topic.
	ActionNotify = "notify"
)

// Category is what an action acts on. The planner plans an action by its
// category, never by its name, and gates it by what its category risks:
// a principal action passes the account rule, the protect list and the
// breaker first.
type Category string

// Categories.
const (
	// OnPrincipal actions contain the finding's principal (its key, or the
	// user or role behind its credentials).
	OnPrincipal Category = "principal"
	// OnAddresses actions block the finding's remote addresses.
	OnAddresses Category = "addresses"
	// OnInstance actions contain the EC2 instance the finding is about.
	OnInstance Category = "instance"
	// OnTopic actions tell people; they contain nothing.
	OnTopic Category = "topic"
)

// Part is the part of a principal that a principal action contains.
type Part string

// Parts of a principal.
const (
	// PartKey is the principal's long-term access key (AKIA...) of an IAM user.
	PartKey Part = "key"
	// PartIdentity is the identity behind the credentials: the role of an
	// assumed-role session, or the IAM user behind a key, a session or a
	// federation token.
	PartIdentity Part = "identity"
)

// ActionSpec declares an action: what the playbook and the planner need to
// know of it. Its behaviour (permissions, execution, undo) is in package
// contain.
type ActionSpec struct {
	Name     string
	Category Category
	// Contains is the part of the principal a principal action acts on.
	Contains Part
	// Why says what a step of the action does to a principal of the given
	// kind, for the plan's reason; "" for a kind it does not act on.
	Why func(finding.Kind) string
	// Carry, when set, reads from the settings what a planned step of the
	// action carries, for a finding in partition; skip is the reason the
	// step is a skip instead, when the settings leave it nothing to do.
	Carry func(s Settings, partition string) (c Carried, skip string)
}

// Carried is what a step takes from the settings.
type Carried struct {
	// Policy is the managed policy the step attaches.
	Policy string
	// Networks are the only networks the step leaves the principal usable from.
	Networks []netip.Prefix
	// Snapshot: an isolate-instance step also snapshots the instance's EBS
	// volumes (settings.snapshotVolumes).
	Snapshot bool
	// AutoScaling: an isolate-instance step may isolate an instance of an
	// Auto Scaling group (settings.isolateAutoScaling).
	AutoScaling bool
}

// identityWhy is the reason of a step that does what to the identity
// behind the credentials: the user, or the role of a session.
func identityWhy(what string) func(finding.Kind) string {
	return func(k finding.Kind) string {
		switch k {
		case finding.KindAssumedRole:
			return what + " the role: every session of it, new ones too"
		case finding.KindIAMUserKey, finding.KindIAMUserSession:
			return what + " the user: its keys and its temporary credentials"
		case finding.KindFederated:
			return what + " the user that minted the federation token"
		}
		return ""
	}
}

// Specs declares every action, in the order a plan runs them: credentials
// first (the key, then the sessions it may have minted), then addresses,
// then the notification that reports all of it.
var Specs = []ActionSpec{
	{Name: ActionDeactivateKey, Category: OnPrincipal, Contains: PartKey, Why: func(k finding.Kind) string {
		if k == finding.KindIAMUserKey {
			return "set the long-term access key to Inactive (reversible; never deleted)"
		}
		return ""
	}},
	{Name: ActionRevokeSessions, Category: OnPrincipal, Contains: PartIdentity, Why: func(k finding.Kind) string {
		switch k {
		case finding.KindAssumedRole:
			return "deny every session of the role whose token was issued before now (aws:TokenIssueTime)"
		case finding.KindIAMUserKey:
			return "deny every temporary credential the user minted before now (GetSessionToken, GetFederationToken); they outlive the key"
		case finding.KindIAMUserSession:
			return "deny every temporary credential and console session of the user issued before now (aws:TokenIssueTime)"
		case finding.KindFederated:
			return "deny every federation token the issuing user minted before now (aws:TokenIssueTime)"
		}
		return ""
	}},
	{Name: ActionQuarantine, Category: OnPrincipal, Contains: PartIdentity, Carry: quarantineCarry,
		Why: identityWhy("attach the quarantine policy (a managed deny of what abused credentials do) to")},
	{Name: ActionRestrictSource, Category: OnPrincipal, Contains: PartIdentity, Carry: restrictSourceCarry,
		Why: identityWhy("deny requests from outside settings.allowCidrs (not those AWS services make for it) to")},
	{Name: ActionIsolateInstance, Category: OnInstance, Carry: isolateCarry},
	{Name: ActionBlockIP, Category: OnAddresses},
	{Name: ActionNotify, Category: OnTopic},
}

// Spec returns the declaration of the action named name.
func Spec(name string) (ActionSpec, bool) {
	for _, s := range Specs {
		if s.Name == name {
			return s, true
		}
	}
	return ActionSpec{}, false
}

// Actions lists every action name, in the order of Specs. It reads Specs
// each time, so it never disagrees with them.
func Actions() []string {
	out := make([]string, len(Specs))
	for i, s := range Specs {
		out[i] = s.Name
	}
	return out
}

// CategoryOf returns the category of the action named name; "" for a name
// that is no action (the plan's skip and report steps).
func CategoryOf(name string) Category {
	s, _ := Spec(name)
	return s.Category
}

// IsPrincipal reports whether the action named name contains a principal.
func IsPrincipal(name string) bool { return CategoryOf(name) == OnPrincipal }
