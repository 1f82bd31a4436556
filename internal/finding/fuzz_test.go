package finding

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that no input makes Parse panic, and that what it
// accepts is internally consistent. The seed corpus is every sample event.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("..", "..", "events", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"source":"aws.guardduty","detail-type":"GuardDuty Finding","detail":{"additionalInfo":{"value":"{\"value\":\"{}\"}"}}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Parse(data)
		if err != nil {
			return
		}
		if got.ID == "" || got.Type == "" {
			t.Fatalf("accepted a finding without id or type: %+v", got)
		}
		if got.Source != SourceGuardDuty && got.Source != SourceCloudTrail {
			t.Fatalf("accepted source %q", got.Source)
		}
		if got.Severity < 0 || got.Severity > 10 {
			t.Fatalf("accepted severity %g", got.Severity)
		}
		seen := map[string]bool{}
		for _, a := range got.Addresses {
			if !a.IsValid() || a.Is4In6() || seen[a.String()] {
				t.Fatalf("bad or duplicate address %v in %v", a, got.Addresses)
			}
			seen[a.String()] = true
		}
		if got.Principal.Kind == "" {
			t.Fatal("principal has no kind")
		}
	})
}
