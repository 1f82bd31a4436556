package playbook

import (
	"fmt"
	"strings"
)

// Pattern matches finding types. It is an exact name ("Recon:IAMUser/TorIPCaller"),
// a prefix written with one trailing star ("UnauthorizedAccess:IAMUser/*"), or
// a glob whose stars match any run of characters, slashes included
// ("*:IAMUser/AnomalousBehavior"). These are exactly EventBridge's exact,
// prefix and wildcard matches, so a rule's patterns become its event pattern
// without translation.
type Pattern string

// PatternKind says how a Pattern matches.
type PatternKind int

// Pattern kinds.
const (
	Exact PatternKind = iota
	Prefix
	Glob
)

// Kind reports how p matches.
func (p Pattern) Kind() PatternKind {
	s := string(p)
	n := strings.Count(s, "*")
	switch {
	case n == 0:
		return Exact
	case n == 1 && strings.HasSuffix(s, "*"):
		return Prefix
	default:
		return Glob
	}
}

// Literal returns p without its trailing star for a Prefix, and p itself otherwise.
func (p Pattern) Literal() string {
	if p.Kind() == Prefix {
		return strings.TrimSuffix(string(p), "*")
	}
	return string(p)
}

// validate rejects patterns that could not mean what their author intended.
func (p Pattern) validate() error {
	s := string(p)
	switch {
	case s == "":
		return fmt.Errorf("pattern is empty")
	case strings.TrimSpace(s) != s || strings.ContainsAny(s, " \t\r\n"):
		return fmt.Errorf("pattern %q contains white space", s)
	case strings.ContainsAny(s, "?[]\\"):
		return fmt.Errorf("pattern %q uses ?, [ ] or \\: only * is supported (any run of characters)", s)
	case strings.Contains(s, "**"):
		return fmt.Errorf("pattern %q has consecutive stars", s)
	case s == "*":
		return fmt.Errorf("pattern %q matches everything: name the finding families instead", s)
	case strings.HasSuffix(s, "/") || strings.HasSuffix(s, ":"):
		return fmt.Errorf("pattern %q matches only that exact text; for a family write %q", s, s+"*")
	}
	return nil
}

// Match reports whether p matches s.
func (p Pattern) Match(s string) bool {
	switch p.Kind() {
	case Exact:
		return string(p) == s
	case Prefix:
		return strings.HasPrefix(s, p.Literal())
	}
	return globMatch(string(p), s)
}

// globMatch matches a pattern where '*' stands for any run of characters.
// It runs in O(len(pattern)·len(s)) at worst: on a mismatch it backtracks only
// to the most recent star.
func globMatch(pattern, s string) bool {
	px, sx := 0, 0
	starP, starS := -1, 0
	for sx < len(s) {
		switch {
		case px < len(pattern) && pattern[px] == '*':
			starP, starS = px, sx
			px++
		case px < len(pattern) && pattern[px] == s[sx]:
			px++
			sx++
		case starP >= 0:
			starS++
			px, sx = starP+1, starS
		default:
			return false
		}
	}
	for px < len(pattern) && pattern[px] == '*' {
		px++
	}
	return px == len(pattern)
}
