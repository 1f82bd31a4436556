package engine

import (
	"errors"

	"github.com/autocontain/autocontain/internal/account"
	"github.com/autocontain/autocontain/internal/audit"
	"github.com/autocontain/autocontain/internal/contain"
	"github.com/autocontain/autocontain/internal/ledger"
)

// Errors that name a class of failure (ErrorType); each marks (errors.Is)
// the errors of that class without changing their text or whether they
// are retried.
var (
	// ErrEventRejected marks an invocation that could not be read: not
	// JSON, an event of no supported source and type, a field missing, an
	// unknown command.
	ErrEventRejected = errors.New("the invocation could not be read")
	// ErrProtectionUnverified marks a failure to check whether a principal
	// is protected: the principal was reported, not contained.
	ErrProtectionUnverified = errors.New("the protection of a principal could not be verified")
	// ErrHomeUnknown marks a failure of the function to tell its own
	// account (the Lambda handler marks it): without it no principal can
	// be told apart from a foreign one.
	ErrHomeUnknown = errors.New("the function's own account is unknown")
	// ErrNoLedger marks a command that needs the ledger, in a function
	// configured without one.
	ErrNoLedger = errors.New("the ledger is not configured")
)

// ErrorClass is one errorType: the name Lambda reports for a failed
// invocation (its error logs, the asynchronous invocation's failure
// destination record, responsePayload.errorType), and when it happens.
type ErrorClass struct {
	// Type is the errorType.
	Type string
	// When says which failure it names.
	When string
	// Retried says whether Lambda retries the delivery (asynchronous
	// invocation): every failed invocation is; the text says what a retry
	// can mend.
	Retried string
	is      []error
	// only: an error is of this class only when each error it joins
	// (errors.Join, RunAll) is, so that a class that is no failure never
	// names an invocation that also failed.
	only bool
}

// DefaultErrorType is the errorType of a failure of no other class.
const DefaultErrorType = "InvocationFailed"

// errorTypeInProgress is the errorType of an invocation that was only
// deferred: the DeliveriesInProgress metric counts exactly those.
const errorTypeInProgress = "DeliveryInProgress"

// ErrorClasses are the errorTypes ErrorType returns, most specific first
// (an in-progress delivery, which is no failure, after every failure):
// the first class an error matches (errors.Is, through wrapping and
// errors.Join; the in-progress class only an error that is nothing else)
// names it. The README's "Error types" table is made from
// this list.
var ErrorClasses = []ErrorClass{
	{Type: "HomeAccountUnknown", is: []error{ErrHomeUnknown},
		When:    "The function could not tell its own account from the invocation (no Lambda context, a function ARN it cannot read, or one naming another account than earlier invocations did). Nothing was changed.",
		Retried: "yes, and fails again"},
	{Type: "EventRejected", is: []error{ErrEventRejected},
		When:    "The invocation could not be read: not JSON, no supported source and detail-type, a required field missing, an unknown command or an undo without a finding id. Nothing was changed.",
		Retried: "yes, and fails again: the failure destination receives it"},
	{Type: "ConfigurationInvalid", is: []error{ErrNoLedger},
		When:    "A command (undo, reconcile, status) needs the ledger, and the function has no `AUTOCONTAIN_LEDGER_TABLE`.",
		Retried: "yes, and fails again until the stack is fixed"},
	{Type: "AccountOutsideOrganization", is: []error{ErrOutsider},
		When:    "Organization mode: the finding is about an account that is not an active account of the organization. It was reported and notified; nothing was changed.",
		Retried: "yes: an account that is joining is served once it has"},
	{Type: "OrganizationUnavailable", is: []error{account.ErrMembershipUnknown},
		When:    "Organization mode: Organizations could not say whether the finding's account is a member (`organizations:DescribeAccount` throttled or denied). Nothing was changed.",
		Retried: "yes"},
	{Type: "AccountUnreachable", is: []error{account.ErrUnreachable},
		When:    "Organization mode: the member account's role could not be assumed (`sts:AssumeRole` denied, the member stack not deployed there yet). Nothing was changed in that account.",
		Retried: "yes"},
	{Type: "LedgerUnavailable", is: []error{ledger.ErrUnavailable},
		When:    "The ledger's DynamoDB table could not be read or written (throttled, missing, denied).",
		Retried: "yes: every action is idempotent, and the ledger remembers what finished"},
	{Type: "ProtectionUnverified", is: []error{ErrProtectionUnverified},
		When:    "Whether a principal is protected (tag, path pattern) could not be checked, so it was reported, not contained.",
		Retried: "yes: the retry decides again"},
	{Type: "UndoRefused", is: []error{contain.ErrNothingToUndo, contain.ErrAlreadyUndone},
		When:    "An undo command names a finding the ledger holds no containment of, or one already undone. Nothing was changed.",
		Retried: "only when invoked asynchronously; an operator's undo is synchronous"},
	{Type: "StepFailed", is: []error{audit.ErrStepFailed},
		When:    "A step of the plan failed in a way a retry may mend (throttling, a 5xx, a timeout). The audit record names the step. A step that failed for good (the principal is gone, IAM refuses) is not an error: the invocation succeeds with outcome `failed` and the `DeliveriesFailedPermanently` metric counts it.",
		Retried: "yes: every action is idempotent, and the ledger remembers the steps that finished"},
	// Last of the named classes, and only when nothing else failed: not a
	// failure, so any failure joined with it (another finding of the same
	// event, RunAll), named or not, names the error.
	{Type: errorTypeInProgress, is: []error{ErrInProgress}, only: true,
		When:    "Another delivery of the same finding holds its claim in the ledger right now, and nothing else failed (in an event of several findings, every finding that did not succeed was deferred so; any other failure names the error instead). Not a failure: the audit outcome is `in-progress` and the `DeliveriesInProgress` metric counts the invocation, once.",
		Retried: "yes: the retry finds the finding handled, or takes the work over"},
	{Type: DefaultErrorType,
		When:    "Any other failure; the errorMessage says what failed (a reconcile that could not write an IP set, for example).",
		Retried: "yes"},
}

// ErrorType names err's class of failure: the errorType of the first of
// ErrorClasses that err matches, DefaultErrorType when none does, "" for
// nil. Only the name depends on it: whether a failure is retried does not.
func ErrorType(err error) string {
	if err == nil {
		return ""
	}
	for _, c := range ErrorClasses {
		for _, kind := range c.is {
			if c.only && only(err, kind) || !c.only && errors.Is(err, kind) {
				return c.Type
			}
		}
	}
	return DefaultErrorType
}

// only reports whether err is kind and nothing else: its chain reaches
// kind (as errors.Is finds it), and where it joins several errors, each of
// them is only kind.
func only(err, kind error) bool {
	for err != nil {
		if x, ok := err.(interface{ Is(error) bool }); err == kind || ok && x.Is(kind) {
			return true
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			n := 0
			for _, e := range u.Unwrap() {
				if e == nil {
					continue
				}
				if !only(e, kind) {
					return false
				}
				n++
			}
			return n > 0
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		default:
			return false
		}
	}
	return false
}
