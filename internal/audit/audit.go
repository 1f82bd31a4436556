// Package audit is the structured record of one decision and its outcome:
// what the finding was, who the principal was, which rule matched, and what
// each step did, how long it took and why. One record is written per finding.
// Access key ids appear masked to their last four characters.
package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/autocontain/autocontain/internal/failure"
	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/ledger"
	"github.com/autocontain/autocontain/internal/plan"
	"github.com/autocontain/autocontain/internal/playbook"
)

// Step statuses.
const (
	StatusPlanned   = "planned"   // dry run: decided, not executed
	StatusDone      = "done"      // the action changed the account
	StatusUnchanged = "unchanged" // the account already was as the action wants it
	StatusSkipped   = "skipped"   // decided against; the reason says why
	StatusReported  = "reported"  // cannot be contained automatically; a human must act
	StatusFailed    = "failed"    // the action failed; Error says how
)

// Outcomes of a whole record.
const (
	OutcomeDryRun    = "dry-run"
	OutcomeContained = "contained" // at least one action changed the account, none failed
	OutcomeReported  = "reported"  // nothing contained; a principal, or a finding the safety net took, was reported for a human to act on
	OutcomeNoChange  = "no-change" // nothing failed, nothing needed changing
	OutcomeFailed    = "failed"    // at least one step failed
	// OutcomeInProgress: another delivery of the finding was being handled;
	// this one did nothing and is retried. Not a failure.
	OutcomeInProgress = "in-progress"
)

// Record is the audit record of one finding.
type Record struct {
	Time      time.Time `json:"time"`
	Finding   Finding   `json:"finding"`
	Principal Principal `json:"principal"`
	// Actors are the further principals an attack sequence names.
	Actors []Principal `json:"actors,omitempty"`
	Rule   string      `json:"rule,omitempty"`
	// ActsIn names the member account and role (and role session) the
	// steps acted through, in organization mode (plan.Plan.ActsIn).
	ActsIn  string `json:"actsIn,omitempty"`
	DryRun  bool   `json:"dryRun"`
	Outcome string `json:"outcome"`
	// Error is a failure outside the steps (protection could not be
	// verified); it makes the outcome failed.
	Error string `json:"error,omitempty"`
	// ErrorCode is Error's AWS error code, when it carries one.
	ErrorCode string `json:"errorCode,omitempty"`
	Steps     []Step `json:"steps"`
	// Changes are what the steps changed, unmasked, for the ledger and
	// undo; never logged or returned.
	Changes []ledger.Change `json:"-"`
}

// Finding is the part of the finding an auditor reads.
type Finding struct {
	Source        string  `json:"source"`
	ID            string  `json:"id"`
	Type          string  `json:"type"`
	EventSource   string  `json:"eventSource,omitempty"`
	Severity      float64 `json:"severity"`
	SeverityLabel string  `json:"severityLabel"`
	Account       string  `json:"account"`
	Partition     string  `json:"partition,omitempty"`
	// Accounts are every place the event named an account (finding.Finding.Accounts).
	Accounts  []finding.AccountRef `json:"accounts,omitempty"`
	Region    string               `json:"region"`
	UpdatedAt time.Time            `json:"updatedAt"`
	Count     int                  `json:"count,omitempty"`
	Sample    bool                 `json:"sample,omitempty"`
	Archived  bool                 `json:"archived,omitempty"`
	// ResourceType and Resource are the resource the finding is about
	// (finding.Finding.ResourceType and Resource).
	ResourceType string   `json:"resourceType,omitempty"`
	Resource     string   `json:"resource,omitempty"`
	Addresses    []string `json:"addresses,omitempty"`
	// Call says how a CloudTrail call went: "failed: AccessDenied",
	// "made through cloudformation.amazonaws.com" (finding.Finding.Call).
	Call string `json:"call,omitempty"`
	// AddressesOmitted counts the addresses left out of Addresses in a
	// summary (a notification too large for SNS); the logged record has
	// them all.
	AddressesOmitted int `json:"addressesOmitted,omitempty"`
}

// Principal is who acted, key masked.
type Principal struct {
	Kind        string `json:"kind"`
	Type        string `json:"type,omitempty"`
	ARN         string `json:"arn,omitempty"`
	UserName    string `json:"userName,omitempty"`
	RoleName    string `json:"roleName,omitempty"`
	SessionName string `json:"sessionName,omitempty"`
	AccessKey   string `json:"accessKey,omitempty"`
	Account     string `json:"account,omitempty"`
	Partition   string `json:"partition,omitempty"`
	// Impact is the privilege class the engine read from IAM; absent when
	// it was not read.
	Impact finding.Impact `json:"impact,omitzero"`
}

// Step is one plan step and what became of it.
type Step struct {
	Action  string `json:"action"`
	Skipped string `json:"skipped,omitempty"`
	Target  string `json:"target"`
	Reason  string `json:"reason"`
	Status  string `json:"status"`
	Detail  string `json:"detail,omitempty"`
	Error   string `json:"error,omitempty"`
	// ErrorCode is the AWS error code of a failed step ("AccessDenied",
	// "ThrottlingException"), when the failure carries one.
	ErrorCode string `json:"errorCode,omitempty"`
	// Permanent: the step failed in a way that retrying cannot mend (the
	// principal is gone, IAM refuses the change); see package failure.
	Permanent  bool  `json:"permanent,omitempty"`
	DurationMS int64 `json:"durationMs"`
}

// New starts the record of p at time now, every step planned.
func New(p plan.Plan, now time.Time) Record {
	f := p.Finding
	r := Record{
		Time: now.UTC(),
		Finding: Finding{
			Source: string(f.Source), ID: f.ID, Type: f.Type, EventSource: f.EventSource,
			Severity: f.Severity, SeverityLabel: finding.SeverityLabel(f.Severity),
			Account: f.Account, Partition: f.Partition, Accounts: f.Accounts, Region: f.Region, UpdatedAt: f.UpdatedAt, Count: f.Count,
			Sample: f.Sample, Archived: f.Archived, Call: f.Call(), ResourceType: f.ResourceType, Resource: f.Resource,
		},
		Principal: principal(f.Principal),
		Rule:      p.Rule,
		ActsIn:    p.ActsIn,
		DryRun:    p.DryRun,
		Steps:     make([]Step, len(p.Steps)),
	}
	for _, a := range f.Actors {
		r.Actors = append(r.Actors, principal(a))
	}
	if f.Source == finding.SourceCloudTrail {
		r.Finding.SeverityLabel = "n/a"
	}
	for _, a := range f.Addresses {
		r.Finding.Addresses = append(r.Finding.Addresses, a.String())
	}
	for i, s := range p.Steps {
		st := Step{Action: s.Action, Skipped: s.Skipped, Target: s.Target.String(), Reason: s.Reason, Status: StatusPlanned}
		switch s.Action {
		case plan.ActionSkip:
			st.Status = StatusSkipped
		case plan.ActionReport:
			st.Status = StatusReported
		}
		r.Steps[i] = st
	}
	r.Outcome = r.outcome()
	return r
}

// accountOf names an actor's account for the text, when it has one.
func accountOf(p Principal) string {
	if p.Account == "" {
		return ""
	}
	return "(account " + p.Account + ")"
}

// principal is pr as the record shows it, key masked.
func principal(pr finding.Principal) Principal {
	return Principal{
		Kind: string(pr.Kind), Type: pr.Type, ARN: pr.ARN,
		UserName: pr.UserName, RoleName: pr.RoleName,
		SessionName: pr.SessionName, AccessKey: finding.MaskKey(pr.AccessKeyID),
		Account: pr.Account, Partition: pr.Partition,
		Impact: finding.Impact{Class: pr.Impact.Class, Why: finding.MaskKeys(pr.Impact.Why)},
	}
}

// Finish sets the record's outcome from its steps' statuses.
func (r *Record) Finish() { r.Outcome = r.outcome() }

func (r *Record) outcome() string {
	if r.DryRun {
		return OutcomeDryRun
	}
	if r.Error != "" {
		return OutcomeFailed
	}
	changed, reported := false, false
	for _, s := range r.Steps {
		switch s.Status {
		case StatusFailed:
			return OutcomeFailed
		case StatusDone:
			// A notification reports; it contains nothing.
			changed = changed || playbook.CategoryOf(s.Action) != playbook.OnTopic
		case StatusReported:
			reported = true
		}
	}
	switch {
	case changed:
		return OutcomeContained
	case reported:
		return OutcomeReported
	}
	return OutcomeNoChange
}

// Failed reports whether a step failed.
func (r Record) Failed() bool { return r.Outcome == OutcomeFailed }

// ErrStepFailed marks (errors.Is) the error of a record in which a step
// failed (Err): the errorType "StepFailed".
var ErrStepFailed = errors.New("a step failed")

// Err returns an error naming the failed steps, or nil; key ids in it are
// masked. It matches ErrStepFailed when a step failed. It is permanent
// (failure.IsPermanent) when every step failed permanently and nothing
// else went wrong: retrying the delivery cannot mend it.
func (r Record) Err() error {
	r = r.Masked()
	var failed []string
	permanent := r.Error == ""
	for i, s := range r.Steps {
		if s.Status == StatusFailed {
			failed = append(failed, fmt.Sprintf("step %d %s (%s): %s", i+1, s.Action, s.Target, s.Error))
			permanent = permanent && s.Permanent
		}
	}
	steps := len(failed)
	if r.Error != "" {
		failed = append([]string{r.Error}, failed...)
	}
	if len(failed) == 0 {
		return nil
	}
	var err error = fmt.Errorf("finding %s: %s", r.Finding.ID, strings.Join(failed, "; "))
	if steps > 0 {
		err = failure.Mark(err, ErrStepFailed)
	}
	if permanent {
		return failure.Permanent(err)
	}
	return err
}

// Log writes the record as one structured log entry, at error level when a
// step failed.
func (r Record) Log(ctx context.Context, log *slog.Logger) {
	level := slog.LevelInfo
	switch r.Outcome {
	case OutcomeFailed:
		level = slog.LevelError
	case OutcomeInProgress:
		level = slog.LevelWarn
	}
	log.LogAttrs(ctx, level, "autocontain decision", slog.Any("audit", r))
}

// Text renders the record for a person reading a notification or a
// terminal, key ids masked.
func (r Record) Text() string {
	r = r.Masked()
	var b strings.Builder
	f := r.Finding
	fmt.Fprintf(&b, "autocontain: %s for %s finding %s\n", r.Outcome, f.Source, f.Type)
	if f.Source == string(finding.SourceGuardDuty) {
		fmt.Fprintf(&b, "Severity: %g (%s)\n", f.Severity, f.SeverityLabel)
	} else {
		fmt.Fprintf(&b, "Event: %s %s\n", f.EventSource, f.Type)
		if f.Call != "" {
			fmt.Fprintf(&b, "Call: %s\n", f.Call)
		}
	}
	fmt.Fprintf(&b, "Finding: %s, account %s, region %s, updated %s\n", f.ID, f.Account, f.Region, f.UpdatedAt.Format(time.RFC3339))
	if f.Resource != "" {
		fmt.Fprintf(&b, "Resource: %s %s\n", f.ResourceType, f.Resource)
	}
	for i, p := range append([]Principal{r.Principal}, r.Actors...) {
		label := "Principal"
		if i > 0 {
			label = "Actor"
		}
		who := strings.Join(slices.DeleteFunc([]string{p.Kind, p.ARN, p.UserName, p.RoleName, p.AccessKey, accountOf(p)}, func(s string) bool { return s == "" }), " ")
		fmt.Fprintf(&b, "%s: %s\n", label, who)
		if p.Impact.Class != "" {
			fmt.Fprintf(&b, "Impact: %s\n", p.Impact)
		}
	}
	switch {
	case f.AddressesOmitted > 0:
		fmt.Fprintf(&b, "Addresses: %d in all; the first %d: %s (%d more left out)\n",
			len(f.Addresses)+f.AddressesOmitted, len(f.Addresses), strings.Join(f.Addresses, " "), f.AddressesOmitted)
	case len(f.Addresses) > 0:
		fmt.Fprintf(&b, "Addresses: %s\n", strings.Join(f.Addresses, " "))
	}
	if r.Rule != "" {
		fmt.Fprintf(&b, "Rule: %s\n", r.Rule)
	}
	if r.ActsIn != "" {
		fmt.Fprintf(&b, "Acts in: %s\n", r.ActsIn)
	}
	if r.DryRun {
		b.WriteString("Dry run: nothing was changed.\n")
	}
	if r.Error != "" {
		fmt.Fprintf(&b, "ERROR: %s\n", r.Error)
	}
	b.WriteString("Steps:\n")
	for i, s := range r.Steps {
		action := s.Action
		if s.Skipped != "" {
			action += " " + s.Skipped
		}
		fmt.Fprintf(&b, "  %d. [%s] %s %s: %s", i+1, s.Status, action, s.Target, s.Reason)
		if s.Detail != "" {
			fmt.Fprintf(&b, " (%s)", s.Detail)
		}
		if s.Error != "" {
			fmt.Fprintf(&b, " ERROR: %s", s.Error)
		}
		b.WriteString("\n")
	}
	return b.String()
}
