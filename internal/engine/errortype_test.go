package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/autocontain/autocontain/internal/account"
	"github.com/autocontain/autocontain/internal/audit"
	"github.com/autocontain/autocontain/internal/contain"
	"github.com/autocontain/autocontain/internal/failure"
	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/ledger"
	"github.com/autocontain/autocontain/internal/playbook"
	"github.com/autocontain/autocontain/internal/testenv"
)

// TestErrorType: each class of failure is named by its own errorType,
// however it is wrapped on its way out (finish, MaskError, errors.Join),
// and the most specific class wins when several are joined. Whether a
// failure is retried does not change.
func TestErrorType(t *testing.T) {
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	noLedger := &Engine{Playbook: playbook.Default(), Log: quiet}
	_, badEvent := noLedger.Run(ctx, []byte(`{"source":"aws.guardduty","detail-type":"GuardDuty Finding","detail":{"id":"x"}}`))
	_, notJSON := noLedger.Run(ctx, []byte(`not json`))
	_, _, badCommand := ParseCommand([]byte(`{"autocontain":{"command":"delete-everything"}}`))
	_, _, undoWithoutID := ParseCommand([]byte(`{"autocontain":{"command":"undo"}}`))
	_, undoNoLedger := noLedger.Undo(ctx, "f-1")
	_, reconcileNoLedger := noLedger.Reconcile(ctx)
	_, statusNoLedger := noLedger.Status(ctx, 0)
	finished := func(err error) error { return finding.MaskError(fmt.Errorf("finding f-1: %w", err)) }
	stepFailed := audit.Record{Steps: []audit.Step{{Status: audit.StatusFailed, Error: "ThrottlingException"}}}.Err()
	stepGone := audit.Record{Steps: []audit.Step{{Status: audit.StatusFailed, Error: "NoSuchEntity", Permanent: true}}}.Err()
	runErrOnly := audit.Record{Error: "something else"}.Err()
	ledgerDown := failure.Mark(fmt.Errorf("ledger: claim finding f-1: %w", errors.New("ResourceNotFoundException")), ledger.ErrUnavailable)
	unverified := failure.Mark(errors.New("check protection of user alice: Throttling"), ErrProtectionUnverified)

	tests := []struct {
		name      string
		err       error
		want      string
		permanent bool
	}{
		{"nil", nil, "", false},
		{"in_progress", finished(ErrInProgress), "DeliveryInProgress", false},
		{"event_missing_a_field", finished(badEvent), "EventRejected", false},
		{"event_not_json", notJSON, "EventRejected", false},
		{"unknown_command", badCommand, "EventRejected", false},
		{"undo_without_finding", undoWithoutID, "EventRejected", false},
		{"undo_without_ledger", undoNoLedger, "ConfigurationInvalid", false},
		{"reconcile_without_ledger", reconcileNoLedger, "ConfigurationInvalid", false},
		{"status_without_ledger", statusNoLedger, "ConfigurationInvalid", false},
		{"home_unknown", failure.Mark(errors.New("not a Lambda function ARN"), ErrHomeUnknown), "HomeAccountUnknown", false},
		{"outsider", finished(failure.Transient(fmt.Errorf("%w: why", ErrOutsider))), "AccountOutsideOrganization", false},
		{"organization_unavailable", finished(failure.Mark(failure.Transient(errors.New("AccessDenied")), account.ErrMembershipUnknown)), "OrganizationUnavailable", false},
		{"member_unreachable", finished(fmt.Errorf("account 1 of organization o-1: %w", failure.Mark(failure.Transient(errors.New("AccessDenied")), account.ErrUnreachable))), "AccountUnreachable", false},
		{"ledger", finished(ledgerDown), "LedgerUnavailable", false},
		{"protection_unverified", finished(errors.Join(unverified)), "ProtectionUnverified", false},
		{"nothing_to_undo", fmt.Errorf("undo: finding f-1: %w", contain.ErrNothingToUndo), "UndoRefused", true},
		{"already_undone", fmt.Errorf("undo: finding f-1: %w", contain.ErrAlreadyUndone), "UndoRefused", true},
		{"step_failed", finding.MaskError(stepFailed), "StepFailed", false},
		{"step_failed_for_good", stepGone, "StepFailed", true},
		{"run_error_without_steps", runErrOnly, DefaultErrorType, false},
		{"unclassified", errors.New("write IP set: WAFUnavailableEntityException"), DefaultErrorType, false},
		// A delivery whose guard could not verify a principal and whose
		// ledger commit failed too: the ledger names it.
		{"joined_ledger_before_protection", finished(errors.Join(unverified, ledgerDown)), "LedgerUnavailable", false},
		{"joined_unreachable_before_step", errors.Join(stepFailed, failure.Mark(errors.New("x"), account.ErrUnreachable)), "AccountUnreachable", false},
		// An event of two findings (RunAll): one failed a step, another
		// delivery holds the other's claim. The failure names it: an
		// in-progress delivery is not a failure, and must not hide one.
		{"joined_step_failed_and_in_progress", errors.Join(finding.MaskError(stepFailed), finished(ErrInProgress)), "StepFailed", false},
		{"joined_in_progress_and_ledger", errors.Join(finished(ErrInProgress), finished(ledgerDown)), "LedgerUnavailable", false},
		// Nor one of no named class: an in-progress delivery names the
		// error only when every finding that failed was deferred.
		{"joined_in_progress_and_unclassified", errors.Join(finished(ErrInProgress), finished(errors.New("write IP set: WAFUnavailableEntityException"))), DefaultErrorType, false},
		{"joined_two_in_progress", errors.Join(finished(ErrInProgress), nil, finished(ErrInProgress)), "DeliveryInProgress", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ErrorType(tt.err); got != tt.want {
				t.Errorf("ErrorType(%v) = %q, want %q", tt.err, got, tt.want)
			}
			if got := failure.IsPermanent(tt.err); got != tt.permanent {
				t.Errorf("IsPermanent(%v) = %v, want %v", tt.err, got, tt.permanent)
			}
		})
	}
	seen := map[string]bool{}
	for _, c := range ErrorClasses {
		if seen[c.Type] || c.Type == "" || strings.ContainsAny(c.Type, " .") || c.When == "" || c.Retried == "" {
			t.Errorf("error class %+v: duplicate, or without a name, a description or its retries", c)
		}
		seen[c.Type] = true
	}
}

// TestReadmeDocumentsEveryErrorType: the README's "Error types" table is
// ErrorClasses (go test -run TestReadmeDocumentsEveryErrorType -update
// rewrites it).
func TestReadmeDocumentsEveryErrorType(t *testing.T) {
	var b strings.Builder
	b.WriteString("| errorType | when | Lambda retries |\n| --- | --- | --- |\n")
	for _, c := range ErrorClasses {
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", c.Type, c.When, c.Retried)
	}
	testenv.ReadmeBlock(t, filepath.Join("..", "..", "README.md"), "error types", b.String(), *update)
}
