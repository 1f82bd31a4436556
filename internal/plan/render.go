package plan

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/autocontain/autocontain/internal/finding"
)

// WriteTable writes the plan for people: a summary of the finding, then one
// row per step.
func (p Plan) WriteTable(w io.Writer) error {
	f := p.Finding
	var b strings.Builder
	fmt.Fprintf(&b, "finding   %s %s (%s)\n", f.Source, f.ID, f.Type)
	if f.Source == finding.SourceGuardDuty {
		fmt.Fprintf(&b, "severity  %g %s%s\n", f.Severity, finding.SeverityLabel(f.Severity), floorText(f))
	} else {
		fmt.Fprintf(&b, "event     %s %s\n", f.EventSource, f.Type)
		if call := f.Call(); call != "" {
			fmt.Fprintf(&b, "call      %s\n", call)
		}
	}
	if f.Account != "" || f.Partition != "" {
		fmt.Fprintf(&b, "account   %s\n", strings.TrimSpace(f.Account+" ("+firstNonEmpty(f.Partition, "partition unknown")+")"))
	}
	if f.Resource != "" {
		fmt.Fprintf(&b, "resource  %s %s\n", firstNonEmpty(f.ResourceType, "(type not given)"), f.Resource)
	}
	if in := f.Instance; in != nil {
		fmt.Fprintf(&b, "instance  %s\n", describeInstance(*in))
	}
	fmt.Fprintf(&b, "principal %s\n", describePrincipal(f.Principal))
	if imp := f.Principal.Impact; imp.Class != "" {
		fmt.Fprintf(&b, "impact    %s\n", finding.MaskKeys(imp.String()))
	}
	for _, a := range f.Actors {
		fmt.Fprintf(&b, "actor     %s\n", describePrincipal(a))
		if imp := a.Impact; imp.Class != "" {
			fmt.Fprintf(&b, "impact    %s\n", finding.MaskKeys(imp.String()))
		}
	}
	if len(f.Addresses) > 0 {
		as := make([]string, len(f.Addresses))
		for i, a := range f.Addresses {
			as[i] = a.String()
		}
		fmt.Fprintf(&b, "addresses %s\n", strings.Join(as, " "))
	}
	rule := p.Rule
	if rule == "" {
		rule = "(none)"
	}
	fmt.Fprintf(&b, "rule      %s\n", rule)
	if p.ActsIn != "" {
		fmt.Fprintf(&b, "acts in   %s\n", p.ActsIn)
	}
	if p.DryRun {
		b.WriteString("mode      dry run: nothing will be changed\n")
	}
	b.WriteString("\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tACTION\tTARGET\tREASON")
	for i, s := range p.Steps {
		action := s.Action
		if s.Skipped != "" {
			action += " " + s.Skipped
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", i+1, action, s.Target, s.Reason)
	}
	return tw.Flush()
}

// describePrincipal renders a principal in one line, its key masked.
func describePrincipal(pr finding.Principal) string {
	if pr.Kind == finding.KindNone {
		return "none"
	}
	parts := []string{string(pr.Kind)}
	if pr.Kind == finding.KindUnknown && pr.Type != "" {
		parts = append(parts, "type="+pr.Type)
	}
	for _, kv := range [][2]string{
		{"user", pr.UserName}, {"role", pr.RoleName}, {"session", pr.SessionName},
		{"arn", pr.ARN}, {"invokedBy", pr.InvokedBy},
	} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+kv[1])
		}
	}
	if pr.AccessKeyID != "" {
		parts = append(parts, "key="+finding.MaskKey(pr.AccessKeyID))
	}
	return strings.Join(parts, " ")
}

// describeInstance renders what the finding says of its instance in one
// line: what the planner decides on.
func describeInstance(in finding.Instance) string {
	parts := []string{in.ID}
	if in.ProfileARN != "" {
		parts = append(parts, "profile="+in.ProfileName())
	}
	for _, n := range in.Interfaces {
		groups := make([]string, len(n.SecurityGroups))
		for i, g := range n.SecurityGroups {
			groups[i] = g.ID
		}
		parts = append(parts, fmt.Sprintf("eni=%s(%s)", n.ID, strings.Join(append([]string{n.VPC}, groups...), " ")))
	}
	if g := in.AutoScalingGroup(); g != "" {
		parts = append(parts, "autoScalingGroup="+g)
	}
	if in.Protected() {
		parts = append(parts, "protected")
	}
	return strings.Join(parts, " ")
}
