package contain

import (
	"slices"
	"testing"
)

// FuzzParsePrior: the ledger's record of an isolated instance's previous
// groups never panics the reader; what it reads, it writes back the same.
func FuzzParsePrior(f *testing.F) {
	for _, s := range []string{"", "eni-0123456789abcdef0=sg-0123456789abcdef0,sg-0fffffffffffffff0 eni-0aaaaaaaaaaaaaaa0=sg-0bbbbbbbbbbbbbbb0",
		"eni-1=sg-1", "eni-0123456789abcdef0=", "=sg-0123456789abcdef0", "eni-0123456789abcdef0=sg-0123456789abcdef0,,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parsePrior(s)
		if err != nil {
			if len(p) != 0 {
				t.Fatalf("%q: error %v with a partial result %v", s, err, p)
			}
			return
		}
		back, err := parsePrior(p.String())
		if err != nil || len(back) != len(p) {
			t.Fatalf("%q read as %v, written %q, read back %v (%v)", s, p, p.String(), back, err)
		}
		for eni, gs := range p {
			if !slices.Equal(back[eni], gs) {
				t.Fatalf("%q: %s has %v, read back %v", s, eni, gs, back[eni])
			}
		}
	})
}
