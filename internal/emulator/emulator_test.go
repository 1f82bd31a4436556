package emulator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go/logging"
)

// TestStartRefusesAnotherServersPort: when another server already answers
// on the port chosen for moto (another test binary's moto took it first),
// start-up must not take that server for its own, or two test binaries
// would share, and reset, one emulator.
func TestStartRefusesAnotherServersPort(t *testing.T) {
	bin, err := ServerPath()
	if err != nil {
		skipWithout(t, err)
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

// skipWithout fails (in CI) or skips a test that has no moto server, as
// testenv.Required does.
func skipWithout(t *testing.T, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" || os.Getenv("AUTOCONTAIN_REQUIRE_EMULATOR") == "1" {
		t.Fatalf("no moto server: %v (%s)", err, InstallHint)
	}
	t.Skipf("no moto server: %v (%s)", err, InstallHint)
}

// lateWriter is a connection on which moto's answer overtakes the
// client's writer, as it does when a busy CPU leaves the writing goroutine
// unscheduled: a write after the first (the body, when net/http sends it
// apart from the headers) returns only once the answer's head has been
// read (and the SDK has had time to take it), and the rest of the answer
// is read only after that write returned.
type lateWriter struct {
	net.Conn
	writes    int
	head      chan struct{} // closed when the answer's head is read
	wrote     chan struct{} // closed when a late write returned
	rest      []byte        // read past the head, held back
	headRead  bool
	wroteOnce bool
	closed    atomic.Bool
}

func newLateWriter(c net.Conn) *lateWriter {
	return &lateWriter{Conn: c, head: make(chan struct{}), wrote: make(chan struct{})}
}

func (c *lateWriter) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if c.writes++; c.writes > 1 {
		select {
		case <-c.head:
			time.Sleep(100 * time.Millisecond) // the SDK has the answer
		case <-time.After(2 * time.Second):
		}
		if !c.wroteOnce {
			c.wroteOnce = true
			close(c.wrote)
		}
	}
	return n, err
}

func (c *lateWriter) Close() error {
	c.closed.Store(true)
	return c.Conn.Close()
}

func (c *lateWriter) Read(p []byte) (int, error) {
	if c.headRead {
		if c.writes > 1 {
			<-c.wrote
			time.Sleep(50 * time.Millisecond)
		}
		if c.closed.Load() {
			// What reading the answer's rest from the socket gives.
			return 0, &net.OpError{Op: "read", Net: "tcp", Err: net.ErrClosed}
		}
		if len(c.rest) > 0 {
			n := copy(p, c.rest)
			c.rest = c.rest[n:]
			return n, nil
		}
		return c.Conn.Read(p)
	}
	n, err := c.Conn.Read(p)
	if i := bytes.Index(p[:n], []byte("\r\n\r\n")); i >= 0 {
		c.rest = append(c.rest, p[i+4:n]...)
		n = i + 4
		c.headRead = true
		close(c.head)
	}
	return n, err
}

// TestAppliedCallsAreNotResent: each create is sent once, even when moto
// answers before the client's HTTP writer has finished with the request.
// Before Config's client sent bodies from memory, the SDK closed the body
// on the answer, net/http's writer failed on it and closed the connection
// under the answer ("use of closed network connection"), and the SDK sent
// the create again: here CreateUser failed with EntityAlreadyExists (409),
// as sandbox.Create did in the integration tests under load
// (docs/moto-notes.md, "The SDK resends applied calls").
func TestAppliedCallsAreNotResent(t *testing.T) {
	if _, err := ServerPath(); err != nil && os.Getenv(EnvURL) == "" {
		skipWithout(t, err)
	}
	ctx := context.Background()
	s, err := Start(ctx)
	if err != nil {
		skipWithout(t, err)
	}
	t.Cleanup(s.Stop)
	cfg, err := s.Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The client Config builds, its transport's connections made slow.
	slow := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		var d net.Dialer
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return newLateWriter(c), nil
		}
	})
	cfg.HTTPClient = BufferBodies(slow)
	var retries atomic.Int32
	cfg.ClientLogMode = aws.LogRetries
	cfg.Logger = logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
		if strings.Contains(fmt.Sprintf(format, v...), "retrying request") {
			retries.Add(1)
		}
	})
	c := iam.NewFromConfig(cfg)
	const user = "resend-probe"
	if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(user)}); err != nil {
		t.Fatalf("create user: %v", err)
	}
	if _, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(user)}); err != nil {
		t.Fatalf("create access key: %v", err)
	}
	keys, err := c.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(user)})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(keys.AccessKeyMetadata); n != 1 {
		t.Errorf("%d access keys after one CreateAccessKey, want 1", n)
	}
	if n := retries.Load(); n != 0 {
		t.Errorf("the SDK retried %d times against a healthy server, want 0", n)
	}
}
