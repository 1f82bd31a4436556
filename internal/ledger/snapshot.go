package ledger

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The read side: what the ledger holds right now, for `autocontain
// status`. The holds, the findings and the breakers' windows each live in
// partitions of their own (hold#…, finding#…, breaker#…), with no index
// that lists them, so only a Scan finds them all; and a Scan reads every
// item whatever it keeps, the IP sets' blocks included. One Scan therefore
// reads everything, in parallel segments, and keeps only the attributes
// status shows (a projection: the addresses a finding wanted, the bulk of
// its items, stay behind). An index (a GSI naming each hold) would make the
// holds a Query, but every hold write would then also write the index, and
// one index partition takes every hold: a burst of containments would be
// throttled by the index, which a read for people must not do.

// scanSegments is how many segments the Scan reads in parallel. The items
// of one partition key fall in one segment (moto splits by the key's hash,
// as it says AWS appears to), so the segment holding the largest IP set's
// partition (10,000 blocks: two 1 MB pages in BenchmarkStatus) reads its
// pages one after another whatever the count; eight keep the rest of the
// table out of its way.
const scanSegments = 8

// snapshotAttrs are the attributes a Snapshot reads.
var snapshotAttrs = []string{
	AttrPK, AttrSK, AttrTTL,
	// holds
	"holders", "changed",
	// findings
	"holds", "done", "claimState", "claimUntil", "undoneAt", "decidedAt", "outcome", "findingType", "account", "subject",
	// blocks and sets
	"firstSeen", "lastSeen", "blockUntil", "findings", "ours", "lastBump", "applied", "leaseOwner", "leaseUntil",
	// breakers
	"principals",
}

// HoldState is a hold as the ledger has it now.
type HoldState struct {
	Hold
	// Holders are the findings that hold the resource, sorted; none left
	// means undo released it and it is about to be forgotten.
	Holders []string
	// Changed: autocontain changed the resource (else it already was as
	// containment wants it).
	Changed bool
	// Touched is when a finding last took hold of it.
	Touched time.Time
}

// FindingState is a finding's record: the decision its latest delivery
// made, and what it holds.
type FindingState struct {
	ID string
	// Holds are the resources the finding took hold of.
	Holds []Hold
	// Done maps the principal actions done for the finding to when they
	// were first done (History.Done).
	Done map[string]time.Time
	// DecidedAt is when its latest delivery ended (or, for a record
	// written before deliveries recorded it, was claimed).
	DecidedAt time.Time
	// Outcome is the audit outcome of its latest delivery; Type, Account
	// and Subject the finding's type, account and principal or resource,
	// as that delivery recorded them (empty in records written before).
	Outcome, Type, Account, Subject string
	// State is the claim's state: running, done or failed.
	State string
	// ClaimUntil is when a running delivery's claim runs out.
	ClaimUntil time.Time
	// Undone is when undo released the finding's holds (zero: never).
	Undone time.Time
}

// Claim states, as FindingState.State names them.
const (
	StateRunning = claimRunning
	StateDone    = claimDone
	StateFailed  = claimFailed
)

// SetState is an IP set's record: the addresses it should hold, and
// whether its writer has work pending.
type SetState struct {
	Set    string
	Blocks []Block
	// Pending: something was recorded that the set's writer has not yet
	// applied (a delivery is writing it, or the next reconcile will).
	Pending bool
}

// BreakerWindow is one window of a breaker: the principals it admitted.
type BreakerWindow struct {
	// Account is the account the breaker counts; Organization is set
	// instead for the organization's breaker.
	Account, Organization string
	Start                 time.Time
	Principals            []string
}

// Snapshot is the ledger as one Scan read it.
type Snapshot struct {
	Holds    []HoldState
	Findings []FindingState
	Sets     []SetState
	Breakers []BreakerWindow
	// Requests counts the Scan requests it took.
	Requests int
}

// Snapshot reads the whole ledger (see scanSegments), strongly consistent:
// what an operator reads right after an undo includes that undo.
func (l *Ledger) Snapshot(ctx context.Context) (Snapshot, error) {
	names := map[string]string{}
	proj := make([]string, len(snapshotAttrs))
	for i, a := range snapshotAttrs {
		n := "#a" + strconv.Itoa(i)
		names[n], proj[i] = a, n
	}
	var (
		mu       sync.Mutex
		items    []map[string]ddb.AttributeValue
		requests int
		first    error // the first segment's error; the others stop
		wg       sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for seg := range scanSegments {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pages := dynamodb.NewScanPaginator(l.DB, &dynamodb.ScanInput{
				TableName: aws.String(l.Table), ConsistentRead: aws.Bool(true),
				Segment: aws.Int32(int32(seg)), TotalSegments: aws.Int32(scanSegments),
				ProjectionExpression: aws.String(strings.Join(proj, ", ")), ExpressionAttributeNames: names,
			})
			for pages.HasMorePages() {
				page, err := pages.NextPage(ctx)
				mu.Lock()
				requests++
				if err == nil {
					items = append(items, page.Items...)
				} else if first == nil {
					first = err
					cancel()
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	var missing *ddb.ResourceNotFoundException
	if errors.As(first, &missing) {
		return Snapshot{}, fmt.Errorf("ledger: table %s does not exist in this account and Region (ResourceNotFoundException): name the ledger's table, in its Region: %w", l.Table, first)
	}
	if first != nil {
		return Snapshot{}, fmt.Errorf("ledger: read table %s: %w", l.Table, first)
	}
	snap, err := snapshotOf(items)
	if err != nil {
		return Snapshot{}, fmt.Errorf("ledger: read table %s: %w", l.Table, err)
	}
	snap.Requests = requests
	return snap, nil
}

// snapshotOf sorts the items a Scan read into a Snapshot.
func snapshotOf(items []map[string]ddb.AttributeValue) (Snapshot, error) {
	var snap Snapshot
	sets := map[string]*SetState{}
	set := func(name string) *SetState {
		if sets[name] == nil {
			sets[name] = &SetState{Set: name}
		}
		return sets[name]
	}
	for _, it := range items {
		pk, sk := str(it, AttrPK), str(it, AttrSK)
		switch {
		case sk == holdSK && strings.HasPrefix(pk, "hold#"):
			h, err := holdOfKey(pk)
			if err != nil {
				return snap, err
			}
			holders := strs(it, "holders")
			sort.Strings(holders)
			snap.Holds = append(snap.Holds, HoldState{Hold: h, Holders: holders, Changed: boolean(it, "changed"),
				Touched: retainedSince(it)})
		case sk == findingSK && strings.HasPrefix(pk, "finding#"):
			f, err := findingStateOf(strings.TrimPrefix(pk, "finding#"), it)
			if err != nil {
				return snap, err
			}
			snap.Findings = append(snap.Findings, f)
		case strings.HasPrefix(pk, "ipset#") && strings.HasPrefix(sk, addrPrefix):
			s := set(strings.TrimPrefix(pk, "ipset#"))
			s.Blocks = append(s.Blocks, blockOf(it))
		case strings.HasPrefix(pk, "ipset#") && sk == "meta":
			s := set(strings.TrimPrefix(pk, "ipset#"))
			s.Pending = str(it, "lastBump") != "" && str(it, "lastBump") != str(it, "applied")
		case pk == setsPK:
			set(sk)
		case strings.HasPrefix(pk, "breaker#"):
			start, err := time.Parse(time.RFC3339, sk)
			if err != nil {
				return snap, fmt.Errorf("breaker window %q: %w", sk, err)
			}
			w := BreakerWindow{Start: start.UTC(), Principals: strs(it, "principals")}
			scope := strings.TrimPrefix(pk, "breaker#")
			if org, ok := strings.CutPrefix(scope, "org#"); ok {
				w.Organization = org
			} else {
				w.Account = scope
			}
			sort.Strings(w.Principals)
			snap.Breakers = append(snap.Breakers, w)
		}
	}
	for _, s := range sets {
		sort.Slice(s.Blocks, func(i, j int) bool { return s.Blocks[i].Address < s.Blocks[j].Address })
		snap.Sets = append(snap.Sets, *s)
	}
	sort.Slice(snap.Sets, func(i, j int) bool { return snap.Sets[i].Set < snap.Sets[j].Set })
	sort.Slice(snap.Holds, func(i, j int) bool { return snap.Holds[i].Key() < snap.Holds[j].Key() })
	sort.Slice(snap.Findings, func(i, j int) bool { return snap.Findings[i].ID < snap.Findings[j].ID })
	sort.Slice(snap.Breakers, func(i, j int) bool {
		a, b := snap.Breakers[i], snap.Breakers[j]
		return a.Organization+"#"+a.Account+"#"+a.Start.Format(time.RFC3339) < b.Organization+"#"+b.Account+"#"+b.Start.Format(time.RFC3339)
	})
	return snap, nil
}

// holdOfKey reads a hold item's key as parseHoldKey does, and also the
// holds of actions it does not know yet (a principal of another kind than
// user/ or role/): status shows what is held whatever the action.
func holdOfKey(k string) (Hold, error) {
	if h, err := parseHoldKey(k); err == nil {
		return h, nil
	}
	p := strings.Split(k, "#")
	if len(p) != 5 || p[0] != "hold" || p[2] == "" || p[4] == "" || !strings.Contains(p[3], "/") {
		return Hold{}, fmt.Errorf("ledger: %q is not a hold", k)
	}
	return Hold{Account: p[1], Action: p[2], Principal: p[3], Resource: p[4]}, nil
}

// retainedSince is when an item's retention last started: holds and
// findings are kept for Retention from their last write.
func retainedSince(it map[string]ddb.AttributeValue) time.Time {
	if ttl := num(it, AttrTTL); ttl > 0 {
		return time.Unix(ttl, 0).Add(-Retention).UTC()
	}
	return time.Time{}
}

func findingStateOf(id string, it map[string]ddb.AttributeValue) (FindingState, error) {
	h, err := historyOf(it)
	if err != nil {
		return FindingState{}, fmt.Errorf("finding %s: %w", id, err)
	}
	f := FindingState{ID: id, Holds: h.Holds, Done: h.Done, State: str(it, "claimState"),
		Outcome: str(it, "outcome"), Type: str(it, "findingType"), Account: str(it, "account"), Subject: str(it, "subject"),
		ClaimUntil: time.UnixMilli(num(it, "claimUntil")).UTC()}
	if at := str(it, "decidedAt"); at != "" {
		if f.DecidedAt, err = time.Parse(time.RFC3339Nano, at); err != nil {
			return FindingState{}, fmt.Errorf("finding %s: decidedAt: %w", id, err)
		}
	} else {
		f.DecidedAt = retainedSince(it)
	}
	if at := str(it, "undoneAt"); at != "" {
		if f.Undone, err = time.Parse(time.RFC3339, at); err != nil {
			return FindingState{}, fmt.Errorf("finding %s: undoneAt: %w", id, err)
		}
	}
	return f, nil
}
