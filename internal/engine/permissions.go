package engine

import (
	"slices"

	"github.com/autocontain/autocontain/internal/blocklist"
	"github.com/autocontain/autocontain/internal/contain"
	"github.com/autocontain/autocontain/internal/impact"
	"github.com/autocontain/autocontain/internal/ipset"
	"github.com/autocontain/autocontain/internal/ledger"
	"github.com/autocontain/autocontain/internal/playbook"
	"github.com/autocontain/autocontain/internal/protect"
)

// Permissions lists, sorted and each once, every IAM action the engine
// declares it needs: the containment actions', the protect guard's, the
// impact lookup's, the read of an instance profile's role, undo's, the IP
// sets' writer's and the ledger's. The CDK stack builds the responder's
// role from it, and its test checks the role against it.
func Permissions() []string {
	var all []string
	for _, a := range contain.Registry(contain.Clients{}, nil) {
		all = append(all, a.Permissions()...)
	}
	all = slices.Concat(all, protect.Permissions(), impact.Permissions(), instanceRolePermissions(), contain.UndoPermissions(), blocklist.Permissions(), ledger.Permissions())
	slices.Sort(all)
	return slices.Compact(all)
}

// PolicyScopedPermissions lists, sorted and each once, the IAM actions of
// Permissions that the role may call only on the one managed policy
// quarantine is configured with (contain.PolicyScoped): the stack grants
// them under the condition iam:PolicyARN.
func PolicyScopedPermissions() []string {
	all := contain.PolicyScopedPermissions()
	slices.Sort(all)
	return slices.Compact(all)
}

// MemberPermissions lists, sorted and each once, the IAM actions the
// engine calls inside a member account through its member role in
// organization mode: the containment actions' but notify's (the topic is
// the central account's), the protect guard's, the impact lookup's,
// undo's, the IP sets' (wafv2:ListIPSets finds them by name). The ledger
// stays central. The member stack grants exactly these, on its own
// account's resources, with the central role's denies.
func MemberPermissions() []string {
	var all []string
	for _, a := range contain.Registry(contain.Clients{}, nil) {
		if a.Name() != playbook.ActionNotify {
			all = append(all, a.Permissions()...)
		}
	}
	all = slices.Concat(all, protect.Permissions(), impact.Permissions(), instanceRolePermissions(), contain.UndoPermissions(), ipset.Permissions(), []string{"wafv2:ListIPSets"})
	slices.Sort(all)
	return slices.Compact(all)
}

// OrganizationPermissions lists the IAM actions the central role needs in
// organization mode besides Permissions: organizations:DescribeAccount
// (membership; the management account and delegated administrators may
// call it) and sts:AssumeRole, on the member role of every account
// (arn:PARTITION:iam::*:role/NAME, which the stack may scope further with
// aws:ResourceOrgID).
func OrganizationPermissions() []string {
	return []string{"organizations:DescribeAccount", "sts:AssumeRole"}
}
