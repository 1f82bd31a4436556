package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

func TestMain(m *testing.M) { Main(m) }

// TestMissingEmulator runs a test that needs the emulator, in a child
// process whose emulator cannot start: in CI it must fail loudly, elsewhere
// it skips with instructions.
func TestMissingEmulator(t *testing.T) {
	if os.Getenv("TESTENV_CHILD") == "1" {
		Moto(t)
		t.Log("got an emulator")
		return
	}
	tests := []struct {
		name     string
		env      []string
		wantFail bool
		want     string
	}{
		{"ci_fails", []string{"CI=true"}, true, "--- FAIL"},
		{"required_fails", []string{"CI=", "AUTOCONTAIN_REQUIRE_EMULATOR=1"}, true, "--- FAIL"},
		{"local_skips", []string{"CI=", "AUTOCONTAIN_REQUIRE_EMULATOR="}, false, "--- SKIP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestMissingEmulator$", "-test.v")
			cmd.Env = append(os.Environ(), "TESTENV_CHILD=1", "AUTOCONTAIN_MOTO_URL=", "AUTOCONTAIN_MOTO_SERVER=/nonexistent/moto_server")
			cmd.Env = append(cmd.Env, tt.env...)
			out, err := cmd.CombinedOutput()
			if (err != nil) != tt.wantFail || !strings.Contains(string(out), tt.want) || !strings.Contains(string(out), "make moto") {
				t.Errorf("child (err %v):\n%s", err, out)
			}
		})
	}
}

// TestResetGivesFreshState checks that each test starts from an empty
// account: the user made by the first half is gone in the second.
func TestResetGivesFreshState(t *testing.T) {
	for i, wantUsers := range []int{0, 0} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			emu := Moto(t)
			c := iam.NewFromConfig(emu.Config(t))
			out, err := c.ListUsers(context.Background(), &iam.ListUsersInput{})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Users) != wantUsers {
				t.Errorf("%d users at the start of a test, want %d", len(out.Users), wantUsers)
			}
			if _, err := c.CreateUser(context.Background(), &iam.CreateUserInput{UserName: aws.String("left-behind")}); err != nil {
				t.Fatal(err)
			}
		})
	}
}
