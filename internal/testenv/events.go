package testenv

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/autocontain/autocontain/internal/emulator"
)

// minSampleEvents is how many sample events events/ holds at the least:
// fewer means files were lost.
const minSampleEvents = 12

// A Sample is one sample event of events/.
type Sample struct {
	// Name is the file's name without ".json"
	// ("guardduty-ec2-ssh-bruteforce").
	Name string
	// Path is the file's path; its golden plan is beside it.
	Path string
	// Raw is the file's content.
	Raw []byte
}

// EventsDir returns the folder of sample events: events/ at the module
// root, found from the test's working directory whatever its depth.
func EventsDir(tb testing.TB) string {
	tb.Helper()
	root, err := emulator.RepoRoot()
	if err != nil {
		tb.Fatalf("find the sample events: %v", err)
	}
	return filepath.Join(root, "events")
}

// Event returns the sample event events/NAME (name ends in ".json").
func Event(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(EventsDir(tb), name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// SampleEvents returns every sample event (events/*.json), sorted by name.
// It fails the test if there are fewer than twelve.
func SampleEvents(tb testing.TB) []Sample {
	tb.Helper()
	dir := EventsDir(tb)
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		tb.Fatal(err)
	}
	if len(files) < minSampleEvents {
		tb.Fatalf("found %d sample events in %s, want at least %d", len(files), dir, minSampleEvents)
	}
	out := make([]Sample, 0, len(files))
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, Sample{Name: strings.TrimSuffix(filepath.Base(f), ".json"), Path: f, Raw: raw})
	}
	// By name: the files' order differs where one name extends another
	// ("x-outbound.json" sorts before "x.json").
	slices.SortFunc(out, func(a, b Sample) int { return strings.Compare(a.Name, b.Name) })
	return out
}
