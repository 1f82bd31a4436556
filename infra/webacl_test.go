package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/autocontain/autocontain/internal/testenv"
)

// Web ACL capacity units, from the AWS WAF Developer Guide: the managed
// groups' pages ("Baseline rule groups": AWSManagedRulesCommonRuleSet 700,
// AWSManagedRulesKnownBadInputsRuleSet 200; "Use-case specific rule
// groups": AWSManagedRulesSQLiRuleSet 200), "IP set match rule statement"
// (1 WCU without a forwarded-IP configuration) and "Using logical rule
// statements" (an OR costs what its statements cost).
var managedGroupWCU = map[string]int{
	"AWSManagedRulesCommonRuleSet":         700,
	"AWSManagedRulesKnownBadInputsRuleSet": 200,
	"AWSManagedRulesSQLiRuleSet":           200,
}

// A web ACL holds at most 5,000 WCUs ("Web ACL capacity units (WCUs) in
// AWS WAF"; raised from 1,500 in April 2023 without a limit request); above
// 1,500 each further 500 WCUs are charged per million requests. The stack
// stays within the 1,500 that the web ACL's base price includes.
const (
	webACLMaxWCU    = 5000
	webACLPricedWCU = 1500
)

// statementWCU is the capacity of one rule statement of the template.
func statementWCU(st map[string]any) (int, error) {
	if len(st) != 1 {
		return 0, fmt.Errorf("statement with %d kinds: %v", len(st), st)
	}
	for kind, v := range st {
		body := v.(map[string]any)
		switch kind {
		case "IPSetReferenceStatement":
			if body["IPSetForwardedIPConfig"] != nil {
				return 0, fmt.Errorf("forwarded-IP configuration: add its cost (more for position ANY)")
			}
			return 1, nil
		case "ManagedRuleGroupStatement":
			if body["ScopeDownStatement"] != nil || body["RuleActionOverrides"] != nil {
				return 0, fmt.Errorf("managed group %v with a scope-down or overrides: add their cost", body["Name"])
			}
			w, ok := managedGroupWCU[body["Name"].(string)]
			if !ok {
				return 0, fmt.Errorf("no documented WCU for managed group %v: add it to managedGroupWCU", body["Name"])
			}
			return w, nil
		case "OrStatement", "AndStatement":
			sum := 0
			for _, s := range body["Statements"].([]any) {
				w, err := statementWCU(s.(map[string]any))
				if err != nil {
					return 0, err
				}
				sum += w
			}
			return sum, nil
		case "NotStatement":
			return statementWCU(body["Statement"].(map[string]any))
		}
		return 0, fmt.Errorf("no WCU known for %s: add its documented cost", kind)
	}
	panic("unreachable")
}

// webACLRules returns the rules of the template's one web ACL.
func webACLRules(t *testing.T, s *synthesized) []map[string]any {
	t.Helper()
	acls := s.resources("AWS::WAFv2::WebACL")
	if len(acls) != 1 {
		t.Fatalf("%d web ACLs", len(acls))
	}
	var rules []map[string]any
	for _, acl := range acls {
		for _, r := range props(acl)["Rules"].([]any) {
			rules = append(rules, r.(map[string]any))
		}
	}
	return rules
}

func webACLConfig(mutate func(*Config)) Config {
	c := DefaultConfig()
	c.WebACL = true
	if mutate != nil {
		mutate(&c)
	}
	return c
}

// TestWebACLRules: after the blocklist rule, the managed groups in their
// order, each blocking, counting or left out as its context key says.
func TestWebACLRules(t *testing.T) {
	type want struct {
		name, override string // override: "None" (the group's actions), "Count"; "" for the blocklist's Block
		priority       float64
	}
	blocklist := want{"autocontain-blocklist", "", 0}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   []want
	}{
		{"default_all_block", nil, []want{blocklist,
			{"AWSManagedRulesKnownBadInputsRuleSet", "None", 10},
			{"AWSManagedRulesSQLiRuleSet", "None", 20},
			{"AWSManagedRulesCommonRuleSet", "None", 30}}},
		{"sqli_count_common_off", func(c *Config) {
			c.WAFRuleGroups["wafSqliRules"], c.WAFRuleGroups["wafCommonRules"] = WAFCount, WAFOff
		}, []want{blocklist,
			{"AWSManagedRulesKnownBadInputsRuleSet", "None", 10},
			{"AWSManagedRulesSQLiRuleSet", "Count", 20}}},
		{"all_off", func(c *Config) {
			for _, k := range WAFRuleGroupKeys {
				c.WAFRuleGroups[k] = WAFOff
			}
		}, []want{blocklist}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := webACLConfig(tt.mutate)
			if err := cfg.validate(); err != nil {
				t.Fatal(err)
			}
			var got []want
			for _, r := range webACLRules(t, synth(t, "webacl_"+tt.name, cfg, "")) {
				st := r["Statement"].(map[string]any)
				w := want{priority: r["Priority"].(float64)}
				if m, ok := st["ManagedRuleGroupStatement"].(map[string]any); ok {
					if m["VendorName"] != "AWS" || r["Action"] != nil {
						t.Errorf("rule %v: vendor %v, action %v", r["Name"], m["VendorName"], r["Action"])
					}
					w.name = m["Name"].(string)
					for k := range r["OverrideAction"].(map[string]any) {
						w.override = k
					}
				} else {
					w.name = r["Name"].(string)
					if !reflect.DeepEqual(r["Action"], map[string]any{"Block": map[string]any{}}) {
						t.Errorf("blocklist rule's action %v", r["Action"])
					}
				}
				vis := r["VisibilityConfig"].(map[string]any)
				if vis["CloudWatchMetricsEnabled"] != true || vis["SampledRequestsEnabled"] != true {
					t.Errorf("rule %v: metrics or sampled requests off: %v", r["Name"], vis)
				}
				got = append(got, w)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("web ACL rules\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestWebACLCapacity sums the template's rule capacities with every group
// on: within the web ACL's limit, and within its base price.
func TestWebACLCapacity(t *testing.T) {
	total := 0
	for _, r := range webACLRules(t, synth(t, "webacl_default_all_block", webACLConfig(nil), "")) {
		w, err := statementWCU(r["Statement"].(map[string]any))
		if err != nil {
			t.Fatalf("rule %v: %v", r["Name"], err)
		}
		total += w
	}
	t.Logf("web ACL capacity with every managed group: %d WCUs", total)
	if total != 1+1+200+200+700 {
		t.Errorf("web ACL capacity %d WCUs, want 1,102: update this test and infra/README.md", total)
	}
	if total > webACLPricedWCU || total > webACLMaxWCU {
		t.Errorf("web ACL capacity %d WCUs exceeds the %d the base price includes (limit %d)", total, webACLPricedWCU, webACLMaxWCU)
	}
}

// TestWebACLLogging: with webAclLogging, a log group named aws-waf-logs-*
// with the configured retention receives the web ACL's logs, addressed by
// an ARN WAF accepts (no ":*"), with credentials redacted; without it, no
// logging configuration.
func TestWebACLLogging(t *testing.T) {
	none := synth(t, "webacl_default_all_block", webACLConfig(nil), "")
	none.tpl.ResourceCountIs(strPtr("AWS::WAFv2::LoggingConfiguration"), numPtr(0))

	cfg := webACLConfig(func(c *Config) { c.WebACLLogging, c.LogRetentionDays = true, 90 })
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	s := synth(t, "webacl_logging", cfg, "eu-west-1")
	var groupID string
	for id, g := range s.resources("AWS::Logs::LogGroup") {
		name, _ := props(g)["LogGroupName"].(map[string]any)
		join, ok := name["Fn::Join"].([]any)
		if !ok {
			continue
		}
		parts := join[1].([]any)
		if first, _ := parts[0].(string); !strings.HasPrefix(first, webACLLogPrefix) {
			t.Errorf("log group %s name starts %q, want %s", id, first, webACLLogPrefix)
		}
		if got := props(g)["RetentionInDays"]; got != float64(90) {
			t.Errorf("WAF log group retention %v, want 90", got)
		}
		if g["DeletionPolicy"] != "Retain" {
			t.Errorf("WAF log group deletion policy %v, want Retain", g["DeletionPolicy"])
		}
		groupID = id
	}
	if groupID == "" {
		t.Fatal("no log group with a generated aws-waf-logs- name")
	}
	configs := s.resources("AWS::WAFv2::LoggingConfiguration")
	if len(configs) != 1 {
		t.Fatalf("%d logging configurations, want 1", len(configs))
	}
	for _, lc := range configs {
		p := props(lc)
		if arn, _ := json.Marshal(p["ResourceArn"]); !strings.Contains(string(arn), `"Fn::GetAtt":["WebAcl","Arn"]`) {
			t.Errorf("logging configuration of %s, want the web ACL", arn)
		}
		dest, _ := json.Marshal(p["LogDestinationConfigs"])
		if !strings.Contains(string(dest), `:log-group:`) || !strings.Contains(string(dest), `{"Ref":"`+groupID+`"}`) || strings.Contains(string(dest), `:*`) {
			t.Errorf("log destination %s: want the WAF log group's ARN, built from its name, without :*", dest)
		}
		redacted, _ := json.Marshal(p["RedactedFields"])
		for _, h := range []string{"authorization", "cookie"} {
			if !strings.Contains(string(redacted), `{"SingleHeader":{"Name":"`+h+`"}}`) {
				t.Errorf("header %s not redacted: %s", h, redacted)
			}
		}
	}
	cfnLint(t, "webacl_logging", s)
}

// cfnLint runs cfn-lint on a synthesized template: no errors.
func cfnLint(t *testing.T, name string, s *synthesized) {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	lint := filepath.Join(root, ".venv", "bin", "cfn-lint")
	if _, err := os.Stat(lint); err != nil {
		if testenv.Required() {
			t.Fatalf("cfn-lint is not installed at %s: run scripts/moto-venv.sh", lint)
		}
		t.Skipf("cfn-lint is not installed at %s: run scripts/moto-venv.sh", lint)
	}
	file := filepath.Join(t.TempDir(), name+".template.json")
	raw, _ := json.MarshalIndent(s.json, "", " ")
	if err := os.WriteFile(file, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(lint, "--format", "parseable", file).CombinedOutput()
	// cfn-lint's exit code is a bit mask: 2 errors, 4 warnings, 8 informational.
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode()&2 == 0) {
		t.Errorf("cfn-lint found errors in the %s template:\n%s", name, out)
	} else if len(out) > 0 {
		t.Logf("cfn-lint warnings (%s):\n%s", name, out)
	}
}

// TestWebACLContext: the keys' values, their errors, and no web ACL option
// without the web ACL.
func TestWebACLContext(t *testing.T) {
	tests := []struct {
		name    string
		ctx     map[string]any
		want    map[string]string
		logging bool
		wantErr string
	}{
		{"defaults_block", map[string]any{"webAcl": "true"}, map[string]string{"wafKnownBadInputs": "block", "wafSqliRules": "block", "wafCommonRules": "block"}, false, ""},
		{"count_off_and_logging", map[string]any{"webAcl": true, "wafSqliRules": "COUNT", "wafCommonRules": " off ", "webAclLogging": true},
			map[string]string{"wafKnownBadInputs": "block", "wafSqliRules": "count", "wafCommonRules": "off"}, true, ""},
		{"bad_mode", map[string]any{"webAcl": "true", "wafKnownBadInputs": "deny"}, nil, false, `context wafKnownBadInputs: "deny" is none of block, count or off`},
		{"count_without_web_acl", map[string]any{"wafCommonRules": "count"}, nil, false, "context wafCommonRules: count configures the stack's web ACL, which only webAcl=true creates"},
		{"logging_without_web_acl", map[string]any{"webAclLogging": "true"}, nil, false, "context webAclLogging"},
		{"bad_logging", map[string]any{"webAcl": "true", "webAclLogging": "yes"}, nil, false, "context webAclLogging"},
		{"block_without_web_acl_is_the_default", map[string]any{"wafSqliRules": "block"}, map[string]string{"wafKnownBadInputs": "block", "wafSqliRules": "block", "wafCommonRules": "block"}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := configFrom(func(k string) (any, bool) { v, ok := tt.ctx[k]; return v, ok })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.WAFRuleGroups, tt.want) || c.WebACLLogging != tt.logging {
				t.Errorf("rule groups %v logging %v, want %v %v", c.WAFRuleGroups, c.WebACLLogging, tt.want, tt.logging)
			}
		})
	}
}

func strPtr(s string) *string   { return &s }
func numPtr(f float64) *float64 { return &f }
