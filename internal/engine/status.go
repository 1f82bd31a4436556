package engine

import (
	"context"
	"errors"

	"github.com/autocontain/autocontain/internal/failure"
	"github.com/autocontain/autocontain/internal/status"
)

// Status reads the ledger and says what is contained right now, with the
// last decisions (0: status.DefaultLast). Its undo commands reach the
// ledger as this engine does: through the function when it runs as one,
// else through the table.
func (e *Engine) Status(ctx context.Context, last int) (status.Status, error) {
	if e.Ledger == nil {
		return status.Status{}, failure.Mark(errors.New("status needs the ledger: set "+EnvLedgerTable), ErrNoLedger)
	}
	o := status.Options{Settings: e.Playbook.Settings, Home: e.Home.ID, Undo: "-table " + e.Ledger.Table,
		Last: last, Table: e.Ledger.Table, Now: e.now()}
	if e.FunctionName != "" {
		o.Undo = "-function " + e.FunctionName
	}
	if e.Org != nil {
		o.Organization = e.Org.ID
	}
	return status.Read(ctx, e.Ledger, o)
}
