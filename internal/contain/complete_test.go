package contain_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/autocontain/autocontain/internal/account"
	"github.com/autocontain/autocontain/internal/contain"
	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/plan"
	"github.com/autocontain/autocontain/internal/playbook"
)

// TestEveryActionIsComplete checks that every declared action has plan,
// execution, permission, ledger and undo support, and every registered
// action a declaration: adding an action that misses one fails here, with
// what is missing.
func TestEveryActionIsComplete(t *testing.T) {
	for _, err := range completeness(playbook.Specs, contain.Registry(contain.Clients{}, nil)) {
		t.Error(err)
	}
}

// TestCompletenessCatchesWhatIsMissing: the check above can fail, for each
// way an action can be half-added.
func TestCompletenessCatchesWhatIsMissing(t *testing.T) {
	specs, actions := playbook.Specs, contain.Registry(contain.Clients{}, nil)
	var keyAction contain.Action
	for _, a := range actions {
		if a.Name() == playbook.ActionDeactivateKey {
			keyAction = a
		}
	}
	tests := []struct {
		name    string
		specs   []playbook.ActionSpec
		actions []contain.Action
		want    string
	}{
		{"declared_not_registered", specs, actions[1:], "declared but not registered"},
		{"registered_not_declared", specs[1:], actions, "registered but not declared"},
		{"principal_action_without_undo", specs, append(slices.Clone(actions[1:]), noUndo{keyAction}), "cannot be undone"},
		{"unknown_category", append(slices.Clone(specs), playbook.ActionSpec{Name: "probe", Category: "volume"}),
			append(slices.Clone(actions), probe{}), "planned as"},
		{"principal_action_acting_on_no_kind", append(slices.Clone(specs), playbook.ActionSpec{Name: "probe", Category: playbook.OnPrincipal,
			Contains: playbook.PartIdentity, Why: func(finding.Kind) string { return "" }}), append(slices.Clone(actions), probe{}), "acts on no principal kind"},
		{"no_permissions", append(slices.Clone(specs), playbook.ActionSpec{Name: "probe", Category: playbook.OnTopic}),
			append(slices.Clone(actions), probe{perms: []string{}}), "declares no permissions"},
		{"wildcard_permission", append(slices.Clone(specs), playbook.ActionSpec{Name: "probe", Category: playbook.OnTopic}),
			append(slices.Clone(actions), probe{perms: []string{"iam:*"}}), "not one exact IAM action"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := completeness(tt.specs, tt.actions)
			if !slices.ContainsFunc(errs, func(err error) bool { return strings.Contains(err.Error(), tt.want) }) {
				t.Errorf("want an error saying %q, got %v", tt.want, errs)
			}
		})
	}
}

// noUndo is a principal action that lost its undo.
type noUndo struct{ contain.Action }

// probe is an action of the test's making.
type probe struct{ perms []string }

func (probe) Name() string { return "probe" }
func (p probe) Permissions() []string {
	if p.perms != nil {
		return p.perms
	}
	return []string{"sns:Publish"}
}
func (probe) Execute(context.Context, contain.Request) (contain.Outcome, error) {
	return contain.Outcome{}, nil
}

var home = account.Account{Partition: "aws", ID: "123456789012"}

// completeness lists what the actions lack against their declarations. It
// swaps specs into playbook.Specs while it plans (the planner reads them).
func completeness(specs []playbook.ActionSpec, actions []contain.Action) []error {
	saved := playbook.Specs
	playbook.Specs = specs
	defer func() { playbook.Specs = saved }()
	var errs []error
	byName := map[string]contain.Action{}
	for _, a := range actions {
		if _, dup := byName[a.Name()]; dup {
			errs = append(errs, fmt.Errorf("%s is registered twice", a.Name()))
		}
		byName[a.Name()] = a
		if _, ok := playbook.Spec(a.Name()); !ok {
			errs = append(errs, fmt.Errorf("%s is registered but not declared in playbook.Specs", a.Name()))
		}
		errs = append(errs, permissionErrors(a.Name(), a.Permissions(), true)...)
	}
	for _, spec := range specs {
		a, ok := byName[spec.Name]
		if !ok {
			errs = append(errs, fmt.Errorf("%s is declared but not registered in contain.Registry", spec.Name))
			continue
		}
		errs = append(errs, planErrors(spec, a)...)
	}
	return errs
}

func permissionErrors(name string, perms []string, required bool) []error {
	var errs []error
	if required && len(perms) == 0 {
		errs = append(errs, fmt.Errorf("%s declares no permissions", name))
	}
	for _, p := range perms {
		if strings.Contains(p, "*") || !strings.Contains(p, ":") {
			errs = append(errs, fmt.Errorf("%s: permission %q is not one exact IAM action", name, p))
		}
		if p == "iam:DeleteAccessKey" {
			errs = append(errs, fmt.Errorf("%s asks to delete keys: deletion cannot be undone", name))
		}
	}
	return errs
}

// planErrors plans a finding that the action's category fits under a rule
// that names only the action, and checks that the plan has a step of it
// that the executor can record and undo can restore.
func planErrors(spec playbook.ActionSpec, a contain.Action) []error {
	var errs []error
	pb := &playbook.Playbook{Rules: []playbook.Rule{{Name: "probe", Source: finding.SourceGuardDuty, Types: []playbook.Pattern{"Probe:IAMUser/*"}, Actions: []string{spec.Name}}}}
	pb.Settings.IPSets.IPv4 = "arn:aws:wafv2:us-east-1:123456789012:regional/ipset/blocked-v4/1"
	pb.Settings.TopicARN = "arn:aws:sns:us-east-1:123456789012:autocontain"
	pb.Settings.AllowCIDRs = playbook.Networks{netip.MustParsePrefix("198.18.0.0/15")} // restrict-source skips without
	f := finding.Finding{Source: finding.SourceGuardDuty, ID: "probe", Type: "Probe:IAMUser/Probe", Severity: 8, Account: home.ID, Partition: home.Partition,
		Addresses: []netip.Addr{netip.MustParseAddr("185.220.101.1")}}
	principals := []finding.Principal{
		{Kind: finding.KindIAMUserKey, UserName: "alice", AccessKeyID: "AKIAIOSFODNN7EXAMPLE"},
		{Kind: finding.KindIAMUserSession, UserName: "alice", AccessKeyID: "ASIAIOSFODNN7EXAMPLE"},
		{Kind: finding.KindAssumedRole, RoleName: "web", RoleARN: "arn:aws:iam::123456789012:role/web", AccessKeyID: "ASIAIOSFODNN7EXAMPLE"},
		{Kind: finding.KindFederated, UserName: "alice", AccessKeyID: "ASIAIOSFODNN7EXAMPLE"},
	}
	if spec.Category == playbook.OnInstance {
		// A finding about an instance, under a rule of an instance's type.
		pb.Rules[0].Types = []playbook.Pattern{"Backdoor:EC2/*"}
		f.Type, f.ResourceType, f.Principal = "Backdoor:EC2/C&CActivity.B", finding.ResourceInstance, finding.Principal{Kind: finding.KindNone}
		f.Instance = &finding.Instance{ID: "i-0123456789abcdef0"}
		p := plan.BuildWith(f, pb, plan.Facts{Home: home, ProtectionChecked: true})
		i := slices.IndexFunc(p.Steps, func(s plan.Step) bool { return s.Action == spec.Name })
		if i < 0 {
			return []error{fmt.Errorf("%s (category %q) is not planned as a step for a finding about an instance: %+v", spec.Name, spec.Category, p.Steps)}
		}
		return recordErrors(spec, a, p, p.Steps[i])
	}
	acted := 0
	for _, pr := range principals {
		if spec.Category == playbook.OnPrincipal && (spec.Why == nil || spec.Why(pr.Kind) == "") {
			continue
		}
		f.Principal = pr
		p := plan.BuildWith(f, pb, plan.Facts{Home: home, ProtectionChecked: true})
		i := slices.IndexFunc(p.Steps, func(s plan.Step) bool { return s.Action == spec.Name })
		if i < 0 {
			errs = append(errs, fmt.Errorf("%s (category %q) is not planned as a step for a %s finding: %+v", spec.Name, spec.Category, pr.Kind, p.Steps))
			continue
		}
		acted++
		errs = append(errs, recordErrors(spec, a, p, p.Steps[i])...)
		if spec.Category != playbook.OnPrincipal {
			break // one principal kind is enough
		}
	}
	if acted == 0 && spec.Category == playbook.OnPrincipal {
		errs = append(errs, fmt.Errorf("%s acts on no principal kind (ActionSpec.Why)", spec.Name))
	}
	return errs
}

// recordErrors checks that a planned step is what the ledger can record
// and undo can restore: a principal step's hold names its action, its
// account and a principal, and leads back to the same step; an address
// step names its IP set and addresses.
func recordErrors(spec playbook.ActionSpec, a contain.Action, p plan.Plan, s plan.Step) []error {
	switch spec.Category {
	case playbook.OnPrincipal, playbook.OnInstance:
		r, ok := a.(contain.Reverter)
		if !ok {
			return []error{fmt.Errorf("%s changes a %s but cannot be undone: it is not a contain.Reverter", spec.Name, spec.Category)}
		}
		errs := permissionErrors(spec.Name, r.UndoPermissions(), false)
		h, err := r.Hold(p.Finding.Account, s)
		if err != nil {
			return append(errs, fmt.Errorf("%s: hold of %s: %w", spec.Name, s.Target, err))
		}
		if h.Action != spec.Name || h.Account != home.ID || h.Resource == "" || strings.ContainsAny(h.Resource+h.Principal, "#") ||
			!(strings.HasPrefix(h.Principal, "user/") || strings.HasPrefix(h.Principal, "role/") || strings.HasPrefix(h.Principal, "instance/")) ||
			h.Principal != s.Target.Entity() {
			errs = append(errs, fmt.Errorf("%s: hold %+v does not name its action, account, principal and resource", spec.Name, h))
		}
		back, err := r.Step(h)
		if err != nil {
			return append(errs, fmt.Errorf("%s: step of hold %s: %w", spec.Name, h, err))
		}
		if back.Action != s.Action || back.Target.Kind != s.Target.Kind || back.Target.UserName != s.Target.UserName ||
			back.Target.RoleName != s.Target.RoleName || back.Target.AccessKeyID != s.Target.AccessKeyID || back.Target.InstanceID != s.Target.InstanceID {
			errs = append(errs, fmt.Errorf("%s: hold %s leads back to %s %s, not %s %s", spec.Name, h, back.Action, back.Target, s.Action, s.Target))
		}
		return errs
	case playbook.OnAddresses:
		if s.Target.ARN == "" || len(s.Target.Addresses) == 0 {
			return []error{fmt.Errorf("%s: step %s names no IP set and addresses for the ledger's wants", spec.Name, s.Target)}
		}
	case playbook.OnTopic:
		if _, ok := a.(contain.Reverter); ok {
			return []error{errors.New(spec.Name + " tells people but holds something: a topic action changes nothing to undo")}
		}
	}
	return nil
}
