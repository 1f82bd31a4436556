// Package emulator starts and stops the moto server, the local AWS emulator
// that stands in for AWS in the demo and the integration tests. The server
// comes from the project's virtualenv (.venv, made by scripts/moto-venv.sh).
package emulator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Environment variables that change where the server comes from.
const (
	// EnvServer is the path of a moto_server executable to use instead of .venv's.
	EnvServer = "AUTOCONTAIN_MOTO_SERVER"
	// EnvURL is the address of an already running moto server to use instead of starting one.
	EnvURL = "AUTOCONTAIN_MOTO_URL"
)

// Region is the region the emulator is used in.
const Region = "us-east-1"

// InstallHint tells a person how to get the server.
const InstallHint = "install it with `make moto` (scripts/moto-venv.sh), or set " + EnvServer + " or " + EnvURL

// Server is a running moto server.
type Server struct {
	// URL is the server's endpoint, http://127.0.0.1:PORT.
	URL  string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
}

// RepoRoot finds the repository root: the nearest directory upwards from
// the working directory that holds go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// ServerPath returns the moto_server executable to run.
func ServerPath() (string, error) {
	if p := os.Getenv(EnvServer); p != "" {
		return p, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, ".venv", "bin", "moto_server")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("moto server not found at %s: %s", p, InstallHint)
	}
	return p, nil
}

// Start runs a moto server on a free loopback port and waits until it
// answers, or returns the server named by AUTOCONTAIN_MOTO_URL. The server
// dies with this process (Pdeathsig) even if Stop is never called.
func Start(ctx context.Context) (*Server, error) {
	if u := os.Getenv(EnvURL); u != "" {
		s := &Server{URL: strings.TrimRight(u, "/")}
		return s, s.wait(ctx, 10*time.Second)
	}
	bin, err := ServerPath()
	if err != nil {
		return nil, err
	}
	// The port is chosen before the server binds it, so another test
	// binary's server can take it first: then ours fails to bind and exits,
	// and Start tries another port.
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s, err := startOn(ctx, bin, port)
		if err == nil || !errors.Is(err, errExited) || attempt == 3 {
			return s, err
		}
	}
}

// errExited: the server process ended during start-up.
var errExited = errors.New("moto server exited during start-up")

// startOn runs one moto server on port, which was free a moment ago.
func startOn(ctx context.Context, bin string, port int) (*Server, error) {
	logf, err := os.CreateTemp("", "moto-server-*.log")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = logf, logf
	// AWS managed policies (quarantine's AWSCompromisedKeyQuarantineV3)
	// exist in moto only when it loads them; its /moto-api/config cannot
	// turn that on (moto 5.2.5, moto/settings.py).
	cmd.Env = append(os.Environ(), "MOTO_IAM_LOAD_MANAGED_POLICIES=true")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd, log: logf, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.done) }()
	if err := s.wait(ctx, 60*time.Second); err != nil {
		tail := s.logTail() // before Stop, which removes the log
		s.Stop()
		return nil, fmt.Errorf("%w\nlast lines of the server's log:\n%s", err, tail)
	}
	return s, nil
}

// wait polls the server until it answers.
func (s *Server) wait(ctx context.Context, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	c := http.Client{Timeout: time.Second}
	for i := 0; ; i++ {
		// A probe the server logs: only a server whose log shows it is
		// ours (another server may answer on the port; see Start).
		probe := fmt.Sprintf("probe=%d-%d", os.Getpid(), i)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/moto-api/data.json?"+probe, nil)
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && s.logged(probe) {
				return nil
			}
		}
		select {
		case <-s.done:
			return errExited
		case <-ctx.Done():
			return fmt.Errorf("moto server at %s did not answer within %s", s.URL, limit)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// logged reports whether the server's log holds text, or whether there is
// no log to tell (a server named by AUTOCONTAIN_MOTO_URL).
func (s *Server) logged(text string) bool {
	if s.log == nil {
		return true
	}
	b, err := os.ReadFile(s.log.Name())
	return err == nil && strings.Contains(string(b), text)
}

// defaultConfig is moto's own configuration at start; its reset keeps
// whatever a test set through /moto-api/config, so Reset puts this back.
const defaultConfig = `{"batch":{"use_docker":true},"lambda":{"use_docker":true}}`

// Reset empties every service's state (moto's /moto-api/reset) and restores
// moto's default configuration.
func (s *Server) Reset(ctx context.Context) error {
	if _, err := s.do(ctx, http.MethodPost, "/moto-api/reset", ""); err != nil {
		return fmt.Errorf("reset moto server: %w", err)
	}
	if _, err := s.do(ctx, http.MethodPost, "/moto-api/config", defaultConfig); err != nil {
		return fmt.Errorf("restore moto's configuration: %w", err)
	}
	return nil
}

// Get reads one of moto's own endpoints (/moto-api/data.json, /moto-api/config).
func (s *Server) Get(ctx context.Context, path string) ([]byte, error) {
	return s.do(ctx, http.MethodGet, path, "")
}

func (s *Server) do(ctx context.Context, method, path, body string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.URL+path, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 { // moto answers /moto-api/config with 201
		return nil, fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	return b, nil
}

// Config returns an SDK configuration pointed at the server with test
// credentials. Shared config files are ignored, so nothing on the machine
// can send it elsewhere.
func (s *Server) Config(ctx context.Context) (aws.Config, error) {
	return Config(ctx, s.URL)
}

// Config returns an SDK configuration pointed at endpoint. Its HTTP
// client sends request bodies from memory (see bufferedBodies), so the SDK
// does not send again a call that moto answered.
func Config(ctx context.Context, endpoint string) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRegion(Region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("testing", "testing", "")),
		config.WithBaseEndpoint(endpoint),
		config.WithSharedConfigFiles([]string{}),
		config.WithSharedCredentialsFiles([]string{}),
	)
	if err != nil {
		return aws.Config{}, err
	}
	cfg.HTTPClient = BufferBodies(cfg.HTTPClient)
	return cfg, nil
}

// BufferBodies wraps an HTTP client for the SDK so that it sends request
// bodies from memory, as Config's does. A test that gives a configuration
// its own client (a timeout, say) wraps it with this, or the SDK may send
// a call twice (see bufferedBodies).
func BufferBodies(c aws.HTTPClient) aws.HTTPClient { return bufferedBodies{c} }

// bufferedBodies is an HTTP client that reads each request's body into
// memory before handing the request to next. It closes a race between
// smithy-go and net/http that made the SDK resend calls moto had applied
// (docs/moto-notes.md, "The SDK resends applied calls"): smithy-go closes
// the request body as soon as the response arrives, while net/http's
// writer, having sent the body, reads it once more to check its length;
// the SDK's body wrapper then answers io.EOF as an error, the writer
// closes the connection under the response being read ("use of closed
// network connection"), and the SDK retries the call as a connection
// error. moto answers the moment it has the body, so a writer delayed by a
// busy CPU loses that race. A body held in memory (an io.NopCloser around
// a bytes.Reader) is one net/http sends whole with the headers and cannot
// fail the second read.
type bufferedBodies struct{ next aws.HTTPClient }

// Do sends r with its body read into memory first. A body of unknown
// length (a stream) is left as it is.
func (c bufferedBodies) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength >= 0 {
		b, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("read the request body: %w", err)
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	return c.next.Do(r)
}

// Stop ends the server and its children.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.done
	s.log.Close()
	os.Remove(s.log.Name())
}

func (s *Server) logTail() string {
	if s.log == nil {
		return ""
	}
	f, err := os.Open(s.log.Name())
	if err != nil {
		return ""
	}
	defer f.Close()
	b, _ := io.ReadAll(f)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
