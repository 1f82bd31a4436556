package playbook

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/autocontain/autocontain/internal/finding"
)

var ruleName = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// Validate checks everything that decoding cannot: the version, each
// setting (in SettingsTable's order), and the rules. Parse and FromEnv
// call it; call it again after changing a playbook's settings or rules.
func (p *Playbook) Validate() error {
	if p.Version != 1 {
		return fmt.Errorf("version: %d is not supported, want 1", p.Version)
	}
	for _, st := range SettingsTable {
		if err := st.Check(&p.Settings); err != nil {
			return Named("settings."+st.JSON, err)
		}
	}
	if len(p.Rules) == 0 {
		return errors.New("rules: a playbook needs at least one rule")
	}
	names := map[string]int{}
	for i := range p.Rules {
		if err := p.Rules[i].validate(); err != nil {
			return fmt.Errorf("rules[%d] (%s): %w", i, p.Rules[i].Name, err)
		}
		if j, dup := names[p.Rules[i].Name]; dup {
			return fmt.Errorf("rules[%d]: name %q is already used by rules[%d]", i, p.Rules[i].Name, j)
		}
		names[p.Rules[i].Name] = i
	}
	return nil
}

// sequenceType returns the index of a GuardDuty type pattern of r that
// takes attack sequences: one that matches a documented attack-sequence
// type, or whose literal start is one.
func (r *Rule) sequenceType() (int, bool) {
	if r.Source != finding.SourceGuardDuty {
		return 0, false
	}
	for i, t := range r.Types {
		lit, _, _ := strings.Cut(string(t), "*")
		if slices.ContainsFunc(finding.AttackSequenceTypes, t.Match) || strings.HasPrefix(lit, finding.AttackSequencePrefix) {
			return i, true
		}
	}
	return 0, false
}

func (r *Rule) validate() error {
	if !ruleName.MatchString(r.Name) {
		return fmt.Errorf("name: %q must be lower-case kebab-case (stolen-keys)", r.Name)
	}
	switch r.Source {
	case finding.SourceGuardDuty:
		if r.EventSource != "" {
			return errors.New("eventSource: only CloudTrail rules have one")
		}
		if r.MinSeverity < 0 || r.MinSeverity > 10 {
			return fmt.Errorf("minSeverity: %g is outside 0–10", r.MinSeverity)
		}
	case finding.SourceCloudTrail:
		if !strings.HasSuffix(r.EventSource, ".amazonaws.com") {
			return fmt.Errorf("eventSource: %q is not a service such as cloudtrail.amazonaws.com", r.EventSource)
		}
		if r.MinSeverity != 0 {
			return errors.New("minSeverity: CloudTrail records carry no severity")
		}
	default:
		return fmt.Errorf("source: %q is not %q or %q", r.Source, finding.SourceGuardDuty, finding.SourceCloudTrail)
	}
	if err := r.validateCloudTrailFields(); err != nil {
		return err
	}
	if err := r.validateResourceFields(); err != nil {
		return err
	}
	if len(r.Types) == 0 {
		return errors.New("types: a rule needs at least one finding type or event name")
	}
	if slices.Contains(r.Types, CatchAll) {
		if err := r.validateCatchAll(); err != nil {
			return err
		}
	}
	for i, t := range r.Types {
		if t == CatchAll {
			continue
		}
		if err := t.validate(); err != nil {
			return fmt.Errorf("types[%d]: %w", i, err)
		}
	}
	for i, k := range r.Principals {
		if !slices.Contains(finding.Kinds, k) {
			return fmt.Errorf("principals[%d]: %q is not one of %v", i, k, finding.Kinds)
		}
	}
	if t, ok := r.sequenceType(); ok && len(r.Principals) > 0 {
		return fmt.Errorf("principals: types[%d] %q takes attack sequences, whose principals are in service.detection.sequence, "+
			"where an EventBridge pattern cannot tell their kind: the stack would never deliver them to this rule; drop principals, "+
			"or give attack sequences a rule of their own", t, r.Types[t])
	}
	for i, c := range r.Impact {
		switch {
		case c == finding.ImpactUnknown:
			return fmt.Errorf("impact[%d]: %q never matches: a class that could not be read is no class", i, c)
		case !slices.Contains(finding.ImpactClasses, c):
			return fmt.Errorf("impact[%d]: %q is not one of %v", i, c, slices.DeleteFunc(slices.Clone(finding.ImpactClasses), func(c finding.ImpactClass) bool { return c == finding.ImpactUnknown }))
		case slices.Index(r.Impact, c) != i:
			return fmt.Errorf("impact[%d]: %q is listed twice", i, c)
		}
	}
	if len(r.Actions) == 0 {
		return errors.New("actions: a rule needs at least one action")
	}
	for i, a := range r.Actions {
		if _, ok := Spec(a); !ok {
			return fmt.Errorf("actions[%d]: %q is not one of %s", i, a, strings.Join(Actions(), ", "))
		}
		if slices.Index(r.Actions, a) != i {
			return fmt.Errorf("actions[%d]: %q is listed twice", i, a)
		}
	}
	return r.validateIsolate()
}
