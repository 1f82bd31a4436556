package main

import (
	"strings"
	"testing"

	"github.com/autocontain/autocontain/internal/contain"
	"github.com/autocontain/autocontain/internal/engine"
	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/protect"
)

// ec2Call is a call of an ec2: action the code declares, on a resource of
// account that it acts on, with the condition keys it carries: Describe*
// on "*", the tag calls with autocontain's keys.
func ec2Call(action, account string) request {
	req := request{action: action, resource: "arn:aws:ec2:" + testRegion + ":" + account + ":network-interface/eni-0123456789abcdef0", context: map[string]string{}}
	switch _, name, _ := strings.Cut(action, ":"); {
	case strings.HasPrefix(name, "Describe"):
		req.resource = "*"
	case name == "CreateTags" || name == "DeleteTags":
		req.context["aws:TagKeys"] = contain.TagPriorGroups
	case strings.HasPrefix(name, "AuthorizeSecurityGroup") || strings.HasPrefix(name, "RevokeSecurityGroup"):
		req.resource = "arn:aws:ec2:" + testRegion + ":" + account + ":security-group/sg-0123456789abcdef0"
		req.context["aws:ResourceTag/"+contain.TagIsolation] = contain.TagIsolationClosed
	case name == "CreateSnapshot":
		req.resource = "arn:aws:ec2:" + testRegion + "::snapshot/snap-0123456789abcdef0"
	}
	return req
}

// TestRoleIsolatesOnlyAsDeclared: the role makes the EC2 calls the code
// declares on the account's resources, not another account's; writes and
// removes only autocontain's tag keys; and changes nothing of an instance
// tagged autocontain:protected=true.
func TestRoleIsolatesOnlyAsDeclared(t *testing.T) {
	s := defaultStack(t)
	allow, deny := policyStatements(t, s)
	policy := append(allow, deny...)
	var ec2Actions []string
	for _, a := range engine.Permissions() {
		if strings.HasPrefix(a, "ec2:") {
			ec2Actions = append(ec2Actions, a)
		}
	}
	if len(ec2Actions) == 0 {
		t.Fatal("the code declares no ec2: action")
	}
	for _, a := range ec2Actions {
		req := ec2Call(a, testAccount)
		if got, why := s.evaluate(t, policy, req); !got {
			t.Errorf("%s on %s: denied (%s); the code needs it", a, req.resource, why)
		}
		if req.resource == "*" || strings.Contains(req.resource, "::snapshot/") {
			continue // no account in the ARN
		}
		other := ec2Call(a, testMember)
		if got, why := s.evaluate(t, policy, other); got {
			t.Errorf("%s on %s: allowed (%s), in another account", a, other.resource, why)
		}
	}
	instance := "arn:aws:ec2:" + testRegion + ":" + testAccount + ":instance/i-0123456789abcdef0"
	group := "arn:aws:ec2:" + testRegion + ":" + testAccount + ":security-group/sg-0123456789abcdef0"
	protected := map[string]string{"aws:ResourceTag/" + protect.TagKey: "True", "aws:TagKeys": contain.TagIsolatedBy}
	for _, v := range paddedProtectValues {
		if !finding.IsProtectValue(v) {
			t.Fatalf("%q is not a protect value for the code", v)
		}
		for _, action := range []string{"ec2:ModifyNetworkInterfaceAttribute", "ec2:CreateTags", "ec2:DeleteTags"} {
			req := request{action: action, resource: instance, context: map[string]string{"aws:ResourceTag/" + protect.TagKey: v, "aws:TagKeys": contain.TagIsolatedBy}}
			if got, why := s.evaluate(t, policy, req); got {
				t.Errorf("%s on an instance tagged %s=%q: allowed (%s)", action, protect.TagKey, v, why)
			}
		}
	}
	for _, tc := range []struct {
		what string
		req  request
		want bool
	}{
		{"tag an instance with autocontain's keys", request{action: "ec2:CreateTags", resource: instance,
			context: map[string]string{"aws:TagKeys": contain.TagIsolatedBy + "," + contain.TagIsolatedAt}}, true},
		{"tag an instance with another key", request{action: "ec2:CreateTags", resource: instance,
			context: map[string]string{"aws:TagKeys": contain.TagIsolatedBy + ",Name"}}, false},
		{"delete every tag (no keys)", request{action: "ec2:DeleteTags", resource: instance, context: map[string]string{}}, false},
		{"remove autocontain:protected", request{action: "ec2:DeleteTags", resource: instance, context: map[string]string{"aws:TagKeys": protect.TagKey}}, false},
		{"move the interfaces of a protected instance", request{action: "ec2:ModifyNetworkInterfaceAttribute", resource: instance, context: protected}, false},
		{"tag a protected instance", request{action: "ec2:CreateTags", resource: instance, context: protected}, false},
		{"move the interfaces of an instance", request{action: "ec2:ModifyNetworkInterfaceAttribute", resource: instance, context: map[string]string{}}, true},
		{"open another group to the world", request{action: "ec2:AuthorizeSecurityGroupIngress", resource: "arn:aws:ec2:" + testRegion + ":" + testAccount + ":security-group/sg-0123456789abcdef0",
			context: map[string]string{}}, false},
		{"close another group", request{action: "ec2:RevokeSecurityGroupEgress", resource: "arn:aws:ec2:" + testRegion + ":" + testAccount + ":security-group/sg-0123456789abcdef0",
			context: map[string]string{"aws:ResourceTag/" + contain.TagIsolation: "yes"}}, false},
		// The rules of a group are autocontain's to change when the group
		// carries autocontain:isolation: the role must not be able to put
		// that tag on another group, only on the one it creates.
		{"mark another group as autocontain's", request{action: "ec2:CreateTags", resource: group,
			context: map[string]string{"aws:TagKeys": contain.TagIsolation}}, false},
		{"mark another group as autocontain's among other keys", request{action: "ec2:CreateTags", resource: group,
			context: map[string]string{"aws:TagKeys": contain.TagPriorGroups + "," + contain.TagIsolation}}, false},
		{"tag the group it creates", request{action: "ec2:CreateTags", resource: group,
			context: map[string]string{"aws:TagKeys": contain.TagIsolation, "ec2:CreateAction": "CreateSecurityGroup"}}, true},
		{"untag autocontain's group", request{action: "ec2:DeleteTags", resource: group,
			context: map[string]string{"aws:TagKeys": contain.TagIsolation}}, false},
		{"terminate an instance", request{action: "ec2:TerminateInstances", resource: instance, context: map[string]string{}}, false},
		{"delete a snapshot", request{action: "ec2:DeleteSnapshot", resource: "arn:aws:ec2:" + testRegion + "::snapshot/snap-0123456789abcdef0", context: map[string]string{}}, false},
	} {
		if got, why := s.evaluate(t, policy, tc.req); got != tc.want {
			t.Errorf("%s: allowed=%v (%s), want %v", tc.what, got, why, tc.want)
		}
	}
}
