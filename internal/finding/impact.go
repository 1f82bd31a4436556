package finding

// ImpactClass is how much a principal's credentials could do if stolen,
// computed from its IAM policies (package impact). The parser never sets
// it: the engine reads IAM and fills Principal.Impact before planning.
type ImpactClass string

// Impact classes, from the most to the least impact.
const (
	// ImpactAdmin: some policy allows every action on every resource
	// ("*" on "*"), or AdministratorAccess is attached.
	ImpactAdmin ImpactClass = "admin"
	// ImpactEscalation: the policies allow an IAM or STS action that can
	// raise the principal's privileges (iam:PassRole, iam:CreateAccessKey,
	// iam:Put*Policy, iam:Attach*Policy, sts:AssumeRole on "*", ...).
	ImpactEscalation ImpactClass = "escalation"
	// ImpactListAll: the policies allow an account-wide listing
	// (s3:ListAllMyBuckets and similar).
	ImpactListAll ImpactClass = "list-all"
	// ImpactScoped: none of the above.
	ImpactScoped ImpactClass = "scoped"
	// ImpactUnknown: the policies could not be read or understood. It is
	// never taken for scoped.
	ImpactUnknown ImpactClass = "unknown"
)

// ImpactClasses lists every class, for validation and documentation.
var ImpactClasses = []ImpactClass{ImpactAdmin, ImpactEscalation, ImpactListAll, ImpactScoped, ImpactUnknown}

// Impact is a principal's privilege class with what decided it. The zero
// value means it was not read (a plan made without IAM, a dry run).
type Impact struct {
	Class ImpactClass `json:"class"`
	// Why names the policy and statement that decided the class, or why
	// it is unknown.
	Why string `json:"why,omitempty"`
}

// Known reports whether the class was read and understood.
func (i Impact) Known() bool { return i.Class != "" && i.Class != ImpactUnknown }

// String renders the impact for people: "admin (policy X allows * on *)".
func (i Impact) String() string {
	if i.Class == "" {
		return "not read"
	}
	if i.Why == "" {
		return string(i.Class)
	}
	return string(i.Class) + " (" + i.Why + ")"
}
