package engine

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/autocontain/autocontain/internal/audit"
	"github.com/autocontain/autocontain/internal/contain"
	"github.com/autocontain/autocontain/internal/plan"
	"github.com/autocontain/autocontain/internal/playbook"
	"github.com/autocontain/autocontain/internal/sandbox"
	"github.com/autocontain/autocontain/internal/testenv"
	"github.com/autocontain/autocontain/internal/testenv/sandboxtest"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// expect applies to s the effect each acting step of p should have had.
func expect(s sandbox.State, p plan.Plan) sandbox.State {
	s = clone(s)
	for _, st := range p.Steps {
		t := st.Target
		switch st.Action {
		case playbook.ActionDeactivateKey:
			s.KeyStatus[t.UserName][t.AccessKeyID] = "Inactive"
		case playbook.ActionRevokeSessions:
			if t.Kind == plan.TargetRole {
				s.RolePolicies[t.RoleName] = addName(s.RolePolicies[t.RoleName], contain.RevokePolicyName)
			} else {
				s.UserPolicies[t.UserName] = addName(s.UserPolicies[t.UserName], contain.RevokePolicyName)
			}
		case playbook.ActionQuarantine:
			if t.Kind == plan.TargetRole {
				s.RoleAttached[t.RoleName] = addName(s.RoleAttached[t.RoleName], t.Policy)
			} else {
				s.UserAttached[t.UserName] = addName(s.UserAttached[t.UserName], t.Policy)
			}
		case playbook.ActionRestrictSource:
			if t.Kind == plan.TargetRole {
				s.RolePolicies[t.RoleName] = addName(s.RolePolicies[t.RoleName], contain.RestrictPolicyName)
			} else {
				s.UserPolicies[t.UserName] = addName(s.UserPolicies[t.UserName], contain.RestrictPolicyName)
			}
		case playbook.ActionIsolateInstance:
			s.InstanceGroups[t.InstanceID] = []string{contain.IsolationGroupName}
		case playbook.ActionBlockIP:
			for _, a := range t.Addresses {
				if a.Addr().Is4() {
					s.IPv4 = addName(s.IPv4, a.String())
				} else {
					s.IPv6 = addName(s.IPv6, a.String())
				}
			}
		}
	}
	return s
}

func addName(ss []string, s string) []string {
	if slices.Contains(ss, s) {
		return ss
	}
	return slices.Sorted(slices.Values(append(slices.Clone(ss), s)))
}

func clone(s sandbox.State) sandbox.State {
	c := sandbox.State{KeyStatus: map[string]map[string]string{}, UserPolicies: map[string][]string{}, RolePolicies: map[string][]string{},
		UserAttached: map[string][]string{}, RoleAttached: map[string][]string{}, IPv4: slices.Clone(s.IPv4), IPv6: slices.Clone(s.IPv6),
		InstanceGroups: map[string][]string{}}
	for k, v := range s.InstanceGroups {
		c.InstanceGroups[k] = slices.Clone(v)
	}
	for u, m := range s.KeyStatus {
		c.KeyStatus[u] = map[string]string{}
		for k, v := range m {
			c.KeyStatus[u][k] = v
		}
	}
	for k, v := range s.UserPolicies {
		c.UserPolicies[k] = slices.Clone(v)
	}
	for k, v := range s.RolePolicies {
		c.RolePolicies[k] = slices.Clone(v)
	}
	for k, v := range s.UserAttached {
		c.UserAttached[k] = slices.Clone(v)
	}
	for k, v := range s.RoleAttached {
		c.RoleAttached[k] = slices.Clone(v)
	}
	return c
}

// normalize makes nil and empty lists compare equal.
func normalize(s sandbox.State) sandbox.State {
	fix := func(m map[string][]string) {
		for k, v := range m {
			if len(v) == 0 {
				m[k] = nil
			}
		}
	}
	fix(s.UserPolicies)
	fix(s.RolePolicies)
	fix(s.UserAttached)
	fix(s.RoleAttached)
	if len(s.IPv4) == 0 {
		s.IPv4 = nil
	}
	if len(s.IPv6) == 0 {
		s.IPv6 = nil
	}
	return s
}

// TestReplaySampleEvents runs every sample event for real against a fresh
// emulator account and proves, by reading the account back, that exactly
// the plan's acting steps took effect and nothing else changed; then
// delivers the event again and proves that changes nothing more.
func TestReplaySampleEvents(t *testing.T) {
	ctx := context.Background()
	for _, ev := range testenv.SampleEvents(t) {
		t.Run(ev.Name, func(t *testing.T) {
			acct, cfg := sandboxtest.New(t, testenv.Moto(t))
			raw := acct.Rewrite(ev.Raw)
			eng := newEngine(cfg, acct, nil)
			// The plans as a run makes them: with what it reads from IAM
			// first (the role of an instance's profile).
			ps, err := eng.PlanAllImpact(ctx, raw)
			if err != nil {
				t.Fatal(err)
			}
			if len(ps) != 1 {
				// An event of several findings: TestSecurityHubEventOfTwoFindings.
				return
			}
			p := ps[0]
			before, err := acct.Snapshot(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			rec, err := eng.Run(ctx, raw)
			if err != nil {
				t.Fatalf("run: %v\n%s", err, rec.Text())
			}
			acting := 0
			for i, s := range rec.Steps {
				if p.Steps[i].Acts() {
					acting++
					if s.Status != audit.StatusDone {
						t.Errorf("step %d %s: status %s %s", i+1, s.Action, s.Status, s.Error)
					}
				}
			}
			after, err := acct.Snapshot(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if want := expect(before, p); !reflect.DeepEqual(normalize(after), normalize(want)) {
				t.Errorf("account after:\n%s\nwant:\n%s", after, want)
			}
			msgs, err := acct.Messages(ctx, cfg, 10)
			if err != nil {
				t.Fatal(err)
			}
			wantMsgs := 0
			if slices.ContainsFunc(p.Steps, func(s plan.Step) bool { return s.Action == playbook.ActionNotify }) {
				wantMsgs = 1
			}
			if len(msgs) != wantMsgs {
				t.Fatalf("%d notifications, want %d", len(msgs), wantMsgs)
			}
			if wantMsgs == 1 {
				m := msgs[0]
				if !strings.HasPrefix(m, "autocontain: ") || !strings.Contains(m, p.Finding.ID) || !strings.Contains(m, "\n{") {
					t.Errorf("notification is not text then JSON about the finding:\n%s", m)
				}
			}

			// A second delivery (EventBridge and Lambda deliver at least
			// once) leaves the account as it was.
			rec2, err := eng.Run(ctx, raw)
			if err != nil {
				t.Fatalf("second run: %v", err)
			}
			again, err := acct.Snapshot(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(normalize(again), normalize(after)) {
				t.Errorf("second delivery changed the account:\n%s\nwas:\n%s", again, after)
			}
			for i, s := range rec2.Steps {
				if s.Action == playbook.ActionDeactivateKey || s.Action == playbook.ActionBlockIP {
					if s.Status != audit.StatusUnchanged {
						t.Errorf("second delivery, step %d %s: %s", i+1, s.Action, s.Status)
					}
				}
			}
			t.Logf("%d acting steps of %d", acting, len(p.Steps))
		})
	}
}
