// Package failure classifies what went wrong, so that every layer can tell
// a failure that retrying may mend (throttling, a 5xx, a timeout, a lease
// that another delivery holds) from one that it cannot (the principal no
// longer exists, IAM refuses the change, the policy is not autocontain's),
// and so that the audit record keeps the AWS error code.
//
// A failure is permanent when it is marked so (Permanent), by the code that
// recognized it, or when its AWS error code says so. Everything else is
// transient: when in doubt, retrying is the choice that cannot hurt, since
// every action is idempotent.
package failure

import (
	"context"
	"errors"

	"github.com/aws/smithy-go"
)

// Permanent marks err as a failure that retrying cannot mend; nil stays nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanent{err}
}

type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// permanentCodes are the AWS error codes that no retry mends: the caller
// may not do it, the thing is gone, or the request can never be valid.
// Throttling, 5xx and timeouts are absent on purpose.
var permanentCodes = map[string]bool{
	// IAM and STS (IAM API Reference, "Common Errors" and each action's Errors).
	"AccessDenied":                true,
	"AccessDeniedException":       true,
	"NoSuchEntity":                true,
	"UnmodifiableEntity":          true,
	"LimitExceeded":               true,
	"MalformedPolicyDocument":     true,
	"InvalidInput":                true,
	"ValidationError":             true,
	"UnrecognizedClientException": true,
	// WAFv2 (API Reference, UpdateIPSet and GetIPSet Errors).
	"WAFNonexistentItemException":  true,
	"WAFInvalidParameterException": true,
	"WAFLimitsExceededException":   true,
	// EC2 (API Reference, "Error codes for the Amazon EC2 API": the code
	// of a call IAM denies).
	"UnauthorizedOperation": true,
	// SNS (API Reference, Publish Errors).
	"NotFound":           true,
	"AuthorizationError": true,
	"InvalidParameter":   true,
	"KMSDisabled":        true,
	"KMSNotFound":        true,
	"KMSAccessDenied":    true,
}

// IsPermanent reports whether retrying cannot mend err: it is marked
// Permanent, or carries an AWS error code that says so. An error that
// joins several (errors.Join) is permanent only when each of them is: one
// transient part is worth a retry. A nil error, a cancelled or expired
// context and any unknown error are not permanent.
func IsPermanent(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	for err != nil {
		if _, ok := err.(permanent); ok {
			return true
		}
		if _, ok := err.(transient); ok {
			return false
		}
		if api, ok := err.(smithy.APIError); ok {
			return permanentCodes[api.ErrorCode()]
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			errs := u.Unwrap()
			for _, e := range errs {
				if e != nil && !IsPermanent(e) {
					return false
				}
			}
			return len(errs) > 0
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		default:
			return false
		}
	}
	return false
}

// Code returns the AWS error code in err's chain ("NoSuchEntity",
// "ThrottlingException"), or "" when there is none.
func Code(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

// Transient marks err as a failure that retrying may mend, whatever AWS
// error code it carries: an AccessDenied from assuming a member role that
// its StackSet has not deployed yet, say. nil stays nil.
func Transient(err error) error {
	if err == nil {
		return nil
	}
	return transient{err}
}

type transient struct{ err error }

func (t transient) Error() string { return t.err.Error() }
func (t transient) Unwrap() error { return t.err }

// Mark returns err, with the same text and chain, that also matches kind
// (errors.Is): how the package that recognizes a failure names its class,
// the errorType Lambda reports (engine.ErrorType), without changing what
// the error says or whether it is permanent. nil stays nil.
func Mark(err, kind error) error {
	if err == nil {
		return nil
	}
	return marked{err, kind}
}

type marked struct{ err, kind error }

func (m marked) Error() string        { return m.err.Error() }
func (m marked) Unwrap() error        { return m.err }
func (m marked) Is(target error) bool { return target == m.kind }
