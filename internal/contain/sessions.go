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

	"github.com/autocontain/autocontain/internal/failure"
	"github.com/autocontain/autocontain/internal/ledger"
	"github.com/autocontain/autocontain/internal/plan"
	"github.com/autocontain/autocontain/internal/playbook"
)

// policyAPI is the part of the IAM API that revoke-sessions and its undo need.
type policyAPI interface {
	GetUserPolicy(ctx context.Context, in *iam.GetUserPolicyInput, opts ...func(*iam.Options)) (*iam.GetUserPolicyOutput, error)
	GetRolePolicy(ctx context.Context, in *iam.GetRolePolicyInput, opts ...func(*iam.Options)) (*iam.GetRolePolicyOutput, error)
	PutUserPolicy(ctx context.Context, in *iam.PutUserPolicyInput, opts ...func(*iam.Options)) (*iam.PutUserPolicyOutput, error)
	PutRolePolicy(ctx context.Context, in *iam.PutRolePolicyInput, opts ...func(*iam.Options)) (*iam.PutRolePolicyOutput, error)
	DeleteUserPolicy(ctx context.Context, in *iam.DeleteUserPolicyInput, opts ...func(*iam.Options)) (*iam.DeleteUserPolicyOutput, error)
	DeleteRolePolicy(ctx context.Context, in *iam.DeleteRolePolicyInput, opts ...func(*iam.Options)) (*iam.DeleteRolePolicyOutput, error)
}

var _ policyAPI = (*iam.Client)(nil)

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
// autocontain did not write (IsOwnPolicy): the step fails instead, and a
// person decides.
type SessionRevoker struct{ IAM policyAPI }

// Name implements Action.
func (*SessionRevoker) Name() string { return playbook.ActionRevokeSessions }

// Permissions implements Action.
func (*SessionRevoker) Permissions() []string {
	return []string{"iam:GetRolePolicy", "iam:GetUserPolicy", "iam:PutRolePolicy", "iam:PutUserPolicy"}
}

// Execute implements Action.
func (a *SessionRevoker) Execute(ctx context.Context, req Request) (Outcome, error) {
	p, err := a.policyOf(req.Step.Target)
	if err != nil {
		return Outcome{}, failure.Permanent(err)
	}
	who := p.who()
	cutoff := RevokeCutoff(req.Now).Format(time.RFC3339)
	// NoSuchEntity here means no policy of that name (or no such principal,
	// which the write below reports).
	cur, err := p.get(ctx)
	var nse *iamtypes.NoSuchEntityException
	switch {
	case errors.As(err, &nse):
	case err != nil:
		return Outcome{}, fmt.Errorf("revoke sessions of %s: read its inline policy %s: %w", who, RevokePolicyName, err)
	case !IsOwnPolicy(cur):
		return Outcome{}, failure.Permanent(fmt.Errorf("revoke sessions of %s: its inline policy %s is not autocontain's (it lacks the %s statement, or holds more than that one deny): "+
			"left untouched and nothing written; review it, then rename or delete it (or protect the principal) and retry: %w",
			who, RevokePolicyName, RevokePolicySid, ErrForeignPolicy))
	}
	if at, ok := ownPolicyCutoff(cur); ok && at.After(RevokeCutoff(req.Now)) {
		// A later containment (another finding, delivered at the same
		// time) already wrote a later cutoff: never move it back.
		return Outcome{Detail: fmt.Sprintf("%s: inline policy %s already denies tokens issued before %s, later than %s: left as it is",
			who, RevokePolicyName, at.UTC().Format(time.RFC3339), cutoff)}, nil
	}
	if err := p.put(ctx, RevokePolicy(req.Now)); err != nil {
		return Outcome{}, changeError(err, "revoke sessions of "+who, "it does not exist",
			"its inline policies are at IAM's size limit (user 2,048, role 10,240 characters)")
	}
	return Outcome{Changed: true, Detail: fmt.Sprintf("%s: inline policy %s denies tokens issued before %s", who, RevokePolicyName, cutoff)}, nil
}

// policyOf is the revoke policy of a step's role or user.
func (a *SessionRevoker) policyOf(t plan.Target) (inlinePolicy, error) {
	id, err := identityOf(playbook.ActionRevokeSessions, t)
	return inlinePolicy{api: a.IAM, identity: id, name: RevokePolicyName}, err
}

const policyResource = "policy/"

// Hold implements Reverter: the revoke policy, on its role or user.
func (a *SessionRevoker) Hold(account string, s plan.Step) (ledger.Hold, error) {
	p, err := a.policyOf(s.Target)
	if err != nil {
		return ledger.Hold{}, err
	}
	return ledger.Hold{Action: playbook.ActionRevokeSessions, Account: account, Principal: s.Target.Entity(), Resource: policyResource + p.name}, nil
}

// Step implements Reverter.
func (a *SessionRevoker) Step(h ledger.Hold) (plan.Step, error) {
	return inlinePolicyStep(playbook.ActionRevokeSessions, RevokePolicyName, h)
}

// inlinePolicyStep is the step of action that writes the inline policy
// name on the hold's role or user again.
func inlinePolicyStep(action, name string, h ledger.Hold) (plan.Step, error) {
	t, ok := heldIdentity(h)
	if !ok || h.Resource != policyResource+name {
		return plan.Step{Action: action}, fmt.Errorf("%s cannot read hold %s", action, h)
	}
	return plan.Step{Action: action, Target: t}, nil
}

// UndoPermissions implements Reverter.
func (*SessionRevoker) UndoPermissions() []string {
	return []string{"iam:DeleteRolePolicy", "iam:DeleteUserPolicy"}
}

// Undo implements Reverter: it deletes the revoke policy if it is still
// autocontain's own (IsOwnPolicy); a policy of that name that a person
// wrote since is left.
func (a *SessionRevoker) Undo(ctx context.Context, h ledger.Hold) (done, left string, err error) {
	s, err := a.Step(h)
	if err != nil {
		return "", "", err
	}
	p, err := a.policyOf(s.Target)
	if err != nil {
		return "", "", err
	}
	return undoOwnPolicy(ctx, p, IsOwnPolicy)
}

// undoOwnPolicy deletes policy p if own says its document is still
// autocontain's; one a person rewrote since, or one already gone, is left.
func undoOwnPolicy(ctx context.Context, p inlinePolicy, own func(doc string) bool) (done, left string, err error) {
	who := p.who()
	doc, err := p.get(ctx)
	var nse *iamtypes.NoSuchEntityException
	if errors.As(err, &nse) {
		return "", fmt.Sprintf("policy %s of %s is already gone", p.name, who), nil
	}
	if err != nil {
		return "", "", fmt.Errorf("undo: read policy %s of %s: %w", p.name, who, err)
	}
	if !own(doc) {
		return "", fmt.Sprintf("policy %s of %s is not autocontain's any more (a person rewrote it): left in place", p.name, who), nil
	}
	// NoSuchEntity here is the delete's own effect: the SDK resends a call
	// whose answer it lost (a connection error after IAM applied it), and
	// the resent delete finds the policy gone, as undo wants it.
	if err := p.delete(ctx); err != nil && !errors.As(err, &nse) {
		return "", "", fmt.Errorf("undo: delete policy %s of %s: %w", p.name, who, err)
	}
	return fmt.Sprintf("deleted policy %s of %s", p.name, who), "", nil
}

// inlinePolicy is one named inline policy of a user or a role.
type inlinePolicy struct {
	api policyAPI
	identity
	name string
}

// get returns the policy document as IAM returns it (URL-encoded JSON).
func (p inlinePolicy) get(ctx context.Context) (string, error) {
	if p.role {
		out, err := p.api.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(p.owner), PolicyName: aws.String(p.name)})
		if err != nil {
			return "", err
		}
		return aws.ToString(out.PolicyDocument), nil
	}
	out, err := p.api.GetUserPolicy(ctx, &iam.GetUserPolicyInput{UserName: aws.String(p.owner), PolicyName: aws.String(p.name)})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.PolicyDocument), nil
}

func (p inlinePolicy) put(ctx context.Context, doc string) error {
	var err error
	if p.role {
		_, err = p.api.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(p.owner), PolicyName: aws.String(p.name), PolicyDocument: aws.String(doc)})
	} else {
		_, err = p.api.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(p.owner), PolicyName: aws.String(p.name), PolicyDocument: aws.String(doc)})
	}
	return err
}

func (p inlinePolicy) delete(ctx context.Context) error {
	var err error
	if p.role {
		_, err = p.api.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String(p.owner), PolicyName: aws.String(p.name)})
	} else {
		_, err = p.api.DeleteUserPolicy(ctx, &iam.DeleteUserPolicyInput{UserName: aws.String(p.owner), PolicyName: aws.String(p.name)})
	}
	return err
}
