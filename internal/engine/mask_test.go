package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/autocontain/autocontain/internal/audit"
	"github.com/autocontain/autocontain/internal/finding"
)

// TestAWSErrorQuotingAKeyIsMasked: the key is deleted between deactivate-
// key's ListAccessKeys and its UpdateAccessKey (the proxy holds the update
// while the test deletes the key), so IAM (moto) answers NoSuchEntity "The
// Access Key with id AKIA… cannot be found", quoting the whole id. The id
// must not leave the process whole: not in the audit record (JSON or
// text), the log, the SNS message, nor the error returned to Lambda.
func TestAWSErrorQuotingAKeyIsMasked(t *testing.T) {
	fx := newFixture(t)
	emu, acct, proxy, direct := fx.emu, fx.acct, fx.proxy, fx.emu.Config(t)
	var logs bytes.Buffer
	// The logger the Lambda function and the CLI build.
	log := slog.New(audit.MaskingHandler(slog.NewJSONHandler(&logs, nil)))
	eng := New(fx.cfg, sandboxPlaybook(acct, nil), log, Options{Home: goldenHome})
	key := acct.Keys["alice"][0]
	raw := acct.Rewrite(event(t, "guardduty-maliciousipcaller-custom-akia.json"))

	proxy.InjectDelay("UpdateAccessKey", time.Second, 1)
	type result struct {
		rec audit.Record
		err error
	}
	done := make(chan result, 1)
	go func() {
		rec, err := eng.Run(context.Background(), raw)
		done <- result{rec, err}
	}()
	for deadline := time.Now().Add(10 * time.Second); proxy.Count("UpdateAccessKey") == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("UpdateAccessKey was never called")
		}
	}
	if _, err := iam.NewFromConfig(direct).DeleteAccessKey(context.Background(), &iam.DeleteAccessKeyInput{
		UserName: aws.String("alice"), AccessKeyId: aws.String(key)}); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if res.err == nil || res.rec.Outcome != audit.OutcomeFailed {
		t.Fatalf("want a failed deactivate-key, got %v\n%s", res.err, res.rec.Text())
	}
	if !strings.Contains(res.rec.Steps[0].Error, "cannot be found") {
		t.Fatalf("step 1 error %q: want IAM's NoSuchEntity message, which quotes the key", res.rec.Steps[0].Error)
	}
	js, err := json.Marshal(res.rec)
	if err != nil {
		t.Fatal(err)
	}
	msgs := emu.Published(t, acct.TopicARN)
	if len(msgs) != 1 {
		t.Fatalf("%d notifications, want 1", len(msgs))
	}
	masked := finding.MaskKey(key)
	for _, out := range []struct{ name, text string }{
		{"record JSON (Lambda result, CLI -json)", string(js)},
		{"record text (CLI)", res.rec.Text()},
		{"returned error (Lambda errorMessage)", res.err.Error()},
		{"log", logs.String()},
		{"SNS message", msgs[0].Message},
	} {
		if strings.Contains(out.text, key) {
			t.Errorf("%s shows the whole key id %s:\n%s", out.name, key, out.text)
		}
		if !strings.Contains(out.text, masked+" cannot be found") {
			t.Errorf("%s does not quote IAM's error with the key masked (%s):\n%s", out.name, masked, out.text)
		}
	}
}
