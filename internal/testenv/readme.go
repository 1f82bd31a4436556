package testenv

import (
	"os"
	"strings"
	"testing"
)

// ReadmeBlock checks that the block of file between the markers
// "<!-- begin NAME: ... -->" and "<!-- end NAME -->" is want, or rewrites
// it when update is set.
func ReadmeBlock(t *testing.T, file, name, want string, update bool) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	begin := strings.Index(text, "<!-- begin "+name+":")
	end := strings.Index(text, "<!-- end "+name+" -->")
	if begin < 0 || end < begin {
		t.Fatalf("%s has no block <!-- begin %s: ... --> ... <!-- end %s -->", file, name, name)
	}
	start := begin + strings.Index(text[begin:], "-->\n") + len("-->\n")
	if got := text[start:end]; got != want {
		if !update {
			t.Fatalf("%s's %s table differs from the code's (go test -run %s -update rewrites it); want:\n%s", file, name, t.Name(), want)
		}
		if err := os.WriteFile(file, []byte(text[:start]+want+text[end:]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
