package playbook

import (
	"errors"
	"fmt"
	"slices"

	"github.com/autocontain/autocontain/internal/finding"
)

// Outcome is which CloudTrail calls a rule matches by how they ended.
type Outcome string

// Outcomes a rule can ask for. A rule without one matches any.
const (
	// OutcomeAny matches every call, failed or not: for tampering, a
	// denied attempt to stop logging is still evidence.
	OutcomeAny Outcome = "any"
	// OutcomeSuccess matches calls that succeeded.
	OutcomeSuccess Outcome = "success"
	// OutcomeFailure matches calls that failed (finding.Finding.Failed:
	// an errorCode, or a failed console sign-in).
	OutcomeFailure Outcome = "failure"
)

// Outcomes lists every outcome, for validation and documentation.
var Outcomes = []Outcome{OutcomeAny, OutcomeSuccess, OutcomeFailure}

// matchesOutcome reports whether f's call ended as the rule asks.
func (r Rule) matchesOutcome(f finding.Finding) bool {
	switch r.Outcome {
	case OutcomeSuccess:
		return !f.Failed
	case OutcomeFailure:
		return f.Failed
	}
	return true
}

// validateCloudTrailFields checks the fields that only CloudTrail rules
// may set: outcome and containViaService.
func (r *Rule) validateCloudTrailFields() error {
	if r.Source != finding.SourceCloudTrail {
		if r.Outcome != "" {
			return fmt.Errorf("outcome: only CloudTrail rules have one (a %s finding is not a call that succeeded or failed)", r.Source)
		}
		if r.ContainViaService {
			return errors.New("containViaService: only CloudTrail rules have it (a call made through an AWS service is a CloudTrail record's)")
		}
		return nil
	}
	if r.Outcome != "" && !slices.Contains(Outcomes, r.Outcome) {
		return fmt.Errorf("outcome: %q is not one of %v (leave it out for %q)", r.Outcome, Outcomes, OutcomeAny)
	}
	return nil
}
