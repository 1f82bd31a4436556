package main

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/autocontain/autocontain/internal/finding"
)

// TestFindingSources: the default deploy subscribes to GuardDuty's own
// findings only, exactly as before the key existed (findingSources
// guardduty gives the same template, byte for byte); securityhub swaps the
// GuardDuty rules for rules on Security Hub's imported findings, of the
// stack's account; both has both.
func TestFindingSources(t *testing.T) {
	sources := func(s *synthesized) map[string]int {
		out := map[string]int{}
		for id, p := range templatePatterns(t, s) {
			var v struct {
				DetailType []string `json:"detail-type"`
			}
			if err := json.Unmarshal([]byte(p), &v); err != nil {
				t.Fatalf("%s: %v", id, err)
			}
			for _, dt := range v.DetailType {
				out[dt]++
			}
			if slices.Contains(v.DetailType, finding.DetailTypeSecurityHub) && (!strings.Contains(p, `"AwsAccountId":["123456789012"]`) || !strings.HasPrefix(id, "SecurityHubFindings")) {
				t.Errorf("rule %s: %s", id, p)
			}
		}
		return out
	}
	def := defaultStack(t)
	explicit := DefaultConfig()
	explicit.FindingSources = []string{SourceGuardDuty}
	a, _ := json.Marshal(def.json)
	b, _ := json.Marshal(synth(t, "findingSources-guardduty", explicit, "").json)
	if string(a) != string(b) {
		t.Error("findingSources=guardduty changes the default template")
	}
	if got := sources(def); got[finding.DetailTypeSecurityHub] != 0 || got[finding.DetailTypeGuardDuty] != 1 {
		t.Errorf("default: rules by source %v", got)
	}
	for name, want := range map[string]map[string]int{
		"securityhub":             {finding.DetailTypeSecurityHub: 1, finding.DetailTypeGuardDuty: 0},
		"guardduty,securityhub":   {finding.DetailTypeSecurityHub: 1, finding.DetailTypeGuardDuty: 1},
		" SecurityHub, guardduty": {finding.DetailTypeSecurityHub: 1, finding.DetailTypeGuardDuty: 1},
	} {
		cfg, err := configFromMap(map[string]any{"findingSources": name})
		if err != nil {
			t.Fatal(err)
		}
		got := sources(synth(t, "findingSources-"+name, cfg, ""))
		for src, n := range want {
			if got[src] != n {
				t.Errorf("%q: %d rules for %q, want %d (all: %v)", name, got[src], src, n, maps.Clone(got))
			}
		}
	}
}

func TestFindingSourcesValidation(t *testing.T) {
	org := func(sources string) map[string]any {
		ctx := orgContext()
		ctx["findingSources"] = sources
		return ctx
	}
	for name, tt := range map[string]struct {
		ctx     map[string]any
		wantErr string
	}{
		"unknown":               {map[string]any{"findingSources": "inspector"}, `context findingSources: "inspector" is neither guardduty nor securityhub`},
		"empty":                 {map[string]any{"findingSources": ""}, `"" is neither`},
		"twice":                 {map[string]any{"findingSources": "guardduty,guardduty"}, "guardduty is named twice"},
		"list_from_cdk_json":    {map[string]any{"findingSources": []any{"guardduty", "securityhub"}}, ""},
		"org_without_guardduty": {org("securityhub"), "organization mode takes GuardDuty's findings"},
		"org_with_both":         {org("guardduty,securityhub"), ""},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := configFromMap(tt.ctx)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
