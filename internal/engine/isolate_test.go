package engine

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/autocontain/autocontain/internal/audit"
	"github.com/autocontain/autocontain/internal/contain"
	"github.com/autocontain/autocontain/internal/emulator"
	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/ledger"
	"github.com/autocontain/autocontain/internal/plan"
	"github.com/autocontain/autocontain/internal/playbook"
	"github.com/autocontain/autocontain/internal/testenv"
)

// runPlan executes a plan made by hand as a claimed delivery does (Claim,
// prep, Prepare, execute, Commit), for an action the planner of this
// version does not plan from an event yet.
func runPlan(t *testing.T, e *Engine, p plan.Plan) (audit.Record, ledger.Prep) {
	t.Helper()
	ctx := context.Background()
	tok := ledger.NewToken()
	if v, _, err := e.Ledger.Claim(ctx, p.Finding.ID, p.Finding.UpdatedAt, time.Minute, tok); err != nil || v != ledger.Claimed {
		t.Fatalf("claim %s: %v %v", p.Finding.ID, v, err)
	}
	prep, err := e.prep(p, tok)
	if err != nil {
		t.Fatal(err)
	}
	held, err := e.Ledger.Prepare(ctx, prep)
	if err != nil || held.BreakerOpen {
		t.Fatalf("prepare %s: %+v %v", p.Finding.ID, held, err)
	}
	rec := e.Executor.ExecuteHeld(ctx, p, contain.Held{Prepared: true, Leases: held.Leases})
	if _, err := e.Ledger.Commit(ctx, e.commit(p, rec, held, tok, true)); err != nil {
		t.Fatal(err)
	}
	return rec, prep
}

// TestIsolationUndoUnderTheHolderRule: two findings isolate one instance
// (the second finds it isolated); the breaker counts the instance as one
// contained entity. Undoing the first leaves it isolated, since the second
// still holds it; undoing the second gives each interface its previous
// groups back, as the ledger recorded them, and removes the tags.
func TestIsolationUndoUnderTheHolderRule(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	in := testenv.RunInstance(t, fx.cfg)
	eng := fx.engine(nil)
	isolation := func(id string) plan.Plan { return isolationPlan(id, in.ID) }
	c := ec2.NewFromConfig(fx.cfg)
	groups := func() map[string][]string { return in.InterfaceGroups(t, fx.cfg) }
	before := groups()
	for i, id := range []string{"f-isolate-1", "f-isolate-2"} {
		rec, prep := runPlan(t, eng, isolation(id))
		want := []string{audit.StatusDone, audit.StatusUnchanged}[i]
		if s := rec.Steps[0]; s.Status != want {
			t.Fatalf("%s: step %+v, want %s", id, s, want)
		}
		if !slices.Equal(prep.Principals, []string{goldenHome.ID + "/instance/" + in.ID}) || len(prep.Holds) != 1 {
			t.Errorf("%s: breaker counts %v, holds %v; want the instance, once", id, prep.Principals, prep.Holds)
		}
	}
	isolated := groups()
	if slices.Equal(isolated[in.ENIs[0]], before[in.ENIs[0]]) || len(isolated[in.ENIs[0]]) != 1 {
		t.Fatalf("not isolated: %v", isolated)
	}

	rep, err := eng.Undo(ctx, "f-isolate-1")
	if err != nil {
		t.Fatal(err)
	}
	if left := strings.Join(rep.Left, "\n"); !strings.Contains(left, "isolation of instance "+in.ID+" stays contained: still held by finding f-isolate-2") {
		t.Errorf("undo of the first finding left %q", left)
	}
	if got := groups(); !slices.Equal(got[in.ENIs[0]], isolated[in.ENIs[0]]) || !slices.Equal(got[in.ENIs[1]], isolated[in.ENIs[1]]) {
		t.Errorf("undo of the first finding changed the groups: %v", got)
	}

	// The interfaces' tags are gone before the second undo: the groups it
	// restores come from the ledger.
	if _, err := c.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: in.ENIs[:], Tags: []ec2types.Tag{{Key: aws.String(contain.TagPriorGroups)}}}); err != nil {
		t.Fatal(err)
	}
	rep, err = eng.Undo(ctx, "f-isolate-2")
	if err != nil {
		t.Fatal(err)
	}
	if done := strings.Join(rep.Restored, "\n"); !strings.Contains(done, "restored the security groups of") {
		t.Errorf("undo of the second finding restored %q, left %q", done, rep.Left)
	}
	if got := groups(); !slices.Equal(got[in.ENIs[0]], before[in.ENIs[0]]) || !slices.Equal(got[in.ENIs[1]], before[in.ENIs[1]]) {
		t.Errorf("after undo %v, want %v", got, before)
	}
	tags, err := c.DescribeTags(ctx, &ec2.DescribeTagsInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range tags.Tags {
		if k := aws.ToString(tg.Key); k == contain.TagIsolatedBy || k == contain.TagIsolatedAt || k == contain.TagPriorGroups {
			t.Errorf("%s keeps tag %s after undo", aws.ToString(tg.ResourceId), k)
		}
	}
}

// TestIsolationUndoRestoresTheGroupsOfTheLatestIsolation: a person gives
// an isolated instance's interfaces other groups by hand, not by undo, and
// a second finding isolates it again. Undoing both restores the groups the
// interfaces had just before the second isolation, not those the first
// recorded: the person's change is what the instance had last.
func TestIsolationUndoRestoresTheGroupsOfTheLatestIsolation(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	in := testenv.RunInstance(t, fx.cfg)
	eng := fx.engine(nil)
	isolation := func(id string) plan.Plan { return isolationPlan(id, in.ID) }
	c := ec2.NewFromConfig(fx.cfg)
	if rec, _ := runPlan(t, eng, isolation("f-first")); rec.Steps[0].Status != audit.StatusDone {
		t.Fatalf("first isolation: %+v", rec.Steps[0])
	}
	// By hand: the first interface in db only, the second in web only.
	byHand := map[string][]string{in.ENIs[0]: {in.Groups[1]}, in.ENIs[1]: {in.Groups[0]}}
	for eni, gs := range byHand {
		if _, err := c.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{NetworkInterfaceId: aws.String(eni), Groups: gs}); err != nil {
			t.Fatal(err)
		}
	}
	if rec, _ := runPlan(t, eng, isolation("f-second")); rec.Steps[0].Status != audit.StatusDone {
		t.Fatalf("second isolation: %+v", rec.Steps[0])
	}
	for _, id := range []string{"f-first", "f-second"} {
		if _, err := eng.Undo(ctx, id); err != nil {
			t.Fatalf("undo %s: %v", id, err)
		}
	}
	if got := in.InterfaceGroups(t, fx.cfg); !slices.Equal(got[in.ENIs[0]], byHand[in.ENIs[0]]) || !slices.Equal(got[in.ENIs[1]], byHand[in.ENIs[1]]) {
		t.Errorf("after undo %v, want the groups given by hand before the second isolation %v", got, byHand)
	}
}

// isolationPlan is a plan of finding id that isolates instance, as the
// planner makes it for a finding about the instance.
func isolationPlan(id, instance string) plan.Plan {
	return plan.Plan{Finding: finding.Finding{ID: id, Account: goldenHome.ID, Partition: "aws", Region: emulator.Region,
		UpdatedAt: time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)},
		Steps: []plan.Step{{Action: playbook.ActionIsolateInstance, Target: plan.Target{Kind: plan.TargetInstance, InstanceID: instance}, Reason: "test"}}}
}
