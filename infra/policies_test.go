package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/autocontain/autocontain/internal/engine"
	"github.com/autocontain/autocontain/internal/playbook"
	"github.com/autocontain/autocontain/internal/protect"
)

// A small evaluator of the synthesized policies: enough of IAM's logic to
// say whether a request is allowed (an Allow matches and no Deny does), with
// the template's intrinsic functions resolved for one account and Region.

const (
	testAccount = "123456789012"
	testRegion  = "us-east-1"
)

// request is one call as IAM sees it.
type request struct {
	service  string            // the calling service principal; "" for the role's own calls
	action   string            // "sns:Publish"
	resource string            // an ARN
	context  map[string]string // condition keys the call carries
}

// resolve turns a template value into the string it becomes on deploy, in
// testAccount and testRegion. Named topics and queues resolve to their ARNs.
func (s *synthesized) resolve(t *testing.T, v any) string {
	t.Helper()
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		if ref, ok := x["Ref"].(string); ok {
			if v, ok := pseudoParameter(ref); ok {
				return v
			}
			if r, ok := s.json["Resources"].(map[string]any)[ref].(map[string]any); ok && r["Type"] == "AWS::SNS::Topic" {
				if name, ok := props(r)["TopicName"]; ok {
					return "arn:aws:sns:" + testRegion + ":" + testAccount + ":" + s.resolve(t, name)
				}
			}
			return "ref:" + ref
		}
		if ga, ok := x["Fn::GetAtt"].([]any); ok && len(ga) == 2 {
			id := ga[0].(string)
			if r, ok := s.json["Resources"].(map[string]any)[id].(map[string]any); ok && r["Type"] == "AWS::SQS::Queue" && ga[1] == "Arn" {
				if name, ok := props(r)["QueueName"]; ok {
					return "arn:aws:sqs:" + testRegion + ":" + testAccount + ":" + s.resolve(t, name)
				}
			}
			if r, ok := s.json["Resources"].(map[string]any)[id].(map[string]any); ok && r["Type"] == "AWS::CloudWatch::Alarm" && ga[1] == "Arn" {
				return alarmARN(id)
			}
			return fmt.Sprintf("getatt:%s.%s", id, ga[1])
		}
		if j, ok := x["Fn::Join"].([]any); ok && len(j) == 2 {
			var parts []string
			for _, p := range j[1].([]any) {
				parts = append(parts, s.resolve(t, p))
			}
			return strings.Join(parts, j[0].(string))
		}
	}
	t.Fatalf("cannot resolve %v", v)
	return ""
}

// pseudoParameter is the value of a pseudo parameter in testAccount and
// testRegion.
func pseudoParameter(ref string) (string, bool) {
	v, ok := map[string]string{"AWS::Partition": "aws", "AWS::AccountId": testAccount, "AWS::Region": testRegion, "AWS::URLSuffix": "amazonaws.com"}[ref]
	return v, ok
}

// alarmARN stands for the ARN of the alarm with logical id id.
func alarmARN(id string) string {
	return "arn:aws:cloudwatch:" + testRegion + ":" + testAccount + ":alarm:" + id
}

// glob matches IAM's wildcards: * any run of characters, ? one character.
func glob(pattern, s string, fold bool) bool {
	re := "^" + strings.NewReplacer(`\*`, ".*", `\?`, ".").Replace(regexp.QuoteMeta(pattern)) + "$"
	if fold {
		re = "(?i)" + re
	}
	return regexp.MustCompile(re).MatchString(s)
}

// evaluate applies the statements to req: allowed when an Allow matches
// and no Deny does. It fails the test on a condition operator it does not
// know, rather than guess.
func (s *synthesized) evaluate(t *testing.T, statements []map[string]any, req request) (allowed bool, why string) {
	t.Helper()
	for _, st := range statements {
		if !s.matches(t, st, req) {
			continue
		}
		if st["Effect"] == "Deny" {
			return false, fmt.Sprintf("denied by %v", st["Sid"])
		}
		allowed, why = true, fmt.Sprintf("allowed by %v", st["Sid"])
	}
	if !allowed {
		return false, "no statement allows it"
	}
	return allowed, why
}

func (s *synthesized) matches(t *testing.T, st map[string]any, req request) bool {
	t.Helper()
	if p, ok := st["Principal"]; ok && !principalMatches(p, req.service) {
		return false
	}
	if !anyMatch(st["Action"], func(v any) bool { return glob(v.(string), req.action, true) }) {
		return false
	}
	if !anyMatch(st["Resource"], func(v any) bool { return glob(s.resolve(t, v), req.resource, false) }) {
		return false
	}
	cond, _ := st["Condition"].(map[string]any)
	for op, kv := range cond {
		base, ifExists := strings.CutSuffix(op, "IfExists")
		for key, want := range kv.(map[string]any) {
			got, present := req.context[key]
			if !present {
				if !ifExists {
					return false
				}
				continue
			}
			var test func(w string) bool
			switch base {
			case "StringEquals", "ArnEquals":
				test = func(w string) bool { return w == got }
			case "StringEqualsIgnoreCase":
				test = func(w string) bool { return strings.EqualFold(w, got) }
			case "StringLike", "ArnLike":
				test = func(w string) bool { return glob(w, got, false) }
			case "Bool":
				test = func(w string) bool { return strings.EqualFold(w, got) }
			case "Null":
				// Present, here: "false" holds, "true" does not.
				test = func(w string) bool { return w == "false" }
			case "ForAllValues:StringEquals":
				// A multi-valued key is given comma-separated: each value
				// must be one of the statement's.
				for _, g := range strings.Split(got, ",") {
					if !anyMatch(want, func(v any) bool { return s.resolve(t, v) == g }) {
						return false
					}
				}
				continue
			default:
				t.Fatalf("statement %v: condition operator %s is not evaluated by this test", st["Sid"], op)
			}
			if !anyMatch(want, func(v any) bool { return test(s.resolve(t, v)) }) {
				return false
			}
		}
	}
	return true
}

func principalMatches(p any, service string) bool {
	if p == "*" {
		return true
	}
	m, _ := p.(map[string]any)
	if m["AWS"] == "*" {
		return true
	}
	return service != "" && anyMatch(m["Service"], func(v any) bool { return v == service })
}

func anyMatch(v any, f func(any) bool) bool {
	for _, e := range asList(v) {
		if e != nil && f(e) {
			return true
		}
	}
	return false
}

// topicPolicies returns each topic's resource-policy statements, by the
// topic's resolved ARN.
func (s *synthesized) topicPolicies(t *testing.T) map[string][]map[string]any {
	out := map[string][]map[string]any{}
	for _, p := range s.resources("AWS::SNS::TopicPolicy") {
		var sts []map[string]any
		for _, st := range props(p)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			sts = append(sts, st.(map[string]any))
		}
		for _, topic := range props(p)["Topics"].([]any) {
			out[s.resolve(t, topic)] = append(out[s.resolve(t, topic)], sts...)
		}
	}
	return out
}

// keyPolicy returns the statements of the stack's one key.
func (s *synthesized) keyPolicy(t *testing.T) []map[string]any {
	keys := s.resources("AWS::KMS::Key")
	if len(keys) != 1 {
		t.Fatalf("%d keys, want 1", len(keys))
	}
	var out []map[string]any
	for _, k := range keys {
		for _, st := range props(k)["KeyPolicy"].(map[string]any)["Statement"].([]any) {
			out = append(out, st.(map[string]any))
		}
	}
	return out
}

// TestAlarmsCanNotify evaluates the synthesized topic and key policies for
// every alarm action: CloudWatch, publishing over TLS for the stack's alarm,
// may publish to the topic and use its key; the same call for another
// account, another alarm, or without TLS, is refused.
func TestAlarmsCanNotify(t *testing.T) {
	for name, s := range map[string]*synthesized{
		"environment_agnostic": defaultStack(t),
		"pinned":               synth(t, "pinned_us_east_1", DefaultConfig(), testRegion),
		"cdk_json_context":     synthCDKJSON(t),
		"organization_central": synthOrg(t).central,
	} {
		t.Run(name, func(t *testing.T) { alarmsCanNotify(t, s) })
	}
}

func alarmsCanNotify(t *testing.T, s *synthesized) {
	topics := s.topicPolicies(t)
	key := s.keyPolicy(t)
	alarms := s.resources("AWS::CloudWatch::Alarm")
	if len(alarms) == 0 {
		t.Fatal("no alarms")
	}
	for id, a := range alarms {
		for _, action := range asList(props(a)["AlarmActions"]) {
			topic := s.resolve(t, action)
			policy, ok := topics[topic]
			if !ok {
				t.Fatalf("alarm %s notifies %s, which has no topic policy in the stack", id, topic)
			}
			publishFrom := func(alarm, account, secure string) request {
				return request{service: "cloudwatch.amazonaws.com", action: "sns:Publish", resource: topic, context: map[string]string{
					"aws:SecureTransport": secure, "aws:SourceAccount": account, "aws:SourceArn": alarm,
				}}
			}
			publish := func(account, secure string) request { return publishFrom(alarmARN(id), account, secure) }
			for _, tc := range []struct {
				name string
				req  request
				want bool
			}{
				{"this_account_over_tls", publish(testAccount, "true"), true},
				{"another_account", publish("999999999999", "true"), false},
				{"without_tls", publish(testAccount, "false"), false},
				{"another_alarm", publishFrom(alarmARN("SomeoneElsesAlarm"), testAccount, "true"), false},
			} {
				if got, why := s.evaluate(t, policy, tc.req); got != tc.want {
					t.Errorf("alarm %s, topic %s, %s: allowed=%v (%s), want %v", id, topic, tc.name, got, why, tc.want)
				}
			}
			// SNS asks KMS for a data key as CloudWatch, with the topic as
			// the encryption context.
			for _, kmsAction := range []string{"kms:GenerateDataKey", "kms:Decrypt"} {
				use := func(account, ctxTopic string) request {
					return request{service: "cloudwatch.amazonaws.com", action: kmsAction, resource: "*", context: map[string]string{
						"aws:SourceAccount": account, "kms:EncryptionContext:aws:sns:topicArn": ctxTopic,
					}}
				}
				if got, why := s.evaluate(t, key, use(testAccount, topic)); !got {
					t.Errorf("alarm %s: CloudWatch cannot %s with the topic's key: %s", id, kmsAction, why)
				}
				if got, why := s.evaluate(t, key, use("999999999999", topic)); got {
					t.Errorf("CloudWatch for another account may %s with the key: %s", kmsAction, why)
				}
				if got, why := s.evaluate(t, key, use(testAccount, "arn:aws:sns:"+testRegion+":"+testAccount+":other")); got {
					t.Errorf("CloudWatch may %s with the key for another topic: %s", kmsAction, why)
				}
			}
		}
	}
}

// TestDeadLettersCanBeDelivered: EventBridge may use the key for the
// dead-letter queue (SQS's encryption context names it), and for nothing else.
func TestDeadLettersCanBeDelivered(t *testing.T) {
	s := defaultStack(t)
	key := s.keyPolicy(t)
	var queue string
	for id := range s.resources("AWS::SQS::Queue") {
		queue = s.resolve(t, map[string]any{"Fn::GetAtt": []any{id, "Arn"}})
	}
	if !strings.HasPrefix(queue, "arn:aws:sqs:") {
		t.Fatalf("the dead-letter queue's ARN does not resolve (%s): is it named?", queue)
	}
	for _, action := range []string{"kms:GenerateDataKey", "kms:Decrypt"} {
		use := func(q string) request {
			return request{service: "events.amazonaws.com", action: action, resource: "*", context: map[string]string{"kms:EncryptionContext:aws:sqs:arn": q}}
		}
		if got, why := s.evaluate(t, key, use(queue)); !got {
			t.Errorf("EventBridge cannot %s for the dead-letter queue: %s", action, why)
		}
		if got, why := s.evaluate(t, key, use("arn:aws:sqs:"+testRegion+":999999999999:elsewhere")); got {
			t.Errorf("EventBridge may %s for another account's queue: %s", action, why)
		}
	}
	// Every statement for a service principal is scoped by a condition.
	for _, st := range key {
		if p, _ := st["Principal"].(map[string]any); p["Service"] != nil && st["Condition"] == nil {
			t.Errorf("key policy statement %v lets %v use the key unconditionally", st["Sid"], p["Service"])
		}
	}
}

// TestRoleKeyGrantsDoNotOverlap: each KMS action on the key is allowed to
// the role by one statement.
func TestRoleKeyGrantsDoNotOverlap(t *testing.T) {
	for name, s := range map[string]*synthesized{"default": defaultStack(t), "cdk_json_context": synthCDKJSON(t)} {
		t.Run(name, func(t *testing.T) { keyGrantsDoNotOverlap(t, s) })
	}
}

func keyGrantsDoNotOverlap(t *testing.T, s *synthesized) {
	allow, _ := policyStatements(t, s)
	seen := map[string]any{}
	for _, st := range allow {
		for _, a := range asList(st["Action"]) {
			if a := a.(string); strings.HasPrefix(a, "kms:") {
				if prev, dup := seen[a]; dup {
					t.Errorf("%s is allowed twice on the key (statements %v and %v)", a, prev, st["Sid"])
				}
				seen[a] = st["Sid"]
			}
		}
	}
}

// TestRoleCannotChangeProtectedPrincipals evaluates the role's policy for
// each IAM action that changes a principal: refused on a principal tagged
// autocontain:protected=true and on one matching a protect pattern (from the
// protect context key, or the playbook when the key is unset), allowed on
// an ordinary user or role.
func TestRoleCannotChangeProtectedPrincipals(t *testing.T) {
	actions := mutatingIAMActions()
	for _, want := range []string{"iam:PutUserPolicy", "iam:PutRolePolicy", "iam:DeleteUserPolicy", "iam:DeleteRolePolicy", "iam:UpdateAccessKey"} {
		if !strings.Contains(strings.Join(actions, " "), want) {
			t.Errorf("mutatingIAMActions() = %v lacks %s", actions, want)
		}
	}
	cfg, err := configFrom(func(k string) (any, bool) {
		return "arn:aws:iam::*:role/break-glass-*, arn:aws:iam::" + testAccount + ":user/admins/*", k == "protect"
	})
	if err != nil {
		t.Fatal(err)
	}
	withContext := synth(t, "protect_context", cfg, "")

	dir := t.TempDir()
	pbFile := filepath.Join(dir, "playbook.json")
	pb := *playbook.Default()
	pb.Settings.Protect = []playbook.Pattern{"arn:aws:iam::*:role/break-glass-*", "arn:aws:iam::" + testAccount + ":user/admins/*"}
	raw, err := json.Marshal(&pb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pbFile, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	fromPlaybook := synthWithPlaybook(t, "protect_playbook", pbFile)

	for name, s := range map[string]*synthesized{
		"default": defaultStack(t), "cdk_json_context": synthCDKJSON(t),
		"protect_context": withContext, "protect_playbook": fromPlaybook,
	} {
		allow, deny := policyStatements(t, s)
		policy := append(allow, deny...)
		for _, action := range actions {
			for _, tc := range []struct {
				what, arn  string
				tagged     bool
				withPatern bool // protected only when the stack has the patterns
				want       bool
			}{
				{"ordinary role", "arn:aws:iam::" + testAccount + ":role/app", false, false, true},
				{"ordinary user", "arn:aws:iam::" + testAccount + ":user/alice", false, false, true},
				{"tagged role", "arn:aws:iam::" + testAccount + ":role/app", true, false, false},
				{"tagged user", "arn:aws:iam::" + testAccount + ":user/alice", true, false, false},
				{"pattern role", "arn:aws:iam::" + testAccount + ":role/break-glass-1", false, true, false},
				{"pattern user with path", "arn:aws:iam::" + testAccount + ":user/admins/bob", false, true, false},
			} {
				want := tc.want
				if tc.withPatern && (name == "default" || name == "cdk_json_context") {
					want = true
				}
				values := []string{""}
				if tc.tagged {
					values = paddedProtectValues
				}
				for _, v := range values {
					// The call attaches the quarantine policy, for the attach and
					// detach calls (TestRoleAttachesOnlyTheQuarantinePolicy).
					ctx := map[string]string{"iam:PolicyARN": playbook.DefaultQuarantinePolicy("aws")}
					if tc.tagged {
						ctx["iam:ResourceTag/"+protect.TagKey] = v
					}
					got, why := s.evaluate(t, policy, request{action: action, resource: tc.arn, context: ctx})
					if got != want {
						t.Errorf("%s: %s on %s (%s %q): allowed=%v (%s), want %v", name, action, tc.arn, tc.what, v, got, why, want)
					}
				}
			}
		}
	}
}

// paddedProtectValues are values of autocontain:protected that the code
// protects (finding.IsProtectValue) and the denies must match too: any
// case, padded with a space before, after or both.
var paddedProtectValues = []string{"True", "true", " true", "TRUE ", " True "}

// synthWithPlaybook synthesizes the default configuration with a playbook
// file, as the app does: the playbook context key names it.
func synthWithPlaybook(t *testing.T, name, file string) *synthesized {
	t.Helper()
	cfg, err := configFrom(func(k string) (any, bool) { return file, k == "playbook" })
	if err != nil {
		t.Fatal(err)
	}
	return synth(t, name, cfg, "")
}

// synthCDKJSON synthesizes the stack as `make synth` and the CDK CLI do,
// with the repository's cdk.json context (feature flags such as
// @aws-cdk/aws-iam:minimizePolicies included), pinned to testRegion.
func synthCDKJSON(t *testing.T) *synthesized {
	t.Helper()
	ctx, err := directContext(func(string) (string, bool) { return "", false }, "..")
	if err != nil {
		t.Fatal(err)
	}
	if len(ctx) == 0 {
		t.Fatal("no context in ../cdk.json")
	}
	cfg, err := configFrom(func(k string) (any, bool) { v, ok := ctx[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	return synthApp(t, "cdk_json", cfg, testRegion, ctx)
}

func TestCheckRegion(t *testing.T) {
	cf := DefaultConfig()
	cf.Scope = "CLOUDFRONT"
	for _, tc := range []struct {
		cfg     Config
		region  string
		wantErr bool
	}{
		{cf, "us-east-1", false}, {cf, "eu-west-1", true}, {cf, "", false},
		{DefaultConfig(), "eu-west-1", false},
	} {
		err := tc.cfg.CheckRegion(tc.region)
		if (err != nil) != tc.wantErr || err != nil && !strings.Contains(err.Error(), "context scope") {
			t.Errorf("scope %s in %q: %v", tc.cfg.Scope, tc.region, err)
		}
	}
}

func TestDirectContext(t *testing.T) {
	write := func(t *testing.T, files map[string]string) string {
		dir := t.TempDir()
		for name, text := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	noEnv := func(string) (string, bool) { return "", false }
	tests := []struct {
		name    string
		files   map[string]string
		env     map[string]string
		want    map[string]any
		wantErr string
	}{
		{"cdk_json", map[string]string{"cdk.json": `{"app":"go run ./infra","context":{"dryRun":false,"minSeverity":7}}`}, nil,
			map[string]any{"dryRun": false, "minSeverity": float64(7)}, ""},
		{"cdk_context_json_over_cdk_json", map[string]string{
			"cdk.json": `{"context":{"dryRun":false,"scope":"REGIONAL"}}`, "cdk.context.json": `{"scope":"CLOUDFRONT"}`}, nil,
			map[string]any{"dryRun": false, "scope": "CLOUDFRONT"}, ""},
		{"no_files", nil, nil, map[string]any{}, ""},
		{"under_the_cli", map[string]string{"cdk.json": `{"context":{"dryRun":false}}`}, map[string]string{"CDK_CONTEXT_JSON": `{}`}, nil, ""},
		{"bad_json", map[string]string{"cdk.json": `{"context":`}, nil, nil, "cdk.json"},
		{"context_not_object", map[string]string{"cdk.json": `{"context":[1]}`}, nil, nil, `"context" is not`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lookup := noEnv
			if tt.env != nil {
				lookup = func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
			}
			got, err := directContext(lookup, write(t, tt.files))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			a, _ := json.Marshal(got)
			b, _ := json.Marshal(tt.want)
			if string(a) != string(b) {
				t.Errorf("context %s, want %s", a, b)
			}
		})
	}
}

// TestAppLikeTheCLI runs the app as `make synth` does and as the CDK CLI
// does: both read cdk.json's context (a bad value there fails either way,
// naming the key, before anything is built), and CLOUDFRONT outside
// us-east-1 is an error naming the key, not a panic.
func TestAppLikeTheCLI(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "infra")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build ./infra: %v\n%s", err, out)
	}
	baseEnv := func() []string {
		var env []string
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "CDK_") && !strings.HasPrefix(kv, "CONTEXT_OVERFLOW") {
				env = append(env, kv)
			}
		}
		return env
	}
	badScope := `{"app":"go run ./infra","context":{"scope":"GLOBAL"}}`
	tests := []struct {
		name  string
		dir   func(t *testing.T) string
		env   []string
		wants []string
	}{
		{"make_synth_reads_cdk_json", func(t *testing.T) string {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "cdk.json"), []byte(badScope), 0o644); err != nil {
				t.Fatal(err)
			}
			return dir
		}, nil, []string{"context scope", "GLOBAL"}},
		{"cli_context", func(t *testing.T) string { return t.TempDir() },
			[]string{`CDK_CONTEXT_JSON={"scope":"GLOBAL"}`}, []string{"context scope", "GLOBAL"}},
		{"cloudfront_outside_us_east_1", func(t *testing.T) string { return t.TempDir() },
			[]string{`CDK_CONTEXT_JSON={"scope":"CLOUDFRONT"}`, "CDK_DEFAULT_ACCOUNT=" + testAccount, "CDK_DEFAULT_REGION=eu-west-1"},
			[]string{"context scope", "us-east-1", "eu-west-1"}},
		{"organization_needs_the_central_account", func(t *testing.T) string { return t.TempDir() },
			[]string{`CDK_CONTEXT_JSON={"organizationId":"` + testOrg + `","memberTargets":"` + testOU1 + `","regions":"us-east-1"}`},
			[]string{"context organizationId", "CDK_DEFAULT_ACCOUNT"}},
		{"organization_home_region_not_listed", func(t *testing.T) string { return t.TempDir() },
			[]string{`CDK_CONTEXT_JSON={"organizationId":"` + testOrg + `","memberTargets":"` + testOU1 + `","regions":"us-east-1"}`,
				"CDK_DEFAULT_ACCOUNT=" + testAccount, "CDK_DEFAULT_REGION=eu-west-1"},
			[]string{"context regions", "eu-west-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bin)
			cmd.Dir = tt.dir(t)
			cmd.Env = append(baseEnv(), tt.env...)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the app succeeded:\n%s", out)
			}
			for _, w := range tt.wants {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, bad := range []string{"panic", "goroutine"} {
				if strings.Contains(string(out), bad) {
					t.Errorf("output has %q:\n%s", bad, out)
				}
			}
		})
	}
}

// TestRoleAttachesOnlyTheQuarantinePolicy: the role may attach and detach
// a managed policy only when iam:PolicyARN is the quarantine policy (the
// default, in the stack's partition, or the configured one), in the stack
// as the tests and as the CDK CLI synthesize it: any other policy, or a
// call without the key, is not allowed.
func TestRoleAttachesOnlyTheQuarantinePolicy(t *testing.T) {
	custom := playbook.Default()
	custom.Settings.QuarantinePolicyARN = "arn:aws:iam::123456789012:policy/security/Quarantine"
	scoped := engine.PolicyScopedPermissions()
	if want := []string{"iam:AttachRolePolicy", "iam:AttachUserPolicy", "iam:DetachRolePolicy", "iam:DetachUserPolicy"}; !slices.Equal(scoped, want) {
		t.Fatalf("PolicyScopedPermissions = %v, want %v", scoped, want)
	}
	v3 := "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3"
	for _, tt := range []struct {
		name   string
		s      *synthesized
		policy string
	}{
		{"default", defaultStack(t), v3},
		{"cdk_json", synthCDKJSON(t), v3},
		{"configured_policy", synth(t, "quarantine_policy", configWith(custom), ""), custom.Settings.QuarantinePolicyARN},
	} {
		t.Run(tt.name, func(t *testing.T) {
			allow, deny := policyStatements(t, tt.s)
			policy := append(allow, deny...)
			for _, action := range scoped {
				for _, tc := range []struct {
					policyARN string
					want      bool
				}{
					{tt.policy, true},
					{"arn:aws:iam::aws:policy/AdministratorAccess", false},
					{"arn:aws:iam::123456789012:policy/Quarantine", false},
					{"", false},
				} {
					ctx := map[string]string{}
					if tc.policyARN != "" {
						ctx["iam:PolicyARN"] = tc.policyARN
					}
					for _, principal := range []string{"user/alice", "role/app"} {
						got, why := tt.s.evaluate(t, policy, request{action: action, resource: "arn:aws:iam::" + testAccount + ":" + principal, context: ctx})
						if got != tc.want {
							t.Errorf("%s of policy %q on %s: allowed=%v (%s), want %v", action, tc.policyARN, principal, got, why, tc.want)
						}
					}
				}
			}
		})
	}
}

// TestRolePolicyFitsIAM: each role's inline policies, resolved, fit in
// IAM's 10,240 characters (IAM User Guide, "IAM and AWS STS quotas":
// a role's inline policies in all, whitespace not counted), and CDK does
// not split the function's role into overflow managed policies (the
// arnSizeEstimate the stack sets), in single-account and organization
// mode. A reference to a resource (Ref, Fn::GetAtt) counts 128
// characters, more than the ARN or name it resolves to here.
func TestRolePolicyFitsIAM(t *testing.T) {
	o := synthOrg(t)
	for name, s := range map[string]*synthesized{"default": defaultStack(t), "cdk_json": synthCDKJSON(t), "organization_central": o.central} {
		if n := len(s.resources("AWS::IAM::ManagedPolicy")); n != 0 {
			t.Errorf("%s: %d managed policies: CDK split the role's policy", name, n)
		}
		size := 0
		for _, p := range s.resources("AWS::IAM::Policy") {
			size += resolvedSize(props(p)["PolicyDocument"])
		}
		t.Logf("%s: the role's policy is at most %d characters", name, size)
		if size > 10240 {
			t.Errorf("%s: the role's policy takes up to %d characters, more than IAM's 10,240", name, size)
		}
	}
	_, member := memberPolicy(t, o.member)
	if size := resolvedSize(member); size > 10240 {
		t.Errorf("the member role's policy takes up to %d characters, more than IAM's 10,240", size)
	}
}

// resolvedSize is the length of v as JSON once deployed, at most: the
// pseudo parameters as testAccount and testRegion resolve them, a
// reference to a resource as 128 characters.
func resolvedSize(v any) int {
	var resolve func(v any) any
	resolve = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["Ref"].(string); ok {
				if v, ok := pseudoParameter(ref); ok {
					return v
				}
				return strings.Repeat("x", 128)
			}
			if _, ok := x["Fn::GetAtt"]; ok {
				return strings.Repeat("x", 128)
			}
			if j, ok := x["Fn::Join"].([]any); ok && len(j) == 2 {
				var parts []string
				for _, p := range j[1].([]any) {
					parts = append(parts, fmt.Sprint(resolve(p)))
				}
				return strings.Join(parts, j[0].(string))
			}
			out := map[string]any{}
			for k, e := range x {
				out[k] = resolve(e)
			}
			return out
		case []any:
			out := make([]any, len(x))
			for i, e := range x {
				out[i] = resolve(e)
			}
			return out
		case []map[string]any:
			out := make([]any, len(x))
			for i, e := range x {
				out[i] = resolve(e)
			}
			return out
		}
		return v
	}
	raw, _ := json.Marshal(resolve(v))
	return len(raw)
}
