package patterns

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/autocontain/autocontain/internal/playbook"
)

func mustPlaybook(t *testing.T, text string) *playbook.Playbook {
	t.Helper()
	pb, err := playbook.Parse([]byte(text), "test")
	if err != nil {
		t.Fatal(err)
	}
	return pb
}

func compact(t *testing.T, p Pattern) string {
	t.Helper()
	s, err := Compact(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// one is the single pattern of ps as JSON, "null" for none.
func one(t *testing.T, ps []Pattern, err error) string {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	switch len(ps) {
	case 0:
		return "null"
	case 1:
		return compact(t, ps[0])
	}
	t.Fatalf("%d patterns, want one", len(ps))
	return ""
}

// archived is the archived filter: false, null or missing (not archived,
// as the function reads it).
const archived = `"service":{"$or":[{"archived":[false,{"exists":false}]},{"archived":[null]}]}`

func TestPatterns(t *testing.T) {
	tests := []struct {
		name       string
		playbook   string
		guardDuty  string
		cloudTrail string
	}{
		{
			name: "one_rule_each_kind_of_match",
			playbook: `{"version":1,"settings":{"minSeverity":2},"rules":[
				{"name":"a","source":"guardduty","types":["Recon:IAMUser/TorIPCaller","PenTest:IAMUser/*","*:IAMUser/AnomalousBehavior"],"minSeverity":5,"principals":["iam-user-key","iam-user-session","assumed-role"],"actions":["notify"]}]}`,
			guardDuty:  `{"detail":{"resource":{"accessKeyDetails":{"userType":["IAMUser","AssumedRole"]}},` + archived + `,"severity":[{"numeric":[">=",5]}],"type":["Recon:IAMUser/TorIPCaller",{"prefix":"PenTest:IAMUser/"},{"wildcard":"*:IAMUser/AnomalousBehavior"}]},"detail-type":["GuardDuty Finding"],"source":["aws.guardduty"]}`,
			cloudTrail: `null`,
		},
		{
			name: "or_of_rules_severity_floor_archived_allowed",
			playbook: `{"version":1,"settings":{"minSeverity":3,"actOnArchived":true},"rules":[
				{"name":"a","source":"guardduty","types":["A:B/C"],"actions":["notify"]},
				{"name":"b","source":"guardduty","types":["D:E/*"],"minSeverity":7,"principals":["none"],"actions":["notify"]}]}`,
			guardDuty:  `{"detail":{"$or":[{"severity":[{"numeric":[">=",3]}],"type":["A:B/C"]},{"severity":[{"numeric":[">=",7]}],"type":[{"prefix":"D:E/"}]}]},"detail-type":["GuardDuty Finding"],"source":["aws.guardduty"]}`,
			cloudTrail: `null`,
		},
		{
			name: "resource_role_beside_the_archived_flag",
			playbook: `{"version":1,"rules":[
				{"name":"a","source":"guardduty","types":["UnauthorizedAccess:EC2/SSHBruteForce"],"resourceRole":"ACTOR","minSeverity":7,"actions":["isolate-instance"]}]}`,
			guardDuty:  `{"detail":{"service":{"$or":[{"archived":[false,{"exists":false}]},{"archived":[null]}],"resourceRole":["ACTOR"]},"severity":[{"numeric":[">=",7]}],"type":["UnauthorizedAccess:EC2/SSHBruteForce"]},"detail-type":["GuardDuty Finding"],"source":["aws.guardduty"]}`,
			cloudTrail: `null`,
		},
		{
			name: "resource_types_beside_principals_and_in_or",
			playbook: `{"version":1,"rules":[
				{"name":"a","source":"guardduty","types":["*:Runtime/*"],"resourceTypes":["Instance"],"principals":["none"],"actions":["notify"]},
				{"name":"b","source":"guardduty","types":["X:IAMUser/Y"],"resourceTypes":["AccessKey"],"principals":["iam-user-key"],"resourceRole":"TARGET","actions":["notify"]}]}`,
			guardDuty:  `{"detail":{"$or":[{"resource":{"resourceType":["Instance"]},"type":[{"wildcard":"*:Runtime/*"}]},{"resource":{"accessKeyDetails":{"userType":["IAMUser"]},"resourceType":["AccessKey"]},"service":{"resourceRole":["TARGET"]},"type":["X:IAMUser/Y"]}],` + archived + `},"detail-type":["GuardDuty Finding"],"source":["aws.guardduty"]}`,
			cloudTrail: `null`,
		},
		{
			// An outbound brute force (ACTOR, high) is also an inbound
			// rule's type: its branch keeps only what no other delivers,
			// so that no event matches two rules when the pattern is split.
			name: "a_type_another_branch_delivers_is_dropped",
			playbook: `{"version":1,"rules":[
				{"name":"a","source":"guardduty","types":["X:EC2/A","X:EC2/B"],"resourceRole":"ACTOR","minSeverity":7,"actions":["notify"]},
				{"name":"b","source":"guardduty","types":["X:EC2/A","X:EC2/C"],"actions":["notify"]}]}`,
			guardDuty:  `{"detail":{"$or":[{"service":{"resourceRole":["ACTOR"]},"severity":[{"numeric":[">=",7]}],"type":["X:EC2/B"]},{"type":["X:EC2/A","X:EC2/C"]}],` + archived + `},"detail-type":["GuardDuty Finding"],"source":["aws.guardduty"]}`,
			cloudTrail: `null`,
		},
		{
			name: "cloudtrail_sources_and_detail_types",
			playbook: `{"version":1,"rules":[
				{"name":"a","source":"cloudtrail","eventSource":"cloudtrail.amazonaws.com","types":["StopLogging","Delete*"],"principals":["root","aws-service"],"actions":["notify"]},
				{"name":"b","source":"cloudtrail","eventSource":"signin.amazonaws.com","types":["ConsoleLogin"],"actions":["notify"]}]}`,
			guardDuty:  `null`,
			cloudTrail: `{"detail":{"$or":[{"eventName":["StopLogging",{"prefix":"Delete"}],"eventSource":["cloudtrail.amazonaws.com"],"userIdentity":{"type":["Root","AWSService"]}},{"eventName":["ConsoleLogin"],"eventSource":["signin.amazonaws.com"]}]},"detail-type":["AWS API Call via CloudTrail","AWS Console Sign In via CloudTrail"],"source":["aws.cloudtrail","aws.signin"]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pb := mustPlaybook(t, tt.playbook)
			gd, err := GuardDuty(pb, "")
			if got := one(t, gd, err); got != tt.guardDuty {
				t.Errorf("GuardDuty\n got %s\nwant %s", got, tt.guardDuty)
			}
			ct, err := CloudTrail(pb, "")
			if got := one(t, ct, err); got != tt.cloudTrail {
				t.Errorf("CloudTrail\n got %s\nwant %s", got, tt.cloudTrail)
			}
		})
	}
}

func TestEventBridgeSource(t *testing.T) {
	for in, want := range map[string]string{"cloudtrail.amazonaws.com": "aws.cloudtrail", "signin.amazonaws.com": "aws.signin", "securityhub.amazonaws.com": "aws.securityhub"} {
		if got := EventBridgeSource(in); got != want {
			t.Errorf("EventBridgeSource(%s) = %s, want %s", in, got, want)
		}
	}
}

// TestPatternsMatchTheAccount: with an account, only its events match; a
// GuardDuty administrator's members' findings carry theirs in
// detail.accountId, on the administrator's bus.
func TestPatternsMatchTheAccount(t *testing.T) {
	pb := mustPlaybook(t, `{"version":1,"rules":[
		{"name":"a","source":"guardduty","types":["A:B/C"],"actions":["notify"]},
		{"name":"b","source":"cloudtrail","eventSource":"cloudtrail.amazonaws.com","types":["StopLogging"],"actions":["notify"]}]}`)
	gd, err := GuardDuty(pb, "123456789012")
	if got, want := one(t, gd, err),
		`{"account":["123456789012"],"detail":{"accountId":["123456789012"],`+archived+`,"type":["A:B/C"]},"detail-type":["GuardDuty Finding"],"source":["aws.guardduty"]}`; got != want {
		t.Errorf("GuardDuty\n got %s\nwant %s", got, want)
	}
	ct, err := CloudTrail(pb, "123456789012")
	if got, want := one(t, ct, err),
		`{"account":["123456789012"],"detail":{"eventName":["StopLogging"],"eventSource":["cloudtrail.amazonaws.com"]},"detail-type":["AWS API Call via CloudTrail"],"source":["aws.cloudtrail"]}`; got != want {
		t.Errorf("CloudTrail\n got %s\nwant %s", got, want)
	}
}

// TestCloudTrailFromOthers: the organization bus's CloudTrail pattern
// matches every account's events but the central account's of the home
// Region, and a playbook without CloudTrail rules has none.
func TestCloudTrailFromOthers(t *testing.T) {
	pb := mustPlaybook(t, `{"version":1,"rules":[
		{"name":"b","source":"cloudtrail","eventSource":"cloudtrail.amazonaws.com","types":["StopLogging"],"actions":["notify"]}]}`)
	ct, err := CloudTrailFromOthers(pb, "123456789012", "us-east-1")
	if got, want := one(t, ct, err),
		`{"$or":[{"account":[{"anything-but":"123456789012"}]},{"region":[{"anything-but":"us-east-1"}]}],"detail":{"eventName":["StopLogging"],"eventSource":["cloudtrail.amazonaws.com"]},"detail-type":["AWS API Call via CloudTrail"],"source":["aws.cloudtrail"]}`; got != want {
		t.Errorf("CloudTrailFromOthers\n got %s\nwant %s", got, want)
	}
	none := mustPlaybook(t, `{"version":1,"rules":[{"name":"a","source":"guardduty","types":["A:B/C"],"actions":["notify"]}]}`)
	if ps, err := CloudTrailFromOthers(none, "123456789012", "us-east-1"); err != nil || len(ps) != 0 {
		t.Errorf("no CloudTrail rule: %v, %v", ps, err)
	}
}

// TestSize: the measure counts the spaces a spaced serialization would add
// (none inside strings), and the account as 12 digits.
func TestSize(t *testing.T) {
	p := Pattern{"account": []any{"${Token[AWS.AccountId.7]}"}, "detail": map[string]any{"type": []any{"a:b,c"}}}
	// Compact, then 3 colons and 1 comma outside strings.
	compact := `{"account":["123456789012"],"detail":{"type":["a:b,c"]}}`
	if got, want := Size(p, "${Token[AWS.AccountId.7]}"), len(compact)+4; got != want {
		t.Errorf("Size = %d, want %d", got, want)
	}
}

// TestDefaultPatternsFitEventBridge: the default playbook, alone and with
// the strictest deploy-time options, needs one rule of each kind, so the
// rules keep their construct ids.
func TestDefaultPatternsFitEventBridge(t *testing.T) {
	for _, settings := range []playbook.Settings{{}, {MinSeverity: 7}, {MinSeverity: 4.5}, {ActOnArchived: true}} {
		pb := *playbook.Default()
		pb.Settings.MinSeverity = max(pb.Settings.MinSeverity, settings.MinSeverity)
		pb.Settings.ActOnArchived = settings.ActOnArchived
		for name, f := range map[string]func(*playbook.Playbook, string) ([]Pattern, error){"GuardDuty": GuardDuty, "CloudTrail": CloudTrail} {
			ps, err := f(&pb, "${Token[AWS.AccountId.7]}")
			if err != nil {
				t.Fatal(err)
			}
			if len(ps) != 1 {
				t.Errorf("%+v: %s: %d patterns, want 1", settings, name, len(ps))
				continue
			}
			t.Logf("%+v: %s pattern: %d characters as measured (%d compact)", settings, name, Size(ps[0], "${Token[AWS.AccountId.7]}"),
				len(strings.ReplaceAll(compact(t, ps[0]), "${Token[AWS.AccountId.7]}", "123456789012")))
		}
	}
}

// largePlaybook has many GuardDuty and CloudTrail rules, with minimum
// severity and principal variants, and one rule of many types that is too
// large for a rule of its own.
func largePlaybook(t *testing.T) *playbook.Playbook {
	t.Helper()
	var rules []string
	principals := []string{``, `"principals":["iam-user-key"],`, `"principals":["assumed-role","federated-user"],`}
	for i := range 40 {
		var types []string
		for j := range 12 {
			switch j % 3 {
			case 0:
				types = append(types, fmt.Sprintf(`"Family%d:IAMUser/Finding%dAboutCredentials"`, i, j))
			case 1:
				types = append(types, fmt.Sprintf(`"Family%d:EC2/Prefix%d*"`, i, j))
			default:
				types = append(types, fmt.Sprintf(`"Family%d:S3/Exact%d.Long"`, i, j))
			}
		}
		if i%10 == 0 {
			types = append(types, fmt.Sprintf(`"*:Wild%d/*"`, i))
		}
		rules = append(rules, fmt.Sprintf(`{"name":"gd-%d","source":"guardduty","types":[%s],"minSeverity":%g,%s"actions":["notify"]}`,
			i, strings.Join(types, ","), []float64{0, 4.5, 7, 8.9}[i%4], principals[i%3]))
	}
	var many []string
	for j := range 150 {
		many = append(many, fmt.Sprintf(`"Many:IAMUser/Type%03d"`, j))
	}
	rules = append(rules, fmt.Sprintf(`{"name":"gd-many","source":"guardduty","types":[%s],"minSeverity":5,"actions":["notify"]}`, strings.Join(many, ",")))
	for i := range 30 {
		src := []string{"iam.amazonaws.com", "cloudtrail.amazonaws.com", "signin.amazonaws.com", "s3.amazonaws.com"}[i%4]
		rules = append(rules, fmt.Sprintf(`{"name":"ct-%d","source":"cloudtrail","eventSource":%q,"types":["Delete%dThing","Put%d*","Create%dSomethingRatherLongToFillThePattern"],%s"actions":["notify"]}`,
			i, src, i, i, i, principals[i%3]))
	}
	return mustPlaybook(t, `{"version":1,"settings":{"minSeverity":2},"rules":[`+strings.Join(rules, ",")+`]}`)
}

// TestLargePlaybookIsSplit: every pattern fits, and together they match
// exactly what the single pattern does: each keeps its envelope and the
// detail fields outside $or, and their branches, the parts of a split
// branch joined again, are the single pattern's, in order.
func TestLargePlaybookIsSplit(t *testing.T) {
	pb := largePlaybook(t)
	const account = "${Token[AWS.AccountId.7]}"
	for name, s := range map[string]shape{"GuardDuty": guardDuty(pb, account), "CloudTrail": cloudTrail(pb, account)} {
		t.Run(name, func(t *testing.T) {
			single, ps := splitFitting(t, s, account)
			var got []any
			for _, p := range ps {
				got = append(got, branches(t, single, p)...)
			}
			want := joinSplit(branches(t, single, single))
			if !reflect.DeepEqual(joinSplit(got), want) {
				t.Errorf("the rules' branches differ from the single pattern's:\n got %v\nwant %v", joinSplit(got), want)
			}
		})
	}
	if _, _, err := func() ([]Pattern, []Pattern, error) {
		gd, err := GuardDuty(pb, account)
		if err != nil {
			return nil, nil, err
		}
		ct, err := CloudTrail(pb, account)
		return gd, ct, err
	}(); err != nil {
		t.Fatal(err)
	}
}

// splitFitting splits s, which must be too large for one rule, and checks
// that it takes several rules, each within MaxSize; it returns the single
// pattern and the rules'.
func splitFitting(t *testing.T, s shape, account string) (Pattern, []Pattern) {
	t.Helper()
	single := s.pattern(s.branches)
	if n := Size(single, account); n <= MaxSize {
		t.Fatalf("the single pattern is %d characters: too small to test splitting", n)
	}
	ps, err := s.split()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("single pattern: %d characters; split into %d rules", Size(single, account), len(ps))
	if len(ps) < 2 {
		t.Fatalf("%d patterns", len(ps))
	}
	for i, p := range ps {
		if n := Size(p, account); n > MaxSize {
			t.Errorf("pattern %d is %d characters, more than %d", i, n, MaxSize)
		}
	}
	return single, ps
}

// branches checks that p has single's envelope and common detail fields,
// and returns its branches.
func branches(t *testing.T, single, p Pattern) []any {
	t.Helper()
	detail := p["detail"].(map[string]any)
	common := map[string]any{}
	for k, v := range single["detail"].(map[string]any) {
		if k != "$or" {
			common[k] = v
		}
	}
	for k, v := range single {
		if k != "detail" && !reflect.DeepEqual(p[k], v) {
			t.Errorf("%s: %v, want %v", k, p[k], v)
		}
	}
	if len(p) != len(single) {
		t.Errorf("pattern keys %v, want those of %v", p, single)
	}
	for k, v := range common {
		if !reflect.DeepEqual(detail[k], v) {
			t.Errorf("detail.%s: %v, want %v", k, detail[k], v)
		}
	}
	// Fields outside $or that are not common to all the patterns were
	// hoisted out of its branches: they go back into each.
	hoisted := map[string]any{}
	for k, v := range detail {
		if _, ok := common[k]; !ok && k != "$or" {
			hoisted[k] = v
		}
	}
	or, ok := detail["$or"].([]any)
	if !ok {
		or = []any{map[string]any{}} // one branch, merged into detail
	}
	var out []any
	for _, b := range or {
		m := map[string]any{}
		for k, v := range b.(map[string]any) {
			m[k] = v
		}
		for k, v := range hoisted {
			if _, dup := m[k]; dup {
				t.Errorf("detail.%s both hoisted and in a branch", k)
			}
			m[k] = v
		}
		out = append(out, m)
	}
	return out
}

// joinSplit joins consecutive branches that differ only in their types, as
// the split of one branch leaves them.
func joinSplit(bs []any) []any {
	var out []any
	for _, b := range bs {
		m := b.(map[string]any)
		if len(out) > 0 {
			last := out[len(out)-1].(map[string]any)
			if key, ok := onlyTypesDiffer(last, m); ok {
				joined := map[string]any{}
				for k, v := range last {
					joined[k] = v
				}
				joined[key] = append(append([]any{}, last[key].([]any)...), m[key].([]any)...)
				out[len(out)-1] = joined
				continue
			}
		}
		out = append(out, m)
	}
	return out
}

func onlyTypesDiffer(a, b map[string]any) (string, bool) {
	key := "type"
	if _, ok := a["eventName"]; ok {
		key = "eventName"
	}
	if len(a) != len(b) {
		return "", false
	}
	for k, v := range a {
		if k != key && !reflect.DeepEqual(b[k], v) {
			return "", false
		}
	}
	return key, true
}

// TestNoSplitFits: a rule whose single type cannot fit a rule of its own is
// an error naming it; too many rules with wildcards is one too.
func TestNoSplitFits(t *testing.T) {
	long := strings.Repeat("x", MaxSize)
	for name, f := range map[string]func(*playbook.Playbook, string) ([]Pattern, error){"GuardDuty": GuardDuty, "CloudTrail": CloudTrail} {
		pb := mustPlaybook(t, `{"version":1,"rules":[
			{"name":"fine","source":"guardduty","types":["A:B/C"],"actions":["notify"]},
			{"name":"huge-gd","source":"guardduty","types":["A:B/C","Recon:IAMUser/`+long+`"],"actions":["notify"]},
			{"name":"huge-ct","source":"cloudtrail","eventSource":"iam.amazonaws.com","types":["Delete`+long+`"],"actions":["notify"]}]}`)
		_, err := f(pb, "123456789012")
		if err == nil || !strings.Contains(err.Error(), `playbook rule "huge-`) || !strings.Contains(err.Error(), "2048") {
			t.Errorf("%s: error %v, want one naming the rule and the limit", name, err)
		}
	}
	var ps []Pattern
	for range MaxWildcardRules + 1 {
		ps = append(ps, Pattern{"detail": map[string]any{"type": []any{map[string]any{"wildcard": "*:A/B"}}}})
	}
	if err := CheckQuotas(ps[:MaxWildcardRules]); err != nil {
		t.Errorf("%d wildcard rules: %v", MaxWildcardRules, err)
	}
	if err := CheckQuotas(ps); err == nil || !strings.Contains(err.Error(), "wildcard") {
		t.Errorf("%d wildcard rules: error %v", len(ps), err)
	}
}
