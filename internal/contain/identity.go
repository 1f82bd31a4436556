package contain

import (
	"errors"
	"fmt"

	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/autocontain/autocontain/internal/failure"
	"github.com/autocontain/autocontain/internal/ledger"
	"github.com/autocontain/autocontain/internal/plan"
)

// identity is the user or the role an identity action (revoke-sessions,
// quarantine, restrict-source) changes.
type identity struct {
	role  bool
	owner string // the user's or the role's name
}

// identityOf is the role or user a step of action names.
func identityOf(action string, t plan.Target) (identity, error) {
	switch {
	case t.Kind == plan.TargetRole && t.RoleName != "":
		return identity{role: true, owner: t.RoleName}, nil
	case t.Kind == plan.TargetUser && t.UserName != "":
		return identity{owner: t.UserName}, nil
	}
	return identity{}, fmt.Errorf("%s needs a role or a user, got %s", action, t)
}

// heldIdentity is the target of the role or user a hold names ("role/X",
// "user/X"); ok is false for any other principal.
func heldIdentity(h ledger.Hold) (t plan.Target, ok bool) { return plan.EntityTarget(h.Principal) }

func (i identity) who() string {
	if i.role {
		return "role " + i.owner
	}
	return "user " + i.owner
}

// changeError is the error of a call that changed an identity, prefixed
// with what was being done. What no retry can mend is permanent: the
// identity or what the call names is missing (missing says which), a
// quota is reached (limit says which), or IAM refuses to change the
// identity at all.
func changeError(err error, doing, missing, limit string) error {
	var (
		nse   *iamtypes.NoSuchEntityException
		lim   *iamtypes.LimitExceededException
		unmod *iamtypes.UnmodifiableEntityException
	)
	switch {
	case errors.As(err, &nse):
		return failure.Permanent(fmt.Errorf("%s: %s: %w", doing, missing, err))
	case errors.As(err, &lim):
		return failure.Permanent(fmt.Errorf("%s: %s: %w", doing, limit, err))
	case errors.As(err, &unmod):
		return failure.Permanent(fmt.Errorf("%s: IAM does not allow changing it (a service-linked role?): %w", doing, err))
	}
	return fmt.Errorf("%s: %w", doing, err)
}
