package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/autocontain/autocontain/infra/patterns"
	"github.com/autocontain/autocontain/internal/engine"
	"github.com/autocontain/autocontain/internal/ledger"
	"github.com/autocontain/autocontain/internal/playbook"
	"github.com/autocontain/autocontain/internal/testenv"
)

// The jsii variables that silence its Node.js banners must be in the
// environment before the test binary starts: jsii captures the environment
// of its Node process while the packages initialize, before TestMain. The
// Makefile exports them (see its JSII_SILENCE_* lines).
func TestMain(m *testing.M) { testenv.Main(m) }

// synthesized is one synthesized stack, as assertions and as JSON.
type synthesized struct {
	tpl    assertions.Template
	json   map[string]any
	bundle []byte // the playbook the stack bundled with the function
}

// newSynthesized reads the synthesized template of stack and the playbook
// bundled in the function's asset folder.
func newSynthesized(t *testing.T, stack awscdk.Stack, assets string) *synthesized {
	t.Helper()
	tpl := assertions.Template_FromStack(stack, nil)
	raw, err := json.Marshal(tpl.ToJSON())
	if err != nil {
		t.Fatal(err)
	}
	s := &synthesized{tpl: tpl}
	if err := json.Unmarshal(raw, &s.json); err != nil {
		t.Fatal(err)
	}
	if s.bundle, err = os.ReadFile(filepath.Join(assets, "playbook.json")); err != nil {
		t.Fatalf("the stack bundled no playbook: %v", err)
	}
	return s
}

var (
	synthMu    sync.Mutex
	synthCache = map[string]*synthesized{}
)

// synth synthesizes the stack for cfg once per test binary. Code comes from
// a folder holding a stand-in bootstrap: building the real one is the app's
// job, and Code_FromInline is refused for provided.al2023.
func synth(t *testing.T, name string, cfg Config, region string) *synthesized {
	t.Helper()
	return synthApp(t, name, cfg, region, nil)
}

// synthApp is synth with an optional app context. A region pins the stack
// to testAccount in it.
func synthApp(t *testing.T, name string, cfg Config, region string, ctx map[string]any) *synthesized {
	t.Helper()
	synthMu.Lock()
	defer synthMu.Unlock()
	if s, ok := synthCache[name]; ok {
		return s
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bootstrap"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	appProps := &awscdk.AppProps{Outdir: jsii.String(t.TempDir())}
	if ctx != nil {
		appProps.Context = &ctx
	}
	var env *awscdk.Environment
	if region != "" {
		env = &awscdk.Environment{Account: jsii.String(testAccount), Region: jsii.String(region)}
	}
	stack := NewAutocontainStack(awscdk.NewApp(appProps), "Autocontain", &AutocontainStackProps{
		StackProps: awscdk.StackProps{Env: env}, Config: cfg, AssetDir: dir,
	})
	s := newSynthesized(t, stack, dir)
	synthCache[name] = s
	return s
}

// functionEnv returns the function's environment variables whose values
// the template states; the others are the stack's resources (tokens).
func (s *synthesized) functionEnv(t *testing.T) (fixed map[string]string, tokens []string) {
	t.Helper()
	fns := s.resources("AWS::Lambda::Function")
	if len(fns) != 1 {
		t.Fatalf("%d functions", len(fns))
	}
	fixed = map[string]string{}
	for _, fn := range fns {
		vars := props(fn)["Environment"].(map[string]any)["Variables"].(map[string]any)
		for k, v := range vars {
			if text, ok := v.(string); ok {
				fixed[k] = text
			} else {
				tokens = append(tokens, k)
			}
		}
	}
	slices.Sort(tokens)
	return fixed, tokens
}

// functionPlaybook loads the playbook as the deployed function would
// (playbook.FromEnv), from the stack's variables and the bundle in its
// asset: the variables that hold tokens are left unset.
func (s *synthesized) functionPlaybook(t *testing.T) *playbook.Playbook {
	t.Helper()
	env, _ := s.functionEnv(t)
	if env[playbook.EnvPlaybookFile] != "/var/task/playbook.json" {
		t.Fatalf("$%s is %q, not the bundle", playbook.EnvPlaybookFile, env[playbook.EnvPlaybookFile])
	}
	pb, err := playbook.FromEnv(func(k string) (string, bool) {
		if k == playbook.EnvPlaybook {
			return string(s.bundle), true // what the file holds
		}
		v, ok := env[k]
		return v, ok
	})
	if err != nil {
		t.Fatalf("the function would not start: %v", err)
	}
	return pb
}

func defaultStack(t *testing.T) *synthesized { return synth(t, "default", DefaultConfig(), "") }

// configWith is the default configuration with pb as its playbook.
func configWith(pb *playbook.Playbook) Config {
	c := DefaultConfig()
	c.Playbook = pb
	return c
}

// resources returns the template's resources of one type.
func (s *synthesized) resources(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range s.json["Resources"].(map[string]any) {
		r := r.(map[string]any)
		if r["Type"] == typ {
			out[id] = r
		}
	}
	return out
}

func props(r map[string]any) map[string]any { return r["Properties"].(map[string]any) }

func TestDefaultStack(t *testing.T) {
	s := defaultStack(t)
	for typ, n := range map[string]int{
		"AWS::Lambda::Function": 1, "AWS::WAFv2::IPSet": 2, "AWS::WAFv2::WebACL": 0, "AWS::DynamoDB::Table": 1,
		"AWS::SNS::Topic": 1, "AWS::SNS::Subscription": 0, "AWS::SQS::Queue": 1, "AWS::KMS::Key": 1,
		"AWS::Events::Rule": 3, "AWS::CloudWatch::Alarm": 4, "AWS::Logs::LogGroup": 1, "AWS::Lambda::EventInvokeConfig": 1,
	} {
		s.tpl.ResourceCountIs(jsii.String(typ), jsii.Number(float64(n)))
	}
	s.tpl.HasResourceProperties(jsii.String("AWS::Lambda::Function"), map[string]any{
		"Runtime": "provided.al2023", "Architectures": []any{"arm64"}, "Handler": "bootstrap",
		"MemorySize": 256, "Timeout": 60, "ReservedConcurrentExecutions": 5,
		"LoggingConfig": map[string]any{"LogFormat": "JSON"},
	})
	// The settings travel in the bundled playbook; the variables hold only
	// the stack's resources.
	env, tokens := s.functionEnv(t)
	if want := map[string]string{playbook.EnvPlaybookFile: "/var/task/playbook.json"}; !maps.Equal(env, want) {
		t.Errorf("the function's fixed variables are %v, want only %v", env, want)
	}
	if want := []string{playbook.EnvIPSetV4, playbook.EnvIPSetV6, engine.EnvLedgerTable, engine.EnvSelfRoleARN, playbook.EnvTopicARN}; !slices.Equal(tokens, want) {
		t.Errorf("the function's variables from the stack's resources are %v, want %v", tokens, want)
	}
	if pb := s.functionPlaybook(t); !pb.Settings.DryRun || len(pb.Rules) != len(playbook.Default().Rules) {
		t.Errorf("a deploy without context bundles the default playbook as a dry run; got dryRun=%v, %d rules", pb.Settings.DryRun, len(pb.Rules))
	}
	s.tpl.HasResourceProperties(jsii.String("AWS::Logs::LogGroup"), map[string]any{"RetentionInDays": 365})
	s.tpl.HasResourceProperties(jsii.String("AWS::DynamoDB::Table"), map[string]any{
		"BillingMode":                      "PAY_PER_REQUEST",
		"TimeToLiveSpecification":          map[string]any{"AttributeName": ledger.AttrTTL, "Enabled": true},
		"PointInTimeRecoverySpecification": map[string]any{"PointInTimeRecoveryEnabled": true},
		"KeySchema": []any{
			map[string]any{"AttributeName": ledger.AttrPK, "KeyType": "HASH"},
			map[string]any{"AttributeName": ledger.AttrSK, "KeyType": "RANGE"},
		},
	})
	s.tpl.HasResourceProperties(jsii.String("AWS::KMS::Key"), map[string]any{"EnableKeyRotation": true})
	s.tpl.HasResourceProperties(jsii.String("AWS::SNS::Topic"), map[string]any{"KmsMasterKeyId": assertions.Match_AnyValue()})
	s.tpl.HasResourceProperties(jsii.String("AWS::SQS::Queue"), map[string]any{"KmsMasterKeyId": assertions.Match_AnyValue()})
	s.tpl.HasResourceProperties(jsii.String("AWS::WAFv2::IPSet"), map[string]any{"Scope": "REGIONAL", "IPAddressVersion": "IPV4", "Addresses": []any{}})
	s.tpl.HasResourceProperties(jsii.String("AWS::WAFv2::IPSet"), map[string]any{"Scope": "REGIONAL", "IPAddressVersion": "IPV6", "Addresses": []any{}})
	s.tpl.HasResourceProperties(jsii.String("AWS::Lambda::EventInvokeConfig"), map[string]any{
		"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 6 * 3600,
		"DestinationConfig": map[string]any{"OnFailure": map[string]any{"Destination": assertions.Match_AnyValue()}},
	})
	// Every rule's target retries within a budget and dead-letters the rest.
	for id, r := range s.resources("AWS::Events::Rule") {
		targets := props(r)["Targets"].([]any)
		if len(targets) != 1 {
			t.Fatalf("rule %s has %d targets", id, len(targets))
		}
		tg := targets[0].(map[string]any)
		if tg["DeadLetterConfig"] == nil || tg["RetryPolicy"] == nil {
			t.Errorf("rule %s target lacks a dead-letter queue or a retry policy: %v", id, tg)
		}
	}
	s.tpl.HasResourceProperties(jsii.String("AWS::Events::Rule"), map[string]any{
		"ScheduleExpression": "rate(5 minutes)",
		"Targets":            []any{assertions.Match_ObjectLike(&map[string]any{"Input": `{"autocontain":{"command":"reconcile"}}`})},
	})
	for id, a := range s.resources("AWS::CloudWatch::Alarm") {
		if actions, _ := props(a)["AlarmActions"].([]any); len(actions) != 1 {
			t.Errorf("alarm %s does not notify the topic", id)
		}
	}
	// The errors alarm leaves out deliveries deferred while another
	// delivery of the finding ran: the function logs them as the
	// DeliveriesInProgress metric, dimensioned by its name.
	s.tpl.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), map[string]any{
		"Metrics": assertions.Match_ArrayWith(&[]any{
			assertions.Match_ObjectLike(&map[string]any{"Expression": "errors - FILL(inProgress, 0)"}),
			assertions.Match_ObjectLike(&map[string]any{"Id": "inProgress", "MetricStat": assertions.Match_ObjectLike(&map[string]any{
				"Metric": assertions.Match_ObjectLike(&map[string]any{
					"Namespace": engine.MetricNamespace, "MetricName": engine.MetricInProgress,
					"Dimensions": []any{assertions.Match_ObjectLike(&map[string]any{"Name": "FunctionName"})},
				}),
			})}),
		}),
	})
	// A delivery that failed permanently is not retried, so no function
	// error counts it: its own metric is alarmed on, into the topic.
	s.tpl.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), map[string]any{
		"Namespace": engine.MetricNamespace, "MetricName": engine.MetricFailedPermanently,
		"Dimensions": []any{assertions.Match_ObjectLike(&map[string]any{"Name": "FunctionName"})},
		"Threshold":  1, "AlarmActions": assertions.Match_AnyValue(),
	})
}

// policyStatements returns the role's statements, split by effect.
func policyStatements(t *testing.T, s *synthesized) (allow, deny []map[string]any) {
	t.Helper()
	for _, p := range s.resources("AWS::IAM::Policy") {
		doc := props(p)["PolicyDocument"].(map[string]any)
		for _, st := range doc["Statement"].([]any) {
			st := st.(map[string]any)
			if st["Effect"] == "Deny" {
				deny = append(deny, st)
			} else {
				allow = append(allow, st)
			}
		}
	}
	return allow, deny
}

func asList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}

// TestRolePolicyIsLeastPrivilege checks the role against what the code
// declares it needs: every action's permission is granted, nothing with a
// wildcard action, every grant scoped to resources, and the denies in place.
func TestRolePolicyIsLeastPrivilege(t *testing.T) {
	s := defaultStack(t)
	allow, deny := policyStatements(t, s)
	granted := map[string]bool{}
	for _, st := range allow {
		for _, a := range asList(st["Action"]) {
			a := a.(string)
			// Only KMS action families on the one key (CDK's grants use them).
			if strings.Contains(a, "*") && !strings.HasPrefix(a, "kms:") || a == "*" || strings.HasSuffix(a, ":*") {
				t.Errorf("wildcard action %s in %v", a, st["Sid"])
			}
			granted[a] = true
		}
		for _, r := range asList(st["Resource"]) {
			// EC2's Describe actions act on no resource type: "*" only.
			describes := !slices.ContainsFunc(asList(st["Action"]), func(a any) bool { return !strings.HasPrefix(a.(string), "ec2:Describe") })
			if r == "*" && !describes {
				t.Errorf("statement %v grants on every resource", st["Sid"])
			}
		}
	}
	needed := engine.Permissions()
	for _, p := range needed {
		if !granted[p] {
			t.Errorf("the code needs %s; the role does not grant it", p)
		}
	}
	for a := range granted {
		if (strings.HasPrefix(a, "iam:") || strings.HasPrefix(a, "ec2:")) && !slices.Contains(needed, a) {
			t.Errorf("the role grants %s, which no code declares", a)
		}
	}
	denied := map[string]bool{}
	for _, st := range deny {
		for _, a := range asList(st["Action"]) {
			denied[a.(string)] = true
		}
	}
	for _, a := range []string{"iam:DeleteAccessKey", "iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:AttachRolePolicy", "iam:UpdateAssumeRolePolicy"} {
		if !denied[a] {
			t.Errorf("no explicit deny of %s", a)
		}
	}
}

func TestStackOptions(t *testing.T) {
	v4 := "arn:aws:wafv2:us-east-1:123456789012:regional/ipset/existing-v4/11111111-2222-3333-4444-555555555555"
	v6 := "arn:aws:wafv2:us-east-1:123456789012:regional/ipset/existing-v6/66666666-7777-8888-9999-000000000000"
	tests := []struct {
		name   string
		mutate func(*Config)
		region string
		check  func(t *testing.T, s *synthesized)
	}{
		{"existing_ip_sets", func(c *Config) { c.IPSetV4ARN, c.IPSetV6ARN = v4, v6 }, "", func(t *testing.T, s *synthesized) {
			s.tpl.ResourceCountIs(jsii.String("AWS::WAFv2::IPSet"), jsii.Number(0))
			allow, _ := policyStatements(t, s)
			for _, st := range allow {
				if slices.Contains(asList(st["Action"]), any("wafv2:UpdateIPSet")) {
					if res := asList(st["Resource"]); !slices.Contains(res, any(v4)) || !slices.Contains(res, any(v6)) || len(res) != 2 {
						t.Errorf("WAF grant scoped to %v, want the two existing sets", res)
					}
				}
			}
		}},
		{"cloudfront_with_web_acl", func(c *Config) { c.Scope, c.WebACL = "CLOUDFRONT", true }, "us-east-1", func(t *testing.T, s *synthesized) {
			s.tpl.HasResourceProperties(jsii.String("AWS::WAFv2::IPSet"), map[string]any{"Scope": "CLOUDFRONT"})
			s.tpl.HasResourceProperties(jsii.String("AWS::WAFv2::WebACL"), map[string]any{
				"Scope": "CLOUDFRONT", "DefaultAction": map[string]any{"Allow": map[string]any{}},
				"Rules": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{
					"Priority":  0,
					"Action":    map[string]any{"Block": map[string]any{}},
					"Statement": map[string]any{"OrStatement": map[string]any{"Statements": assertions.Match_AnyValue()}},
				})}),
			})
		}},
		{"acting_with_email_and_settings", func(c *Config) {
			c.NotificationEmail, c.ReservedConcurrency = "secops@example.com", 0
			c.Playbook.Settings.DryRun, c.Playbook.Settings.MinSeverity = false, 4
			c.Playbook.Settings.Protect = []playbook.Pattern{"arn:aws:iam::*:role/break-glass-*"}
			c.Playbook.Settings.AllowCIDRs = []netip.Prefix{netip.MustParsePrefix("198.18.0.0/15")}
		}, "", func(t *testing.T, s *synthesized) {
			s.tpl.HasResourceProperties(jsii.String("AWS::SNS::Subscription"), map[string]any{"Protocol": "email", "Endpoint": "secops@example.com"})
			st := s.functionPlaybook(t).Settings
			if st.DryRun || st.MinSeverity != 4 || !slices.Equal(st.Protect, []playbook.Pattern{"arn:aws:iam::*:role/break-glass-*"}) ||
				len(st.AllowCIDRs) != 1 || st.AllowCIDRs[0].String() != "198.18.0.0/15" {
				t.Errorf("the function's settings are %+v", st)
			}
			for _, fn := range s.resources("AWS::Lambda::Function") {
				if _, ok := props(fn)["ReservedConcurrentExecutions"]; ok {
					t.Error("reservedConcurrency=0 should leave the function unreserved")
				}
			}
			// The severity floor reaches the GuardDuty pattern.
			raw, _ := json.Marshal(s.resources("AWS::Events::Rule"))
			if !strings.Contains(strings.ReplaceAll(string(raw), `\u003e`, ">"), `{"numeric":[">=",4]}`) {
				t.Error("minSeverity 4 is not in the GuardDuty rule's pattern")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.mutate(&cfg)
			if err := cfg.validate(); err != nil {
				t.Fatal(err)
			}
			tt.check(t, synth(t, tt.name, cfg, tt.region))
		})
	}
}

func TestCloudFrontNeedsUSEast1(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Scope = "CLOUDFRONT"
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "us-east-1") {
			t.Errorf("synth in eu-west-1 with CLOUDFRONT: %v", r)
		}
	}()
	synth(t, "cloudfront-eu", cfg, "eu-west-1")
}

func TestConfigFromContext(t *testing.T) {
	tests := []struct {
		name    string
		ctx     map[string]any
		check   func(Config) bool
		wantErr string
	}{
		{"defaults", nil, func(c Config) bool {
			return c.Playbook.Settings.DryRun && c.Scope == "REGIONAL" && !c.WebACL && c.ReservedConcurrency == 5 && c.LogRetentionDays == 365
		}, ""},
		{"command_line_strings", map[string]any{"dryRun": "false", "protect": "arn:aws:iam::*:role/a, arn:aws:iam::*:role/b", "minSeverity": "7", "scope": "cloudfront"},
			func(c Config) bool {
				s := c.Playbook.Settings
				return !s.DryRun && len(s.Protect) == 2 && s.MinSeverity == 7 && c.Scope == "CLOUDFRONT"
			}, ""},
		{"cdk_json_types", map[string]any{"dryRun": false, "allowCidrs": []any{"10.0.0.0/8", "192.0.2.0/24"}, "reservedConcurrency": float64(3), "breakerMax": float64(4)},
			func(c Config) bool {
				s := c.Playbook.Settings
				return !s.DryRun && len(s.AllowCIDRs) == 2 && c.ReservedConcurrency == 3 && s.BreakerMax == 4
			}, ""},
		{"bad_bool", map[string]any{"dryRun": "maybe"}, nil, "context dryRun"},
		{"bad_severity", map[string]any{"minSeverity": "11"}, nil, "context minSeverity"},
		{"bad_cidr", map[string]any{"allowCidrs": "10.0.0.0/8,office"}, nil, `context allowCidrs[1]: "office"`},
		{"bad_duration", map[string]any{"blockTtl": "7d"}, nil, "context blockTtl"},
		{"bad_scope", map[string]any{"scope": "GLOBAL"}, nil, "context scope"},
		{"one_ip_set", map[string]any{"ipSetV4Arn": "arn:aws:wafv2:us-east-1:123456789012:regional/ipset/a/1"}, nil, "give both"},
		{"bad_ip_set", map[string]any{"ipSetV4Arn": "a", "ipSetV6Arn": "b"}, nil, "context ipSetV4Arn"},
		{"scope_mismatch", map[string]any{"ipSetV4Arn": "arn:aws:wafv2:us-east-1:123456789012:global/ipset/a/1", "ipSetV6Arn": "arn:aws:wafv2:us-east-1:123456789012:global/ipset/b/2"}, nil, "context ipSetV4Arn: the set's scope is CLOUDFRONT, the stack's REGIONAL"},
		{"bad_email", map[string]any{"notificationEmail": "secops"}, nil, "not an e-mail"},
		{"negative_concurrency", map[string]any{"reservedConcurrency": "-1"}, nil, "reservedConcurrency"},
		{"missing_playbook", map[string]any{"playbook": "/nonexistent/playbook.json"}, nil, "context playbook"},
		{"protect_not_an_arn", map[string]any{"protect": "break-glass-*"}, nil, "context protect"},
		{"protect_question_mark", map[string]any{"protect": "arn:aws:iam::*:role/admin?"}, nil, "context protect"},
		{"protect_too_long_for_the_role_policy", map[string]any{"protect": strings.Repeat("arn:aws:iam::*:role/break-glass-0123456789,", 200)}, nil, "10,240"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Errors come in the tables' order, never a map's: the same
			// context gives the same error every time.
			var first error
			for range 32 {
				c, err := configFrom(func(k string) (any, bool) { v, ok := tt.ctx[k]; return v, ok })
				if tt.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
						t.Fatalf("error %v, want %q", err, tt.wantErr)
					}
					if first != nil && err.Error() != first.Error() {
						t.Fatalf("the same context gave %q, then %q", first, err)
					}
					first = err
					continue
				}
				if err != nil || !tt.check(c) {
					t.Fatalf("config %+v, error %v", c, err)
				}
			}
		})
	}
}

// TestFunctionAndRulesSeeTheSameSettings synthesizes the stack with a
// playbook file and context keys over it, loads the playbook as the
// function would (the bundle and its variables), and derives the rules'
// patterns from that: they must be the template's. The context's value
// wins over the playbook's, and a key left out keeps the playbook's. The
// function used to get the context through variables and the rules
// through a merge of two settings, so they disagreed.
func TestFunctionAndRulesSeeTheSameSettings(t *testing.T) {
	pbFile := filepath.Join(t.TempDir(), "playbook.json")
	text := strings.Replace(string(playbook.DefaultJSON()), `"minSeverity": 0,`, `"minSeverity": 5,`, 1)
	text = strings.Replace(text, `"actOnArchived": false`, `"actOnArchived": true`, 1)
	if err := os.WriteFile(pbFile, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		ctx          map[string]any
		wantSeverity float64
		wantArchived bool
		wantNet      playbook.SafetyNet
	}{
		{"playbook_alone", nil, 5, true, 0},
		{"context_lowers_the_floor", map[string]any{"minSeverity": "3", "actOnArchived": false}, 3, false, 0},
		{"context_zero_is_a_value", map[string]any{"minSeverity": float64(0)}, 0, true, 0},
		{"context_raises_the_safety_net", map[string]any{"safetyNet": float64(7)}, 5, true, 7},
		{"context_switches_the_safety_net_off", map[string]any{"safetyNet": "off"}, 5, true, playbook.SafetyNetOff},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := configFrom(func(k string) (any, bool) {
				if k == "playbook" {
					return pbFile, true
				}
				v, ok := tt.ctx[k]
				return v, ok
			})
			if err != nil {
				t.Fatal(err)
			}
			s := synth(t, "same_settings_"+tt.name, cfg, "")
			fn := s.functionPlaybook(t)
			if fn.Settings.SafetyNet != tt.wantNet {
				t.Errorf("the function's safetyNet=%v, want %v", fn.Settings.SafetyNet, tt.wantNet)
			}
			if fn.Settings.MinSeverity != tt.wantSeverity || fn.Settings.ActOnArchived != tt.wantArchived {
				t.Errorf("the function's minSeverity=%g actOnArchived=%v, want %g, %v",
					fn.Settings.MinSeverity, fn.Settings.ActOnArchived, tt.wantSeverity, tt.wantArchived)
			}
			guardDuty, cloudTrail, err := rulePatterns(fn, "123456789012")
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, p := range slices.Concat(guardDuty, cloudTrail) {
				raw, err := patterns.Compact(p)
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, raw)
			}
			got := slices.Collect(maps.Values(templatePatterns(t, s)))
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("the rules' patterns are not those of the function's playbook:\n got %v\nwant %v", got, want)
			}
		})
	}
}

// contextKeysTable is infra/README.md's table of context keys: the
// playbook settings' (playbook.SettingsTable), then the stack's own.
func contextKeysTable() string {
	var b strings.Builder
	b.WriteString("| key | default | meaning |\n| --- | --- | --- |\n")
	for _, st := range playbook.SettingsTable {
		if st.Context == "" {
			continue
		}
		def := st.Default
		if st.Deploy != "" {
			def = "`" + st.Deploy + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", st.Context, def, st.Doc)
	}
	for _, o := range options() {
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", o.key, o.def, o.doc)
	}
	return b.String()
}

var update = flag.Bool("update", false, "rewrite infra/README.md's table of context keys")

// TestReadmeDocumentsEveryContextKey keeps infra/README.md's table of
// context keys equal to the tables in the code; -update rewrites it.
func TestReadmeDocumentsEveryContextKey(t *testing.T) {
	testenv.ReadmeBlock(t, "README.md", "context keys", contextKeysTable(), *update)
	if n := strings.Count(contextKeysTable(), "\n") - 2; n != len(ContextKeys()) {
		t.Errorf("the table has %d keys, ContextKeys %d", n, len(ContextKeys()))
	}
}

// TestCfnLint runs cfn-lint on the synthesized templates: no errors.
func TestCfnLint(t *testing.T) {
	for _, name := range []string{"default", "cloudfront_with_web_acl"} {
		s := defaultStack(t)
		if name != "default" {
			cfg := DefaultConfig()
			cfg.Scope, cfg.WebACL = "CLOUDFRONT", true
			s = synth(t, name, cfg, "us-east-1")
		}
		cfnLint(t, name, s)
	}
}
