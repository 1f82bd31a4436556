package emulator

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"testing"
)

// TestStartRefusesAnotherServersPort: when another server already answers
// on the port chosen for moto (another test binary's moto took it first),
// start-up must not take that server for its own, or two test binaries
// would share, and reset, one emulator.
func TestStartRefusesAnotherServersPort(t *testing.T) {
	bin, err := ServerPath()
	if err != nil {
		// As testenv.Required: in CI the emulator must be there.
		if os.Getenv("CI") == "true" || os.Getenv("AUTOCONTAIN_REQUIRE_EMULATOR") == "1" {
			t.Fatalf("no moto server: %v (%s)", err, InstallHint)
		}
		t.Skipf("no moto server: %v (%s)", err, InstallHint)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	other := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })}
	go func() { _ = other.Serve(l) }()
	t.Cleanup(func() { other.Close() })
	s, err := startOn(context.Background(), bin, l.Addr().(*net.TCPAddr).Port)
	if err == nil {
		s.Stop()
		t.Fatal("start-up took another server's answers for its own")
	}
	if !errors.Is(err, errExited) {
		t.Errorf("error %v, want errExited so that Start tries another port", err)
	}
}
