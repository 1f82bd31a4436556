package plan

import (
	"fmt"

	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/playbook"
)

// viaServiceGate adds a report step, and reports true, when the finding's
// CloudTrail call was made through an AWS service (finding.ViaService)
// and the matched rule does not opt in to containing such calls
// (containViaService). A stack that deletes its own trail acts with its
// deployment role: revoking that role's sessions breaks deployments, and
// a human should look first. Kinds the gate reports anyway (root, AWS
// services, unknown principals) are left to it.
func (p *Plan) viaServiceGate(pr finding.Principal, pb *playbook.Playbook) bool {
	svc := p.Finding.ViaService
	switch pr.Kind {
	case finding.KindIAMUserKey, finding.KindIAMUserSession, finding.KindAssumedRole, finding.KindFederated:
	default:
		return false
	}
	if svc == "" {
		return false
	}
	for _, r := range pb.Rules {
		if r.Name == p.Rule && r.ContainViaService {
			return false
		}
	}
	p.Steps = append(p.Steps, Step{Action: ActionReport, Target: principalTarget(pr), Reason: fmt.Sprintf(
		"the principal made this call through an AWS service (%s), as a deployment does (a stack deleting its own trail): "+
			"reported, not contained; a human must check who started it (containViaService in rule %s contains such calls)", svc, p.Rule)})
	return true
}
