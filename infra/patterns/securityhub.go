package patterns

import (
	"reflect"
	"slices"
	"strings"

	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/playbook"
)

// guardDutyProductARN matches the ProductArn of GuardDuty's findings in
// Security Hub, in any partition and Region: with cross-Region
// aggregation, the home Region receives the other Regions' findings with
// their own Region's ProductArn.
const guardDutyProductARN = "arn:*:securityhub:*::product/aws/guardduty"

// SecurityHub returns the patterns of the rules that take GuardDuty's
// findings as Security Hub delivers them (detail-type "Security Hub
// Findings - Imported", detail.findings[] in ASFF), usually one: the
// GuardDuty rules' branches (GuardDuty), each written in ASFF's terms.
//
//   - Types: FindingProviderFields.Types, which only GuardDuty sets, holds
//     the type with a category in front and its slash written as a dash
//     (TTPs/UnauthorizedAccess:IAMUser-MaliciousIPCaller.Custom), a few
//     with the slash kept: each playbook type T:R/V becomes the wildcard
//     *T:R*V, which matches both.
//   - Severity: FindingProviderFields.Severity.Label, GuardDuty's label of
//     its own number: the labels whose band reaches the floor (4 is MEDIUM,
//     HIGH, CRITICAL; 5 too: the function checks the number).
//   - Principals: Resources.Details.AwsIamAccessKey.PrincipalType.
//   - Always: the ProductArn of GuardDuty, and RecordState ACTIVE unless
//     the playbook acts on archived findings.
//
// Every filter matches at least what the function acts on, never less:
// an event whose findings match in parts (one the type, another the
// severity) is delivered, and the function decides each finding. When
// account is set, only findings of that account match (the envelope's
// account and detail.findings.AwsAccountId). It returns none when the
// playbook has no GuardDuty rule.
func SecurityHub(pb *playbook.Playbook, account string) ([]Pattern, error) {
	return securityHub(pb, account).split()
}

func securityHub(pb *playbook.Playbook, account string) shape {
	gd := guardDuty(pb, "")
	s := shape{source: "Security Hub", account: account, common: map[string]any{}, nest: "findings"}
	for _, b := range gd.branches {
		nb := branch{rule: b.rule, typesKey: "FindingProviderFields.Types", fields: map[string]any{}, min: b.min, sevKey: "FindingProviderFields"}
		if b.types != nil {
			nb.types = asffTypes(b.types)
		}
		if b.min > 0 {
			nb.fields["FindingProviderFields"] = map[string]any{"Severity": map[string]any{"Label": labelsFrom(b.min)}}
		}
		// A rule's resource role and resource types are not filtered
		// here (ASFF keeps them in ProductFields and Resources[].Type):
		// the pattern matches more, never less, and the function decides.
		if r, ok := b.fields["resource"].(map[string]any); ok {
			if key, ok := r["accessKeyDetails"].(map[string]any); ok {
				nb.fields["Resources"] = map[string]any{"Details": map[string]any{"AwsIamAccessKey": map[string]any{"PrincipalType": key["userType"]}}}
			}
		}
		s.branches = append(s.branches, nb)
	}
	s.branches = merged(withoutCovered(s.branches))
	if len(s.branches) == 0 {
		return s
	}
	s.common["ProductArn"] = []any{map[string]any{"wildcard": guardDutyProductARN}}
	if !pb.Settings.ActOnArchived {
		s.common["RecordState"] = []any{"ACTIVE"}
	}
	s.envelope = Pattern{"source": []any{finding.SourceSecurityHubEvents}, "detail-type": []any{finding.DetailTypeSecurityHub}}
	if account != "" {
		s.envelope["account"] = []any{account}
		s.common["AwsAccountId"] = []any{account}
	}
	return s
}

// asffTypes turns GuardDuty type matchers (matchers) into wildcards on
// ASFF types: *T:R*V for T:R/V, so that the category before the type and
// either spelling of its slash match.
func asffTypes(ms []any) []any {
	out := make([]any, 0, len(ms))
	seen := map[string]bool{}
	for _, m := range ms {
		var p string
		switch v := m.(type) {
		case string:
			p = v
		case map[string]any:
			if lit, ok := v["prefix"].(string); ok {
				p = lit + "*"
			} else {
				p, _ = v["wildcard"].(string)
			}
		}
		p = "*" + strings.Replace(p, "/", "*", 1)
		for strings.Contains(p, "**") {
			p = strings.ReplaceAll(p, "**", "*")
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, map[string]any{"wildcard": p})
		}
	}
	return out
}

// labelsFrom lists the ASFF severity labels whose GuardDuty band holds a
// severity of min or more (GuardDuty User Guide, "Severity levels":
// low 1.0–3.9, medium 4.0–6.9, high 7.0–8.9, critical 9.0–10.0).
func labelsFrom(min float64) []any {
	var out []any
	for _, l := range []struct {
		label string
		top   float64 // below the next band
	}{{"INFORMATIONAL", 1}, {"LOW", 4}, {"MEDIUM", 7}, {"HIGH", 9}, {"CRITICAL", 11}} {
		if min < l.top {
			out = append(out, l.label)
		}
	}
	return out
}

// merged joins the branches whose filters but their types are alike into
// one, at the first's place, with every type: (t in A and x) or (t in B
// and x) is t in A∪B and x. In ASFF every type is a wildcard of its own,
// and without the merge the default playbook's branches, one per rule,
// do not fit one rule; in two rules, a finding of both (a type one rule
// names, a severity the safety net takes) would be delivered twice.
func merged(bs []branch) []branch {
	var out []branch
	for _, b := range bs {
		i := slices.IndexFunc(out, func(o branch) bool {
			return o.types != nil && b.types != nil && reflect.DeepEqual(o.fields, b.fields)
		})
		if i < 0 {
			out = append(out, b)
			continue
		}
		o := &out[i]
		o.rule += ", " + b.rule
		o.min = min(o.min, b.min)
		for _, t := range b.types {
			if !slices.ContainsFunc(o.types, func(x any) bool { return reflect.DeepEqual(x, t) }) {
				o.types = append(slices.Clip(o.types), t)
			}
		}
	}
	for i := range out {
		out[i].types = uncovered(out[i].types)
	}
	return out
}

// uncovered drops each wildcard that another of the list matches
// whenever it matches: *X* (X without *) matches every string that holds
// X, so every wildcard one of whose literal parts holds X.
func uncovered(ws []any) []any {
	lit := func(w any) string { m, _ := w.(map[string]any); s, _ := m["wildcard"].(string); return s }
	covers := func(a, b string) bool {
		x, pre := strings.CutPrefix(a, "*")
		x, suf := strings.CutSuffix(x, "*")
		if !pre || !suf || x == "" || strings.Contains(x, "*") {
			return false
		}
		return slices.ContainsFunc(strings.Split(b, "*"), func(part string) bool { return strings.Contains(part, x) })
	}
	var out []any
	for i, w := range ws {
		covered := false
		for j, o := range ws {
			if j != i && covers(lit(o), lit(w)) {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, w)
		}
	}
	return out
}
