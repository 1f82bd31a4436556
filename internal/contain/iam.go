package contain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
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
	GetUserPolicy(ctx context.Context, in *iam.GetUserPolicyInput, opts ...func(*iam.Options)) (*iam.GetUserPolicyOutput, error)
	GetRolePolicy(ctx context.Context, in *iam.GetRolePolicyInput, opts ...func(*iam.Options)) (*iam.GetRolePolicyOutput, error)
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

// RevokePolicySid is the Sid that marks a revoke policy as autocontain's
// own: IsOwnPolicy looks for it, so that a policy of the same name written
// by a person or another tool is never overwritten or deleted.
const RevokePolicySid = "AutocontainRevokeOlderSessions"

// legacyRevokePolicySid is the Sid that versions before the marker wrote.
// Their policies are autocontain's too: without it, a principal contained
// before an upgrade could neither be contained again nor be undone.
const legacyRevokePolicySid = "DenyTokensIssuedBeforeContainment"

// ErrForeignPolicy is wrapped by the error of a revoke-sessions step that
// found an inline policy named RevokePolicyName that autocontain did not
// write. The step leaves it untouched and fails.
var ErrForeignPolicy = errors.New("a policy autocontain did not write is never overwritten")

// RevokeCutoff is the cutoff of a deny written at now: now rounded up to
// the next whole second. The policy's date carries whole seconds while
// aws:TokenIssueTime is the exact time a token was created (IAM User Guide),
// so a truncated cutoff would let a token minted earlier in the second of
// containment through. A time exactly on a second stays.
func RevokeCutoff(now time.Time) time.Time {
	now = now.UTC()
	if t := now.Truncate(time.Second); !t.Equal(now) {
		return t.Add(time.Second)
	}
	return now
}

// RevokePolicy returns the policy document that denies everything to
// tokens issued before cutoff (IAM User Guide, "Revoking IAM role temporary
// security credentials"), cutoff rounded up with RevokeCutoff. Requests
// signed with a long-term key carry no aws:TokenIssueTime, so it does not
// affect them: deactivate-key does. Its Sid is RevokePolicySid.
func RevokePolicy(cutoff time.Time) string {
	doc := map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{map[string]any{
			"Sid":      RevokePolicySid,
			"Effect":   "Deny",
			"Action":   []string{"*"},
			"Resource": []string{"*"},
			"Condition": map[string]any{
				"DateLessThan": map[string]string{"aws:TokenIssueTime": RevokeCutoff(cutoff).Format(time.RFC3339)},
			},
		}},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err) // a fixed shape of strings cannot fail to marshal
	}
	return string(b)
}

// IsOwnPolicy tells whether doc, a policy document as IAM returns it
// (URL-encoded JSON) or as written, is one autocontain wrote: one statement
// with autocontain's Sid (or the Sid of earlier versions) that denies every
// action on every resource to tokens issued before a time, and nothing else.
// A document with any other statement, element or condition is not, even if
// it carries the Sid: overwriting or deleting it would lose what was added.
func IsOwnPolicy(doc string) bool {
	_, ok := ownPolicyCutoff(doc)
	return ok
}

// ownPolicyCutoff returns the cutoff of an autocontain policy (see
// IsOwnPolicy); ok is false for any other document.
func ownPolicyCutoff(doc string) (cutoff time.Time, ok bool) {
	var p map[string]any
	if json.Unmarshal([]byte(doc), &p) != nil {
		d, err := url.QueryUnescape(doc)
		if err != nil || json.Unmarshal([]byte(d), &p) != nil {
			return time.Time{}, false
		}
	}
	if len(p) != 2 || p["Version"] != "2012-10-17" {
		return time.Time{}, false
	}
	sts, ok := p["Statement"].([]any)
	if !ok || len(sts) != 1 {
		return time.Time{}, false
	}
	st, ok := sts[0].(map[string]any)
	if !ok || len(st) != 5 || (st["Sid"] != RevokePolicySid && st["Sid"] != legacyRevokePolicySid) ||
		st["Effect"] != "Deny" || !isStar(st["Action"]) || !isStar(st["Resource"]) {
		return time.Time{}, false
	}
	cond, ok := st["Condition"].(map[string]any)
	if !ok || len(cond) != 1 {
		return time.Time{}, false
	}
	lt, ok := cond["DateLessThan"].(map[string]any)
	if !ok || len(lt) != 1 {
		return time.Time{}, false
	}
	at, ok := lt["aws:TokenIssueTime"].(string)
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, at)
	return t, err == nil
}

// isStar tells whether a policy element is "*" or ["*"].
func isStar(v any) bool {
	if s, ok := v.(string); ok {
		return s == "*"
	}
	l, ok := v.([]any)
	return ok && len(l) == 1 && l[0] == "*"
}

// SessionRevoker writes the revoke policy on a role or a user. Re-running
// it moves the cutoff to the new now, which is what a second incident wants.
// It reads the policy of that name first and never overwrites one that
// autocontain did not write (IsOwnPolicy): the step fails instead, so the
// delivery is retried and alarmed and a person decides.
type SessionRevoker struct{ IAM IAMAPI }

// Name implements Action.
func (*SessionRevoker) Name() string { return playbook.ActionRevokeSessions }

// Permissions implements Action.
func (*SessionRevoker) Permissions() []string {
	return []string{"iam:GetRolePolicy", "iam:GetUserPolicy", "iam:PutRolePolicy", "iam:PutUserPolicy"}
}

// Execute implements Action.
func (a *SessionRevoker) Execute(ctx context.Context, req Request) (Outcome, error) {
	t := req.Step.Target
	doc := RevokePolicy(req.Now)
	cutoff := RevokeCutoff(req.Now).Format(time.RFC3339)
	var who string
	var existing func() (*string, error)
	var put func() error
	change := ledger.Change{Policy: RevokePolicyName, At: req.Now}
	switch {
	case t.Kind == plan.TargetRole && t.RoleName != "":
		who = "role " + t.RoleName
		change.Kind, change.Role = ledger.ChangeRolePolicy, t.RoleName
		existing = func() (*string, error) {
			out, err := a.IAM.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(t.RoleName), PolicyName: aws.String(RevokePolicyName)})
			if err != nil {
				return nil, err
			}
			return out.PolicyDocument, nil
		}
		put = func() error {
			_, err := a.IAM.PutRolePolicy(ctx, &iam.PutRolePolicyInput{
				RoleName: aws.String(t.RoleName), PolicyName: aws.String(RevokePolicyName), PolicyDocument: aws.String(doc),
			})
			return err
		}
	case t.Kind == plan.TargetUser && t.UserName != "":
		who = "user " + t.UserName
		change.Kind, change.User = ledger.ChangeUserPolicy, t.UserName
		existing = func() (*string, error) {
			out, err := a.IAM.GetUserPolicy(ctx, &iam.GetUserPolicyInput{UserName: aws.String(t.UserName), PolicyName: aws.String(RevokePolicyName)})
			if err != nil {
				return nil, err
			}
			return out.PolicyDocument, nil
		}
		put = func() error {
			_, err := a.IAM.PutUserPolicy(ctx, &iam.PutUserPolicyInput{
				UserName: aws.String(t.UserName), PolicyName: aws.String(RevokePolicyName), PolicyDocument: aws.String(doc),
			})
			return err
		}
	default:
		return Outcome{}, fmt.Errorf("revoke-sessions needs a role or a user, got %s", t)
	}
	// NoSuchEntity here means no policy of that name (or no such principal,
	// which the write below reports).
	cur, err := existing()
	var nse *iamtypes.NoSuchEntityException
	switch {
	case errors.As(err, &nse):
	case err != nil:
		return Outcome{}, fmt.Errorf("revoke sessions of %s: read its inline policy %s: %w", who, RevokePolicyName, err)
	case !IsOwnPolicy(aws.ToString(cur)):
		return Outcome{}, fmt.Errorf("revoke sessions of %s: its inline policy %s is not autocontain's (it lacks the %s statement, or holds more than that one deny): "+
			"left untouched and nothing written; review it, then rename or delete it (or protect the principal) and retry: %w",
			who, RevokePolicyName, RevokePolicySid, ErrForeignPolicy)
	}
	if at, ok := ownPolicyCutoff(aws.ToString(cur)); ok && at.After(RevokeCutoff(req.Now)) {
		// A later containment (another finding, delivered at the same
		// time) already wrote a later cutoff: never move it back.
		return Outcome{Detail: fmt.Sprintf("%s: inline policy %s already denies tokens issued before %s, later than %s: left as it is",
			who, RevokePolicyName, at.UTC().Format(time.RFC3339), cutoff)}, nil
	}
	if err := put(); err != nil {
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
