package engine

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/autocontain/autocontain/internal/audit"
	"github.com/autocontain/autocontain/internal/contain"
	"github.com/autocontain/autocontain/internal/playbook"
)

// TestQuarantineAndRestrictSourceUndoUnderTheHolderRule: two findings about
// user alice quarantine her and restrict her sources. Undoing the first
// leaves the policy attached and the deny in place (the second still holds
// them); undoing the second detaches and deletes them. Read back through
// the IAM API.
func TestQuarantineAndRestrictSourceUndoUnderTheHolderRule(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	office := netip.MustParsePrefix("198.51.100.0/24")
	pb := sandboxPlaybook(fx.acct, func(s *playbook.Settings) { s.AllowCIDRs = playbook.Networks{office} })
	for i, r := range pb.Rules {
		if r.Has(playbook.ActionRevokeSessions) {
			pb.Rules[i].Actions = append(slices.Clone(r.Actions), playbook.ActionQuarantine, playbook.ActionRestrictSource)
		}
	}
	eng := fx.engine(nil)
	eng.Playbook = pb
	clock := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	eng.Executor = contain.NewExecutor(func() time.Time { return clock }, contain.Registry(clientsOf(eng, fx.cfg))...)
	first := fx.acct.Rewrite(event(t, "cloudtrail-stoplogging-iamuser.json"))
	second := fx.acct.Rewrite(event(t, "guardduty-maliciousipcaller-custom-akia.json"))
	for _, raw := range [][]byte{first, second} {
		rec, err := eng.Run(ctx, raw)
		if err != nil {
			t.Fatalf("%v\n%s", err, rec.Text())
		}
		for _, s := range rec.Steps {
			if (s.Action == playbook.ActionQuarantine || s.Action == playbook.ActionRestrictSource) && s.Status != audit.StatusDone && s.Status != audit.StatusUnchanged {
				t.Fatalf("step %+v\n%s", s, rec.Text())
			}
		}
		clock = clock.Add(time.Hour)
	}
	c := iam.NewFromConfig(fx.cfg)
	v3 := playbook.DefaultQuarantinePolicy("aws")
	check := func(when string, want bool) {
		t.Helper()
		att, err := c.ListAttachedUserPolicies(ctx, &iam.ListAttachedUserPoliciesInput{UserName: aws.String("alice")})
		if err != nil {
			t.Fatal(err)
		}
		attached := slices.ContainsFunc(att.AttachedPolicies, func(p iamtypes.AttachedPolicy) bool { return aws.ToString(p.PolicyArn) == v3 })
		_, err = c.GetUserPolicy(ctx, &iam.GetUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String(contain.RestrictPolicyName)})
		restricted := err == nil
		if attached != want || restricted != want {
			t.Errorf("%s: %s attached=%v, %s present=%v; want %v", when, v3, attached, contain.RestrictPolicyName, restricted, want)
		}
	}
	check("after both findings", true)

	p1, _ := eng.Plan(first)
	rep, err := eng.Undo(ctx, p1.Finding.ID)
	if err != nil {
		t.Fatal(err)
	}
	left := strings.Join(rep.Left, "\n")
	for _, want := range []string{"attached " + v3 + " of user alice stays contained", "policy " + contain.RestrictPolicyName + " of user alice stays contained"} {
		if !strings.Contains(left, want) {
			t.Errorf("undo of the first finding left %q; want %q", left, want)
		}
	}
	check("after undoing the first finding", true)

	p2, _ := eng.Plan(second)
	rep, err = eng.Undo(ctx, p2.Finding.ID)
	if err != nil {
		t.Fatal(err)
	}
	restored := strings.Join(rep.Restored, "\n")
	for _, want := range []string{"detached policy " + v3 + " from user alice", "deleted policy " + contain.RestrictPolicyName + " of user alice"} {
		if !strings.Contains(restored, want) {
			t.Errorf("undo of the second finding restored %q; want %q", restored, want)
		}
	}
	check("after undoing both", false)
}
