package status

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable prints s for people: the held principals and how to undo
// each finding, the IP sets, the breakers and the latest decisions.
func WriteTable(w io.Writer, s Status) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(format string, a ...any) { fmt.Fprintf(tw, format+"\n", a...) }
	ledger := ""
	if s.Ledger != "" {
		ledger = " (ledger " + s.Ledger + ")"
	}
	p("autocontain status at %s%s", stamp(s.At), ledger)

	p("\nHELD: %s", count(len(s.Held), "principal", "principals"))
	if len(s.Held) > 0 {
		p("ACCOUNT\tKIND\tNAME\tSINCE\tHELD BY\tFINDINGS")
		for _, pr := range s.Held {
			for i, h := range pr.Holds {
				who := "\t\t\t"
				if i == 0 {
					who = fmt.Sprintf("%s\t%s\t%s\t%s", pr.Account, pr.Kind, pr.Name, since(s.At, pr.Since))
				}
				what := h.What
				if h.Resource != h.What {
					what += " (" + h.Resource + ")"
				}
				if !h.Changed {
					what += " (already so)"
				}
				p("%s\t%s\t%s", who, what, strings.Join(h.Findings, ", "))
			}
		}
		tw.Flush()
		p("\nUNDO (one command per finding; a resource is restored when no finding holds it any more)")
		p("FINDING\tSINCE\tCOMMAND")
		for _, f := range undos(s.Held) {
			p("%s\t%s\t%s", f.Finding, since(s.At, f.Since), f.Undo)
		}
	}

	p("\nBLOCKED ADDRESSES: %s", count(len(s.IPSets), "IP set", "IP sets"))
	if len(s.IPSets) > 0 {
		p("IP SET\tACCOUNT\tBLOCKED\tOF LIMIT\tNEWEST\tNEXT EXPIRY\tTO TAKE OUT")
		for _, set := range s.IPSets {
			use := fmt.Sprintf("%.1f%% of %d", 100*float64(set.Blocked)/float64(max(set.Limit, 1)), set.Limit)
			if set.Over > 0 {
				use += fmt.Sprintf(" (%d oldest not blocked)", set.Over)
			}
			out := fmt.Sprintf("%d expired, %d unwanted", set.Expired, set.Unwanted)
			if set.Pending {
				out += "; writer pending"
			}
			p("%s\t%s\t%d\t%s\t%s\t%s\t%s", set.Name, or(set.Account), set.Blocked, use, address(s.At, set.Newest), address(s.At, set.NextExpiry), out)
		}
	}

	p("\nBREAKERS")
	p("SCOPE\tCONTAINED\tMAX\tWINDOW")
	for _, b := range s.Breakers {
		scope := "account " + b.Account
		switch {
		case b.Organization != "":
			scope = "organization " + b.Organization
		case b.Account == "":
			scope = "any account"
		}
		n := fmt.Sprint(b.Count)
		if b.Full() {
			n += " (FULL: principals are reported, not contained)"
		}
		p("%s\t%s\t%d\t%s to %s", scope, n, b.Max, stamp(b.WindowStart), stamp(b.WindowEnd))
	}

	p("\nLAST %s", count(len(s.Decisions), "DECISION", "DECISIONS"))
	if len(s.Decisions) > 0 {
		p("TIME\tOUTCOME\tFINDING\tTYPE\tACCOUNT\tSUBJECT")
		for _, d := range s.Decisions {
			out := d.Outcome
			if !d.Undone.IsZero() {
				out += ", undone " + stamp(d.Undone)
			}
			p("%s\t%s\t%s\t%s\t%s\t%s", stamp(d.At), out, d.Finding, or(d.Type), or(d.Account), or(d.Subject))
		}
	}
	return tw.Flush()
}

// undos lists each finding that holds a principal once, the oldest first.
func undos(held []Principal) []HeldBy {
	var out []HeldBy
	seen := map[string]bool{}
	for _, p := range held {
		for _, f := range p.Findings {
			if !seen[f.Finding] {
				seen[f.Finding] = true
				out = append(out, f)
			}
		}
	}
	slices.SortFunc(out, func(a, b HeldBy) int {
		if c := a.Since.Compare(b.Since); c != 0 {
			return c
		}
		return strings.Compare(a.Finding, b.Finding)
	})
	return out
}

func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func or(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// since is t, with how long before now it was.
func since(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return stamp(t) + " (" + ago(now.Sub(t)) + " ago)"
}

func address(now time.Time, a *Address) string {
	if a == nil {
		return "-"
	}
	if a.At.After(now) {
		return a.Address + " at " + stamp(a.At) + " (in " + ago(a.At.Sub(now)) + ")"
	}
	return a.Address + " at " + since(now, a.At)
}

// ago says a duration roughly: 45s, 12m, 3h10m, 2d4h.
func ago(d time.Duration) string {
	d = max(d, 0).Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}
