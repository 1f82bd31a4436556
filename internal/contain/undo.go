package contain

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/autocontain/autocontain/internal/blocklist"
	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/ledger"
	"github.com/autocontain/autocontain/internal/plan"
	"github.com/autocontain/autocontain/internal/playbook"
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

// Undoer releases a finding's holds, as the ledger recorded them, and
// restores a resource only when no other finding still holds it: it
// reactivates a key autocontain deactivated, deletes a deny policy that is
// autocontain's own, and has the IP sets' writer take out the addresses no
// finding wants any more, unless they were in the set before autocontain
// wanted them.
type Undoer struct {
	IAM    UndoAPI
	Ledger *ledger.Ledger
	Writer *blocklist.Writer
	// Contain puts a resource back under containment when a finding took
	// hold of it while undo was restoring it (see release). It is the
	// registry's actions, by name.
	Contain map[string]Action
	Now     func() time.Time
	// Account is the account the IAM client reaches. A hold in another
	// account is left alone and reported; empty means unchecked.
	Account string
}

// UndoReport says what undo restored and what it left, and why.
type UndoReport struct {
	Finding  string   `json:"finding"`
	Restored []string `json:"restored"`
	Left     []string `json:"left,omitempty"`
}

// Undo releases finding id's holds and marks it undone, so later
// deliveries of the same finding do not contain it again.
func (u *Undoer) Undo(ctx context.Context, id string) (UndoReport, error) {
	rep := UndoReport{Finding: id}
	h, ok, err := u.Ledger.History(ctx, id)
	switch {
	case err != nil:
		return rep, err
	case !ok || (len(h.Holds) == 0 && len(h.Blocks) == 0):
		return rep, fmt.Errorf("undo: the ledger has no containment of finding %s", id)
	case h.Undone:
		return rep, fmt.Errorf("undo: finding %s was already undone", id)
	}
	var errs []error
	for _, hd := range h.Holds {
		done, left, err := u.release(ctx, hd, id)
		if done != "" {
			rep.Restored = append(rep.Restored, done)
		}
		if left != "" {
			rep.Left = append(rep.Left, left)
		}
		errs = append(errs, err)
	}
	sets := make([]string, 0, len(h.Blocks))
	for set := range h.Blocks {
		sets = append(sets, set)
	}
	sort.Strings(sets)
	for _, set := range sets {
		done, left, err := u.unblock(ctx, set, h.Blocks[set], id)
		if done != "" {
			rep.Restored = append(rep.Restored, done)
		}
		rep.Left = append(rep.Left, left...)
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return rep, err
	}
	return rep, u.Ledger.MarkUndone(ctx, id)
}

// release gives up finding id's hold of a resource and restores it when no
// finding holds it any more and autocontain changed it. If a finding took
// hold of it while undo restored it, undo contains it again.
func (u *Undoer) release(ctx context.Context, hd ledger.Hold, id string) (done, left string, err error) {
	what := holdName(hd)
	if u.Account != "" && hd.Account != "" && hd.Account != u.Account {
		return "", fmt.Sprintf("%s is in account %s, not %s that this undo reaches: left as it is", what, hd.Account, u.Account), nil
	}
	r, err := u.Ledger.ReleaseHold(ctx, hd, id)
	switch {
	case err != nil:
		return "", "", fmt.Errorf("undo: %w", err)
	case r.Missing:
		return "", what + ": nothing held any more (already restored)", nil
	case len(r.Holders) > 0:
		return "", fmt.Sprintf("%s stays contained: still held by finding %s", what, strings.Join(r.Holders, ", ")), nil
	case !r.Changed:
		if _, err := u.Ledger.ForgetHold(ctx, hd); err != nil {
			return "", "", fmt.Errorf("undo: %w", err)
		}
		return "", what + " was already so before autocontain held it: left as it was", nil
	}
	switch hd.Kind {
	case ledger.ChangeKey:
		done, left, err = u.reactivate(ctx, hd)
	default:
		done, left, err = u.deletePolicy(ctx, hd)
	}
	if err != nil {
		return done, left, err
	}
	forgot, err := u.Ledger.ForgetHold(ctx, hd)
	if err != nil {
		return done, left, fmt.Errorf("undo: %w", err)
	}
	if !forgot && done != "" {
		// A finding took hold of it while it was being restored: contain
		// it again, now.
		if err := u.recontain(ctx, hd); err != nil {
			return done, left, fmt.Errorf("undo: %s was restored while another finding took hold of it, and containing it again failed: %w", what, err)
		}
		return "", what + " stays contained: another finding took hold of it during undo", nil
	}
	return done, left, nil
}

// recontain applies the hold's containment again.
func (u *Undoer) recontain(ctx context.Context, hd ledger.Hold) error {
	now := time.Now().UTC()
	if u.Now != nil {
		now = u.Now()
	}
	step := plan.Step{Action: playbook.ActionDeactivateKey, Target: plan.Target{Kind: plan.TargetAccessKey, UserName: hd.User, AccessKeyID: hd.AccessKeyID}}
	switch hd.Kind {
	case ledger.ChangeUserPolicy:
		step = plan.Step{Action: playbook.ActionRevokeSessions, Target: plan.Target{Kind: plan.TargetUser, UserName: hd.User}}
	case ledger.ChangeRolePolicy:
		step = plan.Step{Action: playbook.ActionRevokeSessions, Target: plan.Target{Kind: plan.TargetRole, RoleName: hd.Role}}
	}
	a, ok := u.Contain[step.Action]
	if !ok {
		return fmt.Errorf("no action %s to contain it again", step.Action)
	}
	_, err := a.Execute(ctx, Request{Step: step, Now: now})
	return err
}

// unblock gives up finding id's reasons to block addrs in set and has the
// set's writer take out those no finding wants any more.
func (u *Undoer) unblock(ctx context.Context, set string, addrs []string, id string) (done string, left []string, err error) {
	done, left, err = u.Writer.Unblock(ctx, set, addrs, id)
	if err != nil {
		return "", nil, fmt.Errorf("undo: %w", err)
	}
	return done, left, nil
}

func holdName(hd ledger.Hold) string {
	switch hd.Kind {
	case ledger.ChangeKey:
		return fmt.Sprintf("key %s of user %s", finding.MaskKey(hd.AccessKeyID), hd.User)
	case ledger.ChangeRolePolicy:
		return fmt.Sprintf("policy %s of role %s", hd.Policy, hd.Role)
	}
	return fmt.Sprintf("policy %s of user %s", hd.Policy, hd.User)
}

func (u *Undoer) reactivate(ctx context.Context, hd ledger.Hold) (done, left string, err error) {
	key := finding.MaskKey(hd.AccessKeyID)
	out, err := u.IAM.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(hd.User)})
	if err != nil {
		var nse *iamtypes.NoSuchEntityException
		if errors.As(err, &nse) {
			return "", fmt.Sprintf("user %s no longer exists", hd.User), nil
		}
		return "", "", fmt.Errorf("undo: list keys of %s: %w", hd.User, err)
	}
	for _, k := range out.AccessKeyMetadata {
		if aws.ToString(k.AccessKeyId) != hd.AccessKeyID {
			continue
		}
		if k.Status == iamtypes.StatusTypeActive {
			return "", fmt.Sprintf("key %s of user %s is already Active", key, hd.User), nil
		}
		if _, err := u.IAM.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{
			UserName: aws.String(hd.User), AccessKeyId: aws.String(hd.AccessKeyID), Status: iamtypes.StatusTypeActive,
		}); err != nil {
			return "", "", fmt.Errorf("undo: reactivate key %s of %s: %w", key, hd.User, err)
		}
		return fmt.Sprintf("reactivated key %s of user %s", key, hd.User), "", nil
	}
	return "", fmt.Sprintf("key %s of user %s no longer exists", key, hd.User), nil
}

// deletePolicy deletes the hold's deny policy if it is autocontain's own
// (IsOwnPolicy): a policy of that name that a person wrote since is left.
func (u *Undoer) deletePolicy(ctx context.Context, hd ledger.Hold) (done, left string, err error) {
	var doc *string
	who := "user " + hd.User
	if hd.Kind == ledger.ChangeRolePolicy {
		who = "role " + hd.Role
		out, gerr := u.IAM.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(hd.Role), PolicyName: aws.String(hd.Policy)})
		if gerr == nil {
			doc = out.PolicyDocument
		}
		err = gerr
	} else {
		out, gerr := u.IAM.GetUserPolicy(ctx, &iam.GetUserPolicyInput{UserName: aws.String(hd.User), PolicyName: aws.String(hd.Policy)})
		if gerr == nil {
			doc = out.PolicyDocument
		}
		err = gerr
	}
	var nse *iamtypes.NoSuchEntityException
	if errors.As(err, &nse) {
		return "", fmt.Sprintf("policy %s of %s is already gone", hd.Policy, who), nil
	}
	if err != nil {
		return "", "", fmt.Errorf("undo: read policy %s of %s: %w", hd.Policy, who, err)
	}
	if !IsOwnPolicy(aws.ToString(doc)) {
		return "", fmt.Sprintf("policy %s of %s is not autocontain's any more (a person rewrote it): left in place", hd.Policy, who), nil
	}
	if hd.Kind == ledger.ChangeRolePolicy {
		_, err = u.IAM.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String(hd.Role), PolicyName: aws.String(hd.Policy)})
	} else {
		_, err = u.IAM.DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: aws.String(hd.User), PolicyName: aws.String(hd.Policy)})
	}
	if err != nil {
		return "", "", fmt.Errorf("undo: delete policy %s of %s: %w", hd.Policy, who, err)
	}
	return fmt.Sprintf("deleted policy %s of %s", hd.Policy, who), "", nil
}
