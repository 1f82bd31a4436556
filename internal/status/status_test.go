package status

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/autocontain/autocontain/internal/ledger"
	"github.com/autocontain/autocontain/internal/playbook"
)

const (
	acct  = "123456789012"
	setV4 = "arn:aws:wafv2:us-east-1:123456789012:regional/ipset/autocontain-v4/0a1b"
	setV6 = "arn:aws:wafv2:us-east-1:123456789012:regional/ipset/autocontain-v6/2c3d"
	key   = "AKIA5EXAMPLEALICE7Q2"
)

var now = time.Date(2026, 11, 24, 3, 30, 0, 0, time.UTC)

// sample is a ledger with two principals held (alice by two findings, one
// of which holds her key; an instance by an action this package knows only
// by name), a hold released by undo, blocks live, expired and unwanted, the
// account's and the organization's breaker windows, and three findings.
func sample() ledger.Snapshot {
	t := func(h, m int) time.Time { return time.Date(2026, 11, 24, h, m, 0, 0, time.UTC) }
	return ledger.Snapshot{
		Holds: []ledger.HoldState{
			{Hold: ledger.Hold{Action: "deactivate-key", Account: acct, Principal: "user/alice", Resource: "key/" + key}, Holders: []string{"f1"}, Changed: true, Touched: t(2, 0)},
			{Hold: ledger.Hold{Action: "revoke-sessions", Account: acct, Principal: "user/alice", Resource: "policy/autocontain-revoke"}, Holders: []string{"f1", "f2"}, Changed: true, Touched: t(3, 0)},
			{Hold: ledger.Hold{Action: "isolate-instance", Account: acct, Principal: "instance/i-0abc", Resource: "isolation"}, Holders: []string{"f3"}, Changed: true, Touched: t(3, 5)},
			{Hold: ledger.Hold{Action: "quarantine", Account: acct, Principal: "role/web", Resource: "policy/Q"}, Holders: nil, Changed: true, Touched: t(1, 0)},
		},
		Findings: []ledger.FindingState{
			{ID: "f1", DecidedAt: t(2, 0), Outcome: "contained", Type: "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom", Account: acct, Subject: "user/alice",
				State: ledger.StateDone, Done: map[string]time.Time{"deactivate-key key/" + key: t(2, 0), "revoke-sessions user/alice": t(2, 1)}},
			// f2 records no done time for its hold (its step failed): its
			// decision's time stands in.
			{ID: "f2", DecidedAt: t(3, 0), Outcome: "failed", Account: acct, Subject: "user/alice", State: ledger.StateFailed},
			{ID: "f3", DecidedAt: t(3, 5), Outcome: "contained", Account: acct, Subject: "instance/i-0abc", State: ledger.StateDone,
				Done: map[string]time.Time{"isolate-instance instance/i-0abc": t(3, 4)}},
			{ID: "f4", DecidedAt: t(1, 0), Outcome: "contained", Account: acct, Subject: "role/web", State: ledger.StateDone, Undone: t(1, 30)},
			// An earlier version's record, and a delivery running now.
			{ID: "f5", DecidedAt: t(0, 30), State: ledger.StateDone},
			{ID: "f6", DecidedAt: t(3, 29), State: ledger.StateRunning, ClaimUntil: now.Add(time.Minute)},
		},
		Sets: []ledger.SetState{{Set: setV4, Pending: true, Blocks: []ledger.Block{
			{Address: "185.220.101.1/32", FirstSeen: t(2, 0), Until: now.Add(48 * time.Hour), Findings: []string{"f1"}},
			{Address: "185.220.101.2/32", FirstSeen: t(3, 0), Until: now.Add(72 * time.Hour), Findings: []string{"f2"}},
			{Address: "185.220.101.3/32", FirstSeen: t(1, 0), Until: now.Add(-time.Minute), Findings: []string{"f4"}},
			{Address: "10.0.0.1/32", FirstSeen: t(0, 0), Until: now.Add(time.Hour)},
		}}},
		Breakers: []ledger.BreakerWindow{
			{Account: acct, Start: t(2, 0), Principals: []string{"a", "b", "c"}}, // the last window
			{Account: acct, Start: t(3, 0), Principals: []string{acct + "/user/alice", acct + "/instance/i-0abc"}},
			{Organization: "o-abcdefghij", Start: t(3, 0), Principals: []string{acct + "/user/alice"}},
		},
		Requests: 9,
	}
}

func options() Options {
	s := playbook.Default().Settings
	s.IPSets = playbook.IPSets{IPv4: setV4, IPv6: setV6}
	s.BreakerMax = 2
	return Options{Settings: s, Undo: "-table ledger", Last: 4, Table: "ledger", Now: now}
}

func TestBuild(t *testing.T) {
	s := Build(sample(), options())
	t.Run("held", func(t *testing.T) {
		if len(s.Held) != 2 {
			t.Fatalf("held %+v: want alice and the instance, not the released role", s.Held)
		}
		inst, alice := s.Held[0], s.Held[1]
		if inst.Kind != "instance" || inst.Name != "i-0abc" || inst.Holds[0].What != "isolation" || !inst.Since.Equal(time.Date(2026, 11, 24, 3, 4, 0, 0, time.UTC)) {
			t.Errorf("instance %+v", inst)
		}
		if alice.Kind != "user" || alice.Name != "alice" || alice.Account != acct || len(alice.Holds) != 2 {
			t.Fatalf("alice %+v", alice)
		}
		if h := alice.Holds[0]; h.What != "key Inactive" || h.Resource != "key/AKIA…E7Q2" || !h.Changed || strings.Join(h.Findings, ",") != "f1" {
			t.Errorf("key hold %+v", h)
		}
		if h := alice.Holds[1]; h.What != "deny policy" || strings.Join(h.Findings, ",") != "f1,f2" {
			t.Errorf("policy hold %+v", h)
		}
		// f1 since its first action, f2 (no done time) since its decision.
		want := []HeldBy{
			{Finding: "f1", Since: time.Date(2026, 11, 24, 2, 0, 0, 0, time.UTC), Undo: "autocontain undo -table ledger f1"},
			{Finding: "f2", Since: time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC), Undo: "autocontain undo -table ledger f2"},
		}
		if len(alice.Findings) != 2 || alice.Findings[0] != want[0] || alice.Findings[1] != want[1] || !alice.Since.Equal(want[0].Since) {
			t.Errorf("alice's findings %+v, want %+v", alice.Findings, want)
		}
	})
	t.Run("ip_sets", func(t *testing.T) {
		if len(s.IPSets) != 2 || s.IPSets[0].ARN != setV4 || s.IPSets[1].ARN != setV6 {
			t.Fatalf("sets %+v: want both configured sets", s.IPSets)
		}
		v4 := s.IPSets[0]
		if v4.Name != "autocontain-v4" || v4.Account != acct || v4.Blocked != 2 || v4.Expired != 1 || v4.Unwanted != 1 || v4.Limit != 10000 || v4.Over != 0 || !v4.Pending {
			t.Errorf("v4 %+v", v4)
		}
		if v4.Newest == nil || v4.Newest.Address != "185.220.101.2/32" || v4.NextExpiry == nil || v4.NextExpiry.Address != "185.220.101.1/32" ||
			!v4.NextExpiry.At.Equal(now.Add(48*time.Hour)) {
			t.Errorf("v4 newest %+v next expiry %+v", v4.Newest, v4.NextExpiry)
		}
		if v6 := s.IPSets[1]; v6.Blocked != 0 || v6.Newest != nil || v6.NextExpiry != nil {
			t.Errorf("v6 %+v", v6)
		}
	})
	t.Run("breakers", func(t *testing.T) {
		if len(s.Breakers) != 2 {
			t.Fatalf("breakers %+v", s.Breakers)
		}
		a, o := s.Breakers[0], s.Breakers[1]
		if a.Account != acct || a.Count != 2 || a.Max != 2 || !a.Full() || !a.WindowStart.Equal(time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)) ||
			!a.WindowEnd.Equal(time.Date(2026, 11, 24, 4, 0, 0, 0, time.UTC)) {
			t.Errorf("account breaker %+v: the current window's count against breakerMax", a)
		}
		if o.Organization != "o-abcdefghij" || o.Count != 1 || o.Max != playbook.DefaultOrgBreakerMax || o.Full() {
			t.Errorf("organization breaker %+v", o)
		}
	})
	t.Run("decisions", func(t *testing.T) {
		var got []string
		for _, d := range s.Decisions {
			got = append(got, d.Finding+" "+d.Outcome)
		}
		if strings.Join(got, ", ") != "f6 in-progress, f3 contained, f2 failed, f1 contained" {
			t.Errorf("decisions %v: want the last 4, newest first", got)
		}
		all := Build(sample(), Options{Now: now, Last: 100}).Decisions
		if len(all) != 6 || all[4].Finding != "f4" || all[4].Undone.IsZero() || all[5].Outcome != "handled" {
			t.Errorf("all decisions %+v", all)
		}
	})
	t.Run("no_window_yet", func(t *testing.T) {
		b := Build(ledger.Snapshot{}, Options{Now: now, Organization: "o-abcdefghij"}).Breakers
		if len(b) != 2 || b[0].Account != "" || b[0].Count != 0 || b[0].Max != playbook.DefaultBreakerMax || b[1].Organization != "o-abcdefghij" {
			t.Errorf("breakers of an empty ledger %+v", b)
		}
	})
}

// TestNoKeyLeaves: access key ids leave masked, in the table and in JSON,
// wherever the ledger holds them (a hold's resource, a finding id, a
// subject).
func TestNoKeyLeaves(t *testing.T) {
	snap := sample()
	snap.Findings[0].Subject = "key " + key
	snap.Holds[1].Holders = append(snap.Holds[1].Holders, "finding-about-"+key)
	s := Build(snap, options())
	js, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{"table": s.String(), "json": string(js)} {
		if strings.Contains(text, key) {
			t.Errorf("the %s carries the key id whole:\n%s", name, text)
		}
		if !strings.Contains(text, "AKIA…E7Q2") {
			t.Errorf("the %s lacks the masked key:\n%s", name, text)
		}
	}
}

// TestWriteTable: the table says each part of the status in its place.
func TestWriteTable(t *testing.T) {
	text := Build(sample(), options()).String()
	lines := strings.Split(text, "\n")
	line := func(prefix string) string {
		t.Helper()
		for _, l := range lines {
			if strings.HasPrefix(l, prefix) {
				return l
			}
		}
		t.Errorf("no line starts with %q:\n%s", prefix, text)
		return ""
	}
	contains := func(l string, parts ...string) {
		t.Helper()
		for _, p := range parts {
			if !strings.Contains(l, p) {
				t.Errorf("line %q lacks %q", l, p)
			}
		}
	}
	contains(line("autocontain status at"), "2026-11-24T03:30:00Z", "ledger ledger")
	contains(line("HELD:"), "2 principals")
	contains(line(acct+"  user"), "alice", "2026-11-24T02:00:00Z (1h30m ago)", "key Inactive (key/AKIA…E7Q2)", "f1")
	contains(line(acct+"  instance"), "i-0abc", "isolation  ", "f3")
	contains(line("f2 "), "2026-11-24T03:00:00Z (30m ago)", "autocontain undo -table ledger f2")
	contains(line("autocontain-v4"), acct, "  2  ", "0.0% of 10000", "185.220.101.2/32 at 2026-11-24T03:00:00Z",
		"185.220.101.1/32 at 2026-11-26T03:30:00Z (in 2d0h)", "1 expired, 1 unwanted; writer pending")
	contains(line("autocontain-v6"), "  0  ", "-")
	contains(line("account "+acct), "2 (FULL", "2026-11-24T03:00:00Z to 2026-11-24T04:00:00Z")
	contains(line("organization o-abcdefghij"), "1", "25")
	contains(line("LAST 4 DECISIONS"))
	contains(line("2026-11-24T03:29:00Z"), "in-progress", "f6")
	// The policy hold's row carries no principal: it continues alice's.
	for _, l := range lines {
		if strings.Contains(l, "deny policy") && strings.Contains(l, "alice") {
			t.Errorf("the second hold repeats the principal: %q", l)
		}
	}
	if strings.Contains(text, "role/web") || strings.Contains(text, "  web  ") {
		t.Errorf("a released hold is shown:\n%s", text)
	}
}

func TestCheckLast(t *testing.T) {
	for n, ok := range map[int]bool{-1: false, 0: true, 20: true, MaxLast: true, MaxLast + 1: false} {
		if err := CheckLast(n); (err == nil) != ok {
			t.Errorf("CheckLast(%d) = %v", n, err)
		}
	}
}
