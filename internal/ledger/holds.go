package ledger

import (
	"context"
	"fmt"
	"sort"
	"strconv"
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
//
// The ledger does not interpret a hold: the action that made it names the
// resource in its own terms and restores it (contain.Reverter).
type Hold struct {
	// Action is the playbook action that contains the resource.
	Action string
	// Account is the account the resource is in.
	Account string
	// Principal is the user or role the resource belongs to: "user/NAME"
	// or "role/NAME"; or the EC2 instance: "instance/i-...".
	Principal string
	// Resource is what the action changed on the principal, in its own
	// terms: "key/AKIA...", "policy/NAME", "isolation".
	Resource string
	// Prior is what the resource was before autocontain changed it, in
	// the action's terms (an isolated instance's interfaces' security
	// groups): Commit keeps the first one recorded, unless ReplacesPrior
	// (a change that read the resource just before it changed it);
	// ReleaseHold reads it back for undo. Neither is part of the hold's key.
	Prior         string
	ReplacesPrior bool

	// stored is the key the hold was read from when an earlier version
	// wrote it in its own layout: its item is still found by that key.
	stored string
}

// Key names the hold's item. It holds an unmasked key id: it is stored,
// never logged. IAM names and key ids cannot contain '#'.
func (h Hold) Key() string {
	if h.stored != "" {
		return h.stored
	}
	return strings.Join([]string{"hold", h.Account, h.Action, h.Principal, h.Resource}, "#")
}

// String names the hold for people: "key AKIA... of user alice". It holds
// an unmasked key id: mask it before it leaves the process.
func (h Hold) String() string {
	return strings.Replace(h.Resource, "/", " ", 1) + " of " + strings.Replace(h.Principal, "/", " ", 1)
}

// legacyHolds reads the hold keys of versions before holds named their
// action (hold#ACCOUNT#KIND#NAME#RESOURCE), so that a containment made
// before an upgrade can still be undone.
var legacyHolds = map[string]struct{ action, principal, resource string }{
	"key-deactivated":     {"deactivate-key", "user/", "key/"},
	"user-policy-written": {"revoke-sessions", "user/", "policy/"},
	"role-policy-written": {"revoke-sessions", "role/", "policy/"},
}

// parseHoldKey reads a Key back.
func parseHoldKey(k string) (Hold, error) {
	p := strings.Split(k, "#")
	if len(p) != 5 || p[0] != "hold" || p[2] == "" || p[3] == "" || p[4] == "" {
		return Hold{}, fmt.Errorf("ledger: %q is not a hold", k)
	}
	if l, ok := legacyHolds[p[2]]; ok && !strings.Contains(p[3], "/") {
		return Hold{Account: p[1], Action: l.action, Principal: l.principal + p[3], Resource: l.resource + p[4], stored: k}, nil
	}
	if !strings.HasPrefix(p[3], "user/") && !strings.HasPrefix(p[3], "role/") && !strings.HasPrefix(p[3], "instance/") {
		return Hold{}, fmt.Errorf("ledger: %q is not a hold", k)
	}
	return Hold{Account: p[1], Action: p[2], Principal: p[3], Resource: p[4]}, nil
}

// PrincipalKey names the held user or role with its account, as the
// breaker counts principals: "ACCOUNT/user/NAME".
func (h Hold) PrincipalKey() string { return h.Account + "/" + h.Principal }

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

// changedUpdate records that finding id changed the held resource, and
// what it was before: unless an earlier change recorded that already, or
// always when h.ReplacesPrior (the newest isolation knows best what the
// instance had before it).
func (l *Ledger) changedUpdate(h Hold, id string) update {
	u := update{
		key:    key(h.Key(), holdSK),
		expr:   "SET changed = :t, changedBy = if_not_exists(changedBy, :f)",
		values: map[string]ddb.AttributeValue{":t": &ddb.AttributeValueMemberBOOL{Value: true}, ":f": s(id)},
	}
	if h.Prior != "" {
		// PRIOR is a reserved word of DynamoDB's expressions.
		if h.ReplacesPrior {
			u.expr += ", #prior = :p"
		} else {
			u.expr += ", #prior = if_not_exists(#prior, :p)"
		}
		u.names = map[string]string{"#prior": "prior"}
		u.values[":p"] = s(h.Prior)
	}
	return u
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
	// Prior is what the first change recorded the resource was before
	// (Hold.Prior); "" when none did.
	Prior string
}

// ReleaseHold removes finding id from the hold's holders.
func (l *Ledger) ReleaseHold(ctx context.Context, h Hold, id string) (Release, error) {
	out, err := l.db().UpdateItem(ctx, &dynamodb.UpdateItemInput{
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
	return Release{Holders: holders, Changed: boolean(out.Attributes, "changed"), Prior: str(out.Attributes, "prior")}, nil
}

// ForgetHold deletes the hold's item if no finding holds it. It reports
// false when a finding took hold of it meanwhile: the resource must then
// stay contained.
func (l *Ledger) ForgetHold(ctx context.Context, h Hold) (bool, error) {
	_, err := l.db().DeleteItem(ctx, &dynamodb.DeleteItemInput{
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

// breakerUpdate admits principals, together, into account's current
// breaker window, if they are all counted there already or the window has
// room for all of them: the window holds a set of principals, so the count
// is of distinct principals and a retried write counts nothing twice. One
// update for the lot, since a transaction writes an item once. A window
// where only some of them are counted must have room for all of them: it
// may refuse a finding that would just fit, never admit one past max. The
// caller refuses outright more principals than max.
func (l *Ledger) breakerUpdate(account string, principals []string, window time.Duration, max int) update {
	start := l.Now().Truncate(window)
	values := map[string]ddb.AttributeValue{
		":p": ss(principals...), ":room": n(int64(max - len(principals))), ":ttl": n(start.Add(2 * window).Unix()),
	}
	all := make([]string, len(principals))
	for i, pr := range principals {
		v := ":one" + strconv.Itoa(i)
		values[v] = s(pr)
		all[i] = "contains(principals, " + v + ")"
	}
	return update{
		key:    key("breaker#"+account, start.UTC().Format(time.RFC3339)),
		expr:   "ADD principals :p SET #ttl = :ttl",
		cond:   "attribute_not_exists(principals) OR size(principals) <= :room OR (" + strings.Join(all, " AND ") + ")",
		names:  map[string]string{"#ttl": AttrTTL},
		values: values,
	}
}
