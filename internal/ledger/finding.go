package ledger

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// A finding's record is one item (sort key "finding") holding its claim,
// the deliveries handled, the principal actions done and the holds it
// took, plus one item per chunk of addresses it wanted blocked (sort keys
// "blocks#…"), so that a finding with 10,000 addresses stays far under
// DynamoDB's 400 KB item limit.
const (
	findingSK    = "finding"
	blocksPrefix = "blocks#"
	// blockedPrefix names the finding item's attribute that holds the
	// addresses a small finding wanted in one set.
	blockedPrefix = "blocked "
	// blocksPerChunk bounds a chunk item: 2,000 IPv6 /128 CIDRs of at most
	// 43 characters are under 90 KB.
	blocksPerChunk = 2000
)

func findingPK(id string) string { return "finding#" + id }

// Claim states of a finding's current delivery.
const (
	claimRunning = "running"
	claimDone    = "done"
	claimFailed  = "failed"
)

// Verdict is what Claim decided about a delivery.
type Verdict int

// Verdicts.
const (
	// Claimed: this delivery is the one that acts.
	Claimed Verdict = iota
	// AlreadyHandled: the same finding with the same updatedAt was handled.
	AlreadyHandled
	// InProgress: another delivery of the finding is being handled right now.
	InProgress
)

// Change is one thing a containment step changed: a held resource of a
// principal (Principal and Resource, see Hold) or an address in an IP set.
// It holds unmasked key ids: it is stored, never logged.
type Change struct {
	// Action is the playbook action that made the change.
	Action string `json:"action"`
	// Account is the account the change was made in.
	Account   string `json:"account,omitempty"`
	Principal string `json:"principal,omitempty"`
	Resource  string `json:"resource,omitempty"`
	// Prior is what the held resource was before (Hold.Prior), and
	// ReplacesPrior whether it replaces what the ledger kept.
	Prior         string    `json:"prior,omitempty"`
	ReplacesPrior bool      `json:"replacesPrior,omitempty"`
	IPSet         string    `json:"ipSet,omitempty"`
	Address       string    `json:"address,omitempty"`
	At            time.Time `json:"at"`
	// Applied: the set's writer put the address in the set on this
	// delivery's lease (so it is autocontain's to remove later).
	Applied bool `json:"applied,omitempty"`
}

// Hold is the resource a principal change is about.
func (c Change) Hold() (Hold, bool) {
	if c.Principal == "" {
		return Hold{}, false
	}
	return Hold{Action: c.Action, Account: c.Account, Principal: c.Principal, Resource: c.Resource, Prior: c.Prior, ReplacesPrior: c.ReplacesPrior}, true
}

// History is what the ledger knows of one finding.
type History struct {
	// Done maps the principal actions completed for the finding (by their
	// playbook names) to when they were first done.
	Done map[string]time.Time
	// Holds are the resources the finding holds contained.
	Holds []Hold
	// Blocks maps each IP set to the addresses the finding wanted in it.
	Blocks map[string][]string
	// Undone is set once undo released the finding's holds.
	Undone bool
	// chunks counts the address chunks; Blocks is loaded when it is > 0.
	chunks int
}

// Blocked returns the addresses the finding wanted blocked, in any set.
func (h History) Blocked() map[string]bool {
	out := map[string]bool{}
	for _, addrs := range h.Blocks {
		for _, a := range addrs {
			out[a] = true
		}
	}
	return out
}

// Changes lists what the finding holds, one change per resource, for
// reports and tests.
func (h History) Changes() []Change {
	var out []Change
	for _, hd := range h.Holds {
		out = append(out, Change{Action: hd.Action, Account: hd.Account, Principal: hd.Principal, Resource: hd.Resource})
	}
	sets := make([]string, 0, len(h.Blocks))
	for set := range h.Blocks {
		sets = append(sets, set)
	}
	sort.Strings(sets)
	for _, set := range sets {
		for _, a := range h.Blocks[set] {
			out = append(out, Change{IPSet: set, Address: a})
		}
	}
	return out
}

// Claim makes this delivery the one that handles finding id as of
// updatedAt, unless that delivery was already handled or another delivery
// of the finding is being handled. A claim whose handler failed, or died
// (its lease ran out), can be taken over, so Lambda's retries still work.
// token names this delivery: an SDK retry of a claim whose reply was lost
// is recognized as its own. Claimed comes with the finding's history, in
// the same round trip.
func (l *Ledger) Claim(ctx context.Context, id string, updatedAt time.Time, lease time.Duration, token string) (Verdict, History, error) {
	now := l.Now()
	at := updatedAt.UTC().Format(time.RFC3339Nano)
	out, err := l.db().UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(l.Table), Key: key(findingPK(id), findingSK),
		UpdateExpression:    aws.String("SET #at = :at, #owner = :tok, #until = :until, #state = :running, #ttl = :ttl, #done = if_not_exists(#done, :empty)"),
		ConditionExpression: aws.String("NOT contains(#handled, :at) AND (attribute_not_exists(#owner) OR #owner = :tok OR #state <> :running OR #until < :now)"),
		ExpressionAttributeNames: map[string]string{"#at": "claimAt", "#owner": "claimOwner", "#until": "claimUntil", "#state": "claimState",
			"#ttl": AttrTTL, "#done": "done", "#handled": "handled"},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{
			":at": s(at), ":tok": s(token), ":until": n(now.Add(lease).UnixMilli()), ":running": s(claimRunning),
			":ttl": n(now.Add(Retention).Unix()), ":empty": &ddb.AttributeValueMemberM{Value: map[string]ddb.AttributeValue{}},
			":now": n(now.UnixMilli()),
		},
		ReturnValues:                        ddb.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: ddb.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err != nil {
		var ccf *ddb.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			for _, h := range strs(ccf.Item, "handled") {
				if h == at {
					return AlreadyHandled, History{}, nil
				}
			}
			return InProgress, History{}, nil
		}
		return 0, History{}, fmt.Errorf("ledger: claim finding %s: %w", id, err)
	}
	h, err := historyOf(out.Attributes)
	if err != nil {
		return 0, History{}, fmt.Errorf("ledger: history of finding %s: %w", id, err)
	}
	if h.chunks > 0 {
		if err := l.loadBlocks(ctx, id, &h); err != nil {
			return 0, History{}, err
		}
	}
	return Claimed, h, nil
}

// historyOf reads a finding item.
func historyOf(item map[string]ddb.AttributeValue) (History, error) {
	h := History{Done: map[string]time.Time{}, Blocks: map[string][]string{}}
	if m, ok := item["done"].(*ddb.AttributeValueMemberM); ok {
		for action, v := range m.Value {
			sv, ok := v.(*ddb.AttributeValueMemberS)
			if !ok {
				continue
			}
			t, err := time.Parse(time.RFC3339Nano, sv.Value)
			if err != nil {
				return h, fmt.Errorf("done %s: %w", action, err)
			}
			h.Done[action] = t
		}
	}
	for _, k := range strs(item, "holds") {
		hd, err := parseHoldKey(k)
		if err != nil {
			return h, err
		}
		h.Holds = append(h.Holds, hd)
	}
	sort.Slice(h.Holds, func(i, j int) bool { return h.Holds[i].Key() < h.Holds[j].Key() })
	for name := range item {
		if set, ok := strings.CutPrefix(name, blockedPrefix); ok {
			h.Blocks[set] = mergeSorted(h.Blocks[set], strs(item, name))
		}
	}
	h.chunks = len(strs(item, "blockChunks"))
	h.Undone = str(item, "undoneAt") != ""
	return h, nil
}

// History reads a finding's history; ok is false when the ledger has none.
func (l *Ledger) History(ctx context.Context, id string) (h History, ok bool, err error) {
	items, err := l.query(ctx, findingPK(id), "")
	if err != nil {
		return History{}, false, fmt.Errorf("ledger: read history of finding %s: %w", id, err)
	}
	h = History{Done: map[string]time.Time{}, Blocks: map[string][]string{}}
	for _, it := range items {
		sk := str(it, AttrSK)
		switch {
		case sk == findingSK:
			ok = true
			blocks := h.Blocks
			if h, err = historyOf(it); err != nil {
				return History{}, false, fmt.Errorf("ledger: history of finding %s: %w", id, err)
			}
			for set, addrs := range blocks {
				h.Blocks[set] = mergeSorted(h.Blocks[set], addrs)
			}
		case strings.HasPrefix(sk, blocksPrefix):
			set := str(it, "ipSet")
			h.Blocks[set] = mergeSorted(h.Blocks[set], strs(it, "addrs"))
		}
	}
	return h, ok, nil
}

// loadBlocks reads the finding's address chunks into h.
func (l *Ledger) loadBlocks(ctx context.Context, id string, h *History) error {
	items, err := l.query(ctx, findingPK(id), blocksPrefix)
	if err != nil {
		return fmt.Errorf("ledger: read blocks of finding %s: %w", id, err)
	}
	for _, it := range items {
		set := str(it, "ipSet")
		h.Blocks[set] = mergeSorted(h.Blocks[set], strs(it, "addrs"))
	}
	return nil
}

func mergeSorted(a, b []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range append(a, b...) {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	sort.Strings(out)
	return out
}

// query reads every item of partition pk whose sort key starts with prefix.
func (l *Ledger) query(ctx context.Context, pk, prefix string) ([]map[string]ddb.AttributeValue, error) {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(l.Table),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":pk": s(pk)},
		ConsistentRead:            aws.Bool(true),
	}
	if prefix != "" {
		in.KeyConditionExpression = aws.String("pk = :pk AND begins_with(sk, :p)")
		in.ExpressionAttributeValues[":p"] = s(prefix)
	}
	var out []map[string]ddb.AttributeValue
	pages := dynamodb.NewQueryPaginator(l.db(), in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Items...)
	}
	return out, nil
}

// MarkUndone records that the finding's holds were released.
func (l *Ledger) MarkUndone(ctx context.Context, id string) error {
	_, err := l.db().UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(l.Table),
		Key:                       key(findingPK(id), findingSK),
		UpdateExpression:          aws.String("SET undoneAt = if_not_exists(undoneAt, :t)"),
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":t": s(l.Now().UTC().Format(time.RFC3339))},
	})
	if err != nil {
		return fmt.Errorf("ledger: mark finding %s undone: %w", id, err)
	}
	return nil
}
