// Package finding turns an EventBridge event carrying a GuardDuty finding or a
// CloudTrail record into one normalized Finding. It makes no AWS call and
// knows nothing of what will be done with the result.
package finding

import (
	"net/netip"
	"regexp"
	"time"
)

// ResourceInstance is GuardDuty's resource type of a finding about an EC2
// instance (resource.resourceType).
const ResourceInstance = "Instance"

// Resource roles (GuardDuty's service.resourceRole).
const (
	// RoleActor: the account's resource did the acting (an instance
	// attacking out, mining, calling its command and control server).
	RoleActor = "ACTOR"
	// RoleTarget: the account's resource was acted on.
	RoleTarget = "TARGET"
)

// Source names where a finding came from.
type Source string

// The sources autocontain understands.
const (
	SourceGuardDuty  Source = "guardduty"
	SourceCloudTrail Source = "cloudtrail"
)

// Finding is one normalized report of suspicious activity, whatever produced it.
type Finding struct {
	Source Source `json:"source"`
	// Via is how a finding of Source arrived when not from Source itself:
	// "securityhub" (ViaSecurityHub) for a GuardDuty finding read from a
	// Security Hub event; empty for GuardDuty's and CloudTrail's own events.
	// It never changes a decision.
	Via string `json:"via,omitempty"`
	// ID is the GuardDuty finding id, or the CloudTrail eventID.
	ID string `json:"id"`
	// Type is the GuardDuty finding type, or the CloudTrail eventName.
	Type string `json:"type"`
	// EventSource is the CloudTrail eventSource (cloudtrail.amazonaws.com); empty for GuardDuty.
	EventSource string `json:"eventSource,omitempty"`
	// Severity is GuardDuty's number (1.0–10.0); zero for CloudTrail records, which carry none.
	Severity float64 `json:"severity"`
	// SeverityFloor, when set, is the lowest severity of Severity's band
	// (SeverityFloorOf): Severity was read from a field that people may
	// change within the band GuardDuty gave (a Security Hub copy's
	// top-level Severity), so decisions use the band's floor
	// (DecidingSeverity) and nobody can steer one by moving the number.
	SeverityFloor float64 `json:"severityFloor,omitempty"`
	// Account is the account the finding is about: GuardDuty's
	// detail.accountId, CloudTrail's recipientAccountId, else the envelope's.
	Account string `json:"account"`
	// Partition is the finding's partition (aws, aws-cn, aws-us-gov, ...):
	// GuardDuty's detail.partition, the partition of the principal's ARN,
	// else the one the region belongs to; "" when nothing tells it.
	Partition string `json:"partition,omitempty"`
	// Accounts lists every place the event names an account, each as it
	// was written. They are all kept, not reconciled: whether they agree
	// with each other and with the responder is the planner's decision.
	Accounts []AccountRef `json:"accounts,omitempty"`
	Region   string       `json:"region"`
	// UpdatedAt is GuardDuty's updatedAt, or CloudTrail's eventTime.
	UpdatedAt time.Time `json:"updatedAt"`
	Title     string    `json:"title,omitempty"`
	// Count is GuardDuty's service.count: how many times the activity was seen.
	Count int `json:"count,omitempty"`
	// Archived is GuardDuty's service.archived.
	Archived bool `json:"archived,omitempty"`
	// Sample is true for findings GuardDuty generated as samples.
	Sample bool `json:"sample,omitempty"`
	// ResourceType is GuardDuty's resource.resourceType (AccessKey, Instance, ...).
	ResourceType string `json:"resourceType,omitempty"`
	// Resource is the identity of the resource the finding is about, as it
	// names it: an instance id, bucket names, a cluster, a function, a
	// database; "" for an AccessKey finding (the principal) or when it names none.
	Resource string `json:"resource,omitempty"`
	// Instance is the EC2 instance an Instance finding is about, as the
	// finding describes it (resource.instanceDetails); nil for other
	// findings, and when the finding names no instance.
	Instance *Instance `json:"instance,omitempty"`
	// ResourceRole is GuardDuty's service.resourceRole: TARGET when the account's
	// resource was attacked, ACTOR when it did the acting (its remote addresses are victims).
	ResourceRole string `json:"resourceRole,omitempty"`
	// ErrorCode is CloudTrail's errorCode, set when the recorded call failed.
	ErrorCode string `json:"errorCode,omitempty"`
	// Failed is true when the recorded CloudTrail call failed: it carries
	// an errorCode, or it is a console sign-in whose
	// responseElements.ConsoleLogin is Failure (those carry only an
	// errorMessage). Always false for GuardDuty.
	Failed bool `json:"failed,omitempty"`
	// ViaService is the AWS service through which the principal made the
	// CloudTrail call (cloudformation.amazonaws.com: a stack acting with
	// its role): userIdentity.invokedBy, else a sourceIPAddress that is a
	// service's name or "AWS Internal". Empty when the principal called
	// directly, or through the console (signin.amazonaws.com), where a
	// person acts from their own address.
	ViaService string `json:"viaService,omitempty"`
	// Principal is who acted, when the finding names someone. An attack
	// sequence may name several: Principal is the first, Actors the others.
	Principal Principal `json:"principal"`
	// Actors are the principals an attack sequence names beyond Principal
	// (detail.service.detection.sequence.actors), each once.
	Actors []Principal `json:"actors,omitempty"`
	// Addresses are the remote addresses the finding carries, deduplicated, in
	// the order they appear. They are not filtered: deciding which to block is
	// the planner's job.
	Addresses []netip.Addr `json:"addresses,omitempty"`
}

// Principals returns every principal the finding names: Principal, then
// the Actors.
func (f Finding) Principals() []Principal {
	return append([]Principal{f.Principal}, f.Actors...)
}

// About is f as a finding about pr alone: what the account rule decides
// for each principal of a finding that names several.
func (f Finding) About(pr Principal) Finding {
	f.Principal, f.Actors = pr, nil
	return f
}

// SeverityLabel returns AWS's label for a GuardDuty severity: low 1.0–3.9,
// medium 4.0–6.9, high 7.0–8.9, critical 9.0–10.0 (GuardDuty User Guide,
// "Severity levels of findings"). Below 1.0 there is no label: "none".
func SeverityLabel(s float64) string {
	return severityBand(s).label
}

// SeverityFloorOf is the lowest severity of the band (SeverityLabel) s is in.
func SeverityFloorOf(s float64) float64 { return severityBand(s).floor }

// DecidingSeverity is the severity a decision uses: SeverityFloor when it
// is set, else Severity.
func (f Finding) DecidingSeverity() float64 {
	if f.SeverityFloor > 0 {
		return f.SeverityFloor
	}
	return f.Severity
}

// severityBand is GuardDuty's band of severity s: its label and lowest value.
func severityBand(s float64) struct {
	label string
	floor float64
} {
	type band = struct {
		label string
		floor float64
	}
	switch {
	case s >= 9:
		return band{"critical", 9}
	case s >= 7:
		return band{"high", 7}
	case s >= 4:
		return band{"medium", 4}
	case s >= 1:
		return band{"low", 1}
	default:
		return band{"none", 0}
	}
}

// Kind classifies a principal by what can be done to contain it.
type Kind string

// Principal kinds.
const (
	// KindNone: the finding names no principal (an EC2 brute force, a port probe).
	KindNone Kind = "none"
	// KindIAMUserKey: an IAM user acting with a long-term access key (AKIA...).
	KindIAMUserKey Kind = "iam-user-key"
	// KindIAMUserSession: an IAM user acting with temporary credentials
	// (ASIA... from GetSessionToken, or a console session).
	KindIAMUserSession Kind = "iam-user-session"
	// KindAssumedRole: a session of an assumed IAM role (ASIA...).
	KindAssumedRole Kind = "assumed-role"
	// KindRoot: the account's root user, which IAM policies cannot restrict.
	KindRoot Kind = "root"
	// KindFederated: a GetFederationToken session; UserName is the IAM user
	// that minted it, when the event says so.
	KindFederated Kind = "federated-user"
	// KindService: an AWS service acting on the account's behalf.
	KindService Kind = "aws-service"
	// KindUnknown: a principal the event names but autocontain cannot classify
	// (another account, Identity Center, SAML or web identity users, malformed ids).
	KindUnknown Kind = "unknown"
)

// Kinds lists every principal kind, for validation and documentation.
var Kinds = []Kind{
	KindNone, KindIAMUserKey, KindIAMUserSession, KindAssumedRole,
	KindRoot, KindFederated, KindService, KindUnknown,
}

// Principal is who performed the activity.
type Principal struct {
	Kind Kind `json:"kind"`
	// Type is the raw type the event gave (userType or userIdentity.type).
	Type string `json:"type,omitempty"`
	// ARN of the principal as the event gave it or as derived from it.
	ARN         string `json:"arn,omitempty"`
	PrincipalID string `json:"principalId,omitempty"`
	AccessKeyID string `json:"accessKeyId,omitempty"`
	// UserName is the IAM user for user kinds and, for federated sessions,
	// the IAM user that called GetFederationToken.
	UserName string `json:"userName,omitempty"`
	// RoleName and RoleARN name the role of an assumed-role session. RoleARN
	// is empty when the event does not carry it (GuardDuty gives only the name).
	RoleName    string `json:"roleName,omitempty"`
	RoleARN     string `json:"roleArn,omitempty"`
	SessionName string `json:"sessionName,omitempty"`
	// InvokedBy is the AWS service that made the call, for service principals.
	InvokedBy string `json:"invokedBy,omitempty"`
	// Account and Partition are the principal's own: CloudTrail's
	// userIdentity.accountId or its ARN's; for GuardDuty, the finding's
	// (the access key is a resource of the finding's account).
	Account   string `json:"account,omitempty"`
	Partition string `json:"partition,omitempty"`
	// Impact is the privilege class of the principal's IAM user or role.
	// The engine fills it from IAM before planning (package impact); the
	// parser never does. Zero when it was not read.
	Impact Impact `json:"impact,omitzero"`
}

// Entity names the IAM user or role that containing p changes, as
// "user/NAME" or "role/NAME"; "" when containing p changes neither (root,
// a service, a federated session whose user is unknown).
func (p Principal) Entity() string {
	switch p.Kind {
	case KindAssumedRole:
		if p.RoleName != "" {
			return "role/" + p.RoleName
		}
	case KindIAMUserKey, KindIAMUserSession, KindFederated:
		if p.UserName != "" {
			return "user/" + p.UserName
		}
	}
	return ""
}

// AccountRef is one place an event names an account.
type AccountRef struct {
	// Field is the JSON path it was read from: "account" (the envelope),
	// "detail.accountId", "detail.userIdentity.arn", ...
	Field string `json:"field"`
	// Account is the 12-digit id; "" when the field (an ARN) holds none.
	Account string `json:"account"`
	// Partition is set when the field tells it (ARNs, detail.partition).
	Partition string `json:"partition,omitempty"`
}

// MaskKey returns an access key id with all but its last four characters
// hidden, as it may appear in logs and notifications.
func MaskKey(id string) string {
	if len(id) <= 4 {
		return id
	}
	const visible = 4
	return id[:4] + "…" + id[len(id)-visible:]
}

// accessKeyID matches an access key id wherever it appears in a text: AKIA
// (long-term) or ASIA (temporary, STS) and at least 16 more upper-case
// letters or digits (IAM User Guide, "IAM identifiers", unique ID prefixes;
// ids are 20 characters, but a longer run is masked too rather than leaked).
// Other unique ids (AIDA users, AROA roles) are names, not secrets.
var accessKeyID = regexp.MustCompile(`(?:AKIA|ASIA)[A-Z0-9]{16,}`)

// MaskKeys returns s with every access key id in it masked as MaskKey
// does. AWS error messages quote key ids ("The Access Key with id
// AKIA… cannot be found"), so every text that leaves the process (logs,
// notifications, returned errors, audit records) goes through it.
func MaskKeys(s string) string {
	if !accessKeyID.MatchString(s) {
		return s
	}
	return accessKeyID.ReplaceAllStringFunc(s, MaskKey)
}

// MaskError returns err with its message masked by MaskKeys; errors.Is
// and errors.As still see the error it wraps. A nil err stays nil.
func MaskError(err error) error {
	if err == nil {
		return nil
	}
	return maskedError{err}
}

type maskedError struct{ err error }

func (e maskedError) Error() string { return MaskKeys(e.err.Error()) }
func (e maskedError) Unwrap() error { return e.err }
