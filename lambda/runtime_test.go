package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/autocontain/autocontain/internal/account"
	"github.com/autocontain/autocontain/internal/audit"
	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/ledger"
	"github.com/autocontain/autocontain/internal/playbook"
	"github.com/autocontain/autocontain/internal/sandbox"
	"github.com/autocontain/autocontain/internal/testenv"
	"github.com/autocontain/autocontain/internal/testenv/faultproxy"
	"github.com/autocontain/autocontain/internal/testenv/sandboxtest"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var (
	buildOnce sync.Once
	builtPath string
	buildErr  error
)

// bootstrap builds the Lambda binary with the flags it is deployed with
// (Makefile BUILD_FLAGS), once for the test binary, for this machine's
// architecture so the test can run it: the deployed one is linux/arm64,
// the same build on a linux/arm64 machine.
func bootstrap(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "autocontain-bootstrap-")
		if err != nil {
			buildErr = err
			return
		}
		builtPath = filepath.Join(dir, "bootstrap")
		buildErr = buildBootstrap(builtPath)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtPath
}

// runtimeAPI is an in-test server speaking the Lambda Runtime API
// (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html).
type runtimeAPI struct {
	srv     *httptest.Server
	events  chan invocation
	results chan result
	initErr chan string
}

type invocation struct {
	id    string
	event []byte
}

type result struct {
	id      string
	isError bool
	body    []byte
}

func newRuntimeAPI(t *testing.T) *runtimeAPI {
	return newRuntimeAPIAs(t, "arn:aws:lambda:us-east-1:123456789012:function:autocontain")
}

// newRuntimeAPIAs serves invocations of the function with this ARN (the
// Lambda-Runtime-Invoked-Function-Arn header).
func newRuntimeAPIAs(t *testing.T, functionARN string) *runtimeAPI {
	r := &runtimeAPI{events: make(chan invocation), results: make(chan result, 16), initErr: make(chan string, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", func(w http.ResponseWriter, req *http.Request) {
		select {
		case inv := <-r.events:
			w.Header().Set("Lambda-Runtime-Aws-Request-Id", inv.id)
			w.Header().Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(30*time.Second).UnixMilli(), 10))
			w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", functionARN)
			w.Header().Set("Lambda-Runtime-Trace-Id", "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1")
			w.Write(inv.event)
		case <-req.Context().Done():
		}
	})
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.results <- result{id: req.PathValue("id"), body: body}
		w.WriteHeader(http.StatusAccepted)
	})
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.results <- result{id: req.PathValue("id"), isError: true, body: body}
		w.WriteHeader(http.StatusAccepted)
	})
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.initErr <- req.Header.Get("Lambda-Runtime-Function-Error-Type") + " " + string(body)
		w.WriteHeader(http.StatusAccepted)
	})
	r.srv = httptest.NewServer(mux)
	t.Cleanup(r.srv.Close)
	return r
}

// invoke hands the function one event and waits for its answer.
func (r *runtimeAPI) invoke(t *testing.T, id string, event []byte) result {
	t.Helper()
	select {
	case r.events <- invocation{id: id, event: event}:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: the function never asked for the next invocation", id)
	}
	select {
	case res := <-r.results:
		if res.id != id {
			t.Fatalf("answer for %s, want %s", res.id, id)
		}
		return res
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: no answer", id)
	}
	return result{}
}

// emulatorEnv points the SDK at the emulator with test credentials, and
// away from any configuration on the machine.
func emulatorEnv(endpoint string) []string {
	return []string{
		"AWS_ENDPOINT_URL=" + endpoint, "AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
	}
}

// sandboxFor makes the demo account in the emulator and reads its state.
func sandboxFor(t *testing.T) (*testenv.Emulator, *sandbox.Account, sandbox.State) {
	t.Helper()
	emu := testenv.Moto(t)
	acct, cfg := sandboxtest.New(t, emu)
	st, err := acct.Snapshot(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return emu, acct, st
}

// startFunction runs the bootstrap binary as Lambda would, with env added.
func startFunction(t *testing.T, api *runtimeAPI, endpoint string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bootstrap(t))
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"AWS_LAMBDA_RUNTIME_API=" + strings.TrimPrefix(api.srv.URL, "http://"),
		"AWS_LAMBDA_FUNCTION_NAME=autocontain", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256", "AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
	}, append(emulatorEnv(endpoint), env...)...)
	startProcess(t, cmd)
	return cmd
}

// startProcess starts cmd with its output kept, and ends it when the test
// does, showing the output if the test failed.
func startProcess(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(cmd.Path), logs.String())
		}
	})
}

// TestLambdaRuntime runs the deployable binary under the Runtime API and
// checks its answers and the emulator's state.
func TestLambdaRuntime(t *testing.T) {
	emu := testenv.Moto(t)
	acct, cfg := sandboxtest.New(t, emu)
	ctx := context.Background()
	api := newRuntimeAPI(t)
	startFunction(t, api, emu.URL, acct.Env()...)

	aliceEvent := acct.Rewrite(testenv.Event(t, "guardduty-maliciousipcaller-custom-akia.json"))
	res := api.invoke(t, "req-1", aliceEvent)
	if res.isError {
		t.Fatalf("error answer: %s", res.body)
	}
	var rec audit.Record
	if err := json.Unmarshal(res.body, &rec); err != nil {
		t.Fatalf("answer is not an audit record: %v\n%s", err, res.body)
	}
	if rec.Outcome != audit.OutcomeContained || rec.Rule != "known-bad-caller" {
		t.Errorf("outcome %s rule %s", rec.Outcome, rec.Rule)
	}
	if strings.Contains(string(res.body), acct.Keys["alice"][0]) {
		t.Error("the answer carries an unmasked access key id")
	}
	st, err := acct.Snapshot(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.KeyStatus["alice"][acct.Keys["alice"][0]]; got != "Inactive" {
		t.Errorf("alice's key is %s after the invocation", got)
	}
	if len(st.IPv4) == 0 {
		t.Error("no address blocked")
	}

	// Same process, next invocations: a malformed event is an error, so
	// that Lambda's retries and failure destination apply; a delivery that
	// failed in a way no retry mends (the principal does not exist) is
	// answered with its failed record, not retried.
	tests := []struct {
		name, id  string
		event     []byte
		isError   bool
		want      string
		errorType string
	}{
		{"malformed_event", "req-2", []byte(`{"source":"aws.guardduty","detail-type":"GuardDuty Finding","detail":{"id":"x"}}`), true, "detail.type is missing", "EventRejected"},
		{"unsupported_event", "req-3", []byte(`{"source":"aws.ec2","detail-type":"EC2 Instance State-change Notification","detail":{}}`), true, "unsupported event", "EventRejected"},
		{"unknown_command", "req-4", []byte(`{"autocontain":{"command":"delete-everything"}}`), true, "unknown command", "EventRejected"},
		{"principal_gone", "req-5", bytes.ReplaceAll(testenv.Event(t, "cloudtrail-stoplogging-iamuser.json"), []byte(`"alice"`), []byte(`"nobody"`)), false, `"outcome":"failed","error":"check protection of user nobody: it does not exist`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := api.invoke(t, tt.id, tt.event)
			if res.isError != tt.isError || !strings.Contains(string(res.body), tt.want) {
				t.Errorf("answer (error %v): %s, want error %v with %q", res.isError, res.body, tt.isError, tt.want)
			}
			if tt.isError {
				wantError(t, res.body, tt.errorType, tt.want)
			}
		})
	}
}

// wantError checks an error answer, the body Lambda reports for a failed
// invocation: its errorType, and an errorMessage that contains says.
func wantError(t *testing.T, body []byte, errorType, says string) {
	t.Helper()
	var e struct {
		Type    string `json:"errorType"`
		Message string `json:"errorMessage"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("the error answer is not Lambda's error JSON: %v\n%s", err, body)
	}
	if e.Type != errorType || !strings.Contains(e.Message, says) {
		t.Errorf("errorType %q, errorMessage %q; want %q, a message with %q", e.Type, e.Message, errorType, says)
	}
}

// TestLambdaErrorTypes: each class of failure that a delivery meets in
// one account reaches Lambda with its own errorType (README, "Error
// types"), through the deployable binary; the fault proxy in front of the
// emulator makes the failures.
func TestLambdaErrorTypes(t *testing.T) {
	emu := testenv.Moto(t)
	acct, cfg := sandboxtest.New(t, emu)
	ctx := context.Background()
	proxy := faultproxy.New(emu.URL)
	t.Cleanup(proxy.Close)
	api := newRuntimeAPI(t)
	startFunction(t, api, proxy.URL(), acct.Env()...)
	event := acct.Rewrite(testenv.Event(t, "guardduty-maliciousipcaller-custom-akia.json"))
	f, err := finding.Parse(event)
	if err != nil {
		t.Fatal(err)
	}
	led := &ledger.Ledger{DB: dynamodb.NewFromConfig(cfg), Table: acct.LedgerTable, Now: time.Now}

	// IAM answers 503 to every try of the SDK: the step fails, retryably.
	proxy.Inject("UpdateAccessKey", faultproxy.Unavailable, 10)
	wantError(t, api.invoke(t, "e-1", event).body, "StepFailed", "deactivate-key")
	proxy.Clear()

	// The ledger's table answers 500 to every try: the claim fails.
	proxy.Inject("DynamoDB_20120810.UpdateItem", faultproxy.ServerError, 10)
	wantError(t, api.invoke(t, "e-2", event).body, "LedgerUnavailable", "ledger: claim finding "+f.ID)
	proxy.Clear()

	// Another delivery holds the finding's claim.
	if v, _, err := led.Claim(ctx, f.ID, f.UpdatedAt, time.Minute, ledger.NewToken()); err != nil || v != ledger.Claimed {
		t.Fatalf("claim: %v %v", v, err)
	}
	wantError(t, api.invoke(t, "e-3", event).body, "DeliveryInProgress", "another delivery of this finding is in progress")

	st, err := acct.Snapshot(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.KeyStatus["alice"][acct.Keys["alice"][0]]; got != "Active" {
		t.Errorf("alice's key is %s after deliveries that all failed before it", got)
	}
}

func TestLambdaDryRun(t *testing.T) {
	emu, acct, before := sandboxFor(t)
	cfg, ctx := emu.Config(t), context.Background()
	api := newRuntimeAPI(t)
	startFunction(t, api, emu.URL, append(acct.Env(), playbook.EnvDryRun+"=true")...)
	res := api.invoke(t, "dry-1", acct.Rewrite(testenv.Event(t, "guardduty-maliciousipcaller-custom-akia.json")))
	var rec audit.Record
	if err := json.Unmarshal(res.body, &rec); err != nil || rec.Outcome != audit.OutcomeDryRun {
		t.Fatalf("answer %s (%v)", res.body, err)
	}
	after, err := acct.Snapshot(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if after.String() != before.String() {
		t.Errorf("dry run changed the account:\n%s\nwas\n%s", after, before)
	}
}

// TestLambdaInitError: a bad configuration fails the init, reported to the
// Runtime API, rather than the first event: a bad playbook setting, or a
// malformed organization id in organization mode.
func TestLambdaInitError(t *testing.T) {
	for _, tt := range []struct{ name, env, kind, says string }{
		{"playbook", playbook.EnvAllowCIDRs + "=office-network", "Playbook.Invalid", "office-network"},
		{"organization", account.EnvOrganizationID + "=o-NOTANID", "Organization.Invalid", "o-NOTANID"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			api := newRuntimeAPI(t)
			cmd := startFunction(t, api, "http://127.0.0.1:1", tt.env)
			select {
			case msg := <-api.initErr:
				if !strings.Contains(msg, tt.kind) || !strings.Contains(msg, tt.says) {
					t.Errorf("init error %q", msg)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("no init error reported")
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err == nil {
					t.Error("the process exited 0 after an init error")
				}
			case <-time.After(10 * time.Second):
				t.Error("the process did not exit after an init error")
			}
		})
	}
}

// TestLambdaCommands: the function undoes a finding and reconciles the IP
// sets when invoked with a command instead of an event.
func TestLambdaCommands(t *testing.T) {
	emu, acct, before := sandboxFor(t)
	cfg, ctx := emu.Config(t), context.Background()
	api := newRuntimeAPI(t)
	startFunction(t, api, emu.URL, acct.Env()...)
	res := api.invoke(t, "c-1", acct.Rewrite(testenv.Event(t, "guardduty-maliciousipcaller-custom-akia.json")))
	var rec audit.Record
	if err := json.Unmarshal(res.body, &rec); err != nil || rec.Outcome != audit.OutcomeContained {
		t.Fatalf("containment: %s", res.body)
	}
	res = api.invoke(t, "c-2", []byte(`{"autocontain":{"command":"undo","findingId":"`+rec.Finding.ID+`"}}`))
	if res.isError || !strings.Contains(string(res.body), "reactivated key") {
		t.Fatalf("undo: %s", res.body)
	}
	after, err := acct.Snapshot(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if after.String() != before.String() {
		t.Errorf("after undo:\n%s\nwant:\n%s", after, before)
	}
	res = api.invoke(t, "c-3", []byte(`{"autocontain":{"command":"reconcile"}}`))
	if res.isError || !strings.Contains(string(res.body), acct.IPSetV4) {
		t.Errorf("reconcile: %s", res.body)
	}
	res = api.invoke(t, "c-4", []byte(`{"autocontain":{"command":"delete-everything"}}`))
	if !res.isError || !strings.Contains(string(res.body), "unknown command") {
		t.Errorf("unknown command: %s", res.body)
	}
}

// TestLambdaServesItsOwnAccount: the function learns its account from its
// own ARN (no API call). Deployed in another account or partition than the
// finding's, it reports the principal and leaves the same-named user here
// alone; with an ARN it cannot read, it fails the delivery.
func TestLambdaServesItsOwnAccount(t *testing.T) {
	tests := []struct {
		name, arn string
		wantErr   string
	}{
		{"other_account", "arn:aws:lambda:us-east-1:210987654321:function:autocontain:live", ""},
		{"other_partition", "arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:autocontain", ""},
		{"unreadable_arn", "autocontain", "not a Lambda function ARN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			emu, acct, before := sandboxFor(t)
			cfg, ctx := emu.Config(t), context.Background()
			api := newRuntimeAPIAs(t, tt.arn)
			startFunction(t, api, emu.URL, acct.Env()...)
			res := api.invoke(t, "acct-1", acct.Rewrite(testenv.Event(t, "guardduty-maliciousipcaller-custom-akia.json")))
			if tt.wantErr != "" {
				if !res.isError {
					t.Errorf("answer %s, want an error with %q", res.body, tt.wantErr)
				}
				wantError(t, res.body, "HomeAccountUnknown", tt.wantErr)
			} else {
				var rec audit.Record
				if err := json.Unmarshal(res.body, &rec); err != nil || res.isError {
					t.Fatalf("answer %s (%v)", res.body, err)
				}
				if rec.Outcome != audit.OutcomeReported && rec.Outcome != audit.OutcomeContained {
					t.Errorf("outcome %s", rec.Outcome)
				}
				if !strings.Contains(string(res.body), "never contained here") {
					t.Errorf("no step says the principal is in another account: %s", res.body)
				}
			}
			after, err := acct.Snapshot(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if after.KeyStatus["alice"][acct.Keys["alice"][0]] != "Active" || len(after.UserPolicies["alice"]) != len(before.UserPolicies["alice"]) {
				t.Errorf("alice was contained by a function of another account:\n%s\nwas\n%s", after, before)
			}
		})
	}
}
