package failure_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	waftypes "github.com/aws/aws-sdk-go-v2/service/wafv2/types"
	"github.com/aws/smithy-go"

	"github.com/autocontain/autocontain/internal/failure"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		permanent bool
		code      string
	}{
		{"nil", nil, false, ""},
		{"plain_error", errors.New("connection reset"), false, ""},
		{"marked", failure.Permanent(errors.New("the policy is not ours")), true, ""},
		{"marked_then_wrapped", fmt.Errorf("step: %w", failure.Permanent(errors.New("gone"))), true, ""},
		{"no_such_entity", fmt.Errorf("revoke: %w", &iamtypes.NoSuchEntityException{}), true, "NoSuchEntity"},
		{"unmodifiable", &iamtypes.UnmodifiableEntityException{}, true, "UnmodifiableEntity"},
		{"access_denied_unmodeled", fmt.Errorf("put: %w", &smithy.GenericAPIError{Code: "AccessDenied", Fault: smithy.FaultClient}), true, "AccessDenied"},
		{"ec2_denied", fmt.Errorf("isolate: %w", &smithy.GenericAPIError{Code: "UnauthorizedOperation", Fault: smithy.FaultClient}), true, "UnauthorizedOperation"},
		{"waf_set_gone", &waftypes.WAFNonexistentItemException{}, true, "WAFNonexistentItemException"},
		{"throttled", fmt.Errorf("put: %w", &smithy.GenericAPIError{Code: "Throttling", Fault: smithy.FaultClient}), false, "Throttling"},
		{"service_failure", &iamtypes.ServiceFailureException{}, false, "ServiceFailure"},
		{"lock_token_stale", &waftypes.WAFOptimisticLockException{}, false, "WAFOptimisticLockException"},
		{"deadline", fmt.Errorf("put: %w", context.DeadlineExceeded), false, ""},
		{"cancelled_even_if_marked", failure.Permanent(context.Canceled), false, ""},
		{"joined_all_permanent", errors.Join(failure.Permanent(errors.New("a")), &iamtypes.NoSuchEntityException{}), true, "NoSuchEntity"},
		{"joined_one_transient", errors.Join(failure.Permanent(errors.New("a")), errors.New("ledger timed out")), false, ""},
		{"joined_with_nil", errors.Join(nil, failure.Permanent(errors.New("a"))), true, ""},
		{"transient_access_denied", fmt.Errorf("assume: %w", failure.Transient(&smithy.GenericAPIError{Code: "AccessDenied", Fault: smithy.FaultClient})), false, "AccessDenied"},
		{"transient_joined_with_permanent", errors.Join(failure.Transient(&smithy.GenericAPIError{Code: "AccessDenied"}), failure.Permanent(errors.New("a"))), false, "AccessDenied"},
		{"two_verbs_one_transient", fmt.Errorf("%w; %w", failure.Permanent(errors.New("a")), &smithy.GenericAPIError{Code: "ThrottlingException"}), false, "ThrottlingException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := failure.IsPermanent(tt.err); got != tt.permanent {
				t.Errorf("IsPermanent(%v) = %v, want %v", tt.err, got, tt.permanent)
			}
			if got := failure.Code(tt.err); got != tt.code {
				t.Errorf("Code(%v) = %q, want %q", tt.err, got, tt.code)
			}
		})
	}
}

func TestPermanentKeepsTheCause(t *testing.T) {
	cause := &iamtypes.LimitExceededException{}
	err := failure.Permanent(fmt.Errorf("revoke sessions of user alice: %w", cause))
	var lim *iamtypes.LimitExceededException
	if !errors.As(err, &lim) || err.Error() != "revoke sessions of user alice: "+cause.Error() {
		t.Errorf("Permanent lost its cause: %T %v", err, err)
	}
	if failure.Permanent(nil) != nil {
		t.Error("Permanent(nil) is not nil")
	}
}

func TestMark(t *testing.T) {
	kind := errors.New("kind")
	cause := &iamtypes.NoSuchEntityException{}
	err := fmt.Errorf("outer: %w", failure.Mark(fmt.Errorf("revoke: %w", cause), kind))
	var nse *iamtypes.NoSuchEntityException
	switch {
	case !errors.Is(err, kind):
		t.Error("the mark is lost")
	case !errors.As(err, &nse) || !failure.IsPermanent(err) || failure.Code(err) != "NoSuchEntity":
		t.Errorf("the mark hides the cause: %v", err)
	case err.Error() != "outer: revoke: "+cause.Error():
		t.Errorf("the mark changed the text: %q", err)
	case errors.Is(failure.Mark(errors.New("x"), kind), errors.New("kind")):
		t.Error("a mark matches another error with the same text")
	case failure.IsPermanent(failure.Mark(failure.Transient(cause), kind)):
		t.Error("a mark made a transient failure permanent")
	case failure.Mark(nil, kind) != nil:
		t.Error("Mark(nil) is not nil")
	}
}
