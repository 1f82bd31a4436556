// Package playbook holds the declarative rules that say what autocontain does
// about a finding: which finding types, at which severity, by which kinds of
// principal, get which actions. It also holds the settings those actions
// read (dry run, allow-listed networks, IP sets, the notification topic).
// It makes no AWS call.
package playbook

import (
	"net/netip"
	"slices"
	"time"

	"github.com/autocontain/autocontain/internal/finding"
)

// Playbook is a validated set of rules and settings. Build one with Load,
// Default or FromEnv; the zero value has no rules.
type Playbook struct {
	Version  int      `json:"version"`
	Settings Settings `json:"settings"`
	Rules    []Rule   `json:"rules"`
}

// Settings are the knobs the actions read. Each is declared, with its
// variable, context key and documentation, in SettingsTable.
type Settings struct {
	// DryRun makes every plan a dry run: decided and recorded, never executed.
	DryRun bool `json:"dryRun"`
	// MinSeverity is a floor under every GuardDuty rule's own minimum.
	MinSeverity float64 `json:"minSeverity,omitempty"`
	// AllowCIDRs are networks never blocked (offices, partners, scanners you run).
	AllowCIDRs Networks `json:"allowCidrs,omitempty"`
	// Protect lists ARN globs of principals never contained.
	Protect []Pattern `json:"protect,omitempty"`
	// IPSets are the WAFv2 IP sets block-ip writes to, one per address family.
	IPSets IPSets `json:"ipSets"`
	// TopicARN is the SNS topic notify publishes to; empty disables notify.
	TopicARN string `json:"topicArn,omitempty"`
	// ActOnSamples lets GuardDuty's generated sample findings trigger actions.
	ActOnSamples bool `json:"actOnSamples,omitempty"`
	// ActOnArchived lets archived GuardDuty findings trigger actions.
	ActOnArchived bool `json:"actOnArchived,omitempty"`
	// BreakerMax is the most principals contained per BreakerWindow per
	// account; past it principals are reported, not contained. 0 means 10.
	BreakerMax int `json:"breakerMax,omitempty"`
	// OrgBreakerMax is the most principals contained per BreakerWindow in
	// the whole organization, in organization mode; 0 means
	// DefaultOrgBreakerMax.
	OrgBreakerMax int `json:"orgBreakerMax,omitempty"`
	// BreakerWindow is a Go duration ("1h"); empty means one hour.
	BreakerWindow string `json:"breakerWindow,omitempty"`
	// BlockTTL is how long a block lasts after the address was last seen,
	// a Go duration ("168h"); empty means seven days. It applies when the
	// ledger is in use.
	BlockTTL string `json:"blockTtl,omitempty"`
	// SafetyNet raises the severity floor of the safety-net rules (types
	// ["*"]), or switches them off (SafetyNetOff).
	SafetyNet SafetyNet `json:"safetyNet,omitempty"`
	// QuarantinePolicyARN is the managed policy quarantine attaches; empty
	// means DefaultQuarantinePolicy.
	QuarantinePolicyARN string `json:"quarantinePolicyArn,omitempty"`
	// NotificationFormat is how notify writes its message: FormatText
	// (also when empty) or FormatChat.
	NotificationFormat string `json:"notificationFormat,omitempty"`
	// SnapshotVolumes: isolate-instance also snapshots the instance's EBS
	// volumes, for forensics.
	SnapshotVolumes bool `json:"snapshotVolumes,omitempty"`
	// IsolateAutoScaling: isolate-instance also isolates an instance of an
	// Auto Scaling group, which the group may then replace.
	IsolateAutoScaling bool `json:"isolateAutoScaling,omitempty"`
}

// Notification formats (settings.notificationFormat).
const (
	// FormatText is readable text, then the audit record as JSON: for
	// e-mail subscribers. The default.
	FormatText = "text"
	// FormatChat is the custom notification format of Amazon Q Developer
	// in chat applications (formerly AWS Chatbot), which posts it to
	// Slack, Microsoft Teams or Amazon Chime.
	FormatChat = "chat"
)

// Defaults of the settings whose zero value means "the default".
const (
	DefaultBreakerMax = 10
	// DefaultOrgBreakerMax: two and a half accounts' worth of a full
	// account window. A real campaign against an organization touches a
	// few accounts' credentials in an hour; a rule that matches wrongly
	// touches every account's, and stops here.
	DefaultOrgBreakerMax = 25
	DefaultBreakerWindow = time.Hour
	DefaultBlockTTL      = 7 * 24 * time.Hour
)

// OrgBreaker returns the organization-wide breaker's limit, default
// applied; its window is the account breaker's.
func (s Settings) OrgBreaker() int {
	if s.OrgBreakerMax == 0 {
		return DefaultOrgBreakerMax
	}
	return s.OrgBreakerMax
}

// Breaker returns the breaker's limit and window, defaults applied.
func (s Settings) Breaker() (max int, window time.Duration) {
	max, window = s.BreakerMax, DefaultBreakerWindow
	if max == 0 {
		max = DefaultBreakerMax
	}
	if d, err := time.ParseDuration(s.BreakerWindow); err == nil && d > 0 {
		window = d
	}
	return max, window
}

// TTL returns how long a block lasts, default applied.
func (s Settings) TTL() time.Duration {
	if d, err := time.ParseDuration(s.BlockTTL); err == nil && d > 0 {
		return d
	}
	return DefaultBlockTTL
}

// IPSets names the WAFv2 IP sets by ARN. IPv4 and IPv6 need separate sets:
// each set has one IPAddressVersion.
type IPSets struct {
	IPv4 string `json:"ipv4,omitempty"`
	IPv6 string `json:"ipv6,omitempty"`
}

// Rule maps findings to actions. A finding matches when its source, type,
// (for CloudTrail) event source and outcome, severity and principal kind all match.
type Rule struct {
	// Name identifies the rule in plans and audit records: lower-case kebab-case.
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Source is "guardduty" or "cloudtrail".
	Source finding.Source `json:"source"`
	// EventSource is the CloudTrail eventSource (cloudtrail.amazonaws.com);
	// required for CloudTrail rules, absent for GuardDuty ones.
	EventSource string `json:"eventSource,omitempty"`
	// Types match the GuardDuty finding type, or the CloudTrail eventName.
	Types []Pattern `json:"types"`
	// MinSeverity is the lowest GuardDuty severity the rule acts on.
	MinSeverity float64 `json:"minSeverity,omitempty"`
	// Principals, when set, limits the rule to these principal kinds.
	Principals []finding.Kind `json:"principals,omitempty"`
	// Outcome, for CloudTrail rules, limits the rule to calls that
	// succeeded, failed, or either (OutcomeAny, also when empty).
	Outcome Outcome `json:"outcome,omitempty"`
	// ContainViaService, for CloudTrail rules, contains the principal also
	// when it made the call through an AWS service (a CloudFormation stack
	// acting with its role); without it such a call is reported, not contained.
	ContainViaService bool `json:"containViaService,omitempty"`
	// Impact, when set, limits the rule to findings with a principal of
	// one of these privilege classes (admin, escalation, list-all, scoped),
	// which the engine reads from IAM before planning (package impact): for
	// an attack sequence, one admin actor is enough, and the rule's actions
	// then apply to every actor of the attack. A principal whose class was
	// not read (a plan without IAM, a dry run) or is unknown never matches.
	Impact []finding.ImpactClass `json:"impact,omitempty"`
	// ResourceRole, for GuardDuty rules, limits the rule to findings whose
	// resource played that role (service.resourceRole): ACTOR, the
	// account's resource did the acting (an instance attacking out);
	// TARGET, it was acted on.
	ResourceRole string `json:"resourceRole,omitempty"`
	// ResourceTypes, for GuardDuty rules, limits the rule to findings
	// about these resource types (resource.resourceType: Instance,
	// EKSCluster, ...): Runtime Monitoring findings on an instance, not
	// those on a cluster.
	ResourceTypes []string `json:"resourceTypes,omitempty"`
	// Actions run in the order of the Actions list, whatever order they are written in.
	Actions []string `json:"actions"`
}

// Match returns the first rule that matches f: rules are tried in order, so
// put specific rules before general ones.
func (p *Playbook) Match(f finding.Finding) (Rule, bool) {
	for _, r := range p.Rules {
		if min, on := p.MinSeverity(r); on && r.Matches(f, min) {
			return r, true
		}
	}
	return Rule{}, false
}

// Matches reports whether r applies to f, with floor as a minimum severity
// under the rule's own.
func (r Rule) Matches(f finding.Finding, floor float64) bool {
	if f.Source != r.Source {
		return false
	}
	if r.Source == finding.SourceCloudTrail && (f.EventSource != r.EventSource || !r.matchesOutcome(f)) {
		return false
	}
	if r.Source == finding.SourceGuardDuty && f.DecidingSeverity() < max(r.MinSeverity, floor) {
		return false
	}
	if len(r.Principals) > 0 && !slices.Contains(r.Principals, f.Principal.Kind) {
		return false
	}
	if r.ResourceRole != "" && f.ResourceRole != r.ResourceRole {
		return false
	}
	if len(r.ResourceTypes) > 0 && !slices.Contains(r.ResourceTypes, f.ResourceType) {
		return false
	}
	if len(r.Impact) > 0 && !slices.ContainsFunc(f.Principals(), func(pr finding.Principal) bool {
		return pr.Impact.Known() && slices.Contains(r.Impact, pr.Impact.Class)
	}) {
		return false
	}
	return slices.ContainsFunc(r.Types, func(p Pattern) bool { return p.Match(f.Type) })
}

// Has reports whether the rule names action.
func (r Rule) Has(action string) bool { return slices.Contains(r.Actions, action) }

// Allowed reports whether a falls inside one of the allow-listed networks,
// and which (its address bits past the prefix cleared: 10.0.0.0/8).
func (p *Playbook) Allowed(a netip.Addr) (netip.Prefix, bool) {
	for _, n := range p.Settings.AllowCIDRs {
		if n.Contains(a) {
			return n.Masked(), true
		}
	}
	return netip.Prefix{}, false
}

// Protected reports whether one of arns matches a protect pattern, and which.
func (p *Playbook) Protected(arns ...string) (Pattern, bool) {
	for _, pat := range p.Settings.Protect {
		for _, a := range arns {
			if a != "" && pat.Match(a) {
				return pat, true
			}
		}
	}
	return "", false
}
