package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/autocontain/autocontain/internal/playbook"
)

// Kinds of change a containment makes.
const (
	ChangeKey        = "key-deactivated"
	ChangeUserPolicy = "user-policy-written"
	ChangeRolePolicy = "role-policy-written"
	ChangeBlock      = "address-blocked"
)

// Change is one thing a containment changed, with what undo needs to put
// it back. It holds unmasked key ids: it is stored, never logged.
type Change struct {
	Kind        string    `json:"kind"`
	User        string    `json:"user,omitempty"`
	Role        string    `json:"role,omitempty"`
	AccessKeyID string    `json:"accessKeyId,omitempty"`
	Policy      string    `json:"policy,omitempty"`
	Document    string    `json:"document,omitempty"`
	IPSet       string    `json:"ipSet,omitempty"`
	Address     string    `json:"address,omitempty"`
	At          time.Time `json:"at"`
}

// History is what the ledger knows of one finding.
type History struct {
	Changes []Change
	// Undone is set once undo restored the changes.
	Undone bool
}

// Done maps the principal actions completed for the finding (by their
// playbook names) to when they were first done.
func (h History) Done() map[string]time.Time {
	out := map[string]time.Time{}
	for _, c := range h.Changes {
		var action string
		switch c.Kind {
		case ChangeKey:
			action = playbook.ActionDeactivateKey
		case ChangeUserPolicy, ChangeRolePolicy:
			action = playbook.ActionRevokeSessions
		default:
			continue
		}
		if _, ok := out[action]; !ok {
			out[action] = c.At
		}
	}
	return out
}

// Blocked returns the addresses blocked for the finding.
func (h History) Blocked() map[string]bool {
	out := map[string]bool{}
	for _, c := range h.Changes {
		if c.Kind == ChangeBlock {
			out[c.Address] = true
		}
	}
	return out
}

func historyKey(id string) map[string]ddb.AttributeValue { return key("finding#"+id, "history") }

// AddChanges appends changes to the finding's history.
func (l *Ledger) AddChanges(ctx context.Context, id string, changes []Change) error {
	if len(changes) == 0 {
		return nil
	}
	list := make([]ddb.AttributeValue, len(changes))
	for i, c := range changes {
		b, err := json.Marshal(c)
		if err != nil {
			return fmt.Errorf("ledger: encode change: %w", err)
		}
		list[i] = s(string(b))
	}
	_, err := l.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        aws.String(l.Table),
		Key:              historyKey(id),
		UpdateExpression: aws.String("SET changes = list_append(if_not_exists(changes, :empty), :new), " + AttrTTL + " = :ttl"),
		ExpressionAttributeValues: map[string]ddb.AttributeValue{
			":empty": &ddb.AttributeValueMemberL{Value: []ddb.AttributeValue{}},
			":new":   &ddb.AttributeValueMemberL{Value: list},
			":ttl":   n(l.Now().Add(Retention).Unix()),
		},
	})
	if err != nil {
		return fmt.Errorf("ledger: record changes of finding %s: %w", id, err)
	}
	return nil
}

// History reads a finding's history; ok is false when there is none.
func (l *Ledger) History(ctx context.Context, id string) (h History, ok bool, err error) {
	out, err := l.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(l.Table), Key: historyKey(id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return History{}, false, fmt.Errorf("ledger: read history of finding %s: %w", id, err)
	}
	if out.Item == nil {
		return History{}, false, nil
	}
	if v, ok := out.Item["changes"].(*ddb.AttributeValueMemberL); ok {
		for _, e := range v.Value {
			sv, ok := e.(*ddb.AttributeValueMemberS)
			if !ok {
				continue
			}
			var c Change
			if err := json.Unmarshal([]byte(sv.Value), &c); err != nil {
				return History{}, false, fmt.Errorf("ledger: history of finding %s: %w", id, err)
			}
			h.Changes = append(h.Changes, c)
		}
	}
	h.Undone = str(out.Item, "undoneAt") != ""
	return h, true, nil
}

// MarkUndone records that the finding's changes were undone.
func (l *Ledger) MarkUndone(ctx context.Context, id string) error {
	_, err := l.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(l.Table),
		Key:                       historyKey(id),
		UpdateExpression:          aws.String("SET undoneAt = :t"),
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":t": s(l.Now().UTC().Format(time.RFC3339))},
	})
	if err != nil {
		return fmt.Errorf("ledger: mark finding %s undone: %w", id, err)
	}
	return nil
}
