// Package testenv gives integration tests a moto server: one per test
// binary, started on first use, reset before each test, stopped when the
// binary exits. In CI it fails a test that cannot have one; elsewhere it
// skips it with instructions. It also reads the sample events of events/
// for any test, whatever its folder (Event, SampleEvents).
//
// It imports no package of the product, so that every package's own tests
// can use it; the sandbox account in the emulator is sandboxtest's.
package testenv

import (
	"context"
	"encoding/json"
	"os"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/autocontain/autocontain/internal/emulator"
)

// Emulator is the shared moto server, as a test sees it.
type Emulator struct {
	// URL is the server's endpoint.
	URL string
	srv *emulator.Server
}

var (
	once     sync.Once
	shared   *Emulator
	startErr error
	// serial makes tests that share the server take turns: each resets it.
	serial sync.Mutex
)

// Required reports whether a missing emulator must fail tests: in CI
// (CI=true) or when AUTOCONTAIN_REQUIRE_EMULATOR=1.
func Required() bool {
	return os.Getenv("CI") == "true" || os.Getenv("AUTOCONTAIN_REQUIRE_EMULATOR") == "1"
}

// Moto returns the shared emulator with its state reset, holding it for
// this test until the test ends: tests that use it take turns. Call it once
// per test; subtests of a test that holds it use the same Emulator.
func Moto(tb testing.TB) *Emulator {
	tb.Helper()
	once.Do(func() {
		srv, err := emulator.Start(context.Background())
		if err != nil {
			startErr = err
			return
		}
		shared = &Emulator{URL: srv.URL, srv: srv}
	})
	if startErr != nil {
		if Required() {
			tb.Fatalf("the moto server cannot start: %v\n(%s)", startErr, emulator.InstallHint)
		}
		tb.Skipf("the moto server cannot start: %v\n(%s)", startErr, emulator.InstallHint)
	}
	serial.Lock()
	tb.Cleanup(serial.Unlock)
	if err := shared.srv.Reset(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return shared
}

// Config returns an SDK configuration pointed at the emulator.
func (e *Emulator) Config(tb testing.TB) aws.Config {
	tb.Helper()
	cfg, err := e.srv.Config(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

// Main runs the tests and stops the emulator after them. Use it as
// func TestMain(m *testing.M) { testenv.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.srv.Stop()
	}
	os.Exit(code)
}

// ConfigAt returns an SDK configuration like Config's but pointed at
// endpoint: a fault proxy in front of the emulator.
func ConfigAt(tb testing.TB, endpoint string) aws.Config {
	tb.Helper()
	cfg, err := emulator.Config(context.Background(), endpoint)
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

// Reset empties the emulator again within a test.
func (e *Emulator) Reset(tb testing.TB) {
	tb.Helper()
	if err := e.srv.Reset(context.Background()); err != nil {
		tb.Fatal(err)
	}
}

// SNSMessage is a message published to an SNS topic, as moto recorded it.
type SNSMessage struct {
	// ID is the MessageId that Publish returned.
	ID string
	// Message and Subject are as published.
	Message, Subject string
	// Attributes are the message attributes, as moto keeps them.
	Attributes map[string]any
}

// Published returns the messages published to topicARN since the last
// reset, oldest first, from moto's model dump (GET /moto-api/data.json,
// sns.Topic[].sent_notifications): no subscription is needed.
func (e *Emulator) Published(tb testing.TB, topicARN string) []SNSMessage {
	tb.Helper()
	body, err := e.srv.Get(context.Background(), "/moto-api/data.json")
	if err != nil {
		tb.Fatalf("read the SNS messages published to %s: %v", topicARN, err)
	}
	var data struct {
		SNS struct {
			Topic []struct {
				ARN  string              `json:"arn"`
				Sent [][]json.RawMessage `json:"sent_notifications"`
			}
		} `json:"sns"`
	}
	if err := json.Unmarshal(body, &data); err != nil {
		tb.Fatalf("decode /moto-api/data.json: %v", err)
	}
	var out []SNSMessage
	for _, topic := range data.SNS.Topic {
		if topic.ARN != topicARN {
			continue
		}
		for _, n := range topic.Sent {
			// (message_id, message, subject, message_attributes, group_id)
			if len(n) < 4 {
				tb.Fatalf("sent notification %s: want 4 fields or more", n)
			}
			var m SNSMessage
			for i, dst := range []any{&m.ID, &m.Message, &m.Subject, &m.Attributes} {
				if err := json.Unmarshal(n[i], dst); err != nil {
					tb.Fatalf("sent notification field %d (%s): %v", i, n[i], err)
				}
			}
			out = append(out, m)
		}
	}
	return out
}
