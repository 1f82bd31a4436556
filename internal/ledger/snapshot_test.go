package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/autocontain/autocontain/internal/ledger"
)

// TestSnapshot: one Scan reads back what the write side recorded, by kind:
// holds with their holders (an earlier version's hold and one of an action
// this version does not know included), findings with the decision their
// delivery recorded, every set's blocks and whether its writer has work,
// and the breakers' windows, the organization's apart.
func TestSnapshot(t *testing.T) {
	now := time.Date(2026, 11, 24, 3, 10, 0, 0, time.UTC)
	l := newLedger(t, &now)
	ctx := context.Background()
	const set = "arn:aws:wafv2:us-east-1:123456789012:regional/ipset/s/1"
	key := ledger.Hold{Action: "deactivate-key", Account: "123456789012", Principal: "user/alice", Resource: "key/AKIAEXAMPLEEXAMPLE1"}
	at := now.Add(-time.Hour)
	if _, _, err := l.Claim(ctx, "f1", at, time.Minute, "tok1"); err != nil {
		t.Fatal(err)
	}
	res, err := l.Prepare(ctx, ledger.Prep{Finding: "f1", Token: "tok1", Account: "123456789012", Principals: []string{key.PrincipalKey()},
		BreakerMax: 5, BreakerWindow: time.Hour, Organization: "o-abcdefghij", OrgBreakerMax: 9, Holds: []ledger.Hold{key},
		Wants: []ledger.Want{{Set: set, Addrs: []string{"185.220.101.1/32", "185.220.101.2/32"}, Until: now.Add(time.Hour)}}, Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Second)
	if _, err := l.Commit(ctx, ledger.Commit{Finding: "f1", UpdatedAt: at, OK: true, Done: map[string]time.Time{"deactivate-key key/AKIAEXAMPLEEXAMPLE1": now},
		Changed: []ledger.Hold{key}, Leases: res.Leases, Token: "tok1",
		Outcome: "contained", Type: "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom", Account: "123456789012", Subject: "user/alice"}); err != nil {
		t.Fatal(err)
	}
	// A block whose finding was undone, and a set a member account has.
	if err := l.Want(ctx, set, []string{"10.0.0.1/32"}, "f2", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := l.Unwant(ctx, set, []string{"10.0.0.1/32"}, "f2"); err != nil {
		t.Fatal(err)
	}
	const member = "arn:aws:wafv2:us-east-1:210987654321:regional/ipset/m/2"
	if err := l.RegisterSet(ctx, member); err != nil {
		t.Fatal(err)
	}
	// An earlier version's hold and a hold of an action unknown here.
	db := l.DB.(*dynamodb.Client)
	for _, k := range []string{"hold#123456789012#role-policy-written#web#P", "hold#123456789012#isolate-instance#instance/i-0abc#isolation"} {
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(l.Table), Item: map[string]ddbtypes.AttributeValue{
			"pk": &ddbtypes.AttributeValueMemberS{Value: k}, "sk": &ddbtypes.AttributeValueMemberS{Value: "hold"},
			"holders": &ddbtypes.AttributeValueMemberSS{Value: []string{"old"}}}}); err != nil {
			t.Fatal(err)
		}
	}

	// A finding an earlier version recorded: no decision time but its
	// retention's start, no outcome.
	legacyAt := now.Add(-24 * time.Hour)
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(l.Table), Item: map[string]ddbtypes.AttributeValue{
		"pk": &ddbtypes.AttributeValueMemberS{Value: "finding#legacy"}, "sk": &ddbtypes.AttributeValueMemberS{Value: "finding"},
		"claimState": &ddbtypes.AttributeValueMemberS{Value: "done"},
		"expiresAt":  &ddbtypes.AttributeValueMemberN{Value: fmt.Sprint(legacyAt.Add(ledger.Retention).Unix())}}}); err != nil {
		t.Fatal(err)
	}

	snap, err := l.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Findings) != 2 || snap.Findings[1].ID != "legacy" || !snap.Findings[1].DecidedAt.Equal(legacyAt) || snap.Findings[1].Outcome != "" {
		t.Fatalf("findings %+v: want f1 and the legacy record, decided when its retention began", snap.Findings)
	}
	snap.Findings = snap.Findings[:1]
	var holds []string
	for _, h := range snap.Holds {
		holds = append(holds, fmt.Sprintf("%s %s %s %s %v %v", h.Account, h.Action, h.Principal, h.Resource, h.Holders, h.Changed))
	}
	wantHolds := []string{
		"123456789012 deactivate-key user/alice key/AKIAEXAMPLEEXAMPLE1 [f1] true",
		"123456789012 isolate-instance instance/i-0abc isolation [old] false",
		"123456789012 revoke-sessions role/web policy/P [old] false",
	}
	if !slices.Equal(holds, wantHolds) {
		t.Errorf("holds:\n%s\nwant\n%s", strings.Join(holds, "\n"), strings.Join(wantHolds, "\n"))
	}
	if len(snap.Findings) != 1 {
		t.Fatalf("findings %+v", snap.Findings)
	}
	f := snap.Findings[0]
	if f.ID != "f1" || f.Outcome != "contained" || f.Subject != "user/alice" || f.Account != "123456789012" || f.State != ledger.StateDone ||
		!f.DecidedAt.Equal(now) || len(f.Holds) != 1 || !f.Done["deactivate-key key/AKIAEXAMPLEEXAMPLE1"].Equal(now) || !f.Undone.IsZero() {
		t.Errorf("finding %+v", f)
	}
	if len(snap.Sets) != 2 || snap.Sets[0].Set != set || snap.Sets[1].Set != member {
		t.Fatalf("sets %+v", snap.Sets)
	}
	s := snap.Sets[0]
	if len(s.Blocks) != 3 || s.Blocks[0].Address != "10.0.0.1/32" || len(s.Blocks[0].Findings) != 0 || len(s.Blocks[1].Findings) != 1 ||
		!s.Blocks[1].Until.Equal(now.Add(-time.Second).Add(time.Hour)) || !s.Pending {
		t.Errorf("set %+v", s)
	}
	if len(snap.Sets[1].Blocks) != 0 {
		t.Errorf("member set %+v", snap.Sets[1])
	}
	var windows []string
	for _, w := range snap.Breakers {
		windows = append(windows, fmt.Sprintf("%s|%s %s %v", w.Account, w.Organization, w.Start.Format(time.RFC3339), w.Principals))
	}
	wantWindows := []string{"123456789012| 2026-11-24T03:00:00Z [123456789012/user/alice]", "|o-abcdefghij 2026-11-24T03:00:00Z [123456789012/user/alice]"}
	if !slices.Equal(windows, wantWindows) {
		t.Errorf("breakers %v, want %v", windows, wantWindows)
	}
	if snap.Requests < 8 {
		t.Errorf("%d requests: one per segment at least", snap.Requests)
	}

	// Undone findings say so.
	if err := l.MarkUndone(ctx, "f1"); err != nil {
		t.Fatal(err)
	}
	if snap, err := l.Snapshot(ctx); err != nil || !snap.Findings[0].Undone.Equal(now.Truncate(time.Second)) {
		t.Errorf("after undo: %+v %v", snap.Findings, err)
	}
}

// TestSnapshotOfAMissingTable: the error names the table and says what is
// wrong, and still matches the SDK's type.
func TestSnapshotOfAMissingTable(t *testing.T) {
	now := time.Now()
	l := newLedger(t, &now)
	l.Table = "no-such-table"
	_, err := l.Snapshot(context.Background())
	var missing *ddbtypes.ResourceNotFoundException
	if !errors.As(err, &missing) || !strings.Contains(err.Error(), "table no-such-table does not exist") {
		t.Errorf("error %v", err)
	}
}
