// Package testenv gives integration tests a moto server (the local AWS
// emulator): one per test binary, started on first use, reset before each
// test, stopped when the binary exits.
//
// A test takes the emulator with Moto, which also resets it, and holds it
// until the test ends: tests that use the emulator take turns, so each one
// starts from an empty account and none sees another's resources. Packages
// that use it should stop the server after their tests with
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// (without it the server still dies with the test binary, by Pdeathsig).
//
// The server comes from <repo>/.venv/bin/moto_server, which `make moto`
// (scripts/moto-venv.sh) installs. AUTOCONTAIN_MOTO_SERVER names another
// moto_server executable; AUTOCONTAIN_MOTO_URL names an already running
// server to use instead of starting one (it is reset like a started one).
// When no server can be had, a test fails in CI (CI=true, or
// AUTOCONTAIN_REQUIRE_EMULATOR=1) and is skipped elsewhere, in both cases
// saying how to install it.
package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/autocontain/autocontain/internal/emulator"
)

// Settings of the SDK configurations this package builds.
const (
	// Region is the region every configuration uses.
	Region = emulator.Region
	// AccessKey and SecretKey are the static test credentials (moto accepts any).
	AccessKey = "testing"
	SecretKey = "testing"
	// MaxAttempts is the SDK's attempts per call (standard retry mode),
	// pinned so host settings cannot change how many calls a fault costs.
	MaxAttempts = 3
)

// InstallHint tells a person how to get the emulator.
const InstallHint = emulator.InstallHint

// Emulator is the shared moto server, as a test sees it.
type Emulator struct {
	// URL is the server's endpoint, http://127.0.0.1:PORT.
	URL string
	srv *emulator.Server
}

var (
	once     sync.Once
	shared   *Emulator
	startErr error
	// parked keeps the thread that started the server alive until Main
	// stops it (see start).
	parked = make(chan struct{})

	// turn is held by the test using the emulator: tests take turns.
	turn = make(chan struct{}, 1)
	// mu guards holder, the name of the test holding turn.
	mu     sync.Mutex
	holder string
)

// Required reports whether a missing emulator must fail tests rather than
// skip them: in CI (CI=true) or when AUTOCONTAIN_REQUIRE_EMULATOR=1.
func Required() bool {
	return os.Getenv("CI") == "true" || os.Getenv("AUTOCONTAIN_REQUIRE_EMULATOR") == "1"
}

// Moto returns the shared emulator, starting it on first use, with every
// service's state reset. The test holds the emulator until it ends (its
// Cleanup gives it back), so tests that call Moto never overlap, even with
// t.Parallel: a second one waits its turn. A call from the test already
// holding the emulator, or from one of its subtests, returns it at once
// without a reset (the subtests share the parent's state; Reset clears it
// explicitly).
//
// If the emulator cannot be started, Moto fails the test when Required
// and skips it otherwise, with the reason and how to install the server.
func Moto(tb testing.TB) *Emulator {
	tb.Helper()
	once.Do(start)
	if startErr != nil {
		msg := fmt.Sprintf("no moto server for the integration tests: %v\n%s", startErr, InstallHint)
		if Required() {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	name := tb.Name()
	mu.Lock()
	nested := holder != "" && (name == holder || strings.HasPrefix(name, holder+"/"))
	mu.Unlock()
	if nested {
		return shared
	}
	turn <- struct{}{}
	mu.Lock()
	holder = name
	mu.Unlock()
	tb.Cleanup(func() {
		mu.Lock()
		holder = ""
		mu.Unlock()
		<-turn
	})
	shared.Reset(tb)
	return shared
}

// start runs the server, once per test binary. Pdeathsig, which kills the
// server when the test binary dies, fires when the thread that forked the
// server exits, not the process: the fork is done from a goroutine locked
// to its thread that then waits for Main, so the Go runtime never retires
// that thread while the server runs.
func start() {
	type result struct {
		srv *emulator.Server
		err error
	}
	started := make(chan result)
	go func() {
		runtime.LockOSThread()
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		srv, err := emulator.Start(ctx)
		cancel()
		started <- result{srv, err}
		if err == nil {
			<-parked
		}
	}()
	r := <-started
	if r.err != nil {
		startErr = r.err
		return
	}
	shared = &Emulator{URL: r.srv.URL, srv: r.srv}
}

// Endpoint returns the server's endpoint URL, as an SDK BaseEndpoint.
func (e *Emulator) Endpoint() string { return e.URL }

// Reset empties every service's state (POST /moto-api/reset). Moto calls
// it for each test; call it to start afresh within a test.
func (e *Emulator) Reset(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.srv.Reset(ctx); err != nil {
		tb.Fatalf("reset the moto server at %s: %v", e.URL, err)
	}
}

// Config returns an SDK configuration for the emulator: region us-east-1,
// static credentials testing/testing, standard retries with MaxAttempts
// attempts. Nothing on the host steers it elsewhere: shared config and
// credentials files are not read, and the settings above win over the
// AWS_* environment variables (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL*,
// AWS_MAX_ATTEMPTS, AWS_RETRY_MODE, AWS_USE_FIPS_ENDPOINT, ...).
func (e *Emulator) Config(tb testing.TB) aws.Config {
	tb.Helper()
	return ConfigAt(tb, e.URL)
}

// ConfigAt returns a configuration like Config's but pointed at endpoint,
// such as a fault proxy in front of the emulator. Use it rather than
// changing BaseEndpoint on a copy of Config's result: the endpoint given
// at load time wins over aws.Config.BaseEndpoint in the service clients.
func ConfigAt(tb testing.TB, endpoint string) aws.Config {
	tb.Helper()
	cfg, err := LoadConfig(context.Background(), endpoint)
	if err != nil {
		tb.Fatalf("SDK configuration for %s: %v", endpoint, err)
	}
	return cfg
}

// LoadConfig is ConfigAt for code without a testing.TB (benchmark
// helpers, examples).
func LoadConfig(ctx context.Context, endpoint string) (aws.Config, error) {
	configFiles := []string{}
	// A named profile that is missing from the (absent) config files is an
	// error, and LoadDefaultConfig always reads AWS_PROFILE: give the
	// profile an empty stub instead.
	if p := os.Getenv("AWS_PROFILE"); p != "" {
		stub, err := profileStub(p)
		if err != nil {
			return aws.Config{}, err
		}
		configFiles = []string{stub}
	}
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRegion(Region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, "")),
		config.WithBaseEndpoint(endpoint),
		config.WithSharedConfigFiles(configFiles),
		config.WithSharedCredentialsFiles([]string{}),
		config.WithRetryMode(aws.RetryModeStandard),
		config.WithRetryMaxAttempts(MaxAttempts),
		config.WithUseFIPSEndpoint(aws.FIPSEndpointStateDisabled),
		config.WithUseDualStackEndpoint(aws.DualStackEndpointStateDisabled),
	)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load SDK configuration for the emulator at %s: %w", endpoint, err)
	}
	return cfg, nil
}

var (
	stubMu  sync.Mutex
	stubDir string
	stubs   = map[string]string{}
)

// profileStub returns the path of a shared config file holding an empty
// section for profile, writing it on first use (under a directory that
// Main removes).
func profileStub(profile string) (string, error) {
	stubMu.Lock()
	defer stubMu.Unlock()
	if path, ok := stubs[profile]; ok {
		return path, nil
	}
	if stubDir == "" {
		dir, err := os.MkdirTemp("", "testenv-aws-")
		if err != nil {
			return "", fmt.Errorf("stub config for AWS_PROFILE %q: %w", profile, err)
		}
		stubDir = dir
	}
	path := filepath.Join(stubDir, fmt.Sprintf("config-%d", len(stubs)))
	body := fmt.Sprintf("[default]\n[profile %s]\n", profile)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		return "", fmt.Errorf("stub config for AWS_PROFILE %q: %w", profile, err)
	}
	stubs[profile] = path
	return path, nil
}

// Main runs the package's tests, then stops the emulator if they started
// one, and exits with the tests' status. Use it as
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.srv.Stop()
		close(parked)
	}
	stubMu.Lock()
	if stubDir != "" {
		os.RemoveAll(stubDir)
	}
	stubMu.Unlock()
	os.Exit(code)
}
