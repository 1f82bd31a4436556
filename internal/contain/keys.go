package contain

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/autocontain/autocontain/internal/failure"
	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/ledger"
	"github.com/autocontain/autocontain/internal/plan"
	"github.com/autocontain/autocontain/internal/playbook"
)

// keyAPI is the part of the IAM API that deactivate-key and its undo need.
type keyAPI interface {
	ListAccessKeys(ctx context.Context, in *iam.ListAccessKeysInput, opts ...func(*iam.Options)) (*iam.ListAccessKeysOutput, error)
	UpdateAccessKey(ctx context.Context, in *iam.UpdateAccessKeyInput, opts ...func(*iam.Options)) (*iam.UpdateAccessKeyOutput, error)
}

var _ keyAPI = (*iam.Client)(nil)

// KeyDeactivator sets a long-term access key to Inactive. It never deletes:
// deletion cannot be undone, deactivation can.
type KeyDeactivator struct{ IAM keyAPI }

// Name implements Action.
func (*KeyDeactivator) Name() string { return playbook.ActionDeactivateKey }

// Permissions implements Action.
func (*KeyDeactivator) Permissions() []string {
	return []string{"iam:ListAccessKeys", "iam:UpdateAccessKey"}
}

// Execute implements Action. It reads the user's keys first, so that a key
// that is not the user's is an error rather than a guess, and an inactive
// key is left as it is.
func (a *KeyDeactivator) Execute(ctx context.Context, req Request) (Outcome, error) {
	t := req.Step.Target
	if t.Kind != plan.TargetAccessKey || t.UserName == "" || t.AccessKeyID == "" {
		return Outcome{}, failure.Permanent(fmt.Errorf("deactivate-key needs a user and an access key, got %s", t))
	}
	key := finding.MaskKey(t.AccessKeyID)
	status, found, err := a.keyStatus(ctx, t.UserName, t.AccessKeyID)
	var nse *iamtypes.NoSuchEntityException
	switch {
	case errors.As(err, &nse):
		// No retry brings a user or a key back.
		return Outcome{}, failure.Permanent(fmt.Errorf("deactivate key %s: user %s does not exist: %w", key, t.UserName, err))
	case err != nil:
		return Outcome{}, err
	case !found:
		return Outcome{}, failure.Permanent(fmt.Errorf("deactivate key %s: user %s has no such access key", key, t.UserName))
	}
	if status == iamtypes.StatusTypeInactive {
		return Outcome{Detail: fmt.Sprintf("key %s of user %s was already Inactive", key, t.UserName)}, nil
	}
	// UserName is always explicit: without it IAM acts on the caller's own keys
	// (IAM API Reference, UpdateAccessKey).
	_, err = a.IAM.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{
		UserName:    aws.String(t.UserName),
		AccessKeyId: aws.String(t.AccessKeyID),
		Status:      iamtypes.StatusTypeInactive,
	})
	if err != nil {
		return Outcome{}, fmt.Errorf("deactivate key %s of user %s: %w", key, t.UserName, err)
	}
	return Outcome{Changed: true, Detail: fmt.Sprintf("key %s of user %s: %s -> Inactive", key, t.UserName, status)}, nil
}

// keyStatus reads the status of key id of user; found is false when the
// user has no such key. A user that does not exist is the error
// NoSuchEntity, wrapped.
func (a *KeyDeactivator) keyStatus(ctx context.Context, user, id string) (status iamtypes.StatusType, found bool, err error) {
	pages := iam.NewListAccessKeysPaginator(a.IAM, &iam.ListAccessKeysInput{UserName: aws.String(user)})
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return "", false, fmt.Errorf("list access keys of user %s: %w", user, err)
		}
		for _, k := range out.AccessKeyMetadata {
			if aws.ToString(k.AccessKeyId) == id {
				return k.Status, true, nil
			}
		}
	}
	return "", false, nil
}

const keyResource = "key/"

// Hold implements Reverter: the key, on its user.
func (*KeyDeactivator) Hold(account string, s plan.Step) (ledger.Hold, error) {
	t := s.Target
	if t.Kind != plan.TargetAccessKey || t.UserName == "" || t.AccessKeyID == "" {
		return ledger.Hold{}, fmt.Errorf("deactivate-key holds a user's access key, not %s", t)
	}
	return ledger.Hold{Action: playbook.ActionDeactivateKey, Account: account, Principal: t.Entity(), Resource: keyResource + t.AccessKeyID}, nil
}

// Step implements Reverter.
func (*KeyDeactivator) Step(h ledger.Hold) (plan.Step, error) {
	user, okU := plan.EntityTarget(h.Principal)
	id, okK := strings.CutPrefix(h.Resource, keyResource)
	if !okU || user.Kind != plan.TargetUser || !okK {
		return plan.Step{}, fmt.Errorf("deactivate-key cannot read hold %s", finding.MaskKeys(h.String()))
	}
	return plan.Step{Action: playbook.ActionDeactivateKey, Target: plan.Target{Kind: plan.TargetAccessKey, UserName: user.UserName, AccessKeyID: id}}, nil
}

// UndoPermissions implements Reverter: undo needs no more than the action.
func (*KeyDeactivator) UndoPermissions() []string { return nil }

// Undo implements Reverter: it reactivates the key, unless it is Active
// already or gone.
func (a *KeyDeactivator) Undo(ctx context.Context, h ledger.Hold) (done, left string, err error) {
	s, err := a.Step(h)
	if err != nil {
		return "", "", err
	}
	user, id := s.Target.UserName, s.Target.AccessKeyID
	key := finding.MaskKey(id)
	status, found, err := a.keyStatus(ctx, user, id)
	var nse *iamtypes.NoSuchEntityException
	switch {
	case errors.As(err, &nse):
		return "", fmt.Sprintf("user %s no longer exists", user), nil
	case err != nil:
		return "", "", fmt.Errorf("undo: %w", err)
	case !found:
		return "", fmt.Sprintf("key %s of user %s no longer exists", key, user), nil
	case status == iamtypes.StatusTypeActive:
		return "", fmt.Sprintf("key %s of user %s is already Active", key, user), nil
	}
	if _, err := a.IAM.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{
		UserName: aws.String(user), AccessKeyId: aws.String(id), Status: iamtypes.StatusTypeActive,
	}); err != nil {
		return "", "", fmt.Errorf("undo: reactivate key %s of %s: %w", key, user, err)
	}
	return fmt.Sprintf("reactivated key %s of user %s", key, user), "", nil
}
