package ledger

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Hold is a resource that findings hold contained: a deactivated access key
// or a deny policy on a user or role. Every finding that wanted it holds it,
// whether or not that finding changed it itself; undo of one finding
// releases only its hold, and the resource is restored only when no finding
// still holds it, and only if autocontain changed it.
type Hold struct {
	// Kind is ChangeKey, ChangeUserPolicy or ChangeRolePolicy.
	Kind        string
	Account     string
	User        string
	Role        string
	AccessKeyID string
	Policy      string
}

// Key names the hold's item. It holds an unmasked key id: it is stored,
// never logged.
func (h Hold) Key() string {
	parts := []string{"hold", h.Account, h.Kind}
	switch h.Kind {
	case ChangeKey:
		parts = append(parts, h.User, h.AccessKeyID)
	case ChangeUserPolicy:
		parts = append(parts, h.User, h.Policy)
	case ChangeRolePolicy:
		parts = append(parts, h.Role, h.Policy)
	}
	return strings.Join(parts, "#")
}

// parseHoldKey reads a Key back.
func parseHoldKey(k string) (Hold, error) {
	p := strings.Split(k, "#")
	if len(p) != 5 || p[0] != "hold" {
		return Hold{}, fmt.Errorf("ledger: %q is not a hold", k)
	}
	h := Hold{Account: p[1], Kind: p[2]}
	switch h.Kind {
	case ChangeKey:
		h.User, h.AccessKeyID = p[3], p[4]
	case ChangeUserPolicy:
		h.User, h.Policy = p[3], p[4]
	case ChangeRolePolicy:
		h.Role, h.Policy = p[3], p[4]
	default:
		return Hold{}, fmt.Errorf("ledger: hold %q has unknown kind %q", k, h.Kind)
	}
	return h, nil
}

// Principal names the user or role the hold is on, with its account, as the
// breaker counts principals.
func (h Hold) Principal() string {
	if h.Kind == ChangeRolePolicy {
		return h.Account + "/role/" + h.Role
	}
	return h.Account + "/user/" + h.User
}

const holdSK = "hold"

// holdUpdate adds finding id to the hold's holders.
func (l *Ledger) holdUpdate(h Hold, id string) update {
	return update{
		key:   key(h.Key(), holdSK),
		expr:  "ADD holders :f SET #ttl = :ttl",
		names: map[string]string{"#ttl": AttrTTL},
		values: map[string]ddb.AttributeValue{
			":f": ss(id), ":ttl": n(l.Now().Add(Retention).Unix()),
		},
	}
}

// changedUpdate records that finding id changed the held resource.
func (l *Ledger) changedUpdate(h Hold, id string) update {
	return update{
		key:    key(h.Key(), holdSK),
		expr:   "SET changed = :t, changedBy = if_not_exists(changedBy, :f)",
		values: map[string]ddb.AttributeValue{":t": &ddb.AttributeValueMemberBOOL{Value: true}, ":f": s(id)},
	}
}

// Release is what releasing one finding's hold found.
type Release struct {
	// Holders are the findings that still hold the resource.
	Holders []string
	// Changed: autocontain changed the resource (else it was already as
	// containment wants it, by someone else's hand).
	Changed bool
	// Missing: the ledger has no such hold (already released and restored).
	Missing bool
}

// ReleaseHold removes finding id from the hold's holders.
func (l *Ledger) ReleaseHold(ctx context.Context, h Hold, id string) (Release, error) {
	out, err := l.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(l.Table), Key: key(h.Key(), holdSK),
		UpdateExpression:          aws.String("DELETE holders :f"),
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeValues: map[string]ddb.AttributeValue{":f": ss(id)},
		ReturnValues:              ddb.ReturnValueAllNew,
	})
	if conditionFailed(err) {
		return Release{Missing: true}, nil
	}
	if err != nil {
		return Release{}, fmt.Errorf("ledger: release hold of finding %s: %w", id, err)
	}
	holders := strs(out.Attributes, "holders")
	sort.Strings(holders)
	return Release{Holders: holders, Changed: boolean(out.Attributes, "changed")}, nil
}

// ForgetHold deletes the hold's item if no finding holds it. It reports
// false when a finding took hold of it meanwhile: the resource must then
// stay contained.
func (l *Ledger) ForgetHold(ctx context.Context, h Hold) (bool, error) {
	_, err := l.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(l.Table), Key: key(h.Key(), holdSK),
		ConditionExpression: aws.String("attribute_not_exists(holders)"),
	})
	if conditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("ledger: forget a released hold: %w", err)
	}
	return true, nil
}

// breakerUpdate admits principal into account's current breaker window if
// it is already counted there or the window has room: the window holds a
// set of principals, so the count is of distinct principals and a retried
// write counts nothing twice.
func (l *Ledger) breakerUpdate(account, principal string, window time.Duration, max int) update {
	start := l.Now().Truncate(window)
	return update{
		key:   key("breaker#"+account, start.UTC().Format(time.RFC3339)),
		expr:  "ADD principals :p SET #ttl = :ttl",
		cond:  "attribute_not_exists(principals) OR contains(principals, :one) OR size(principals) < :max",
		names: map[string]string{"#ttl": AttrTTL},
		values: map[string]ddb.AttributeValue{
			":p": ss(principal), ":one": s(principal), ":max": n(int64(max)), ":ttl": n(start.Add(2 * window).Unix()),
		},
	}
}
