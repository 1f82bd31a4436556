package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/autocontain/autocontain/internal/impact"
)

// TestRoleReadsWhatTheImpactLookupReads: the impact lookup reads a user's
// groups and the managed policies attached (the account's and AWS's), so
// the role grants its reads on groups and policies, not only on users and
// roles.
func TestRoleReadsWhatTheImpactLookupReads(t *testing.T) {
	allow, _ := policyStatements(t, defaultStack(t))
	for _, a := range impact.Permissions() {
		var resources []string
		for _, st := range allow {
			if slices.Contains(asList(st["Action"]), any(a)) {
				for _, r := range asList(st["Resource"]) {
					resources = append(resources, fmt.Sprint(r))
				}
			}
		}
		all := strings.Join(resources, " ")
		for _, want := range []string{":group/*", ":policy/*", ":iam::aws:policy/*"} {
			if !strings.Contains(all, want) {
				t.Errorf("%s is granted on %v, not on %s", a, resources, want)
			}
		}
	}
}

// TestRoleReadsInstanceProfiles: the engine reads an instance's profile
// (iam:GetInstanceProfile) before it plans a finding about the instance,
// in the home account and in a member; without a grant on the account's
// instance profiles every such delivery would fail on AccessDenied.
func TestRoleReadsInstanceProfiles(t *testing.T) {
	allow, _ := policyStatements(t, defaultStack(t))
	var resources []string
	for _, st := range allow {
		if slices.Contains(asList(st["Action"]), any("iam:GetInstanceProfile")) {
			for _, r := range asList(st["Resource"]) {
				resources = append(resources, fmt.Sprint(r))
			}
		}
	}
	if !strings.Contains(strings.Join(resources, " "), ":instance-profile/*") {
		t.Errorf("iam:GetInstanceProfile is granted on %v, not on the account's instance profiles", resources)
	}
}
