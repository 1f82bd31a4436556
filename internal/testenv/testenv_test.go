package testenv

import (
	"context"
	"fmt"
	"path/filepath"
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
	if InChild() {
		Moto(t)
		t.Log("got an emulator")
		return
	}
	CheckMissing(t, "AUTOCONTAIN_REQUIRE_EMULATOR", "make moto", "AUTOCONTAIN_MOTO_URL=", "AUTOCONTAIN_MOTO_SERVER=/nonexistent/moto_server")
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

// TestSampleEventsFromAnyFolder reads the sample events from this folder
// and from one further down: the same files, sorted, each as Event reads it.
func TestSampleEventsFromAnyFolder(t *testing.T) {
	here := SampleEvents(t)
	for i, ev := range here {
		if strings.HasSuffix(ev.Name, ".json") || filepath.Base(ev.Path) != ev.Name+".json" || filepath.Dir(ev.Path) != EventsDir(t) {
			t.Errorf("sample %q at %s: want the name without .json, in %s", ev.Name, ev.Path, EventsDir(t))
		}
		if i > 0 && here[i-1].Name >= ev.Name {
			t.Errorf("samples out of order: %s before %s", here[i-1].Name, ev.Name)
		}
		if got := Event(t, ev.Name+".json"); string(got) != string(ev.Raw) || len(got) == 0 {
			t.Errorf("Event(%s.json) is not the sample's content", ev.Name)
		}
	}
	t.Chdir("faultproxy")
	deeper := SampleEvents(t)
	if len(deeper) != len(here) {
		t.Fatalf("%d samples from faultproxy/, %d from testenv/", len(deeper), len(here))
	}
	for i := range here {
		if deeper[i].Path != here[i].Path {
			t.Errorf("sample %d: %s from faultproxy/, %s from testenv/", i, deeper[i].Path, here[i].Path)
		}
	}
}
