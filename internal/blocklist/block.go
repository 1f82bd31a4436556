package blocklist

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/autocontain/autocontain/internal/ipset"
	"github.com/autocontain/autocontain/internal/ledger"
	"github.com/autocontain/autocontain/internal/playbook"
)

// Request is one block-ip step: a finding wants addresses blocked in a set.
type Request struct {
	// Set is the IP set's ARN.
	Set       string
	Addresses []netip.Prefix
	// Finding is the id of the finding that wants them.
	Finding string
	Now     time.Time
	// Recorded: the delivery recorded the wants already (ledger.Prepare).
	Recorded bool
	// Leased: the delivery took the set's writer lease while nothing else
	// was pending (the fast path).
	Leased bool
}

// Blocked is what Block did.
type Blocked struct {
	// Detail says what was recorded and written, for the audit record.
	Detail string
	// Changes are the recorded blocks, for undo; each is Applied when this
	// delivery put the address in the set itself.
	Changes []ledger.Change
}

// Block records req's addresses in the ledger as wanted by its finding,
// with an expiry, and has the set's writer apply them: itself on the fast
// path, else as whoever holds the lease. If another delivery is the
// writer, that writer applies them. An error after the wants were recorded
// comes with the Changes all the same: the next writer or the scheduled
// reconcile applies them.
func (w *Writer) Block(ctx context.Context, req Request) (Blocked, error) {
	if req.Finding == "" {
		return Blocked{}, errors.New("the ledger needs the finding's id")
	}
	ttl := w.TTL
	if ttl <= 0 {
		ttl = playbook.DefaultBlockTTL
	}
	addrs := make([]string, len(req.Addresses))
	changes := make([]ledger.Change, len(req.Addresses))
	for i, p := range req.Addresses {
		addrs[i] = p.String()
		changes[i] = ledger.Change{Action: playbook.ActionBlockIP, Account: setAccount(req.Set), IPSet: req.Set, Address: addrs[i], At: req.Now}
	}
	until := req.Now.Add(ttl)
	if !req.Recorded {
		if err := w.Ledger.Want(ctx, req.Set, addrs, req.Finding, until); err != nil {
			return Blocked{}, err
		}
	}
	var rep Report
	var err error
	if req.Leased {
		// This delivery holds the set's lease and nothing else was
		// pending: add its own addresses, without reading every block.
		var ours []string
		rep, ours, err = w.Fast(ctx, req.Set, req.Addresses)
		mine := map[string]bool{}
		for _, o := range ours {
			mine[o] = true
		}
		for i := range changes {
			changes[i].Applied = mine[changes[i].Address]
		}
	} else {
		rep, err = w.Run(ctx, req.Set)
	}
	out := Blocked{Changes: changes,
		Detail: fmt.Sprintf("%s wanted in %s until %s; %s", listSome(addrs, 20), setName(req.Set), until.UTC().Format(time.RFC3339), rep)}
	if err != nil {
		return out, fmt.Errorf("%s: %w", out.Detail, err)
	}
	if n := notBlocked(rep, addrs); n > 0 {
		return out, fmt.Errorf("%d of %d addresses not blocked: the IP set is at its address limit (%s)", n, len(addrs), out.Detail)
	}
	return out, nil
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

// Unblock gives up finding id's reasons to block addrs in set and has the
// set's writer take out those no finding wants any more. done says what
// left the set; left says what stays, and why.
func (w *Writer) Unblock(ctx context.Context, set string, addrs []string, id string) (done string, left []string, err error) {
	if err := w.Ledger.Unwant(ctx, set, addrs, id); err != nil {
		return "", nil, err
	}
	rep, err := w.Run(ctx, set)
	if err != nil {
		return "", nil, fmt.Errorf("write %s: %w", setName(set), err)
	}
	if rep.Deferred {
		return fmt.Sprintf("released %d address(es) in %s; the set's current writer takes them out", len(addrs), setName(set)), nil, nil
	}
	gone, hand := map[string]bool{}, map[string]bool{}
	for _, a := range rep.Unwanted {
		gone[a] = true
	}
	for _, a := range rep.Kept {
		hand[a] = true
	}
	var out, kept, manual []string
	for _, a := range addrs {
		switch {
		case hand[a]:
			manual = append(manual, a)
		case gone[a]:
			out = append(out, a)
		default:
			kept = append(kept, a)
		}
	}
	if len(manual) > 0 {
		left = append(left, fmt.Sprintf("%s stay(s) in %s: in the set before autocontain wanted them (put there by a person)", listSome(manual, 20), setName(set)))
	}
	if len(out) > 0 {
		done = fmt.Sprintf("unblocked %s in %s", listSome(out, 20), setName(set))
	}
	if len(kept) > 0 {
		left = append(left, fmt.Sprintf("%s stay(s) in %s: another finding still wants them", listSome(kept, 20), setName(set)))
	}
	return done, left, nil
}

// setName names a set by its name, for reports.
func setName(arn string) string {
	if r, err := ipset.Parse(arn); err == nil {
		return "IP set " + r.Name
	}
	return arn
}

// setAccount is the account of an IP set's ARN, "" if it is not one.
func setAccount(arn string) string {
	r, _ := ipset.Parse(arn)
	return r.Account
}
