package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/autocontain/autocontain/internal/audit"
	"github.com/autocontain/autocontain/internal/contain"
	"github.com/autocontain/autocontain/internal/playbook"
)

const sequenceEvent = "guardduty-attacksequence-iam-compromisedcredentials.json"

// TestAttackSequenceContainsEveryActor: an attack sequence naming alice's
// key and a session of data-pipeline-role contains both, and blocks the
// endpoints' public addresses; a retried delivery repeats nothing; undo
// restores both.
func TestAttackSequenceContainsEveryActor(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	eng := fx.engine(nil)
	ev := fx.acct.Rewrite(event(t, sequenceEvent))
	rec := fx.run(t, eng, ev)
	if rec.Outcome != audit.OutcomeContained || len(rec.Actors) != 1 {
		t.Fatalf("record:\n%s", rec.Text())
	}
	if rec.Principal.Impact.Class == "" || rec.Actors[0].Impact.Class == "" {
		t.Errorf("the impact of every actor is read: %+v, %+v", rec.Principal.Impact, rec.Actors[0].Impact)
	}
	st := fx.state(t)
	for k, status := range st.KeyStatus["alice"] {
		if k == fx.acct.Keys["alice"][0] && status != "Inactive" {
			t.Errorf("alice's key %s is %s", k, status)
		}
	}
	if !slices.Contains(st.UserPolicies["alice"], contain.RevokePolicyName) ||
		!slices.Contains(st.RolePolicies["data-pipeline-role"], contain.RevokePolicyName) {
		t.Errorf("not every actor's sessions are denied:\n%s", st)
	}
	for _, a := range []string{"185.220.101.42/32", "45.155.205.233/32"} {
		if !slices.Contains(st.IPv4, a) {
			t.Errorf("endpoint %s not blocked: %v", a, st.IPv4)
		}
	}
	if slices.Contains(st.IPv4, "10.0.5.9/32") {
		t.Error("a private endpoint was blocked")
	}
	// The same finding updated: nothing is written to IAM again.
	before := fx.proxy.Count("UpdateAccessKey") + fx.proxy.Count("PutUserPolicy") + fx.proxy.Count("PutRolePolicy")
	again := fx.run(t, eng, []byte(strings.Replace(string(ev), `"updatedAt": "2026-11-20T04:02:11.000Z"`, `"updatedAt": "2026-11-20T05:02:11.000Z"`, 1)))
	if after := fx.proxy.Count("UpdateAccessKey") + fx.proxy.Count("PutUserPolicy") + fx.proxy.Count("PutRolePolicy"); after != before {
		t.Errorf("the updated finding wrote to IAM again (%d writes):\n%s", after-before, again.Text())
	}
	if n := strings.Count(again.Text(), "already done for this finding"); n != 3 {
		t.Errorf("want 3 steps already done, got %d:\n%s", n, again.Text())
	}
	rep, err := eng.Undo(ctx, "2ec9b1f8a4d64c7e9f3a1b2c3d4e5f60")
	if err != nil || len(rep.Left) != 0 {
		t.Fatalf("undo %+v: %v", rep, err)
	}
	st = fx.state(t)
	if len(st.UserPolicies["alice"]) != 0 || len(st.RolePolicies["data-pipeline-role"]) != 0 || st.KeyStatus["alice"][fx.acct.Keys["alice"][0]] != "Active" {
		t.Errorf("undo left something behind:\n%s", st)
	}
}

// TestAttackSequenceGatesEachActor: each actor passes the gate on its
// own: a protected actor is left alone while the others are contained.
func TestAttackSequenceGatesEachActor(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	if _, err := iam.NewFromConfig(fx.cfg).TagRole(ctx, &iam.TagRoleInput{RoleName: aws.String("data-pipeline-role"),
		Tags: []iamtypes.Tag{{Key: aws.String("autocontain:protected"), Value: aws.String("true")}}}); err != nil {
		t.Fatal(err)
	}
	rec := fx.run(t, fx.engine(nil), fx.acct.Rewrite(event(t, sequenceEvent)))
	text := rec.Text()
	if !strings.Contains(text, "role data-pipeline-role is tagged autocontain:protected=true") {
		t.Errorf("the protected role is not said to be:\n%s", text)
	}
	st := fx.state(t)
	if len(st.RolePolicies["data-pipeline-role"]) != 0 {
		t.Errorf("a protected role was contained: %v", st.RolePolicies["data-pipeline-role"])
	}
	if !slices.Contains(st.UserPolicies["alice"], contain.RevokePolicyName) {
		t.Errorf("alice was not contained beside the protected role:\n%s", text)
	}
}

// TestAttackSequenceReportsAForeignActor: a session of another account's
// role is reported, never contained on the same-named role here, while
// alice is still contained.
func TestAttackSequenceReportsAForeignActor(t *testing.T) {
	fx2 := newFixture(t)
	foreign := event(t, sequenceEvent, "arn:aws:iam::123456789012:role/data-pipeline-role", "arn:aws:iam::210987654321:role/data-pipeline-role")
	rec := fx2.run(t, fx2.engine(nil), fx2.acct.Rewrite(foreign))
	if text := rec.Text(); !strings.Contains(text, "210987654321") || !strings.Contains(text, "[reported] report principal") {
		t.Errorf("the foreign actor is not reported:\n%s", text)
	}
	st := fx2.state(t)
	if len(st.RolePolicies["data-pipeline-role"]) != 0 || !slices.Contains(st.UserPolicies["alice"], contain.RevokePolicyName) {
		t.Errorf("want alice contained and the same-named local role untouched:\n%s", st)
	}
}

// TestBreakerAdmitsAFindingsPrincipalsTogether: a finding naming more
// principals than the breaker admits contains none of them (and its
// addresses are still blocked); one that fits contains them all.
func TestBreakerAdmitsAFindingsPrincipalsTogether(t *testing.T) {
	for _, max := range []int{1, 2} {
		t.Run(fmt.Sprint("max=", max), func(t *testing.T) {
			fx := newFixture(t)
			rec := fx.run(t, fx.engine(func(s *playbook.Settings) { s.BreakerMax = max }), fx.acct.Rewrite(event(t, sequenceEvent)))
			st := fx.state(t)
			contained := len(st.UserPolicies["alice"]) + len(st.RolePolicies["data-pipeline-role"])
			open := strings.Contains(rec.Text(), "BREAKER OPEN")
			switch {
			case max == 1 && (contained != 0 || !open || !strings.Contains(rec.Text(), "this finding names 2 principals")):
				t.Errorf("two principals under a breaker of 1: %d contained, and the record must say why:\n%s", contained, rec.Text())
			case max == 2 && (contained != 2 || open):
				t.Errorf("two principals under a breaker of 2: %d contained:\n%s", contained, rec.Text())
			}
			if !slices.Contains(st.IPv4, "185.220.101.42/32") {
				t.Error("the endpoint was not blocked")
			}
		})
	}
}
