package ledger

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/autocontain/autocontain/internal/failure"
)

// fastPathMax is the most addresses a delivery records in its one Prepare
// transaction and writes to a set on the fast path; a larger finding
// records them in transactions of their own and has the writer read the
// whole set.
const fastPathMax = 50

// MaxHolds is the most resources one delivery's Prepare records as held:
// the holds go in one transaction with the two breakers, the finding and
// one write per IP set (two), and a transaction takes at most 100 writes. A plan
// that would hold more is refused before Prepare (its principals are
// reported, not contained).
const MaxHolds = maxTransaction - 3 - 2

// Prep is what a claimed delivery records before it changes anything.
type Prep struct {
	Finding string
	// Token names the delivery (as in Claim); it is also its writer's name
	// on the fast path.
	Token string
	// Principals, when set, are admitted into Account's breaker window
	// (at most BreakerMax distinct principals per BreakerWindow).
	Account       string
	Principals    []string
	BreakerMax    int
	BreakerWindow time.Duration
	// Organization, when set, also admits the principals into the
	// organization's breaker window, shared by every account (at most
	// OrgBreakerMax distinct principals per BreakerWindow): organization
	// mode. Both breakers admit, or neither counts them.
	Organization  string
	OrgBreakerMax int
	// Holds are the resources the delivery's principal steps will contain.
	Holds []Hold
	// Wants are the addresses its block steps will block.
	Wants []Want
	// Lease is how long the fast path's writer lease lasts.
	Lease time.Duration
}

// Want is a block step's addresses.
type Want struct {
	Set   string
	Addrs []string
	Until time.Time
}

// Prepared is what Prepare recorded.
type Prepared struct {
	// BreakerOpen: the principals were not admitted (the window is full),
	// and no hold was recorded: the principals must be reported, not
	// contained. Wants were recorded all the same.
	BreakerOpen bool
	// OrgBreakerOpen: the organization's breaker did not admit them
	// (BreakerOpen is set too; their account's may have refused as well).
	OrgBreakerOpen bool
	// Leases names the sets whose writer this delivery became on the fast
	// path, with the owner to release in Commit.
	Leases map[string]string
}

// Prepare records, in one transaction when the finding is not large, that
// the delivery's principals are admitted by the breaker, that its finding
// holds what its steps will contain, and which addresses it wants blocked;
// and makes it the writer of a set that had nothing else pending.
func (l *Ledger) Prepare(ctx context.Context, p Prep) (Prepared, error) {
	now := l.Now()
	var res Prepared
	total := 0
	for _, w := range p.Wants {
		total += len(w.Addrs)
	}
	// The fast path also keeps the one transaction within DynamoDB's 100
	// writes: the breakers (the account's and the organization's), the
	// holds, the finding, an address each, a set each.
	fast := total <= fastPathMax && 3+len(p.Holds)+total+len(p.Wants) <= maxTransaction
	if len(p.Holds) > MaxHolds {
		return res, failure.Permanent(fmt.Errorf("ledger: prepare finding %s: %d holds, more than one transaction records (%d)", p.Finding, len(p.Holds), MaxHolds))
	}
	var wants []update
	var chunkKeys []string
	// A small finding's addresses are kept on its own item, one attribute
	// per set; a large finding's in chunk items of their own.
	inline := map[string][]string{}
	for i, w := range p.Wants {
		for _, a := range w.Addrs {
			wants = append(wants, wantUpdate(w.Set, a, p.Finding, now, w.Until))
		}
		if fast {
			inline[w.Set] = append(inline[w.Set], w.Addrs...)
			continue
		}
		for j, c := range chunks(w.Addrs, blocksPerChunk) {
			sk := fmt.Sprintf("%s%s#%d#%d", blocksPrefix, p.Token, i, j)
			chunkKeys = append(chunkKeys, sk)
			wants = append(wants, update{key: key(findingPK(p.Finding), sk), expr: "SET ipSet = :set, #ttl = :ttl ADD addrs :a",
				names:  map[string]string{"#ttl": AttrTTL},
				values: map[string]ddb.AttributeValue{":set": s(w.Set), ":a": ss(c...), ":ttl": n(now.Add(Retention).Unix())}})
		}
	}
	if !fast {
		// A large finding: its wants go first, in transactions of their
		// own; the bump that tells the writer comes after them.
		if err := l.transactAll(ctx, wants); err != nil {
			return res, fmt.Errorf("ledger: record the blocks of finding %s: %w", p.Finding, err)
		}
		wants = nil
	}
	acquire := fast
	admit := len(p.Principals) > 0
	org := p.Organization != ""
	if len(p.Principals) > p.BreakerMax {
		// More than the breaker ever admits at once.
		admit, res.BreakerOpen = false, true
	}
	if admit && org && len(p.Principals) > p.OrgBreakerMax {
		admit, res.BreakerOpen, res.OrgBreakerOpen = false, true, true
	}
	for {
		var us []update
		breakerAt := map[int]bool{}
		orgBreakerAt := -1
		if admit {
			breakerAt[len(us)] = true
			us = append(us, l.breakerUpdate(p.Account, p.Principals, p.BreakerWindow, p.BreakerMax))
			if org {
				orgBreakerAt = len(us)
				breakerAt[len(us)] = true
				us = append(us, l.breakerUpdate("org#"+p.Organization, p.Principals, p.BreakerWindow, p.OrgBreakerMax))
			}
		}
		fi := update{key: key(findingPK(p.Finding), findingSK), expr: "SET #ttl = :ttl", names: map[string]string{"#ttl": AttrTTL},
			values: map[string]ddb.AttributeValue{":ttl": n(now.Add(Retention).Unix())}}
		var holdKeys []string
		if !res.BreakerOpen {
			for _, h := range p.Holds {
				us = append(us, l.holdUpdate(h, p.Finding))
				holdKeys = append(holdKeys, h.Key())
			}
		}
		if len(holdKeys) > 0 {
			fi.values[":h"] = ss(holdKeys...)
		}
		var adds []string
		if len(holdKeys) > 0 {
			adds = append(adds, "holds :h")
		}
		if len(chunkKeys) > 0 {
			adds = append(adds, "blockChunks :c")
			fi.values[":c"] = ss(chunkKeys...)
		}
		for i, set := range sortedKeys(inline) {
			name, val := fmt.Sprintf("#b%d", i), fmt.Sprintf(":b%d", i)
			fi.names[name], fi.values[val] = blockedPrefix+set, ss(inline[set]...)
			adds = append(adds, name+" "+val)
		}
		if len(adds) > 0 {
			fi.expr += " ADD " + strings.Join(adds, ", ")
		}
		us = append(us, fi)
		us = append(us, wants...)
		metaAt := map[int]string{}
		for _, w := range p.Wants {
			metaAt[len(us)] = w.Set
			if acquire {
				us = append(us, acquireUpdate(w.Set, p.Token, p.Token, now, p.Lease))
			} else {
				us = append(us, bumpUpdate(w.Set, p.Token))
			}
		}
		failed, err := l.transact(ctx, us)
		if err != nil {
			return res, fmt.Errorf("ledger: prepare finding %s: %w", p.Finding, err)
		}
		if len(failed) == 0 {
			if acquire {
				res.Leases = map[string]string{}
				for _, w := range p.Wants {
					res.Leases[w.Set] = p.Token
				}
			}
			return res, nil
		}
		progress := false
		for _, i := range failed {
			switch {
			case breakerAt[i] && admit:
				admit, res.BreakerOpen, progress = false, true, true
				res.OrgBreakerOpen = slices.Contains(failed, orgBreakerAt)
			case metaAt[i] != "" && acquire:
				// Another writer holds the set, or it has other work
				// pending: the block step runs the full writer.
				acquire, progress = false, true
			}
		}
		if !progress {
			return res, fmt.Errorf("ledger: prepare finding %s: a condition failed unexpectedly (writes %v)", p.Finding, failed)
		}
	}
}

// Commit is what a delivery did, recorded when it ends.
type Commit struct {
	Finding   string
	UpdatedAt time.Time
	// OK: every step succeeded; the delivery counts as handled.
	OK bool
	// Done maps the principal actions completed now to when.
	Done map[string]time.Time
	// Changed are the held resources this delivery changed itself.
	Changed []Hold
	// Ours are the addresses, by set, that the delivery's fast-path writer
	// put in each set.
	Ours map[string][]string
	// Leases are the fast-path leases to give back (set -> owner), and
	// Token the lastBump the delivery recorded with them.
	Leases map[string]string
	Token  string
	// Abandon: give the leases back without marking the sets clean (a
	// block step failed, so the next writer reads everything).
	Abandon bool
	// Outcome is the delivery's audit outcome; Type, Account and Subject
	// are the finding's type, account and principal (or resource). Status
	// lists the latest decisions from them. Empty ones are not recorded.
	Outcome, Type, Account, Subject string
}

// Commit records how the delivery ended in one transaction when the
// finding is not large. It returns the sets whose lease could not be given
// back because something was recorded meanwhile: the caller's writer must
// read the whole set and write it again.
func (l *Ledger) Commit(ctx context.Context, c Commit) (unreleased []string, err error) {
	state := claimFailed
	if c.OK {
		state = claimDone
	}
	fi := update{key: key(findingPK(c.Finding), findingSK), names: map[string]string{"#state": "claimState"},
		values: map[string]ddb.AttributeValue{":st": s(state)}}
	fi.expr = "SET #state = :st, decidedAt = :now"
	fi.values[":now"] = s(l.Now().UTC().Format(time.RFC3339Nano))
	for _, a := range [][2]string{{"outcome", c.Outcome}, {"findingType", c.Type}, {"account", c.Account}, {"subject", c.Subject}} {
		if name, v := a[0], a[1]; v != "" {
			fi.names["#"+name], fi.values[":"+name] = name, s(v)
			fi.expr += fmt.Sprintf(", #%s = :%s", name, name)
		}
	}
	actions := make([]string, 0, len(c.Done))
	for a := range c.Done {
		actions = append(actions, a)
	}
	sort.Strings(actions)
	if len(actions) > 0 {
		fi.names["#done"] = "done"
	}
	for i, a := range actions {
		name, val := "#a"+strconv.Itoa(i), ":t"+strconv.Itoa(i)
		fi.names[name] = a
		fi.values[val] = s(c.Done[a].UTC().Format(time.RFC3339Nano))
		fi.expr += fmt.Sprintf(", #done.%s = if_not_exists(#done.%s, %s)", name, name, val)
	}
	if c.OK {
		fi.expr += " ADD handled :at"
		fi.values[":at"] = ss(c.UpdatedAt.UTC().Format(time.RFC3339Nano))
	}
	us := []update{fi}
	for _, h := range c.Changed {
		us = append(us, l.changedUpdate(h, c.Finding))
	}
	var ours []update
	for set, addrs := range c.Ours {
		for _, a := range addrs {
			ours = append(ours, oursUpdate(set, a))
		}
	}
	if len(us)+len(ours)+len(c.Leases) > maxTransaction {
		if err := l.transactAll(ctx, ours); err != nil {
			return nil, fmt.Errorf("ledger: mark blocks of finding %s applied: %w", c.Finding, err)
		}
		ours = nil
	}
	us = append(us, ours...)
	sets := sortedKeys(c.Leases)
	for _, set := range sets {
		if c.Abandon {
			us = append(us, abandonUpdate(set, c.Leases[set]))
		} else {
			us = append(us, releaseUpdate(set, c.Leases[set], c.Token))
		}
	}
	dropped, err := l.transactOptional(ctx, us)
	if err != nil {
		return nil, fmt.Errorf("ledger: record the end of finding %s: %w", c.Finding, err)
	}
	if c.Abandon {
		return nil, nil
	}
	for _, u := range dropped {
		for _, set := range sets {
			if u.key[AttrPK].(*ddb.AttributeValueMemberS).Value == setPK(set) && u.key[AttrSK].(*ddb.AttributeValueMemberS).Value == "meta" {
				unreleased = append(unreleased, set)
			}
		}
	}
	return unreleased, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
