package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	lambdasvc "github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/impact"
	"github.com/autocontain/autocontain/internal/impact/impacttest"
	"github.com/autocontain/autocontain/internal/plan"
	"github.com/autocontain/autocontain/internal/testenv"
	"github.com/autocontain/autocontain/internal/testenv/faultproxy"
)

func cli(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = runCLI(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCLIUsage(t *testing.T) {
	badPlaybook := writeFile(t, "pb.json", "{\n  \"version\": 1,\n  \"rules\": [\n    {\"name\": \"x\", \"source\": \"guardduty\", \"types\": [\"A\"], \"actions\": [\"delete-key\"]}\n  ]\n}\n")
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"no_command", nil, exitUsage, "", "Usage:"},
		{"help", []string{"-h"}, exitOK, "autocontain plan", ""},
		{"unknown_command", []string{"contain"}, exitUsage, "", `unknown command "contain"`},
		{"plan_without_event", []string{"plan"}, exitUsage, "", "name at least one event file"},
		{"plan_flag_help", []string{"plan", "-h"}, exitOK, "", "-json"},
		{"plan_missing_file", []string{"plan", "nope.json"}, exitUsage, "", "nope.json"},
		{"plan_not_an_event", []string{"plan", writeFile(t, "x.json", `{"hello":"world"}`)}, exitUsage, "", `no "source"`},
		{"plan_bad_playbook", []string{"plan", "-playbook", badPlaybook, "../events/guardduty-ec2-ssh-bruteforce.json"}, exitUsage, "", `actions[0]: "delete-key"`},
		{"playbook_check_bad", []string{"playbook", "-check", badPlaybook}, exitUsage, "", "delete-key"},
		{"playbook_check_good", []string{"playbook", "-check", writeFile(t, "ok.json", `{"version":1,"rules":[{"name":"x","source":"guardduty","types":["A"],"actions":["notify"]}]}`)}, exitOK, "valid, 1 rules", ""},
		{"playbook_prints_default", []string{"playbook"}, exitOK, `"known-bad-caller"`, ""},
		{"invoke_without_function", []string{"invoke", "../events/guardduty-ec2-ssh-bruteforce.json"}, exitUsage, "", "-function"},
		{"invoke_refuses_bad_event", []string{"invoke", "-function", "autocontain", writeFile(t, "x.json", `[]`)}, exitUsage, "", "not a JSON object"},
		{"apply_without_event", []string{"apply"}, exitUsage, "", "name at least one event file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := cli(t, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, out, errOut)
			}
			if !strings.Contains(out, tt.wantStdout) {
				t.Errorf("stdout lacks %q:\n%s", tt.wantStdout, out)
			}
			if !strings.Contains(errOut, tt.wantStderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantStderr, errOut)
			}
		})
	}
}

func TestCLIPlan(t *testing.T) {
	// plan must not need AWS at all: no credentials, an unreachable endpoint.
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	code, out, errOut := cli(t, "plan", "-account", "123456789012", "../events/guardduty-maliciousipcaller-custom-akia.json", "../events/guardduty-root-credential-usage.json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"known-bad-caller", "deactivate-key", "root-credential-usage", "report", "ACTION", "REASON"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	code, out, errOut = cli(t, "plan", "-json", "-account", "aws:123456789012", "../events/guardduty-instance-credential-exfiltration-outsideaws.json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var p plan.Plan
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("-json output is not a plan: %v\n%s", err, out)
	}
	if p.Rule != "instance-credentials-used-outside-aws" || len(p.Steps) == 0 {
		t.Errorf("plan %+v", p)
	}
}

// TestCLIPlanMasksOnlyTheTable: as the README documents, the plan's
// table masks the key id (AKIA… and its last four characters), and
// plan -json carries it whole, for the step that will deactivate it.
func TestCLIPlanMasksOnlyTheTable(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
	const event, key, masked = "../events/guardduty-maliciousipcaller-custom-akia.json", "AKIA5EXAMPLEALICE7Q2", "AKIA…E7Q2"
	code, table, errOut := cli(t, "plan", "-account", "123456789012", event)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if strings.Contains(table, key) || !strings.Contains(table, masked) {
		t.Errorf("the table shows the key unmasked, or not at all:\n%s", table)
	}
	code, out, errOut := cli(t, "plan", "-json", "-account", "123456789012", event)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var p plan.Plan
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("-json output is not a plan: %v\n%s", err, out)
	}
	var deactivates bool
	for _, s := range p.Steps {
		deactivates = deactivates || s.Action == "deactivate-key" && s.Target.AccessKeyID == key
	}
	if !deactivates || strings.Contains(out, masked) {
		t.Errorf("plan -json does not carry the key %s whole for deactivate-key:\n%s", key, out)
	}
}

func TestCLIApply(t *testing.T) {
	emu, acct, _ := sandboxFor(t)
	cfg, ctx := emu.Config(t), context.Background()
	for _, kv := range emulatorEnv(emu.URL) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	for _, kv := range acct.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	event := writeFile(t, "alice.json", string(acct.Rewrite(testenv.Event(t, "guardduty-maliciousipcaller-custom-akia.json"))))

	code, out, errOut := cli(t, "apply", "-dry-run", event)
	if code != exitOK || !strings.Contains(out, "dry-run") {
		t.Fatalf("dry run: exit %d\n%s\n%s", code, out, errOut)
	}
	st, err := acct.Snapshot(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if st.KeyStatus["alice"][acct.Keys["alice"][0]] != "Active" {
		t.Fatal("apply -dry-run changed the key")
	}

	code, out, errOut = cli(t, "apply", event)
	if code != exitOK || !strings.Contains(out, "[done] deactivate-key") {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	if st, err = acct.Snapshot(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if st.KeyStatus["alice"][acct.Keys["alice"][0]] != "Inactive" {
		t.Error("apply did not deactivate the key")
	}

	missing := writeFile(t, "nobody.json", strings.ReplaceAll(string(testenv.Event(t, "cloudtrail-stoplogging-iamuser.json")), `"alice"`, `"nobody"`))
	code, out, errOut = cli(t, "apply", "-json", missing)
	if code != exitFailed || !strings.Contains(errOut, "a step failed") || !strings.Contains(out, `"outcome": "failed"`) {
		t.Errorf("failing apply: exit %d\n%s\n%s", code, out, errOut)
	}
}

// TestCLIInvoke re-invokes a function through the Lambda API served by the
// emulator. Without Docker, moto does not run the function: with
// lambda.use_docker off it answers with the payload it was sent, which
// proves the request (function, payload, synchronous invocation) and the
// printing of the answer, not the function.
func TestCLIInvoke(t *testing.T) {
	emu := testenv.Moto(t)
	cfg := emu.Config(t)
	ctx := context.Background()
	req, err := http.NewRequest(http.MethodPost, emu.URL+"/moto-api/config", strings.NewReader(`{"lambda":{"use_docker":false}}`))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	role, err := iam.NewFromConfig(cfg).CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("autocontain"),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	var zipped bytes.Buffer
	zw := zip.NewWriter(&zipped)
	if w, err := zw.Create("bootstrap"); err != nil {
		t.Fatal(err)
	} else {
		w.Write([]byte("#!/bin/sh\n"))
	}
	zw.Close()
	if _, err := lambdasvc.NewFromConfig(cfg).CreateFunction(ctx, &lambdasvc.CreateFunctionInput{
		FunctionName: aws.String("autocontain-responder"), Runtime: lambdatypes.RuntimeProvidedal2023, Handler: aws.String("bootstrap"),
		Role: role.Role.Arn, Code: &lambdatypes.FunctionCode{ZipFile: zipped.Bytes()}, Architectures: []lambdatypes.Architecture{lambdatypes.ArchitectureArm64},
	}); err != nil {
		t.Fatal(err)
	}
	for _, kv := range emulatorEnv(emu.URL) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}

	code, out, errOut := cli(t, "invoke", "-function", "autocontain-responder", "../events/guardduty-ec2-ssh-bruteforce.json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var echoed map[string]any
	if err := json.Unmarshal([]byte(out), &echoed); err != nil || echoed["detail-type"] != "GuardDuty Finding" {
		t.Errorf("answer %q (%v)", out, err)
	}
	// moto with use_docker off answers even for a function that does not
	// exist (docs/moto-notes.md), so that error path is not tested here.
}

// TestCLIPlanAccount: plan makes no AWS call, so it knows the account it
// serves only from -account or $AUTOCONTAIN_ACCOUNT; without either it
// contains no principal and says it could not check.
func TestCLIPlanAccount(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
	const alice = "../events/guardduty-maliciousipcaller-custom-akia.json"
	tests := []struct {
		name     string
		env      string
		args     []string
		wantCode int
		want     []string
		wantNot  []string
	}{
		{"flag_home", "", []string{"-account", "123456789012"}, exitOK, []string{"deactivate-key", "revoke-sessions", "block-ip"}, []string{"could not check"}},
		{"variable_home", "123456789012", nil, exitOK, []string{"deactivate-key"}, []string{"could not check"}},
		{"flag_overrides_variable", "210987654321", []string{"-account", "123456789012"}, exitOK, []string{"deactivate-key"}, nil},
		{"unknown_home", "", nil, exitOK, []string{"report", "could not check", "block-ip"}, []string{"deactivate-key", "revoke-sessions"}},
		{"other_account", "", []string{"-account", "210987654321"}, exitOK,
			[]string{"report", "account 123456789012", "serves account 210987654321", "block-ip"}, []string{"deactivate-key", "revoke-sessions"}},
		{"other_partition", "", []string{"-account", "aws-us-gov:123456789012"}, exitOK,
			[]string{"report", "(aws-us-gov)"}, []string{"deactivate-key", "revoke-sessions"}},
		{"bad_account", "", []string{"-account", "12345"}, exitUsage, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("AUTOCONTAIN_ACCOUNT", tt.env)
			code, out, errOut := cli(t, append(append([]string{"plan"}, tt.args...), alice)...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d: %s%s", code, tt.wantCode, out, errOut)
			}
			if code == exitUsage {
				if !strings.Contains(errOut, "12 digits") {
					t.Errorf("error %q", errOut)
				}
				return
			}
			steps := out[strings.Index(out, "ACTION"):]
			for _, w := range tt.want {
				if !strings.Contains(steps, w) {
					t.Errorf("plan lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.wantNot {
				if strings.Contains(steps, "  "+w+"  ") {
					t.Errorf("plan has a %q step:\n%s", w, out)
				}
			}
		})
	}
}

// TestCLIApplyAccount: apply learns the account from the credentials
// (sts:GetCallerIdentity; moto's is 123456789012), refuses an -account
// that names another, and reports a principal of another account.
func TestCLIApplyAccount(t *testing.T) {
	emu, acct, before := sandboxFor(t)
	cfg, ctx := emu.Config(t), context.Background()
	for _, kv := range append(emulatorEnv(emu.URL), acct.Env()...) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Setenv("AUTOCONTAIN_ACCOUNT", "")
	alice := string(acct.Rewrite(testenv.Event(t, "guardduty-maliciousipcaller-custom-akia.json")))
	member := writeFile(t, "member.json", strings.NewReplacer(`"accountId": "123456789012"`, `"accountId": "210987654321"`,
		"df1db1afefc8cb0e1936524a9ad401f8", "0f1db1afefc8cb0e1936524a9ad401f8").Replace(alice))

	code, out, errOut := cli(t, "apply", "-account", "210987654321", writeFile(t, "alice.json", alice))
	if code != exitUsage || !strings.Contains(errOut, "credentials act in aws:123456789012") {
		t.Errorf("apply with another -account: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = cli(t, "apply", member)
	if code != exitOK || !strings.Contains(out, "reported") || !strings.Contains(out, "detail.accountId names account 210987654321") {
		t.Errorf("apply of a member account's finding: exit %d\n%s\n%s", code, out, errOut)
	}
	after, err := acct.Snapshot(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if after.KeyStatus["alice"][acct.Keys["alice"][0]] != "Active" || len(after.UserPolicies["alice"]) != len(before.UserPolicies["alice"]) {
		t.Errorf("another account's finding changed alice here:\n%s", after)
	}
	code, out, errOut = cli(t, "apply", "-account", "123456789012", writeFile(t, "alice.json", alice))
	if code != exitOK || !strings.Contains(out, "[done] deactivate-key") {
		t.Errorf("apply with the right -account: exit %d\n%s\n%s", code, out, errOut)
	}
}

// setEnv sets each KEY=VALUE for the rest of the test.
func setEnv(t *testing.T, kvs ...string) {
	t.Helper()
	for _, kv := range kvs {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

// TestCLIExitCodes: 0 success, 1 a failure (the work ran and failed, or
// anything that went wrong at run time: an AWS error, the configuration, the
// network), 2 only for usage and input errors. AWS answers come from the
// moto server, behind the fault proxy for the errors moto does not make.
func TestCLIExitCodes(t *testing.T) {
	emu := testenv.Moto(t)
	proxy := faultproxy.New(emu.URL)
	t.Cleanup(proxy.Close)
	const event = "../events/guardduty-ec2-ssh-bruteforce.json"
	proxied := append(emulatorEnv(proxy.URL()), "AUTOCONTAIN_ACCOUNT=", "AUTOCONTAIN_LEDGER_TABLE=")
	// Nothing listens on port 1; one attempt, so the SDK does not retry.
	unreachable := append(emulatorEnv("http://127.0.0.1:1"), "AWS_MAX_ATTEMPTS=1")
	tests := []struct {
		name       string
		env        []string
		inject     string // an operation the proxy answers AccessDenied
		args       []string
		wantCode   int
		wantStderr string
	}{
		// Failures at run time: exit 1.
		{"invoke_access_denied", proxied, "POST /2015-03-31/functions/autocontain-responder/invocations",
			[]string{"invoke", "-function", "autocontain-responder", event}, exitFailed, "AccessDeniedException"},
		// moto (in its default, Docker mode) knows no such function.
		{"invoke_function_missing", proxied, "", []string{"invoke", "-function", "no-such-function", event}, exitFailed, "ResourceNotFoundException"},
		{"invoke_network_error", unreachable, "", []string{"invoke", "-function", "autocontain-responder", event}, exitFailed, "invoke autocontain-responder"},
		{"apply_configuration_fails", append(emulatorEnv(proxy.URL()), "AWS_PROFILE=no-such-profile"), "",
			[]string{"apply", event}, exitFailed, "load AWS configuration"},
		{"apply_caller_identity_denied", proxied, "GetCallerIdentity", []string{"apply", event}, exitFailed, "AccessDenied"},
		{"undo_ledger_table_missing", proxied, "", []string{"undo", "-table", "no-such-table", "some-finding"}, exitFailed, "ResourceNotFoundException"},
		{"reconcile_through_function_denied", proxied, "POST /2015-03-31/functions/autocontain-responder/invocations",
			[]string{"reconcile", "-function", "autocontain-responder"}, exitFailed, "AccessDeniedException"},
		// Usage and input errors: exit 2, before any AWS call.
		{"plan_bad_flag", unreachable, "", []string{"plan", "-no-such-flag", event}, exitUsage, "-no-such-flag"},
		{"apply_bad_flag", unreachable, "", []string{"apply", "-no-such-flag", event}, exitUsage, "-no-such-flag"},
		{"invoke_bad_flag", unreachable, "", []string{"invoke", "-no-such-flag", event}, exitUsage, "-no-such-flag"},
		{"apply_unreadable_event", unreachable, "", []string{"apply", "no-such-event.json"}, exitUsage, "no-such-event.json"},
		{"invoke_unreadable_event", unreachable, "", []string{"invoke", "-function", "f", "no-such-event.json"}, exitUsage, "no-such-event.json"},
		{"apply_invalid_event_changes_nothing", unreachable, "", []string{"apply", event, writeFile(t, "x.json", `{"hello":"world"}`)}, exitUsage, `no "source"`},
		{"apply_bad_account", unreachable, "", []string{"apply", "-account", "12345", event}, exitUsage, "12 digits"},
		{"undo_without_ledger_or_function", proxied, "", []string{"undo", "some-finding"}, exitUsage, "-table"},
		{"undo_empty_finding_id", proxied, "", []string{"undo", "-table", "t", ""}, exitUsage, "finding id"},
		{"reconcile_with_argument", proxied, "", []string{"reconcile", "-table", "t", "extra"}, exitUsage, "no arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setEnv(t, tt.env...)
			proxy.Reset()
			if tt.inject != "" {
				proxy.Inject(tt.inject, faultproxy.AccessDenied, 1)
			}
			code, out, errOut := cli(t, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, out, errOut)
			}
			if !strings.Contains(errOut, tt.wantStderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantStderr, errOut)
			}
			if tt.inject != "" && proxy.Count(tt.inject) != 1 {
				t.Errorf("%d calls of %s, want 1 (all: %v)", proxy.Count(tt.inject), tt.inject, proxy.Counts())
			}
			if tt.wantCode == exitUsage && len(proxy.Counts()) != 0 {
				t.Errorf("a usage error made AWS calls: %v", proxy.Counts())
			}
		})
	}
}

// TestCommandTable checks the command table that drives dispatch and usage:
// every command has a name, a synopsis and a paragraph, appears in the
// usage, prints its synopsis for -h, and its synopsis names exactly the
// flags it defines.
func TestCommandTable(t *testing.T) {
	text := usage()
	seen := map[string]bool{}
	for _, c := range commands {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "" || c.synopsis == "" || c.about == "" || c.run == nil {
				t.Fatalf("incomplete command %+v", c)
			}
			if seen[c.name] {
				t.Errorf("command %q listed twice", c.name)
			}
			seen[c.name] = true
			usageLine := regexp.MustCompile(`(?m)^  autocontain ` + regexp.QuoteMeta(c.name) + ` +` + regexp.QuoteMeta(c.synopsis) + `$`)
			aboutLine := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(c.name) + ` +` + regexp.QuoteMeta(strings.Split(c.about, "\n")[0]) + `$`)
			if !usageLine.MatchString(text) || !aboutLine.MatchString(text) {
				t.Errorf("usage lacks %s's synopsis or paragraph:\n%s", c.name, text)
			}

			code, out, errOut := cli(t, c.name, "-h")
			if code != exitOK || out != "" || !strings.HasPrefix(errOut, "Usage: autocontain "+c.name+" "+c.synopsis+"\n") {
				t.Errorf("%s -h: exit %d\nstdout: %s\nstderr: %s", c.name, code, out, errOut)
			}

			var defined []string
			fs := newFlags(c, io.Discard)
			if err := c.run(context.Background(), fs, []string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
				t.Fatalf("%s -h returned %v", c.name, err)
			}
			fs.VisitAll(func(f *flag.Flag) { defined = append(defined, "-"+f.Name) })
			shown := regexp.MustCompile(`-[a-z][a-z-]*`).FindAllString(c.synopsis, -1)
			slices.Sort(shown)
			if !slices.Equal(defined, shown) { // VisitAll visits in name order
				t.Errorf("%s defines flags %v, its synopsis shows %v", c.name, defined, shown)
			}
		})
	}
}

// TestUnknownCommand: an unknown command exits 2 and prints the whole usage
// to stderr, nothing to stdout.
func TestUnknownCommand(t *testing.T) {
	for _, name := range []string{"contain", "Plan", "-json", "undo-all"} {
		code, out, errOut := cli(t, name, "x")
		if code != exitUsage || out != "" || !strings.HasSuffix(errOut, usage()) || !strings.Contains(errOut, fmt.Sprintf("unknown command %q", name)) {
			t.Errorf("%s: exit %d\nstdout: %s\nstderr: %s", name, code, out, errOut)
		}
	}
}

// TestCLIKeys lists the emulator's keys as a table and as JSON, the
// highest impact first, keys masked.
func TestCLIKeys(t *testing.T) {
	emu := testenv.Moto(t)
	acct := impacttest.Seed(t, emu.Config(t))
	for _, kv := range emulatorEnv(emu.URL) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	code, out, errOut := cli(t, "keys")
	if code != exitOK {
		t.Fatalf("keys: exit %d\n%s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 8 || !strings.HasPrefix(lines[0], "IMPACT") || !strings.HasPrefix(lines[1], "admin ") ||
		!strings.HasPrefix(lines[7], "scoped ") || !strings.Contains(lines[7], "Inactive") || !strings.Contains(lines[4], "escalator") {
		t.Errorf("table:\n%s", out)
	}
	for user, ids := range acct.KeyIDs {
		for _, id := range ids {
			if strings.Contains(out, id) || !strings.Contains(out, finding.MaskKey(id)) {
				t.Errorf("key %s of %s is not shown masked:\n%s", finding.MaskKey(id), user, out)
			}
		}
	}

	code, out, errOut = cli(t, "keys", "-json")
	if code != exitOK {
		t.Fatalf("keys -json: exit %d\n%s", code, errOut)
	}
	var keys []impact.Key
	if err := json.Unmarshal([]byte(out), &keys); err != nil {
		t.Fatalf("-json output: %v\n%s", err, out)
	}
	if len(keys) != 7 || keys[0].Impact.Class != finding.ImpactAdmin || keys[3].User != "escalator" ||
		keys[3].Impact.Class != finding.ImpactEscalation || !strings.Contains(keys[3].Impact.Why, "iam:PassRole") {
		t.Errorf("keys: %+v", keys)
	}

	if code, _, errOut := cli(t, "keys", "extra"); code != exitUsage || !strings.Contains(errOut, "keys takes no arguments") {
		t.Errorf("keys extra: exit %d\n%s", code, errOut)
	}
}

// TestCLIPlanImpact: plan -impact reads the principal's class from IAM and
// shows it; plan alone reads nothing and shows none.
func TestCLIPlanImpact(t *testing.T) {
	emu := testenv.Moto(t)
	impacttest.Seed(t, emu.Config(t))
	for _, kv := range emulatorEnv(emu.URL) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	event := writeFile(t, "admin.json", strings.ReplaceAll(string(testenv.Event(t, "guardduty-credentialaccess-anomalousbehavior.json")), `"ci-deployer"`, `"admin-inline"`))
	code, out, errOut := cli(t, "plan", "-impact", event)
	if code != exitOK || !strings.Contains(out, "impact    admin (inline policy inline of user admin-inline: statement 1 (Everything) allows * on *)\n") {
		t.Errorf("plan -impact: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = cli(t, "plan", "-account", "123456789012", event)
	if code != exitOK || strings.Contains(out, "impact") {
		t.Errorf("plan: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, _, errOut := cli(t, "plan", "-impact", "-account", "210987654321", event); code != exitUsage || !strings.Contains(errOut, "refused") {
		t.Errorf("plan -impact with another account: exit %d\n%s", code, errOut)
	}
}
