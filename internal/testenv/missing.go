package testenv

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// childEnv marks the child process that CheckMissing runs.
const childEnv = "AUTOCONTAIN_TEST_CHILD"

// InChild reports whether this test binary is CheckMissing's child: the
// test that called CheckMissing then runs, instead, what needs the tool.
func InChild() bool { return os.Getenv(childEnv) == "1" }

// CheckMissing checks what a test does without a tool it needs. It runs
// the calling test again in a child process (InChild), with env added to
// take the tool away: once with CI=true, once with require=1 and once with
// neither. The child must fail in the first two and skip in the third, and
// name hint (the command that installs the tool) each time.
func CheckMissing(t *testing.T, require, hint string, env ...string) {
	t.Helper()
	tests := []struct {
		name     string
		env      []string
		wantFail bool
		want     string
	}{
		{"ci_fails", []string{"CI=true"}, true, "--- FAIL"},
		{"required_fails", []string{"CI=", require + "=1"}, true, "--- FAIL"},
		{"local_skips", []string{"CI=", require + "="}, false, "--- SKIP"},
	}
	run := "-test.run=^" + t.Name() + "$"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], run, "-test.v")
			cmd.Env = append(append(os.Environ(), childEnv+"=1"), env...)
			cmd.Env = append(cmd.Env, tt.env...)
			out, err := cmd.CombinedOutput()
			if (err != nil) != tt.wantFail || !strings.Contains(string(out), tt.want) || !strings.Contains(string(out), hint) {
				t.Errorf("child (err %v):\n%s", err, out)
			}
		})
	}
}
