package ledger

import (
	"context"
	"fmt"
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
	Until    time.Time
	Findings []string
}

func setPK(set string) string { return "ipset#" + set }

const addrPrefix = "addr#"

// Want records that set should hold addrs because of finding id, until
// until (extended if already recorded), then moves the set's generation on,
// which tells its writer there is work.
func (l *Ledger) Want(ctx context.Context, set string, addrs []string, id string, until time.Time) error {
	now := l.Now()
	for _, a := range addrs {
		_, err := l.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:        aws.String(l.Table),
			Key:              key(setPK(set), addrPrefix+a),
			UpdateExpression: aws.String("SET firstSeen = if_not_exists(firstSeen, :now), lastSeen = :now, blockUntil = :until ADD findings :f"),
			ExpressionAttributeValues: map[string]ddb.AttributeValue{
				":now": n(now.Unix()), ":until": n(until.Unix()), ":f": &ddb.AttributeValueMemberSS{Value: []string{id}},
			},
		})
		if err != nil {
			return fmt.Errorf("ledger: record block of %s in %s: %w", a, set, err)
		}
	}
	return l.bump(ctx, set)
}

// Unwant removes finding id's reason to block addr. When no finding wants
// it any more the block expires at once, so the set's writer takes the
// address out of the set and then forgets it. It reports whether it expired.
func (l *Ledger) Unwant(ctx context.Context, set, addr, id string) (bool, error) {
	out, err := l.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(l.Table),
		Key:                       key(setPK(set), addrPrefix+addr),
		UpdateExpression:          aws.String("DELETE findings :f"),
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":f": &ddb.AttributeValueMemberSS{Value: []string{id}}},
		ReturnValues:              ddb.ReturnValueAllNew,
	})
	if conditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("ledger: unrecord block of %s in %s: %w", addr, set, err)
	}
	gone := len(strs(out.Attributes, "findings")) == 0
	if gone {
		_, err := l.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(l.Table), Key: key(setPK(set), addrPrefix+addr),
			UpdateExpression:          aws.String("SET blockUntil = :zero"),
			ConditionExpression:       aws.String("attribute_not_exists(findings)"),
			ExpressionAttributeValues: map[string]ddb.AttributeValue{":zero": n(0)},
		})
		if conditionFailed(err) {
			// A finding wanted it again meanwhile: it stays.
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("ledger: expire block of %s in %s: %w", addr, set, err)
		}
	}
	return gone, l.bump(ctx, set)
}

// Forget deletes the block of addr from set's record if it still ends at
// until, as the writer read it: a finding that wanted the address again
// meanwhile moved its end, and the block stays.
func (l *Ledger) Forget(ctx context.Context, set, addr string, until time.Time) error {
	_, err := l.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(l.Table), Key: key(setPK(set), addrPrefix+addr),
		ConditionExpression:       aws.String("blockUntil = :until"),
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":until": n(until.Unix())},
	})
	if err != nil && !conditionFailed(err) {
		return fmt.Errorf("ledger: forget block of %s in %s: %w", addr, set, err)
	}
	return nil
}

// Blocks returns every recorded block of set.
func (l *Ledger) Blocks(ctx context.Context, set string) ([]Block, error) {
	var out []Block
	pages := dynamodb.NewQueryPaginator(l.DB, &dynamodb.QueryInput{
		TableName:              aws.String(l.Table),
		KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :addr)"),
		ExpressionAttributeValues: map[string]ddb.AttributeValue{
			":pk": s(setPK(set)), ":addr": s(addrPrefix),
		},
		ConsistentRead: aws.Bool(true),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("ledger: read blocks of %s: %w", set, err)
		}
		for _, it := range page.Items {
			out = append(out, Block{
				Address:   strings.TrimPrefix(str(it, AttrSK), addrPrefix),
				FirstSeen: time.Unix(num(it, "firstSeen"), 0).UTC(),
				LastSeen:  time.Unix(num(it, "lastSeen"), 0).UTC(),
				Until:     time.Unix(num(it, "blockUntil"), 0).UTC(),
				Findings:  strs(it, "findings"),
			})
		}
	}
	return out, nil
}

func metaKey(set string) map[string]ddb.AttributeValue { return key(setPK(set), "meta") }

// bump moves set's generation on.
func (l *Ledger) bump(ctx context.Context, set string) error {
	_, err := l.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(l.Table), Key: metaKey(set),
		UpdateExpression:          aws.String("ADD gen :one"),
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":one": n(1)},
	})
	if err != nil {
		return fmt.Errorf("ledger: mark %s changed: %w", set, err)
	}
	return nil
}

// Acquire makes owner set's single writer for lease, unless another owner
// holds an unexpired lease. It returns the set's generation as of then.
func (l *Ledger) Acquire(ctx context.Context, set, owner string, lease time.Duration) (gen int64, ok bool, err error) {
	now := l.Now()
	out, err := l.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(l.Table), Key: metaKey(set),
		UpdateExpression:    aws.String("SET leaseOwner = :o, leaseUntil = :u"),
		ConditionExpression: aws.String("attribute_not_exists(leaseUntil) OR leaseUntil < :now OR leaseOwner = :o"),
		ExpressionAttributeValues: map[string]ddb.AttributeValue{
			":o": s(owner), ":u": n(now.Add(lease).UnixMilli()), ":now": n(now.UnixMilli()),
		},
		ReturnValues: ddb.ReturnValueAllNew,
	})
	if conditionFailed(err) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("ledger: take the writer lease of %s: %w", set, err)
	}
	return num(out.Attributes, "gen"), true, nil
}

// Release gives up owner's lease on set if the set's generation is still
// gen, that is, if nothing was recorded since the writer last read it. When
// it was, the writer keeps the lease and must write again.
func (l *Ledger) Release(ctx context.Context, set, owner string, gen int64) (bool, error) {
	_, err := l.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(l.Table), Key: metaKey(set),
		UpdateExpression:    aws.String("SET applied = :g REMOVE leaseOwner, leaseUntil"),
		ConditionExpression: aws.String("leaseOwner = :o AND (attribute_not_exists(gen) OR gen = :g)"),
		ExpressionAttributeValues: map[string]ddb.AttributeValue{
			":o": s(owner), ":g": n(gen),
		},
	})
	if conditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("ledger: release the writer lease of %s: %w", set, err)
	}
	return true, nil
}

// Abandon gives up owner's lease whatever the generation: the writer is out
// of time. The next writer, or the scheduled reconcile, picks up the rest.
func (l *Ledger) Abandon(ctx context.Context, set, owner string) error {
	_, err := l.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(l.Table), Key: metaKey(set),
		UpdateExpression:          aws.String("REMOVE leaseOwner, leaseUntil"),
		ConditionExpression:       aws.String("leaseOwner = :o"),
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":o": s(owner)},
	})
	if err != nil && !conditionFailed(err) {
		return fmt.Errorf("ledger: abandon the writer lease of %s: %w", set, err)
	}
	return nil
}
