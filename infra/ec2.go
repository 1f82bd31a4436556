package main

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"

	"github.com/autocontain/autocontain/internal/contain"
	"github.com/autocontain/autocontain/internal/protect"
)

// Sids of the EC2 statements (isolate-instance).
const (
	sidEC2Read               = "Ec2Describe"
	sidEC2Isolate            = "Ec2Isolate"
	sidEC2OwnTags            = "Ec2OnlyItsOwnTags"
	sidEC2GroupTag           = "Ec2TagsItsNewGroups"
	sidEC2OwnGroups          = "Ec2OnlyItsOwnGroupsRules"
	sidEC2GroupRules         = "Ec2RulesOfItsGroups"
	sidDenyProtectedInstance = "NeverChangeTaggedProtectedInstances"
)

// ec2Statements grant the ec2: actions the code declares (isolate-instance
// and its undo), each as narrowly as IAM allows:
//
//   - Describe* act on no resource type: IAM authorizes them on "*" only
//     (Service Authorization Reference, Amazon EC2: the Describe actions
//     list no resource type).
//   - CreateTags and DeleteTags, on any EC2 resource of the account, only
//     with the tag keys autocontain writes (aws:TagKeys, a condition key of
//     both); the tags that
//     CreateSecurityGroup and CreateSnapshot write at creation are
//     authorized as CreateTags too. The key that marks autocontain's
//     groups (autocontain:isolation) only as CreateSecurityGroup writes
//     it (ec2:CreateAction): tagging an existing group would give the role
//     its rules.
//   - Authorize/RevokeSecurityGroup{Ingress,Egress} only on a group tagged
//     autocontain:isolation (aws:ResourceTag on the security-group
//     resource), and on the rules they make (security-group-rule);
//   - the rest on the account's instances, network interfaces, security
//     groups, VPCs and volumes, and on snapshots, whose ARN names no
//     account (arn:PARTITION:ec2:REGION::snapshot/ID).
//
// And the deny on an instance tagged autocontain:protected=true
// (protectTagValues): ModifyNetworkInterfaceAttribute, CreateTags and
// DeleteTags on the instance. What it stops, precisely: CreateTags and
// DeleteTags name the instance as their resource, so its aws:ResourceTag
// applies, and isolate-instance tags the instance before it moves the
// first interface (internal/contain, Isolator.tagInstance), so the deny
// stops the code's isolation of a protected instance there, even one
// tagged after the code read it. ModifyNetworkInterfaceAttribute lists
// network-interface (required), instance and security-group (optional) as
// resource types (Service Authorization Reference, Amazon EC2); AWS does
// not document that a change of an interface's groups alone is authorized
// against its instance (likely only an attachment change is), so the deny
// on it is kept but is not relied on: a caller of the role's credentials
// that skips the tag can still move a protected instance's interfaces
// (infra/README.md, threat model).
func ec2Statements(stack awscdk.Stack, actions []string) []awsiam.PolicyStatement {
	partition, account := *stack.Partition(), *stack.Account()
	arn := func(resource string) string {
		return fmt.Sprintf("arn:%s:ec2:*:%s:%s/*", partition, account, resource)
	}
	var read, tags, rules, rest []string
	for _, a := range actions {
		switch _, name, _ := strings.Cut(a, ":"); {
		case strings.HasPrefix(name, "Describe"):
			read = append(read, a)
		case name == "CreateTags" || name == "DeleteTags":
			tags = append(tags, a)
		case strings.HasPrefix(name, "AuthorizeSecurityGroup") || strings.HasPrefix(name, "RevokeSecurityGroup"):
			rules = append(rules, a)
		default:
			rest = append(rest, a)
		}
	}
	instances := arn("instance")
	resources := []string{instances, arn("network-interface"), arn("security-group"), arn("security-group-rule"), arn("vpc"), arn("volume"),
		fmt.Sprintf("arn:%s:ec2:*::snapshot/*", partition)}
	allow := func(sid string, actions, res []string, cond map[string]any) awsiam.PolicyStatement {
		sort.Strings(actions)
		props := &awsiam.PolicyStatementProps{Sid: jsii.String(sid), Effect: awsiam.Effect_ALLOW, Actions: jsii.Strings(actions...), Resources: jsii.Strings(res...)}
		if cond != nil {
			props.Conditions = &cond
		}
		return awsiam.NewPolicyStatement(props)
	}
	var out []awsiam.PolicyStatement
	if len(read) > 0 {
		out = append(out, allow(sidEC2Read, read, []string{"*"}, nil))
	}
	if len(rest) > 0 {
		out = append(out, allow(sidEC2Isolate, rest, resources, nil))
	}
	if len(rules) > 0 {
		// The rules of autocontain's two groups only, tagged at creation:
		// never another group's (opening one to the world, or closing it).
		out = append(out, allow(sidEC2OwnGroups, rules, []string{arn("security-group")}, map[string]any{
			"StringEquals": map[string]any{"aws:ResourceTag/" + contain.TagIsolation: []string{contain.TagIsolationClosed, contain.TagIsolationOpen}},
		}))
		out = append(out, allow(sidEC2GroupRules, rules, []string{arn("security-group-rule")}, nil))
	}
	if len(tags) > 0 {
		// autocontain:isolation is what lets the role change a group's
		// rules (sidEC2OwnGroups): it may be written only by the
		// CreateSecurityGroup that makes autocontain's group (ec2:CreateAction),
		// never put on, or taken off, a group that exists.
		keys := slices.DeleteFunc(contain.IsolationTagKeys(), func(k string) bool { return k == contain.TagIsolation })
		slices.Sort(keys)
		// Any EC2 resource of the account, and snapshots: the keys are the
		// restriction (and the role's policy stays within IAM's size).
		anyResource := []string{arn("*"), resources[len(resources)-1]}
		out = append(out, allow(sidEC2OwnTags, tags, anyResource, map[string]any{
			"ForAllValues:StringEquals": map[string]any{"aws:TagKeys": keys},
			// A DeleteTags without keys deletes every tag; ForAllValues
			// alone would allow it (no key to check).
			"Null": map[string]any{"aws:TagKeys": "false"},
		}))
		if slices.Contains(tags, "ec2:CreateTags") {
			// Any key: the create action names the one group it can apply
			// to, the one the role creates.
			out = append(out, allow(sidEC2GroupTag, []string{"ec2:CreateTags"}, []string{arn("security-group")}, map[string]any{
				"StringEquals": map[string]any{"ec2:CreateAction": "CreateSecurityGroup"},
			}))
		}
	}
	var change []string
	for _, a := range append(slices.Clone(tags), rest...) {
		if a == "ec2:ModifyNetworkInterfaceAttribute" || a == "ec2:CreateTags" || a == "ec2:DeleteTags" {
			change = append(change, a)
		}
	}
	if len(change) > 0 {
		sort.Strings(change)
		out = append(out, awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid: jsii.String(sidDenyProtectedInstance), Effect: awsiam.Effect_DENY,
			Actions: jsii.Strings(change...), Resources: jsii.Strings(instances),
			Conditions: protectedTagCondition("aws:ResourceTag/" + protect.TagKey),
		}))
	}
	return out
}
