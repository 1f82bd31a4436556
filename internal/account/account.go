// Package account owns the account a containment acts in: the value
// (partition and id), where the responder learns its own (the Lambda
// function's ARN, the CLI caller's ARN, or an operator's setting), and the
// decision, made without any AWS call, of whether a finding's principal is
// one the responder may act on.
//
// Today the responder serves one account, its home: a finding about any
// other account or partition is reported, not contained. Organization mode
// (a later issue) is a second Reacher that also knows the organization's
// accounts and the member role to assume; the planner needs only the
// Decision, and the executor will ask for clients per account.
package account

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/autocontain/autocontain/internal/finding"
)

// Account is an AWS account in its partition. The zero value is "unknown".
type Account struct {
	Partition string `json:"partition"`
	ID        string `json:"id"`
}

// IsZero reports whether the account is unknown.
func (a Account) IsZero() bool { return a.ID == "" }

// String renders the account as PARTITION:ID, the form Parse reads.
func (a Account) String() string {
	if a.IsZero() {
		return "(unknown)"
	}
	return a.Partition + ":" + a.ID
}

var (
	idPattern        = regexp.MustCompile(`^[0-9]{12}$`)
	partitionPattern = regexp.MustCompile(`^aws(-[a-z]+)*$`)
)

// DefaultPartition is the partition Parse assumes when an operator gives a
// bare account id.
const DefaultPartition = "aws"

// Parse reads an operator's setting: a 12-digit account id (in the aws
// partition), or PARTITION:ID (aws-us-gov:123456789012, aws-cn:...).
func Parse(s string) (Account, error) {
	s = strings.TrimSpace(s)
	partition, id, found := strings.Cut(s, ":")
	if !found {
		partition, id = DefaultPartition, s
	}
	return validate(partition, id, fmt.Sprintf("account %q", s))
}

func validate(partition, id, what string) (Account, error) {
	if !idPattern.MatchString(id) {
		return Account{}, fmt.Errorf("%s: the account id must be 12 digits", what)
	}
	if !partitionPattern.MatchString(partition) {
		return Account{}, fmt.Errorf("%s: %q is not a partition (aws, aws-cn, aws-us-gov, ...)", what, partition)
	}
	return Account{Partition: partition, ID: id}, nil
}

// FromARN returns the account and partition an ARN names: a Lambda
// function's (arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER])
// or an STS caller's (arn:PARTITION:sts::ACCOUNT:assumed-role/ROLE/SESSION,
// arn:PARTITION:iam::ACCOUNT:user/NAME).
func FromARN(arn string) (Account, error) {
	partition, id, ok := finding.SplitARN(arn)
	if !ok {
		return Account{}, fmt.Errorf("%q is not an ARN", arn)
	}
	return validate(partition, id, fmt.Sprintf("ARN %q", arn))
}

// FromFunctionARN returns the account of a Lambda function's ARN, and
// refuses any other kind of ARN.
func FromFunctionARN(arn string) (Account, error) {
	parts := strings.SplitN(arn, ":", 7)
	if len(parts) < 7 || parts[2] != "lambda" || parts[5] != "function" || parts[6] == "" {
		return Account{}, fmt.Errorf("%q is not a Lambda function ARN (arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME)", arn)
	}
	return FromARN(arn)
}

// ErrUnknown marks a decision taken without knowing the home account.
var ErrUnknown = errors.New("the responder's account is not known")

// Decision is whether the responder may act on a finding's principal.
type Decision struct {
	// OK: the principal is in an account the responder reaches.
	OK bool
	// Account is where the principal actions act, when OK.
	Account Account
	// How the account is reached, when OK: "own" for the home account.
	// Organization mode adds "via role ARN".
	How string
	// Reason says why not, naming the accounts (and partitions) involved.
	Reason string
	// Unchecked: the home account was not known, so nothing could be compared.
	Unchecked bool
}

// Reacher decides, without any AWS call, whether the responder may act on a
// finding's principal.
type Reacher interface {
	Reach(f finding.Finding) Decision
}

// Single is single-account mode: the responder acts only in Home.
type Single struct{ Home Account }

var _ Reacher = Single{}

// Reach allows a finding only when every account the event names (the
// envelope's, the finding's, the principal's, each ARN's) is Home's and every
// partition it states is Home's. Any disagreement, even between two fields
// of the event, is a refusal that names them: the responder never picks one.
func (s Single) Reach(f finding.Finding) Decision {
	home := s.Home
	if home.IsZero() {
		return Decision{Unchecked: true, Reason: ErrUnknown.Error() +
			" (in Lambda, the function's ARN; for the CLI, -account, $AUTOCONTAIN_ACCOUNT or the caller's identity): " +
			"could not check that the principal is in it"}
	}
	var foreign []string
	note := func(field, partition, id string) {
		switch {
		case id == "" && partition == "":
			foreign = append(foreign, field+" names no account")
		case id != "" && id != home.ID, partition != "" && partition != home.Partition:
			foreign = append(foreign, field+" names "+describe(partition, id))
		}
	}
	if f.Account == "" {
		foreign = append(foreign, "the event names no account for the finding")
	}
	for _, r := range f.Accounts {
		note(r.Field, r.Partition, r.Account)
	}
	// The derived values are checked too, in case a source was not listed.
	if f.Account != "" && f.Account != home.ID && !mentions(foreign, f.Account) {
		note("the finding", "", f.Account)
	}
	if p := f.Partition; p != "" && p != home.Partition && !mentions(foreign, p) {
		foreign = append(foreign, "the finding is in partition "+p)
	}
	pr := f.Principal
	if pr.Account != "" && pr.Account != home.ID && !mentions(foreign, pr.Account) {
		note("the principal", "", pr.Account)
	}
	if p := pr.Partition; p != "" && p != home.Partition && !mentions(foreign, p) {
		foreign = append(foreign, "the principal is in partition "+p)
	}
	if len(foreign) > 0 {
		return Decision{Reason: fmt.Sprintf("%s; the responder serves %s: a principal of another account or partition is never contained here",
			strings.Join(foreign, ", "), describe(home.Partition, home.ID))}
	}
	return Decision{OK: true, Account: home, How: "own"}
}

// describe names an account for people: "account 123456789012 (aws)".
func describe(partition, id string) string {
	switch {
	case id == "":
		return "partition " + partition
	case partition == "":
		return "account " + id
	}
	return "account " + id + " (" + partition + ")"
}

func mentions(list []string, s string) bool {
	for _, l := range list {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}
