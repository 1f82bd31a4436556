package contain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/ledger"
)

// UndoAPI is the part of the IAM API that undo needs.
type UndoAPI interface {
	ListAccessKeys(ctx context.Context, in *iam.ListAccessKeysInput, opts ...func(*iam.Options)) (*iam.ListAccessKeysOutput, error)
	UpdateAccessKey(ctx context.Context, in *iam.UpdateAccessKeyInput, opts ...func(*iam.Options)) (*iam.UpdateAccessKeyOutput, error)
	GetUserPolicy(ctx context.Context, in *iam.GetUserPolicyInput, opts ...func(*iam.Options)) (*iam.GetUserPolicyOutput, error)
	GetRolePolicy(ctx context.Context, in *iam.GetRolePolicyInput, opts ...func(*iam.Options)) (*iam.GetRolePolicyOutput, error)
	DeleteUserPolicy(ctx context.Context, in *iam.DeleteUserPolicyInput, opts ...func(*iam.Options)) (*iam.DeleteUserPolicyOutput, error)
	DeleteRolePolicy(ctx context.Context, in *iam.DeleteRolePolicyInput, opts ...func(*iam.Options)) (*iam.DeleteRolePolicyOutput, error)
}

var _ UndoAPI = (*iam.Client)(nil)

// UndoPermissions lists the IAM actions undo needs beyond the actions'.
func UndoPermissions() []string {
	return []string{"iam:DeleteRolePolicy", "iam:DeleteUserPolicy", "iam:GetRolePolicy", "iam:GetUserPolicy"}
}

// Undoer restores what a finding's containment changed, as the ledger
// recorded it, and only that: it reactivates the keys it deactivated,
// deletes the deny policy it wrote if it is still the one it wrote, and
// takes out of the IP sets the addresses it added that no other finding
// still wants.
type Undoer struct {
	IAM    UndoAPI
	Ledger *ledger.Ledger
	Writer *Reconciler
}

// UndoReport says what undo restored and what it left, and why.
type UndoReport struct {
	Finding  string   `json:"finding"`
	Restored []string `json:"restored"`
	Left     []string `json:"left,omitempty"`
}

// Undo restores finding id's changes and marks it undone, so later
// deliveries of the same finding do not contain it again.
func (u *Undoer) Undo(ctx context.Context, id string) (UndoReport, error) {
	rep := UndoReport{Finding: id}
	h, ok, err := u.Ledger.History(ctx, id)
	switch {
	case err != nil:
		return rep, err
	case !ok || len(h.Changes) == 0:
		return rep, fmt.Errorf("undo: the ledger has no containment of finding %s", id)
	case h.Undone:
		return rep, fmt.Errorf("undo: finding %s was already undone", id)
	}
	var errs []error
	sets := map[string]bool{}
	for _, c := range h.Changes {
		var done, left string
		var err error
		switch c.Kind {
		case ledger.ChangeKey:
			done, left, err = u.reactivate(ctx, c)
		case ledger.ChangeUserPolicy, ledger.ChangeRolePolicy:
			done, left, err = u.deletePolicy(ctx, c)
		case ledger.ChangeBlock:
			var gone bool
			gone, err = u.Ledger.Unwant(ctx, c.IPSet, c.Address, id)
			if gone {
				sets[c.IPSet] = true
				done = "unblocked " + c.Address
			} else if err == nil {
				left = c.Address + " stays blocked: another finding still wants it"
			}
		default:
			left = "unknown change " + c.Kind
		}
		if done != "" {
			rep.Restored = append(rep.Restored, done)
		}
		if left != "" {
			rep.Left = append(rep.Left, left)
		}
		errs = append(errs, err)
	}
	for set := range sets {
		if _, err := u.Writer.Run(ctx, set); err != nil {
			errs = append(errs, fmt.Errorf("undo: write %s: %w", set, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return rep, err
	}
	return rep, u.Ledger.MarkUndone(ctx, id)
}

func (u *Undoer) reactivate(ctx context.Context, c ledger.Change) (done, left string, err error) {
	key := finding.MaskKey(c.AccessKeyID)
	out, err := u.IAM.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(c.User)})
	if err != nil {
		var nse *iamtypes.NoSuchEntityException
		if errors.As(err, &nse) {
			return "", fmt.Sprintf("user %s no longer exists", c.User), nil
		}
		return "", "", fmt.Errorf("undo: list keys of %s: %w", c.User, err)
	}
	for _, k := range out.AccessKeyMetadata {
		if aws.ToString(k.AccessKeyId) != c.AccessKeyID {
			continue
		}
		if k.Status == iamtypes.StatusTypeActive {
			return "", fmt.Sprintf("key %s of user %s is already Active", key, c.User), nil
		}
		if _, err := u.IAM.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{
			UserName: aws.String(c.User), AccessKeyId: aws.String(c.AccessKeyID), Status: iamtypes.StatusTypeActive,
		}); err != nil {
			return "", "", fmt.Errorf("undo: reactivate key %s of %s: %w", key, c.User, err)
		}
		return fmt.Sprintf("reactivated key %s of user %s", key, c.User), "", nil
	}
	return "", fmt.Sprintf("key %s of user %s no longer exists", key, c.User), nil
}

func (u *Undoer) deletePolicy(ctx context.Context, c ledger.Change) (done, left string, err error) {
	var doc *string
	who := "user " + c.User
	if c.Kind == ledger.ChangeRolePolicy {
		who = "role " + c.Role
		out, gerr := u.IAM.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(c.Role), PolicyName: aws.String(c.Policy)})
		if gerr == nil {
			doc = out.PolicyDocument
		}
		err = gerr
	} else {
		out, gerr := u.IAM.GetUserPolicy(ctx, &iam.GetUserPolicyInput{UserName: aws.String(c.User), PolicyName: aws.String(c.Policy)})
		if gerr == nil {
			doc = out.PolicyDocument
		}
		err = gerr
	}
	var nse *iamtypes.NoSuchEntityException
	if errors.As(err, &nse) {
		return "", fmt.Sprintf("policy %s of %s is already gone", c.Policy, who), nil
	}
	if err != nil {
		return "", "", fmt.Errorf("undo: read policy %s of %s: %w", c.Policy, who, err)
	}
	if !sameJSON(aws.ToString(doc), c.Document) {
		return "", fmt.Sprintf("policy %s of %s was rewritten since (a later containment or a person): left in place", c.Policy, who), nil
	}
	if c.Kind == ledger.ChangeRolePolicy {
		_, err = u.IAM.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String(c.Role), PolicyName: aws.String(c.Policy)})
	} else {
		_, err = u.IAM.DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: aws.String(c.User), PolicyName: aws.String(c.Policy)})
	}
	if err != nil {
		return "", "", fmt.Errorf("undo: delete policy %s of %s: %w", c.Policy, who, err)
	}
	return fmt.Sprintf("deleted policy %s of %s", c.Policy, who), "", nil
}

// sameJSON compares a policy as IAM returns it (URL-encoded) with the one written.
func sameJSON(got, wrote string) bool {
	if d, err := url.QueryUnescape(got); err == nil {
		got = d
	}
	var a, b any
	if json.Unmarshal([]byte(got), &a) != nil || json.Unmarshal([]byte(wrote), &b) != nil {
		return false
	}
	return reflect.DeepEqual(a, b)
}
