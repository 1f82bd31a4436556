package patterns

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/autocontain/autocontain/internal/playbook"
)

// gdBranches returns the GuardDuty patterns' detail branches as JSON (each
// pattern's $or list, or its detail itself), the patterns' size
// together, and how many patterns (rules) there are.
func gdBranches(t *testing.T, pb *playbook.Playbook) (list []string, size, rules int) {
	t.Helper()
	ps, err := GuardDuty(pb, "123456789012")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		detail := p["detail"].(map[string]any)
		or, ok := detail["$or"].([]any)
		if !ok {
			// One branch: the detail, less the fields every rule keeps.
			only := maps.Clone(detail)
			delete(only, "accountId")
			delete(only, "service")
			or = []any{only}
		}
		for _, b := range or {
			list = append(list, compact(t, Pattern(b.(map[string]any))))
		}
		size += Size(p, "123456789012")
	}
	return list, size, len(ps)
}

// typeless returns the branches without a type filter.
func typeless(list []string) []string {
	return slices.DeleteFunc(slices.Clone(list), func(b string) bool { return strings.Contains(b, `"type":`) })
}

// TestSafetyNetPattern: the safety net is one branch without a type
// filter, at its floor; it drops the branches it covers instead of growing
// the pattern; settings.safetyNet moves its floor or removes it.
func TestSafetyNetPattern(t *testing.T) {
	withoutNet := playbook.Default()
	withoutNet.Rules = withoutNet.Rules[:len(withoutNet.Rules)-1]
	_, sizeWithout, _ := gdBranches(t, withoutNet)

	tests := []struct {
		name        string
		net         playbook.SafetyNet
		wantNet     string // the typeless branch, "" for none
		wantCovered bool   // anomalous-credential-use (minSeverity 4) is covered
	}{
		{"default", 0, `{"severity":[{"numeric":[">=",4]}]}`, true},
		{"raised_to_7", 7, `{"severity":[{"numeric":[">=",7]}]}`, false},
		{"off", playbook.SafetyNetOff, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pb := playbook.Default()
			pb.Settings.SafetyNet = tt.net
			list, size, rules := gdBranches(t, pb)
			nets := typeless(list)
			switch {
			case tt.wantNet == "" && len(nets) != 0:
				t.Errorf("branches without a type filter %v, want none", nets)
			case tt.wantNet != "" && (len(nets) != 1 || nets[0] != tt.wantNet):
				t.Errorf("branches without a type filter %v, want [%s]", nets, tt.wantNet)
			}
			anomalous := slices.ContainsFunc(list, func(b string) bool { return strings.Contains(b, "AnomalousBehavior") })
			if anomalous == tt.wantCovered {
				t.Errorf("anomalous-credential-use's branch present %v, want %v: %v", anomalous, !tt.wantCovered, list)
			}
			t.Logf("GuardDuty pattern %d characters as measured, in %d rules; %d without the safety-net rule", size, rules, sizeWithout)
			if size-sizeWithout > 60 {
				t.Errorf("the safety net grew the pattern by %d characters: it should add one small branch, not types", size-sizeWithout)
			}
			if tt.net.Off() && size != sizeWithout {
				t.Errorf("off: %d characters, want %d, the pattern without the rule", size, sizeWithout)
			}
		})
	}
}

func TestSafetyNetCovers(t *testing.T) {
	tests := []struct {
		name, rules string
		want        []string
	}{
		{"covers_higher_floors_only",
			`{"name":"low","source":"guardduty","types":["A:B/C"],"minSeverity":2,"actions":["notify"]},
			 {"name":"high","source":"guardduty","types":["D:E/F"],"minSeverity":8,"actions":["block-ip","notify"]},
			 {"name":"net","source":"guardduty","types":["*"],"minSeverity":5,"actions":["notify"]}`,
			[]string{`{"severity":[{"numeric":[">=",2]}],"type":["A:B/C"]}`, `{"severity":[{"numeric":[">=",5]}]}`}},
		{"a_net_covers_rules_with_more_filters",
			`{"name":"any","source":"guardduty","types":["A:B/C"],"minSeverity":8,"actions":["notify"]},
			 {"name":"keys","source":"guardduty","types":["D:E/F"],"minSeverity":8,"principals":["iam-user-key"],"actions":["notify"]},
			 {"name":"net","source":"guardduty","types":["*"],"minSeverity":5,"actions":["notify"]}`,
			[]string{`{"severity":[{"numeric":[">=",5]}]}`}},
		{"of_two_alike_nets_the_first_stays",
			`{"name":"net-a","source":"guardduty","types":["*"],"minSeverity":5,"actions":["notify"]},
			 {"name":"net-b","source":"guardduty","types":["*"],"minSeverity":5,"actions":["notify"]}`,
			[]string{`{"severity":[{"numeric":[">=",5]}]}`}},
		{"a_rule_covers_a_narrower_rule_of_its_types",
			`{"name":"keys","source":"guardduty","types":["A:B/C","D:E/*"],"minSeverity":4,"principals":["iam-user-session"],"actions":["revoke-sessions"]},
			 {"name":"any","source":"guardduty","types":["A:B/C","D:E/*","G:H/I"],"actions":["notify"]},
			 {"name":"fewer","source":"guardduty","types":["A:B/C"],"minSeverity":2,"actions":["notify"]}`,
			[]string{`{"type":["A:B/C",{"prefix":"D:E/"},"G:H/I"]}`}},
		{"a_net_without_a_floor_has_no_filter_but_the_envelope",
			`{"name":"x","source":"guardduty","types":["A:B/C"],"minSeverity":2,"actions":["notify"]},
			 {"name":"net","source":"guardduty","types":["*"],"actions":["notify"]}`,
			[]string{`{}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list, _, _ := gdBranches(t, mustPlaybook(t, `{"version":1,"rules":[`+tt.rules+`]}`))
			if !slices.Equal(list, tt.want) {
				t.Errorf("branches\n got %v\nwant %v", list, tt.want)
			}
		})
	}
}
