package status_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/autocontain/autocontain/internal/ledger"
	"github.com/autocontain/autocontain/internal/playbook"
	"github.com/autocontain/autocontain/internal/sandbox"
	"github.com/autocontain/autocontain/internal/status"
	"github.com/autocontain/autocontain/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const (
	benchFindings  = 1000
	benchAddresses = 10 // per finding: 10,000 blocks in all
	benchSet       = "arn:aws:wafv2:us-east-1:123456789012:regional/ipset/autocontain-v4/0a1b"
	benchAccount   = "123456789012"
)

// BenchmarkStatus measures one status (status.Read: the ledger's parallel
// Scan, then sorting it into a Status) of a ledger of 1,000 findings, each
// holding a user's key and a deny policy, with 10 addresses blocked each
// (10,000 blocks in one IP set; about 14,000 items), against the moto
// server. requests/op is the DynamoDB requests one status takes. Moto
// serializes every item of a Scan's answer through its generic response
// model, about a millisecond an item, so ns/op here measures moto;
// BenchmarkBuild measures autocontain's own part.
func BenchmarkStatus(b *testing.B) {
	l, o := benchLedger(b)
	ctx := context.Background()
	requests := 0
	for b.Loop() {
		st, err := status.Read(ctx, l, o)
		if err != nil {
			b.Fatal(err)
		}
		checkBench(b, st)
		requests += st.Requests
	}
	b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
}

// BenchmarkBuild measures autocontain's part of a status of the same
// ledger: sorting what the Scan read (about 14,000 items) into a Status.
func BenchmarkBuild(b *testing.B) {
	l, o := benchLedger(b)
	snap, err := l.Snapshot(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		checkBench(b, status.Build(snap, o))
	}
}

// benchLedger builds the bench ledger (fill) and the options to read it.
func benchLedger(b *testing.B) (*ledger.Ledger, status.Options) {
	emu := testenv.Moto(b)
	cfg := emu.Config(b)
	if err := sandbox.CreateLedgerTable(context.Background(), cfg, "ledger"); err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	l := &ledger.Ledger{DB: dynamodb.NewFromConfig(cfg), Table: "ledger", Now: func() time.Time { return now }}
	start := time.Now()
	fill(b, l, now)
	b.Logf("built a ledger of %d findings and %d blocks in %s", benchFindings, benchFindings*benchAddresses, time.Since(start).Round(time.Second))
	settings := playbook.Default().Settings
	settings.BreakerMax = benchFindings
	return l, status.Options{Settings: settings, Undo: "-table ledger", Table: "ledger", Now: now}
}

// checkBench fails b unless st is the bench ledger's whole status.
func checkBench(b *testing.B, st status.Status) {
	if len(st.Held) != benchFindings || len(st.IPSets) != 1 || st.IPSets[0].Blocked != benchFindings*benchAddresses ||
		len(st.Decisions) != status.DefaultLast || st.Breakers[0].Count != benchFindings {
		b.Fatalf("status of the bench ledger: %d held, sets %+v, %d decisions, breakers %+v", len(st.Held), st.IPSets, len(st.Decisions), st.Breakers)
	}
}

// fill builds the bench ledger: finding 0 through the ledger's own write
// path (claim, prepare, commit), so the layout is the real one; then
// copies of its items for every other finding, its names replaced, written
// with BatchWriteItem. Moto copies the whole table on every
// TransactWriteItems (moto/dynamodb/models, transact_write_items), so
// recording each finding through Prepare's transaction would take minutes
// and gigabytes as the table grows.
func fill(b *testing.B, l *ledger.Ledger, now time.Time) {
	ctx := context.Background()
	db := l.DB.(*dynamodb.Client)
	if err := record(ctx, l, 0, now); err != nil {
		b.Fatal(err)
	}
	var template []map[string]ddbtypes.AttributeValue
	pages := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{TableName: aws.String(l.Table)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			b.Fatal(err)
		}
		template = append(template, page.Items...)
	}
	items := map[string]map[string]ddbtypes.AttributeValue{}
	for i := range benchFindings {
		r := strings.NewReplacer(names(i)...)
		for _, it := range template {
			c := copyItem(it, r)
			k := str(c, "pk") + "|" + str(c, "sk")
			if old, ok := items[k]; ok {
				// The breaker's window counts every finding's principal.
				if p, ok := old["principals"].(*ddbtypes.AttributeValueMemberSS); ok {
					p.Value = append(p.Value, c["principals"].(*ddbtypes.AttributeValueMemberSS).Value...)
				}
				continue
			}
			items[k] = c
		}
	}
	var batches [][]ddbtypes.WriteRequest
	var batch []ddbtypes.WriteRequest
	for _, it := range items {
		batch = append(batch, ddbtypes.WriteRequest{PutRequest: &ddbtypes.PutRequest{Item: it}})
		if len(batch) == 25 { // BatchWriteItem's limit
			batches, batch = append(batches, batch), nil
		}
	}
	batches = append(batches, batch)
	work := make(chan []ddbtypes.WriteRequest)
	errs := make(chan error, len(batches))
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for w := range work {
				for len(w) > 0 {
					out, err := db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]ddbtypes.WriteRequest{l.Table: w}})
					if err != nil {
						errs <- err
						break
					}
					w = out.UnprocessedItems[l.Table]
				}
			}
		})
	}
	for _, w := range batches {
		work <- w
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// names are the replacements that make finding 0's items finding i's.
func names(i int) []string {
	var r []string
	for _, f := range []string{"finding-%04d", "tok-%04d", "u%04d", "AKIA%016d"} {
		r = append(r, fmt.Sprintf(f, 0), fmt.Sprintf(f, i))
	}
	for j := range benchAddresses {
		r = append(r, address(0, j), address(i, j))
	}
	return r
}

func address(i, j int) string {
	n := i*benchAddresses + j
	return fmt.Sprintf("198.%d.%d.%d/32", 18+n/65536, n/256%256, n%256)
}

// copyItem copies it with r's replacements made in every string.
func copyItem(it map[string]ddbtypes.AttributeValue, r *strings.Replacer) map[string]ddbtypes.AttributeValue {
	out := make(map[string]ddbtypes.AttributeValue, len(it))
	for k, v := range it {
		out[r.Replace(k)] = copyValue(v, r)
	}
	return out
}

func copyValue(v ddbtypes.AttributeValue, r *strings.Replacer) ddbtypes.AttributeValue {
	switch v := v.(type) {
	case *ddbtypes.AttributeValueMemberS:
		return &ddbtypes.AttributeValueMemberS{Value: r.Replace(v.Value)}
	case *ddbtypes.AttributeValueMemberSS:
		ss := make([]string, len(v.Value))
		for i, s := range v.Value {
			ss[i] = r.Replace(s)
		}
		return &ddbtypes.AttributeValueMemberSS{Value: ss}
	case *ddbtypes.AttributeValueMemberM:
		return &ddbtypes.AttributeValueMemberM{Value: copyItem(v.Value, r)}
	}
	return v
}

func str(it map[string]ddbtypes.AttributeValue, name string) string {
	if v, ok := it[name].(*ddbtypes.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// record contains finding i as a delivery would record it: user u<i>'s key
// and a deny policy held, benchAddresses addresses blocked.
func record(ctx context.Context, l *ledger.Ledger, i int, now time.Time) error {
	id, tok := fmt.Sprintf("finding-%04d", i), fmt.Sprintf("tok-%04d", i)
	user := fmt.Sprintf("user/u%04d", i)
	holds := []ledger.Hold{
		{Action: playbook.ActionDeactivateKey, Account: benchAccount, Principal: user, Resource: fmt.Sprintf("key/AKIA%016d", i)},
		{Action: playbook.ActionRevokeSessions, Account: benchAccount, Principal: user, Resource: "policy/AutocontainRevokeOlderSessions"},
	}
	addrs := make([]string, benchAddresses)
	for j := range addrs {
		addrs[j] = address(i, j)
	}
	at := now.Add(-time.Duration(i) * time.Second)
	if _, _, err := l.Claim(ctx, id, at, time.Minute, tok); err != nil {
		return err
	}
	res, err := l.Prepare(ctx, ledger.Prep{Finding: id, Token: tok, Account: benchAccount, Principals: []string{holds[0].PrincipalKey()},
		BreakerMax: benchFindings, BreakerWindow: time.Hour, Holds: holds,
		Wants: []ledger.Want{{Set: benchSet, Addrs: addrs, Until: now.Add(7 * 24 * time.Hour)}}, Lease: time.Minute})
	if err != nil {
		return err
	}
	_, err = l.Commit(ctx, ledger.Commit{Finding: id, UpdatedAt: at, OK: true, Changed: holds,
		Done: map[string]time.Time{playbook.ActionDeactivateKey + " " + holds[0].Resource: now, playbook.ActionRevokeSessions + " " + user: now},
		Ours: map[string][]string{benchSet: addrs}, Leases: res.Leases, Token: tok,
		Outcome: "contained", Type: "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom", Account: benchAccount, Subject: user})
	return err
}
