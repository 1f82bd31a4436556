package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/autocontain/autocontain/internal/account"
	"github.com/autocontain/autocontain/internal/audit"
	"github.com/autocontain/autocontain/internal/sandbox"
	"github.com/autocontain/autocontain/internal/testenv"
	"github.com/autocontain/autocontain/internal/testenv/faultproxy"
)

// rieAccount is the account of the function ARN that AWS's Runtime
// Interface Emulator hands every invocation
// (arn:aws:lambda:us-east-1:012345678912:function:NAME, in its
// internal/lambda/rie/handlers.go): the sandbox is built there, so the
// function contains in its own account.
const rieAccount = "012345678912"

// rieBinary is AWS's Lambda Runtime Interface Emulator, as `make rie`
// installs it into bin/ ($AUTOCONTAIN_RIE names another). Missing, the
// test fails in CI and skips elsewhere.
func rieBinary(t *testing.T) string {
	t.Helper()
	path := os.Getenv("AUTOCONTAIN_RIE")
	if path == "" {
		path = filepath.Join("..", "bin", "aws-lambda-rie")
	}
	if _, err := os.Stat(path); err != nil {
		msg := fmt.Sprintf("AWS's Lambda Runtime Interface Emulator is not installed (%v): `make rie` installs it into bin/", err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return path
}

// freeAddr is a loopback address with a port free right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// rie is the emulator running the function: its invocation endpoint.
type rie struct{ url string }

// startRIE runs `aws-lambda-rie bootstrap` on loopback ports, with env as
// the function's environment (the emulator hands its own to the function).
func startRIE(t *testing.T, bootstrap string, env []string) *rie {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(rieBinary(t), "--runtime-interface-emulator-address", addr,
		"--runtime-api-address", freeAddr(t), "--log-level", "warn", bootstrap)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "AWS_LAMBDA_FUNCTION_NAME=autocontain",
		"AWS_LAMBDA_FUNCTION_TIMEOUT=60", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256"}, env...)
	// The emulator's output carries the function's.
	startProcess(t, cmd)
	r := &rie{url: "http://" + addr + "/2015-03-31/functions/function/invocations"}
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("the emulator does not listen on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// invoke posts one event, as `aws lambda invoke` would, and returns the
// answer: the handler's result, or Lambda's error JSON.
func (r *rie) invoke(t *testing.T, event []byte) []byte {
	t.Helper()
	c := http.Client{Timeout: 60 * time.Second}
	resp, err := c.Post(r.url, "application/json", bytes.NewReader(event))
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("invoke: HTTP %d %v\n%s", resp.StatusCode, err, body)
	}
	return body
}

// rieSandbox builds the sandbox account in the emulator's account
// rieAccount (moto acts in the account of assumed-role credentials, and
// its AssumeRole needs no role), and returns it with those credentials.
func rieSandbox(t *testing.T, emu *testenv.Emulator) (*sandbox.Account, aws.Config, aws.Credentials) {
	t.Helper()
	ctx := context.Background()
	direct := emu.Config(t)
	out, err := sts.NewFromConfig(direct).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String(account.RoleARN("aws", rieAccount, "rie-test")), RoleSessionName: aws.String("rie-test")})
	if err != nil {
		t.Fatal(err)
	}
	creds := aws.Credentials{AccessKeyID: aws.ToString(out.Credentials.AccessKeyId),
		SecretAccessKey: aws.ToString(out.Credentials.SecretAccessKey), SessionToken: aws.ToString(out.Credentials.SessionToken)}
	cfg := direct.Copy()
	cfg.Credentials = credentials.StaticCredentialsProvider{Value: creds}
	acct, err := sandbox.Create(ctx, cfg)
	if err != nil {
		t.Fatalf("build the sandbox in account %s: %v", rieAccount, err)
	}
	return acct, cfg, creds
}

// TestUnderRIE runs the binary, built as deployed, under AWS's own Lambda
// Runtime Interface Emulator, and invokes it over the emulator's HTTP
// endpoint as Lambda would: a step that fails (the fault proxy makes IAM
// answer 503), the same finding again (contained: the key is Inactive in
// the emulator), a malformed event, an unknown command, and an undo
// command (the key is Active again). Each failure carries its errorType.
func TestUnderRIE(t *testing.T) {
	rieBinary(t)
	emu := testenv.Moto(t)
	acct, cfg, creds := rieSandbox(t, emu)
	ctx := context.Background()
	proxy := faultproxy.New(emu.URL)
	t.Cleanup(proxy.Close)
	env := append(emulatorEnv(proxy.URL()), acct.Env()...)
	env = append(env, "AWS_ACCESS_KEY_ID="+creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+creds.SecretAccessKey, "AWS_SESSION_TOKEN="+creds.SessionToken)
	fn := startRIE(t, bootstrap(t), env)
	event := bytes.ReplaceAll(acct.Rewrite(testenv.Event(t, "guardduty-maliciousipcaller-custom-akia.json")), []byte("123456789012"), []byte(rieAccount))
	key := func() string {
		t.Helper()
		st, err := acct.Snapshot(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return st.KeyStatus["alice"][acct.Keys["alice"][0]]
	}

	proxy.Inject("UpdateAccessKey", faultproxy.Unavailable, 10)
	wantError(t, fn.invoke(t, event), "StepFailed", "step 1 deactivate-key")
	proxy.Clear()
	if got := key(); got != "Active" {
		t.Errorf("alice's key is %s after the failed step", got)
	}

	var rec audit.Record
	if body := fn.invoke(t, event); json.Unmarshal(body, &rec) != nil || rec.Outcome != audit.OutcomeContained {
		t.Fatalf("the finding again: %s", body)
	}
	if got := key(); got != "Inactive" {
		t.Errorf("alice's key is %s after containment", got)
	}

	wantError(t, fn.invoke(t, []byte(`{"source":"aws.guardduty","detail-type":"GuardDuty Finding","detail":{"id":"x"}}`)), "EventRejected", "detail.type is missing")
	wantError(t, fn.invoke(t, []byte(`{"autocontain":{"command":"delete-everything"}}`)), "EventRejected", "unknown command")

	if body := fn.invoke(t, []byte(`{"autocontain":{"command":"undo","findingId":"`+rec.Finding.ID+`"}}`)); !strings.Contains(string(body), "reactivated key") {
		t.Errorf("undo: %s", body)
	}
	if got := key(); got != "Active" {
		t.Errorf("alice's key is %s after undo", got)
	}
}
