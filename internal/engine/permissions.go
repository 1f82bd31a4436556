package engine

import (
	"slices"

	"github.com/autocontain/autocontain/internal/blocklist"
	"github.com/autocontain/autocontain/internal/contain"
	"github.com/autocontain/autocontain/internal/impact"
	"github.com/autocontain/autocontain/internal/ledger"
	"github.com/autocontain/autocontain/internal/protect"
)

// Permissions lists, sorted and each once, every IAM action the engine
// declares it needs: the containment actions', the protect guard's, the
// impact lookup's, undo's, the IP sets' writer's and the ledger's. The CDK
// stack builds the responder's role from it, and its test checks the role
// against it.
func Permissions() []string {
	var all []string
	for _, a := range contain.Registry(contain.Clients{}, nil) {
		all = append(all, a.Permissions()...)
	}
	all = slices.Concat(all, protect.Permissions(), impact.Permissions(), contain.UndoPermissions(), blocklist.Permissions(), ledger.Permissions())
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
