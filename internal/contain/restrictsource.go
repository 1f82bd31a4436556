package contain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/autocontain/autocontain/internal/failure"
	"github.com/autocontain/autocontain/internal/ledger"
	"github.com/autocontain/autocontain/internal/plan"
	"github.com/autocontain/autocontain/internal/playbook"
)

// RestrictPolicyName is the inline policy restrict-source writes, and
// RestrictPolicySid the Sid that marks it as autocontain's own.
const (
	RestrictPolicyName = "AutocontainRestrictSource"
	RestrictPolicySid  = "AutocontainRestrictSource"
)

// Inline policy size limits: all the inline policies of a user together
// hold at most 2,048 characters, of a role 10,240, whitespace not counted
// (IAM User Guide, "IAM and AWS STS quotas").
const (
	userInlineLimit = 2048
	roleInlineLimit = 10240
)

// RestrictPolicy returns the document that denies every request whose
// source address is outside networks, unless an AWS service makes it on
// the principal's behalf: the IAM User Guide's example "AWS: Denies access
// to AWS based on the source IP", with aws:ViaAWSService = false so that
// calls services make for the principal (CloudFormation, Athena reading
// S3, ...) are not refused for the service's address. aws:SourceIp is
// absent from requests through a VPC endpoint, which it therefore denies.
func RestrictPolicy(networks []netip.Prefix) string {
	cidrs := make([]string, len(networks))
	for i, n := range networks {
		cidrs[i] = n.Masked().String()
	}
	doc := map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{map[string]any{
			"Sid":      RestrictPolicySid,
			"Effect":   "Deny",
			"Action":   "*",
			"Resource": "*",
			"Condition": map[string]any{
				"NotIpAddress": map[string]any{"aws:SourceIp": cidrs},
				"Bool":         map[string]string{"aws:ViaAWSService": "false"},
			},
		}},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err) // a fixed shape of strings cannot fail to marshal
	}
	return string(b)
}

// restrictNetworks returns the networks an autocontain restrict policy
// allows; ok is false for any other document (one with another statement,
// element or condition, or without the marker Sid), which restrict-source
// never overwrites and undo never deletes.
func restrictNetworks(doc string) (cidrs []string, ok bool) {
	var p struct {
		Version   string
		Statement []struct {
			Sid, Effect, Action, Resource string
			Condition                     map[string]map[string]json.RawMessage
		}
	}
	dec := func(s string) error {
		d := json.NewDecoder(strings.NewReader(s))
		d.DisallowUnknownFields()
		return d.Decode(&p)
	}
	if dec(doc) != nil {
		d, err := url.QueryUnescape(doc)
		if err != nil || dec(d) != nil {
			return nil, false
		}
	}
	if p.Version != "2012-10-17" || len(p.Statement) != 1 {
		return nil, false
	}
	st := p.Statement[0]
	if st.Sid != RestrictPolicySid || st.Effect != "Deny" || st.Action != "*" || st.Resource != "*" || len(st.Condition) != 2 ||
		len(st.Condition["NotIpAddress"]) != 1 || len(st.Condition["Bool"]) != 1 {
		return nil, false
	}
	var via string
	if json.Unmarshal(st.Condition["Bool"]["aws:ViaAWSService"], &via) != nil || via != "false" ||
		json.Unmarshal(st.Condition["NotIpAddress"]["aws:SourceIp"], &cidrs) != nil || len(cidrs) == 0 {
		return nil, false
	}
	return cidrs, true
}

// ErrForeignRestrictPolicy is wrapped by the error of a restrict-source
// step that found an inline policy named RestrictPolicyName that autocontain
// did not write: it is left untouched and the step fails.
var ErrForeignRestrictPolicy = errors.New("a policy autocontain did not write is never overwritten")

// SourceRestrictor writes the restrict policy on a role or a user: every
// request from outside the step's networks is denied, except those AWS
// services make on its behalf. It contains a stolen key without taking down
// the application that owns it, when that application has fixed egress.
//
// Networks are the networks a step rebuilt from a hold allows (undo, when
// another finding takes hold of a restriction while undo removes it, puts
// it back): the playbook's settings.allowCidrs. A hold does not record
// them; without them the rebuilt step fails, and says why.
type SourceRestrictor struct {
	IAM      policyAPI
	Networks []netip.Prefix
}

// Name implements Action.
func (*SourceRestrictor) Name() string { return playbook.ActionRestrictSource }

// Permissions implements Action.
func (*SourceRestrictor) Permissions() []string {
	return []string{"iam:GetRolePolicy", "iam:GetUserPolicy", "iam:PutRolePolicy", "iam:PutUserPolicy"}
}

// UndoPermissions implements Reverter.
func (*SourceRestrictor) UndoPermissions() []string {
	return []string{"iam:DeleteRolePolicy", "iam:DeleteUserPolicy"}
}

func (r *SourceRestrictor) policyOf(t plan.Target) (inlinePolicy, error) {
	id, err := identityOf(playbook.ActionRestrictSource, t)
	return inlinePolicy{api: r.IAM, identity: id, name: RestrictPolicyName}, err
}

// Execute implements Action. The networks are the step's (the settings'
// allowCidrs when it was planned); a policy of autocontain's that allows
// the same networks is left as it is, one that allows others is rewritten
// with the step's.
func (r *SourceRestrictor) Execute(ctx context.Context, req Request) (Outcome, error) {
	t := req.Step.Target
	p, err := r.policyOf(t)
	if err != nil {
		return Outcome{}, failure.Permanent(err)
	}
	who := p.who()
	if len(t.Addresses) == 0 {
		return Outcome{}, failure.Permanent(fmt.Errorf("restrict-source of %s: the step allows no network (settings.allowCidrs was empty): "+
			"a deny of every source is not this action's to write", who))
	}
	doc := RestrictPolicy(t.Addresses)
	limit := userInlineLimit
	if p.role {
		limit = roleInlineLimit
	}
	if len(doc) > limit {
		return Outcome{}, failure.Permanent(fmt.Errorf("restrict-source of %s: a deny allowing %d networks takes %d characters, over IAM's %d for all of its inline policies: "+
			"list fewer, wider networks in settings.allowCidrs", who, len(t.Addresses), len(doc), limit))
	}
	want, _ := restrictNetworks(doc)
	cur, err := p.get(ctx)
	var nse *iamtypes.NoSuchEntityException
	switch {
	case errors.As(err, &nse):
	case err != nil:
		return Outcome{}, fmt.Errorf("restrict-source of %s: read its inline policy %s: %w", who, RestrictPolicyName, err)
	default:
		have, ok := restrictNetworks(cur)
		if !ok {
			return Outcome{}, failure.Permanent(fmt.Errorf("restrict-source of %s: its inline policy %s is not autocontain's (it lacks the %s statement, or holds more than that one deny): "+
				"left untouched and nothing written; review it, then rename or delete it (or protect the principal) and retry: %w",
				who, RestrictPolicyName, RestrictPolicySid, ErrForeignRestrictPolicy))
		}
		if slices.Equal(have, want) {
			return Outcome{Detail: fmt.Sprintf("%s: inline policy %s already denies requests from outside %s", who, RestrictPolicyName, strings.Join(want, " "))}, nil
		}
	}
	if err := p.put(ctx, doc); err != nil {
		return Outcome{}, changeError(err, "restrict-source of "+who, "it does not exist",
			fmt.Sprintf("with this deny (%d characters) its inline policies exceed IAM's %d characters", len(doc), limit))
	}
	return Outcome{Changed: true, Detail: fmt.Sprintf("%s: inline policy %s denies requests from outside %s", who, RestrictPolicyName, strings.Join(want, " "))}, nil
}

// Hold implements Reverter: the restrict policy, on its role or user.
func (r *SourceRestrictor) Hold(account string, s plan.Step) (ledger.Hold, error) {
	p, err := r.policyOf(s.Target)
	if err != nil {
		return ledger.Hold{}, err
	}
	return ledger.Hold{Action: playbook.ActionRestrictSource, Account: account, Principal: s.Target.Entity(), Resource: policyResource + p.name}, nil
}

// Step implements Reverter. The hold does not record the networks: the
// step carries r.Networks, the allowCidrs in force, so that undo's
// re-containment writes the restriction again (without them, executing
// it fails, and says why).
func (r *SourceRestrictor) Step(h ledger.Hold) (plan.Step, error) {
	s, err := inlinePolicyStep(playbook.ActionRestrictSource, RestrictPolicyName, h)
	s.Target.Addresses = slices.Clone(r.Networks)
	return s, err
}

// Undo implements Reverter: it deletes the restrict policy if it is still
// autocontain's own; one a person rewrote since is left.
func (r *SourceRestrictor) Undo(ctx context.Context, h ledger.Hold) (done, left string, err error) {
	s, err := r.Step(h)
	if err != nil {
		return "", "", err
	}
	p, err := r.policyOf(s.Target)
	if err != nil {
		return "", "", err
	}
	return undoOwnPolicy(ctx, p, func(doc string) bool { _, ok := restrictNetworks(doc); return ok })
}
