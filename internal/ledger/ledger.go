// Package ledger is autocontain's memory, kept in one DynamoDB table: which
// deliveries of which findings were handled, what each finding holds (so
// undo restores a resource only when no finding still holds it), which
// principals were contained lately (the blast-radius breaker), and which
// addresses each WAF IP set should hold (the source of truth its single
// writer reconciles the set to).
//
// Every write is idempotent, so an SDK retry of a write whose reply was
// lost changes nothing more: sets instead of lists and counters, map
// entries keyed by name, and conditions that accept the writer's own
// earlier attempt. A delivery's happy path is three round trips: Claim
// (which also reads the finding's history), Prepare (breaker, holds and
// wanted addresses, before anything is changed) and Commit (what was done).
package ledger

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/autocontain/autocontain/internal/failure"
)

// API is the part of the DynamoDB API the ledger needs.
type API interface {
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

var _ API = (*dynamodb.Client)(nil)

// ErrUnavailable marks (errors.Is) every error of a call to the ledger's
// table: DynamoDB could not be reached, throttled or refused the call. The
// delivery fails and is retried, as before; the mark only names the class
// (the errorType "LedgerUnavailable").
var ErrUnavailable = errors.New("the ledger's table could not be read or written")

// db is l.DB with its errors marked ErrUnavailable.
func (l *Ledger) db() API { return markedAPI{l.DB} }

type markedAPI struct{ API }

func (m markedAPI) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	out, err := m.API.UpdateItem(ctx, in, opts...)
	return out, failure.Mark(err, ErrUnavailable)
}

func (m markedAPI) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	out, err := m.API.DeleteItem(ctx, in, opts...)
	return out, failure.Mark(err, ErrUnavailable)
}

func (m markedAPI) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	out, err := m.API.Query(ctx, in, opts...)
	return out, failure.Mark(err, ErrUnavailable)
}

func (m markedAPI) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	out, err := m.API.TransactWriteItems(ctx, in, opts...)
	return out, failure.Mark(err, ErrUnavailable)
}

// Permissions lists the DynamoDB actions the ledger needs on its table.
// TransactWriteItems has no action of its own: it needs those of the
// writes it carries (DynamoDB Developer Guide, "Using IAM with DynamoDB
// transactions"). Scan is status's: it reads the whole table (Snapshot).
func Permissions() []string {
	return []string{"dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:UpdateItem"}
}

// Key schema: a partition key and a sort key, both strings, and a TTL
// attribute. The CDK stack creates the table with exactly these names.
const (
	AttrPK  = "pk"
	AttrSK  = "sk"
	AttrTTL = "expiresAt"
)

// Retention of finding records and holds: GuardDuty re-sends an active
// finding at most every 6 hours, and undo should outlive an incident.
const Retention = 90 * 24 * time.Hour

// maxTransaction is DynamoDB's limit on the writes of one transaction.
const maxTransaction = 100

// Ledger reads and writes the table.
type Ledger struct {
	DB    API
	Table string
	Now   func() time.Time
}

func s(v string) ddb.AttributeValue { return &ddb.AttributeValueMemberS{Value: v} }
func n(v int64) ddb.AttributeValue {
	return &ddb.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}
func ss(v ...string) ddb.AttributeValue { return &ddb.AttributeValueMemberSS{Value: v} }

func key(pk, sk string) map[string]ddb.AttributeValue {
	return map[string]ddb.AttributeValue{AttrPK: s(pk), AttrSK: s(sk)}
}

func str(item map[string]ddb.AttributeValue, name string) string {
	if v, ok := item[name].(*ddb.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func num(item map[string]ddb.AttributeValue, name string) int64 {
	if v, ok := item[name].(*ddb.AttributeValueMemberN); ok {
		i, _ := strconv.ParseInt(v.Value, 10, 64)
		return i
	}
	return 0
}

func strs(item map[string]ddb.AttributeValue, name string) []string {
	if v, ok := item[name].(*ddb.AttributeValueMemberSS); ok {
		return v.Value
	}
	return nil
}

func boolean(item map[string]ddb.AttributeValue, name string) bool {
	v, ok := item[name].(*ddb.AttributeValueMemberBOOL)
	return ok && v.Value
}

// conditionFailed reports whether err is DynamoDB refusing a conditional write.
func conditionFailed(err error) bool {
	var ccf *ddb.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// update is one write of a transaction: an UpdateItem, or a DeleteItem.
type update struct {
	key      map[string]ddb.AttributeValue
	expr     string
	cond     string
	names    map[string]string
	values   map[string]ddb.AttributeValue
	optional bool // a failed condition drops the write instead of the transaction
	delete   bool // a (conditional) delete; expr is unused
}

// parts returns u's optional parts as the SDK wants them: nil when empty.
func (u update) parts() (cond *string, names map[string]string, values map[string]ddb.AttributeValue) {
	if u.cond != "" {
		cond = aws.String(u.cond)
	}
	if len(u.names) > 0 {
		names = u.names
	}
	if len(u.values) > 0 {
		values = u.values
	}
	return cond, names, values
}

// transact writes us in one transaction and returns which writes'
// conditions failed (by index) when it was cancelled for that reason. One
// write needs no transaction (which costs twice the write capacity).
func (l *Ledger) transact(ctx context.Context, us []update) (failed []int, err error) {
	if len(us) == 1 {
		u := us[0]
		cond, names, values := u.parts()
		var err error
		if u.delete {
			_, err = l.db().DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(l.Table), Key: u.key,
				ConditionExpression: cond, ExpressionAttributeNames: names, ExpressionAttributeValues: values})
		} else {
			_, err = l.db().UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(l.Table), Key: u.key,
				UpdateExpression: aws.String(u.expr), ConditionExpression: cond,
				ExpressionAttributeNames: names, ExpressionAttributeValues: values})
		}
		if conditionFailed(err) {
			return []int{0}, nil
		}
		return nil, err
	}
	items := make([]ddb.TransactWriteItem, len(us))
	for i, u := range us {
		cond, names, values := u.parts()
		if u.delete {
			items[i] = ddb.TransactWriteItem{Delete: &ddb.Delete{TableName: aws.String(l.Table), Key: u.key,
				ConditionExpression: cond, ExpressionAttributeNames: names, ExpressionAttributeValues: values}}
			continue
		}
		items[i] = ddb.TransactWriteItem{Update: &ddb.Update{TableName: aws.String(l.Table), Key: u.key,
			UpdateExpression: aws.String(u.expr), ConditionExpression: cond,
			ExpressionAttributeNames: names, ExpressionAttributeValues: values}}
	}
	_, err = l.db().TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	var tce *ddb.TransactionCanceledException
	if errors.As(err, &tce) {
		for i, r := range tce.CancellationReasons {
			if aws.ToString(r.Code) == "ConditionalCheckFailed" {
				failed = append(failed, i)
			}
		}
		if len(failed) > 0 {
			return failed, nil
		}
	}
	return nil, err
}

// transactOptional writes us, dropping the optional writes whose
// conditions fail and retrying the rest. It returns the dropped writes.
// A failed condition of a write that is not optional is an error.
func (l *Ledger) transactOptional(ctx context.Context, us []update) (dropped []update, err error) {
	for len(us) > 0 {
		failed, err := l.transact(ctx, us)
		if err != nil || len(failed) == 0 {
			return dropped, err
		}
		keep := us[:0:0]
		for i, u := range us {
			if !slices.Contains(failed, i) {
				keep = append(keep, u)
				continue
			}
			if !u.optional {
				return dropped, fmt.Errorf("ledger: a condition failed on %s", u.key[AttrPK].(*ddb.AttributeValueMemberS).Value)
			}
			dropped = append(dropped, u)
		}
		us = keep
	}
	return dropped, nil
}

// transactAll writes us, which need not be atomic together, in
// transactions of at most maxTransaction writes (see transactOptional).
func (l *Ledger) transactAll(ctx context.Context, us []update) error {
	for _, c := range chunks(us, maxTransaction) {
		if _, err := l.transactOptional(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

// chunks splits us into transactions of at most size writes.
func chunks[T any](us []T, size int) [][]T {
	var out [][]T
	for len(us) > size {
		out = append(out, us[:size])
		us = us[size:]
	}
	if len(us) > 0 {
		out = append(out, us)
	}
	return out
}
