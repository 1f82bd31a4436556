package engine

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/autocontain/autocontain/internal/audit"
	"github.com/autocontain/autocontain/internal/status"
)

// TestStatus contains sample findings with the engine against the sandbox
// account (alice twice, bob, a role), undoes bob's, and reads the status
// back, directly and through the command the function answers: who is
// held, by what, for which findings, since when and how to undo each; the
// addresses blocked; the breaker's count; the decisions, newest first.
func TestStatus(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	eng := fx.engine(nil)
	clock := time.Date(2026, 11, 24, 3, 10, 0, 0, time.UTC)
	tick := func() time.Time { return clock }
	eng.Now, eng.Ledger.Now, eng.Writer.Now = tick, tick, tick
	acct := fx.acct

	type run struct {
		event string
		rec   audit.Record
		at    time.Time // when the ledger recorded its decision
	}
	runs := []*run{
		{event: akiaEvent}, // alice: key and deny policy; 185.220.101.42
		{event: "guardduty-recon-maliciousipcaller.json"},     // bob: deny policy and quarantine; 80.82.77.139
		{event: "cloudtrail-stoplogging-iamuser.json"},        // alice again: the same key and policy
		{event: "cloudtrail-assumedrole-deletedetector.json"}, // the role: deny policy
	}
	for _, r := range runs {
		clock = clock.Add(time.Minute)
		r.rec, r.at = fx.run(t, eng, acct.Rewrite(event(t, r.event))), clock
		if r.rec.Outcome != audit.OutcomeContained {
			t.Fatalf("%s: %s", r.event, r.rec.Text())
		}
	}
	akia, recon, ct, role := runs[0], runs[1], runs[2], runs[3]
	clock = clock.Add(time.Minute)
	undoneAt := clock
	if _, err := eng.Undo(ctx, recon.rec.Finding.ID); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(time.Minute)
	before := fx.state(t)

	st, err := eng.Status(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if after := fx.state(t); after.String() != before.String() {
		t.Errorf("status changed the account:\n%s\nwas\n%s", after, before)
	}
	if !st.At.Equal(clock) || st.Ledger != acct.LedgerTable || st.Requests == 0 {
		t.Errorf("status at %s of %q in %d requests", st.At, st.Ledger, st.Requests)
	}
	undo := func(r *run) string { return "autocontain undo -table " + acct.LedgerTable + " " + r.rec.Finding.ID }

	t.Run("held", func(t *testing.T) {
		var who []string
		for _, p := range st.Held {
			who = append(who, p.Account+" "+p.Kind+" "+p.Name)
		}
		want := []string{"123456789012 role data-pipeline-role", "123456789012 user alice"}
		if !slices.Equal(who, want) {
			t.Fatalf("held %v, want %v (bob was undone)", who, want)
		}
		alice := st.Held[1]
		var holds []string
		for _, h := range alice.Holds {
			holds = append(holds, h.What+" "+h.Resource+" "+strings.Join(h.Findings, ","))
			if !h.Changed {
				t.Errorf("hold %+v: autocontain changed it", h)
			}
		}
		ids := []string{akia.rec.Finding.ID, ct.rec.Finding.ID}
		slices.Sort(ids)
		byBoth := strings.Join(ids, ",")
		wantHolds := []string{
			"key Inactive key/AKIA…" + acct.Keys["alice"][0][16:] + " " + byBoth,
			"deny policy policy/AutocontainRevokeOlderSessions " + byBoth,
		}
		if !slices.Equal(holds, wantHolds) {
			t.Errorf("alice's holds\n%s\nwant\n%s", strings.Join(holds, "\n"), strings.Join(wantHolds, "\n"))
		}
		// Since: when each finding's action was first done.
		wantBy := []status.HeldBy{
			{Finding: akia.rec.Finding.ID, Since: akia.rec.Time, Undo: undo(akia)},
			{Finding: ct.rec.Finding.ID, Since: ct.rec.Time, Undo: undo(ct)},
		}
		if len(alice.Findings) != 2 || !sameHeldBy(alice.Findings[0], wantBy[0]) || !sameHeldBy(alice.Findings[1], wantBy[1]) || !alice.Since.Equal(akia.rec.Time) {
			t.Errorf("alice's findings %+v since %s, want %+v", alice.Findings, alice.Since, wantBy)
		}
		r := st.Held[0]
		if len(r.Holds) != 1 || r.Holds[0].What != "deny policy" || len(r.Findings) != 1 || r.Findings[0].Undo != undo(role) {
			t.Errorf("the role %+v", r)
		}
	})
	t.Run("ip_sets", func(t *testing.T) {
		if len(st.IPSets) != 2 {
			t.Fatalf("sets %+v", st.IPSets)
		}
		v4 := st.IPSets[0]
		if v4.ARN != acct.IPSetV4 {
			v4 = st.IPSets[1]
		}
		until := akia.at.Add(eng.Playbook.Settings.TTL())
		if v4.ARN != acct.IPSetV4 || v4.Blocked != 1 || v4.Unwanted != 0 || v4.Expired != 0 || v4.Limit != 10000 ||
			v4.Newest == nil || v4.Newest.Address != "185.220.101.42/32" || !v4.Newest.At.Equal(akia.at) ||
			v4.NextExpiry == nil || !v4.NextExpiry.At.Equal(until) || v4.Pending {
			t.Errorf("IPv4 set %+v (newest %+v, next expiry %+v): want alice's address alone, bob's taken out by undo", v4, v4.Newest, v4.NextExpiry)
		}
	})
	t.Run("breaker", func(t *testing.T) {
		max, _ := eng.Playbook.Settings.Breaker()
		if len(st.Breakers) != 1 {
			t.Fatalf("breakers %+v", st.Breakers)
		}
		b := st.Breakers[0]
		// Undo does not take a principal out of the window: alice, bob, the role.
		if b.Account != "123456789012" || b.Count != 3 || b.Max != max || !b.WindowStart.Equal(time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)) {
			t.Errorf("breaker %+v", b)
		}
	})
	t.Run("decisions", func(t *testing.T) {
		var got []string
		for _, d := range st.Decisions {
			got = append(got, d.Finding+" "+d.Outcome+" "+d.At.Format(time.RFC3339)+" "+d.Subject+" undone "+d.Undone.Format(time.RFC3339))
		}
		zero := time.Time{}.Format(time.RFC3339)
		want := []string{
			role.rec.Finding.ID + " contained " + role.at.Format(time.RFC3339) + " role/data-pipeline-role undone " + zero,
			ct.rec.Finding.ID + " contained " + ct.at.Format(time.RFC3339) + " user/alice undone " + zero,
			recon.rec.Finding.ID + " contained " + recon.at.Format(time.RFC3339) + " user/bob undone " + undoneAt.Format(time.RFC3339),
			akia.rec.Finding.ID + " contained " + akia.at.Format(time.RFC3339) + " user/alice undone " + zero,
		}
		if !slices.Equal(got, want) {
			t.Errorf("decisions\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if d := st.Decisions[3]; d.Type != "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom" || d.Account != "123456789012" {
			t.Errorf("decision %+v", d)
		}
	})

	// The function answers the status command with the same status, key
	// ids masked, its undo commands through itself.
	t.Run("command", func(t *testing.T) {
		eng.FunctionName = "autocontain-responder"
		defer func() { eng.FunctionName = "" }()
		out, err := eng.Handle(ctx, Command{Command: CommandStatus, Last: 2}.Event())
		if err != nil {
			t.Fatal(err)
		}
		js, err := json.Marshal(out)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(js), acct.Keys["alice"][0]) {
			t.Errorf("the answer carries alice's key id whole: %s", js)
		}
		var got status.Status
		if err := json.Unmarshal(js, &got); err != nil {
			t.Fatal(err)
		}
		if len(got.Decisions) != 2 || got.Decisions[0].Finding != role.rec.Finding.ID || len(got.Held) != 2 ||
			got.Held[1].Findings[0].Undo != "autocontain undo -function autocontain-responder "+akia.rec.Finding.ID {
			t.Errorf("answer %s", js)
		}
		if _, err := eng.Handle(ctx, []byte(`{"autocontain":{"command":"status","last":-1}}`)); err == nil || !strings.Contains(err.Error(), "between 0 and") {
			t.Errorf("a negative -last: %v", err)
		}
	})
}

func sameHeldBy(a, b status.HeldBy) bool {
	return a.Finding == b.Finding && a.Since.Equal(b.Since) && a.Undo == b.Undo
}
