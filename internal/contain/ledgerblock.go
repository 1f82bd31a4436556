package contain

import (
	"context"
	"fmt"
	"time"

	"github.com/autocontain/autocontain/internal/ipset"
	"github.com/autocontain/autocontain/internal/ledger"
	"github.com/autocontain/autocontain/internal/plan"
	"github.com/autocontain/autocontain/internal/playbook"
)

// DefaultBlockTTL is how long a block lasts unless renewed by a new sighting.
const DefaultBlockTTL = 7 * 24 * time.Hour

// LedgerBlocker is block-ip when the ledger is in use: it records the
// addresses as wanted, with an expiry, and has the set's single writer
// apply them. If another delivery is the writer, that writer applies them.
type LedgerBlocker struct {
	Ledger *ledger.Ledger
	Writer *Reconciler
	TTL    time.Duration
}

// Name implements Action.
func (*LedgerBlocker) Name() string { return playbook.ActionBlockIP }

// Permissions implements Action: the writer's, plus the ledger's table.
func (*LedgerBlocker) Permissions() []string {
	return append((&Reconciler{}).Permissions(), ledger.Permissions()...)
}

// Execute implements Action.
func (a *LedgerBlocker) Execute(ctx context.Context, req Request) (Outcome, error) {
	t := req.Step.Target
	if t.Kind != plan.TargetIPSet || len(t.Addresses) == 0 {
		return Outcome{}, fmt.Errorf("block-ip needs an IP set and addresses, got %s", t)
	}
	if req.Record == nil || req.Record.Finding.ID == "" {
		return Outcome{}, fmt.Errorf("block-ip: the ledger needs the finding's id")
	}
	ttl := a.TTL
	if ttl <= 0 {
		ttl = DefaultBlockTTL
	}
	addrs := make([]string, len(t.Addresses))
	changes := make([]ledger.Change, len(t.Addresses))
	for i, p := range t.Addresses {
		addrs[i] = p.String()
		changes[i] = ledger.Change{IPSet: t.ARN, Address: addrs[i], At: req.Now}
	}
	until := req.Now.Add(ttl)
	if !req.Held.Prepared {
		if err := a.Ledger.Want(ctx, t.ARN, addrs, req.Record.Finding.ID, until); err != nil {
			return Outcome{}, fmt.Errorf("block-ip: %w", err)
		}
	}
	var rep Report
	var err error
	if req.Held.Leases[t.ARN] != "" {
		// This delivery holds the set's lease and nothing else was
		// pending: add its own addresses, without reading every block.
		var ours []string
		rep, ours, err = a.Writer.Fast(ctx, t.ARN, t.Addresses)
		mine := map[string]bool{}
		for _, o := range ours {
			mine[o] = true
		}
		for i := range changes {
			changes[i].Applied = mine[changes[i].Address]
		}
	} else {
		rep, err = a.Writer.Run(ctx, t.ARN)
	}
	detail := fmt.Sprintf("%s wanted in %s until %s; %s", listSome(addrs, 20), ipSetShort(t.ARN), until.UTC().Format(time.RFC3339), rep)
	if err != nil {
		// Recorded all the same: the next writer or the scheduled reconcile applies it.
		return Outcome{Changes: changes}, fmt.Errorf("block-ip: %s: %w", detail, err)
	}
	if n := notBlocked(rep, addrs); n > 0 {
		return Outcome{Changes: changes}, fmt.Errorf("block-ip: %d of %d addresses not blocked: the IP set is at its address limit (%s)", n, len(addrs), detail)
	}
	return Outcome{Changed: true, Detail: detail, Changes: changes}, nil
}

// notBlocked counts the addresses of this step that the writer evicted.
func notBlocked(rep Report, addrs []string) int {
	mine := map[string]bool{}
	for _, a := range addrs {
		mine[a] = true
	}
	n := 0
	for _, e := range rep.Evicted {
		if mine[e] {
			n++
		}
	}
	return n
}

func ipSetShort(arn string) string {
	if r, err := ipset.Parse(arn); err == nil {
		return "IP set " + r.Name
	}
	return arn
}
