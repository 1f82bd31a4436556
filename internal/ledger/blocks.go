package ledger

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Block is one address an IP set should hold, and why.
type Block struct {
	Address   string
	FirstSeen time.Time
	LastSeen  time.Time
	// Until is when the block expires and the address leaves the set.
	Until time.Time
	// Findings want the address blocked; none left means it is unwanted.
	Findings []string
	// Ours: autocontain put the address in the set. An address that was in
	// the set before autocontain first wanted it was put there by a person,
	// and is never taken out: not by undo, expiry or eviction.
	Ours bool
}

func setPK(set string) string { return "ipset#" + set }

const addrPrefix = "addr#"

// A set's meta item holds its writer lease and two tokens: lastBump, which
// every recorded want moves on, and applied, the lastBump the writer had
// read when it last released the set with everything applied. The set is
// clean when they are equal.
func metaKey(set string) map[string]ddb.AttributeValue { return key(setPK(set), "meta") }

// NewToken returns a random token naming a delivery, a writer or a bump.
func NewToken() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// wantUpdate records that set should hold addr because of finding id.
func wantUpdate(set, addr, id string, now, until time.Time) update {
	return update{
		key:  key(setPK(set), addrPrefix+addr),
		expr: "SET firstSeen = if_not_exists(firstSeen, :now), lastSeen = :now, blockUntil = :until ADD findings :f",
		values: map[string]ddb.AttributeValue{
			":now": n(now.Unix()), ":until": n(until.Unix()), ":f": ss(id),
		},
	}
}

// bumpUpdate tells the set's writer there is work.
func bumpUpdate(set, tok string) update {
	return update{key: metaKey(set), expr: "SET lastBump = :tok", values: map[string]ddb.AttributeValue{":tok": s(tok)}}
}

// acquireUpdate bumps the set and makes owner its writer, but only when the
// lease is free (or owner's) and the set was clean before this bump: then
// the only work is this bump's own, and the writer may add just its own
// addresses without reading every block (the fast path).
func acquireUpdate(set, owner, tok string, now time.Time, lease time.Duration) update {
	return update{
		key:  metaKey(set),
		expr: "SET lastBump = :tok, leaseOwner = :o, leaseUntil = :u",
		cond: "(attribute_not_exists(leaseUntil) OR leaseUntil < :now OR leaseOwner = :o) AND " +
			"(attribute_not_exists(lastBump) OR lastBump = applied OR lastBump = :tok)",
		values: map[string]ddb.AttributeValue{
			":tok": s(tok), ":o": s(owner), ":u": n(now.Add(lease).UnixMilli()), ":now": n(now.UnixMilli()),
		},
		optional: true,
	}
}

// releaseUpdate gives up owner's lease if nothing was recorded since the
// writer read the set at token tok, and marks the set clean.
func releaseUpdate(set, owner, tok string) update {
	u := update{key: metaKey(set), values: map[string]ddb.AttributeValue{":o": s(owner)}, optional: true}
	if tok == "" {
		u.expr, u.cond = "REMOVE leaseOwner, leaseUntil", "leaseOwner = :o AND attribute_not_exists(lastBump)"
		return u
	}
	u.expr, u.cond = "SET applied = :tok REMOVE leaseOwner, leaseUntil", "leaseOwner = :o AND lastBump = :tok"
	u.values[":tok"] = s(tok)
	return u
}

// abandonUpdate gives up owner's lease whatever was recorded; the set stays
// as clean or dirty as it was.
func abandonUpdate(set, owner string) update {
	return update{key: metaKey(set), expr: "REMOVE leaseOwner, leaseUntil", cond: "leaseOwner = :o",
		values: map[string]ddb.AttributeValue{":o": s(owner)}, optional: true}
}

// Want records that set should hold addrs because of finding id, until
// until (extended if already recorded), then moves the set's lastBump on,
// which tells its writer there is work. A finding's deliveries record their
// wants with Prepare; Want is for everything else.
func (l *Ledger) Want(ctx context.Context, set string, addrs []string, id string, until time.Time) error {
	now := l.Now()
	us := make([]update, 0, len(addrs)+1)
	for _, a := range addrs {
		us = append(us, wantUpdate(set, a, id, now, until))
	}
	us = append(us, bumpUpdate(set, NewToken()))
	if err := l.transactAll(ctx, us); err != nil {
		return fmt.Errorf("ledger: record blocks in %s: %w", set, err)
	}
	return nil
}

// Unwant removes finding id's reason to block addrs in set, and tells the
// set's writer, which takes out of the set the addresses no finding wants
// any more (if autocontain put them there) and forgets them.
func (l *Ledger) Unwant(ctx context.Context, set string, addrs []string, id string) error {
	us := make([]update, 0, len(addrs)+1)
	for _, a := range addrs {
		us = append(us, update{key: key(setPK(set), addrPrefix+a), expr: "DELETE findings :f", cond: "attribute_exists(pk)",
			values: map[string]ddb.AttributeValue{":f": ss(id)}, optional: true})
	}
	us = append(us, bumpUpdate(set, NewToken()))
	if err := l.transactAll(ctx, us); err != nil {
		return fmt.Errorf("ledger: unrecord blocks in %s: %w", set, err)
	}
	return nil
}

// MarkOurs records that the set's writer put addrs in the set.
func (l *Ledger) MarkOurs(ctx context.Context, set string, addrs []string) error {
	us := make([]update, len(addrs))
	for i, a := range addrs {
		us[i] = oursUpdate(set, a)
	}
	if err := l.transactAll(ctx, us); err != nil {
		return fmt.Errorf("ledger: mark blocks of %s applied: %w", set, err)
	}
	return nil
}

func oursUpdate(set, addr string) update {
	return update{key: key(setPK(set), addrPrefix+addr), expr: "SET ours = :t", cond: "attribute_exists(pk)",
		values: map[string]ddb.AttributeValue{":t": &ddb.AttributeValueMemberBOOL{Value: true}}, optional: true}
}

// Forget deletes the blocks of set's record that are as the writer read
// them: no finding wants them (unwanted), or they still end when they did
// (expired or evicted). A finding that wanted an address again meanwhile
// changed that, and its block stays. The deletes go in transactions of up
// to a hundred.
func (l *Ledger) Forget(ctx context.Context, set string, blocks []Block) error {
	us := make([]update, len(blocks))
	for i, b := range blocks {
		u := update{key: key(setPK(set), addrPrefix+b.Address), delete: true, optional: true}
		if len(b.Findings) == 0 {
			u.cond = "attribute_not_exists(findings)"
		} else {
			u.cond, u.values = "blockUntil = :until", map[string]ddb.AttributeValue{":until": n(b.Until.Unix())}
		}
		us[i] = u
	}
	if err := l.transactAll(ctx, us); err != nil {
		return fmt.Errorf("ledger: forget blocks of %s: %w", set, err)
	}
	return nil
}

// Blocks returns every recorded block of set.
func (l *Ledger) Blocks(ctx context.Context, set string) ([]Block, error) {
	items, err := l.query(ctx, setPK(set), addrPrefix)
	if err != nil {
		return nil, fmt.Errorf("ledger: read blocks of %s: %w", set, err)
	}
	out := make([]Block, 0, len(items))
	for _, it := range items {
		out = append(out, blockOf(it))
	}
	return out, nil
}

// blockOf reads a block's item.
func blockOf(it map[string]ddb.AttributeValue) Block {
	return Block{
		Address:   strings.TrimPrefix(str(it, AttrSK), addrPrefix),
		FirstSeen: time.Unix(num(it, "firstSeen"), 0).UTC(),
		LastSeen:  time.Unix(num(it, "lastSeen"), 0).UTC(),
		Until:     time.Unix(num(it, "blockUntil"), 0).UTC(),
		Findings:  strs(it, "findings"),
		Ours:      boolean(it, "ours"),
	}
}

// Acquire makes owner set's single writer for lease, unless another owner
// holds an unexpired lease. It returns the set's lastBump as of then: the
// writer reads the blocks after it, and Release succeeds only if nothing
// was recorded since.
func (l *Ledger) Acquire(ctx context.Context, set, owner string, lease time.Duration) (tok string, ok bool, err error) {
	now := l.Now()
	out, err := l.db().UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(l.Table), Key: metaKey(set),
		UpdateExpression:    aws.String("SET leaseOwner = :o, leaseUntil = :u"),
		ConditionExpression: aws.String("attribute_not_exists(leaseUntil) OR leaseUntil < :now OR leaseOwner = :o"),
		ExpressionAttributeValues: map[string]ddb.AttributeValue{
			":o": s(owner), ":u": n(now.Add(lease).UnixMilli()), ":now": n(now.UnixMilli()),
		},
		ReturnValues: ddb.ReturnValueAllNew,
	})
	if conditionFailed(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("ledger: take the writer lease of %s: %w", set, err)
	}
	return str(out.Attributes, "lastBump"), true, nil
}

// Release gives up owner's lease on set if its lastBump is still tok, that
// is, if nothing was recorded since the writer last read it. When something
// was, the writer keeps the lease and must write again.
func (l *Ledger) Release(ctx context.Context, set, owner, tok string) (bool, error) {
	dropped, err := l.transactOptional(ctx, []update{releaseUpdate(set, owner, tok)})
	if err != nil {
		return false, fmt.Errorf("ledger: release the writer lease of %s: %w", set, err)
	}
	return len(dropped) == 0, nil
}

// Abandon gives up owner's lease whatever was recorded: the writer is out
// of time or failed. The next writer, or the scheduled reconcile, picks up
// the rest.
func (l *Ledger) Abandon(ctx context.Context, set, owner string) error {
	if _, err := l.transactOptional(ctx, []update{abandonUpdate(set, owner)}); err != nil {
		return fmt.Errorf("ledger: abandon the writer lease of %s: %w", set, err)
	}
	return nil
}

// setsPK is the partition that lists the IP sets organization mode found
// in member accounts, one item per set, so that the scheduled reconcile
// writes them too (expiry, the limit) though no setting names them.
const setsPK = "ipsets"

// RegisterSet records that set is one of autocontain's IP sets. Recording
// it again changes nothing.
func (l *Ledger) RegisterSet(ctx context.Context, set string) error {
	_, err := l.db().UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(l.Table), Key: key(setsPK, set),
		UpdateExpression:          aws.String("SET registeredAt = if_not_exists(registeredAt, :t)"),
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":t": s(l.Now().UTC().Format(time.RFC3339))}})
	if err != nil {
		return fmt.Errorf("ledger: register IP set %s: %w", set, err)
	}
	return nil
}

// Sets lists the IP sets RegisterSet recorded, in order.
func (l *Ledger) Sets(ctx context.Context) ([]string, error) {
	items, err := l.query(ctx, setsPK, "")
	if err != nil {
		return nil, fmt.Errorf("ledger: list the IP sets: %w", err)
	}
	var out []string
	for _, it := range items {
		out = append(out, str(it, AttrSK))
	}
	sort.Strings(out)
	return out, nil
}
