// Package ledger is autocontain's memory, kept in one DynamoDB table: which
// deliveries of which findings were handled, what each containment changed
// (so it can be undone), how many principals were contained lately (the
// blast-radius breaker), and which addresses each WAF IP set should hold
// (the source of truth its single writer reconciles the set to). Every write
// that decides something is conditional, so concurrent deliveries of the
// same event act once.
package ledger

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// API is the part of the DynamoDB API the ledger needs.
type API interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

var _ API = (*dynamodb.Client)(nil)

// Permissions lists the DynamoDB actions the ledger needs on its table.
func Permissions() []string {
	return []string{"dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"}
}

// Key schema: a partition key and a sort key, both strings, and a TTL
// attribute. The CDK stack creates the table with exactly these names.
const (
	AttrPK  = "pk"
	AttrSK  = "sk"
	AttrTTL = "expiresAt"
)

// Retention of finding records and claims: GuardDuty re-sends an active
// finding at most every 6 hours, and undo should outlive an incident.
const Retention = 90 * 24 * time.Hour

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

// conditionFailed reports whether err is DynamoDB refusing a conditional write.
func conditionFailed(err error) bool {
	var ccf *ddb.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// Claim states of a delivery.
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
	// InProgress: another delivery of it is being handled right now.
	InProgress
)

// Claim makes this delivery the one that handles finding id as of
// updatedAt, unless that delivery was already handled or another is
// handling it. A claim whose handler failed, or died (its lease ran out),
// can be claimed again, so Lambda's retries still work. token names this
// delivery: when the SDK retries a claim whose first attempt was written
// but whose answer was lost (a timeout), the claim is recognized as its own.
func (l *Ledger) Claim(ctx context.Context, id string, updatedAt time.Time, lease time.Duration, token string) (Verdict, error) {
	now := l.Now()
	item := key("finding#"+id, "delivery#"+updatedAt.UTC().Format(time.RFC3339Nano))
	item["state"] = s(claimRunning)
	item["owner"] = s(token)
	item["leaseUntil"] = n(now.Add(lease).Unix())
	item[AttrTTL] = n(now.Add(Retention).Unix())
	_, err := l.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(l.Table), Item: item,
		ConditionExpression:      aws.String("attribute_not_exists(pk) OR #st = :failed OR (#st = :running AND leaseUntil < :now)"),
		ExpressionAttributeNames: map[string]string{"#st": "state"},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{
			":failed": s(claimFailed), ":running": s(claimRunning), ":now": n(now.Unix()),
		},
		ReturnValuesOnConditionCheckFailure: ddb.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err == nil {
		return Claimed, nil
	}
	var ccf *ddb.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		switch {
		case str(ccf.Item, "state") == claimDone:
			return AlreadyHandled, nil
		case str(ccf.Item, "owner") == token:
			return Claimed, nil
		}
		return InProgress, nil
	}
	return 0, fmt.Errorf("ledger: claim finding %s: %w", id, err)
}

// Finish records how the claimed delivery ended: done, or failed so that a
// retry may claim it again.
func (l *Ledger) Finish(ctx context.Context, id string, updatedAt time.Time, ok bool) error {
	state := claimFailed
	if ok {
		state = claimDone
	}
	_, err := l.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(l.Table),
		Key:                       key("finding#"+id, "delivery#"+updatedAt.UTC().Format(time.RFC3339Nano)),
		UpdateExpression:          aws.String("SET #st = :st"),
		ExpressionAttributeNames:  map[string]string{"#st": "state"},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":st": s(state)},
	})
	if err != nil {
		return fmt.Errorf("ledger: finish finding %s: %w", id, err)
	}
	return nil
}

// Admit counts one more principal containment in account's current window
// and reports whether it is within max. Past max, nothing is counted and
// admitted is false: the breaker is open until the window ends.
func (l *Ledger) Admit(ctx context.Context, account string, window time.Duration, max int) (admitted bool, count int64, err error) {
	now := l.Now()
	start := now.Truncate(window)
	out, err := l.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(l.Table),
		Key:                       key("breaker#"+account, start.UTC().Format(time.RFC3339)),
		UpdateExpression:          aws.String("ADD #c :one SET " + AttrTTL + " = :ttl"),
		ConditionExpression:       aws.String("attribute_not_exists(#c) OR #c < :max"),
		ExpressionAttributeNames:  map[string]string{"#c": "count"},
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":one": n(1), ":max": n(int64(max)), ":ttl": n(start.Add(2 * window).Unix())},
		ReturnValues:              ddb.ReturnValueUpdatedNew,
	})
	if conditionFailed(err) {
		return false, int64(max), nil
	}
	if err != nil {
		return false, 0, fmt.Errorf("ledger: count containment in account %s: %w", account, err)
	}
	return true, num(out.Attributes, "count"), nil
}
