package contain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/ledger"
	"github.com/autocontain/autocontain/internal/plan"
	"github.com/autocontain/autocontain/internal/playbook"
)

// IAMAPI is the part of the IAM API that the credential actions need.
type IAMAPI interface {
	ListAccessKeys(ctx context.Context, in *iam.ListAccessKeysInput, opts ...func(*iam.Options)) (*iam.ListAccessKeysOutput, error)
	UpdateAccessKey(ctx context.Context, in *iam.UpdateAccessKeyInput, opts ...func(*iam.Options)) (*iam.UpdateAccessKeyOutput, error)
	PutUserPolicy(ctx context.Context, in *iam.PutUserPolicyInput, opts ...func(*iam.Options)) (*iam.PutUserPolicyOutput, error)
	PutRolePolicy(ctx context.Context, in *iam.PutRolePolicyInput, opts ...func(*iam.Options)) (*iam.PutRolePolicyOutput, error)
}

var _ IAMAPI = (*iam.Client)(nil)

// KeyDeactivator sets a long-term access key to Inactive. It never deletes:
// deletion cannot be undone, deactivation can.
type KeyDeactivator struct{ IAM IAMAPI }

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
		return Outcome{}, fmt.Errorf("deactivate-key needs a user and an access key, got %s", t)
	}
	key := finding.MaskKey(t.AccessKeyID)
	status, err := a.keyStatus(ctx, t.UserName, t.AccessKeyID)
	if err != nil {
		return Outcome{}, err
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
	return Outcome{Changed: true, Detail: fmt.Sprintf("key %s of user %s: %s -> Inactive", key, t.UserName, status),
		Changes: []ledger.Change{{Kind: ledger.ChangeKey, User: t.UserName, AccessKeyID: t.AccessKeyID, At: req.Now}}}, nil
}

func (a *KeyDeactivator) keyStatus(ctx context.Context, user, id string) (iamtypes.StatusType, error) {
	key := finding.MaskKey(id)
	pages := iam.NewListAccessKeysPaginator(a.IAM, &iam.ListAccessKeysInput{UserName: aws.String(user)})
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		var nse *iamtypes.NoSuchEntityException
		if errors.As(err, &nse) {
			return "", fmt.Errorf("deactivate key %s: user %s does not exist", key, user)
		}
		if err != nil {
			return "", fmt.Errorf("list access keys of user %s: %w", user, err)
		}
		for _, k := range out.AccessKeyMetadata {
			if aws.ToString(k.AccessKeyId) == id {
				return k.Status, nil
			}
		}
	}
	return "", fmt.Errorf("deactivate key %s: user %s has no such access key", key, user)
}

// RevokePolicyName is the inline policy revoke-sessions writes. It is
// autocontain's own, not the console's AWSRevokeOlderSessions, so that
// either can be removed without touching the other.
const RevokePolicyName = "AutocontainRevokeOlderSessions"

// RevokePolicy returns the policy document that denies everything to
// tokens issued before cutoff (IAM User Guide, "Revoking IAM role temporary
// security credentials"). Requests signed with a long-term key carry no
// aws:TokenIssueTime, so it does not affect them: deactivate-key does.
func RevokePolicy(cutoff time.Time) string {
	doc := map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{map[string]any{
			"Sid":      "DenyTokensIssuedBeforeContainment",
			"Effect":   "Deny",
			"Action":   []string{"*"},
			"Resource": []string{"*"},
			"Condition": map[string]any{
				"DateLessThan": map[string]string{"aws:TokenIssueTime": cutoff.UTC().Format(time.RFC3339)},
			},
		}},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err) // a fixed shape of strings cannot fail to marshal
	}
	return string(b)
}

// SessionRevoker writes the revoke policy on a role or a user. Re-running
// it moves the cutoff to the new now, which is what a second incident wants.
type SessionRevoker struct{ IAM IAMAPI }

// Name implements Action.
func (*SessionRevoker) Name() string { return playbook.ActionRevokeSessions }

// Permissions implements Action.
func (*SessionRevoker) Permissions() []string {
	return []string{"iam:PutRolePolicy", "iam:PutUserPolicy"}
}

// Execute implements Action.
func (a *SessionRevoker) Execute(ctx context.Context, req Request) (Outcome, error) {
	t := req.Step.Target
	doc := RevokePolicy(req.Now)
	cutoff := req.Now.UTC().Format(time.RFC3339)
	var err error
	var who string
	change := ledger.Change{Policy: RevokePolicyName, Document: doc, At: req.Now}
	switch {
	case t.Kind == plan.TargetRole && t.RoleName != "":
		who = "role " + t.RoleName
		change.Kind, change.Role = ledger.ChangeRolePolicy, t.RoleName
		_, err = a.IAM.PutRolePolicy(ctx, &iam.PutRolePolicyInput{
			RoleName: aws.String(t.RoleName), PolicyName: aws.String(RevokePolicyName), PolicyDocument: aws.String(doc),
		})
	case t.Kind == plan.TargetUser && t.UserName != "":
		who = "user " + t.UserName
		change.Kind, change.User = ledger.ChangeUserPolicy, t.UserName
		_, err = a.IAM.PutUserPolicy(ctx, &iam.PutUserPolicyInput{
			UserName: aws.String(t.UserName), PolicyName: aws.String(RevokePolicyName), PolicyDocument: aws.String(doc),
		})
	default:
		return Outcome{}, fmt.Errorf("revoke-sessions needs a role or a user, got %s", t)
	}
	if err != nil {
		var nse *iamtypes.NoSuchEntityException
		var lim *iamtypes.LimitExceededException
		var unmod *iamtypes.UnmodifiableEntityException
		switch {
		case errors.As(err, &nse):
			return Outcome{}, fmt.Errorf("revoke sessions of %s: it does not exist: %w", who, err)
		case errors.As(err, &lim):
			return Outcome{}, fmt.Errorf("revoke sessions of %s: its inline policies are at IAM's size limit (user 2,048, role 10,240 characters): %w", who, err)
		case errors.As(err, &unmod):
			return Outcome{}, fmt.Errorf("revoke sessions of %s: IAM does not allow changing it (a service-linked role?): %w", who, err)
		}
		return Outcome{}, fmt.Errorf("revoke sessions of %s: %w", who, err)
	}
	return Outcome{Changed: true, Detail: fmt.Sprintf("%s: inline policy %s denies tokens issued before %s", who, RevokePolicyName, cutoff),
		Changes: []ledger.Change{change}}, nil
}
