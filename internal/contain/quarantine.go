package contain

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/autocontain/autocontain/internal/failure"
	"github.com/autocontain/autocontain/internal/impact"
	"github.com/autocontain/autocontain/internal/ledger"
	"github.com/autocontain/autocontain/internal/plan"
	"github.com/autocontain/autocontain/internal/playbook"
)

// attachAPI is the part of the IAM API that quarantine and its undo need.
type attachAPI interface {
	ListAttachedUserPolicies(ctx context.Context, in *iam.ListAttachedUserPoliciesInput, opts ...func(*iam.Options)) (*iam.ListAttachedUserPoliciesOutput, error)
	ListAttachedRolePolicies(ctx context.Context, in *iam.ListAttachedRolePoliciesInput, opts ...func(*iam.Options)) (*iam.ListAttachedRolePoliciesOutput, error)
	AttachUserPolicy(ctx context.Context, in *iam.AttachUserPolicyInput, opts ...func(*iam.Options)) (*iam.AttachUserPolicyOutput, error)
	AttachRolePolicy(ctx context.Context, in *iam.AttachRolePolicyInput, opts ...func(*iam.Options)) (*iam.AttachRolePolicyOutput, error)
	DetachUserPolicy(ctx context.Context, in *iam.DetachUserPolicyInput, opts ...func(*iam.Options)) (*iam.DetachUserPolicyOutput, error)
	DetachRolePolicy(ctx context.Context, in *iam.DetachRolePolicyInput, opts ...func(*iam.Options)) (*iam.DetachRolePolicyOutput, error)
	GetPolicy(ctx context.Context, in *iam.GetPolicyInput, opts ...func(*iam.Options)) (*iam.GetPolicyOutput, error)
	GetPolicyVersion(ctx context.Context, in *iam.GetPolicyVersionInput, opts ...func(*iam.Options)) (*iam.GetPolicyVersionOutput, error)
}

var _ attachAPI = (*iam.Client)(nil)

// PolicyScoped is an action whose attach and detach calls act on one
// managed policy only, the one its steps carry: the stack grants those
// calls only under the condition iam:PolicyARN equal to that policy, so
// the role cannot attach any other (Service Authorization Reference, IAM:
// iam:PolicyARN is a condition key of Attach/Detach{User,Role}Policy).
type PolicyScoped interface {
	// PolicyScopedPermissions lists those calls, a subset of the action's
	// Permissions and UndoPermissions.
	PolicyScopedPermissions() []string
}

// Quarantiner attaches a managed deny policy, by default AWS's
// AWSCompromisedKeyQuarantineV3, to a user or a role. It reads the
// principal's attached policies first: one already attached is left as it
// is, and undo leaves it too.
//
// It attaches only a policy that grants nothing: before the first attach
// of a policy it reads the policy's default version, and a policy with any
// statement that is not a Deny (AdministratorAccess named by mistake in
// settings.quarantinePolicyArn) is refused, permanently.
type Quarantiner struct {
	IAM attachAPI

	mu       sync.Mutex
	denyOnly map[string]bool // policies read and found to grant nothing
}

// Name implements Action.
func (*Quarantiner) Name() string { return playbook.ActionQuarantine }

// Permissions implements Action.
func (*Quarantiner) Permissions() []string {
	return []string{"iam:AttachRolePolicy", "iam:AttachUserPolicy", "iam:GetPolicy", "iam:GetPolicyVersion",
		"iam:ListAttachedRolePolicies", "iam:ListAttachedUserPolicies"}
}

// checkDenyOnly reads policy's default version once, and refuses it when
// it grants anything.
func (q *Quarantiner) checkDenyOnly(ctx context.Context, policy string) error {
	q.mu.Lock()
	ok := q.denyOnly[policy]
	q.mu.Unlock()
	if ok {
		return nil
	}
	p, err := q.IAM.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String(policy)})
	var nse *iamtypes.NoSuchEntityException
	if errors.As(err, &nse) {
		return failure.Permanent(fmt.Errorf("quarantine policy %s does not exist: %w", policy, err))
	}
	if err != nil {
		return fmt.Errorf("read quarantine policy %s: %w", policy, err)
	}
	v, err := q.IAM.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: aws.String(policy), VersionId: p.Policy.DefaultVersionId})
	if err != nil {
		return fmt.Errorf("read quarantine policy %s: %w", policy, err)
	}
	if err := impact.DenyOnly(aws.ToString(v.PolicyVersion.Document)); err != nil {
		return failure.Permanent(fmt.Errorf("quarantine policy %s must only deny, to restrict (settings.quarantinePolicyArn): %w", policy, err))
	}
	q.mu.Lock()
	if q.denyOnly == nil {
		q.denyOnly = map[string]bool{}
	}
	q.denyOnly[policy] = true
	q.mu.Unlock()
	return nil
}

// UndoPermissions implements Reverter.
func (*Quarantiner) UndoPermissions() []string {
	return []string{"iam:DetachRolePolicy", "iam:DetachUserPolicy"}
}

// PolicyScopedPermissions implements PolicyScoped.
func (*Quarantiner) PolicyScopedPermissions() []string {
	return []string{"iam:AttachRolePolicy", "iam:AttachUserPolicy", "iam:DetachRolePolicy", "iam:DetachUserPolicy"}
}

// attachment is one managed policy on one user or role.
type attachment struct {
	api attachAPI
	identity
	policy string
}

// attached reads, page by page, whether the policy is attached.
func (a attachment) attached(ctx context.Context) (bool, error) {
	var marker *string
	for {
		var (
			pols      []iamtypes.AttachedPolicy
			truncated bool
		)
		if a.role {
			out, err := a.api.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(a.owner), Marker: marker})
			if err != nil {
				return false, err
			}
			pols, truncated, marker = out.AttachedPolicies, out.IsTruncated, out.Marker
		} else {
			out, err := a.api.ListAttachedUserPolicies(ctx, &iam.ListAttachedUserPoliciesInput{UserName: aws.String(a.owner), Marker: marker})
			if err != nil {
				return false, err
			}
			pols, truncated, marker = out.AttachedPolicies, out.IsTruncated, out.Marker
		}
		for _, p := range pols {
			if aws.ToString(p.PolicyArn) == a.policy {
				return true, nil
			}
		}
		if !truncated || marker == nil {
			return false, nil
		}
	}
}

func (a attachment) attach(ctx context.Context) error {
	var err error
	if a.role {
		_, err = a.api.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String(a.owner), PolicyArn: aws.String(a.policy)})
	} else {
		_, err = a.api.AttachUserPolicy(ctx, &iam.AttachUserPolicyInput{UserName: aws.String(a.owner), PolicyArn: aws.String(a.policy)})
	}
	return err
}

func (a attachment) detach(ctx context.Context) error {
	var err error
	if a.role {
		_, err = a.api.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: aws.String(a.owner), PolicyArn: aws.String(a.policy)})
	} else {
		_, err = a.api.DetachUserPolicy(ctx, &iam.DetachUserPolicyInput{UserName: aws.String(a.owner), PolicyArn: aws.String(a.policy)})
	}
	return err
}

// attachmentOf is the attachment a step makes.
func (q *Quarantiner) attachmentOf(t plan.Target) (attachment, error) {
	if !playbook.IsPolicyARN(t.Policy) {
		return attachment{}, fmt.Errorf("quarantine needs a managed policy ARN, got %q for %s", t.Policy, t)
	}
	id, err := identityOf(playbook.ActionQuarantine, t)
	return attachment{api: q.IAM, identity: id, policy: t.Policy}, err
}

// Execute implements Action.
func (q *Quarantiner) Execute(ctx context.Context, req Request) (Outcome, error) {
	a, err := q.attachmentOf(req.Step.Target)
	if err != nil {
		return Outcome{}, failure.Permanent(err)
	}
	who := a.who()
	on, err := a.attached(ctx)
	var nse *iamtypes.NoSuchEntityException
	switch {
	case errors.As(err, &nse):
		return Outcome{}, failure.Permanent(fmt.Errorf("quarantine %s: it does not exist: %w", who, err))
	case err != nil:
		return Outcome{}, fmt.Errorf("quarantine %s: read its attached policies: %w", who, err)
	case on:
		return Outcome{Detail: fmt.Sprintf("%s: policy %s was already attached", who, a.policy)}, nil
	}
	if err := q.checkDenyOnly(ctx, a.policy); err != nil {
		return Outcome{}, fmt.Errorf("quarantine %s: %w", who, err)
	}
	if err := a.attach(ctx); err != nil {
		var notAtt *iamtypes.PolicyNotAttachableException
		if errors.As(err, &notAtt) {
			return Outcome{}, failure.Permanent(fmt.Errorf("quarantine %s: policy %s cannot be attached to it: %w", who, a.policy, err))
		}
		return Outcome{}, changeError(err, "quarantine "+who, "it or policy "+a.policy+" does not exist",
			"it has as many managed policies as IAM allows (10 unless the quota was raised)")
	}
	return Outcome{Changed: true, Detail: fmt.Sprintf("%s: attached policy %s", who, a.policy)}, nil
}

// attachedResource is the prefix of a quarantine hold's resource, which
// names the policy: findings that quarantined with different policies
// (the setting changed between them) hold different attachments.
const attachedResource = "attached/"

// Hold implements Reverter: the policy's attachment, on its role or user.
func (q *Quarantiner) Hold(account string, s plan.Step) (ledger.Hold, error) {
	a, err := q.attachmentOf(s.Target)
	if err != nil {
		return ledger.Hold{}, err
	}
	return ledger.Hold{Action: playbook.ActionQuarantine, Account: account, Principal: s.Target.Entity(), Resource: attachedResource + a.policy}, nil
}

// Step implements Reverter.
func (q *Quarantiner) Step(h ledger.Hold) (plan.Step, error) {
	policy, okP := strings.CutPrefix(h.Resource, attachedResource)
	t, okT := heldIdentity(h)
	if !okP || !okT || !playbook.IsPolicyARN(policy) {
		return plan.Step{Action: playbook.ActionQuarantine}, fmt.Errorf("quarantine cannot read hold %s", h)
	}
	t.Policy = policy
	return plan.Step{Action: playbook.ActionQuarantine, Target: t}, nil
}

// Undo implements Reverter: it detaches the policy, unless it is gone
// already or so is its principal.
func (q *Quarantiner) Undo(ctx context.Context, h ledger.Hold) (done, left string, err error) {
	s, err := q.Step(h)
	if err != nil {
		return "", "", err
	}
	a, err := q.attachmentOf(s.Target)
	if err != nil {
		return "", "", err
	}
	who := a.who()
	on, err := a.attached(ctx)
	var nse *iamtypes.NoSuchEntityException
	switch {
	case errors.As(err, &nse):
		return "", fmt.Sprintf("%s no longer exists", who), nil
	case err != nil:
		return "", "", fmt.Errorf("undo: read the attached policies of %s: %w", who, err)
	case !on:
		return "", fmt.Sprintf("policy %s is no longer attached to %s", a.policy, who), nil
	}
	// NoSuchEntity here is the detach's own effect, resent by the SDK
	// after a lost answer (see SessionRevoker.Undo).
	if err := a.detach(ctx); err != nil && !errors.As(err, &nse) {
		return "", "", fmt.Errorf("undo: detach policy %s from %s: %w", a.policy, who, err)
	}
	return fmt.Sprintf("detached policy %s from %s", a.policy, who), "", nil
}

// PolicyScopedPermissions lists the calls of every registered action that
// the role may make only on the policy the action is configured with
// (PolicyScoped).
func PolicyScopedPermissions() []string {
	var out []string
	for _, a := range Registry(Clients{}, nil) {
		if p, ok := a.(PolicyScoped); ok {
			out = append(out, p.PolicyScopedPermissions()...)
		}
	}
	return out
}
