package contain

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/autocontain/autocontain/internal/blocklist"
	"github.com/autocontain/autocontain/internal/ipset"
	"github.com/autocontain/autocontain/internal/ledger"
	"github.com/autocontain/autocontain/internal/plan"
	"github.com/autocontain/autocontain/internal/playbook"
)

// IPBlocker is block-ip: it adds attacker addresses to a WAFv2 IP set.
// With the ledger (Writer set) it records them as wanted and leaves the
// writing to the set's single writer; without it, it writes the set
// itself, retrying lock conflicts and WAF's throttling (ipset.ThrottleRetry).
type IPBlocker struct {
	WAF   func(region string) ipset.API
	Sleep func(ctx context.Context, d time.Duration) error
	// Writer, when set, is the IP sets' writer from the ledger.
	Writer *blocklist.Writer
}

// Name implements Action.
func (*IPBlocker) Name() string { return playbook.ActionBlockIP }

// Permissions implements Action. The ledger's are the writer's
// (blocklist.Permissions).
func (*IPBlocker) Permissions() []string { return ipset.Permissions() }

// Execute implements Action.
func (a *IPBlocker) Execute(ctx context.Context, req Request) (Outcome, error) {
	t := req.Step.Target
	if t.Kind != plan.TargetIPSet || len(t.Addresses) == 0 {
		return Outcome{}, fmt.Errorf("block-ip needs an IP set and addresses, got %s", t)
	}
	if a.Writer != nil {
		return a.record(ctx, req)
	}
	ref, err := ipset.Parse(t.ARN)
	if err != nil {
		return Outcome{}, fmt.Errorf("block-ip: %w", err)
	}
	opt := ipset.Options{Retry: ipset.ThrottleRetry, Sleep: a.Sleep}
	added, size, err := ipset.Add(ctx, a.WAF(ref.Region), ref, opt, t.Addresses, ipset.MaxAddresses)
	switch {
	case err != nil:
		return Outcome{}, fmt.Errorf("block-ip: %w", err)
	case len(added) == 0:
		return Outcome{Detail: fmt.Sprintf("IP set %s already holds %s", ref.Name, joinPrefixes(t.Addresses))}, nil
	}
	changes := make([]ledger.Change, len(added))
	for i, a := range added {
		changes[i] = ledger.Change{Action: playbook.ActionBlockIP, Account: ref.Account, IPSet: ref.ARN, Address: a}
	}
	return Outcome{Changed: true, Detail: fmt.Sprintf("IP set %s += %s (now %d addresses)", ref.Name, strings.Join(added, " "), size),
		Changes: changes}, nil
}

// record has the ledger's writer block the step's addresses.
func (a *IPBlocker) record(ctx context.Context, req Request) (Outcome, error) {
	t := req.Step.Target
	var id string
	if req.Record != nil {
		id = req.Record.Finding.ID
	}
	b, err := a.Writer.Block(ctx, blocklist.Request{
		Set: t.ARN, Addresses: t.Addresses, Finding: id, Now: req.Now,
		Recorded: req.Held.Prepared, Leased: req.Held.Leases[t.ARN] != "",
	})
	if err != nil {
		return Outcome{Changes: b.Changes}, fmt.Errorf("block-ip: %w", err)
	}
	return Outcome{Changed: true, Detail: b.Detail, Changes: b.Changes}, nil
}

func joinPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, " ")
}
