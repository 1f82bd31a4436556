package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	waftypes "github.com/aws/aws-sdk-go-v2/service/wafv2/types"

	"github.com/autocontain/autocontain/internal/account"
	"github.com/autocontain/autocontain/internal/contain"
	"github.com/autocontain/autocontain/internal/failure"
	"github.com/autocontain/autocontain/internal/ipset"
	"github.com/autocontain/autocontain/internal/ledger"
	"github.com/autocontain/autocontain/internal/playbook"
	"github.com/autocontain/autocontain/internal/protect"
	"github.com/autocontain/autocontain/internal/sandbox"
	"github.com/autocontain/autocontain/internal/testenv/faultproxy"
)

// orgFixture is the sandbox as the organization's central (delegated
// administrator) account, and member accounts created in the emulator's
// organization, each with the same sandbox users, roles and IP sets.
type orgFixture struct {
	*fixture
	orgID   string
	members []member
}

type member struct {
	id   string
	acct *sandbox.Account
	cfg  aws.Config // as the member role, straight to the emulator
}

const memberRole = "autocontain-member"

// newOrgFixture creates the organization (the sandbox's account is its
// management account, as a delegated administrator would see it) and n
// member accounts. moto acts in the account of assumed-role credentials,
// so each member's sandbox is built through its member role (moto's
// AssumeRole needs no role; see reference, "moto and several accounts").
func newOrgFixture(t testing.TB, n int) *orgFixture {
	t.Helper()
	ctx := context.Background()
	fx := newFixture(t)
	direct := fx.emu.Config(t)
	orgID, ids := createOrganization(t, direct, n)
	of := &orgFixture{fixture: fx, orgID: orgID}
	for _, id := range ids {
		mcfg := memberConfig(direct, id)
		ma, err := sandbox.Create(ctx, mcfg)
		if err != nil {
			t.Fatalf("build member %s: %v", id, err)
		}
		of.members = append(of.members, member{id: id, acct: ma, cfg: mcfg})
	}
	return of
}

// createOrganization makes the emulator's organization, whose management
// account is the default one (the sandbox's), and n accounts in it, and
// returns its id and theirs.
func createOrganization(t testing.TB, direct aws.Config, n int) (string, []string) {
	t.Helper()
	ctx := context.Background()
	orgs := organizations.NewFromConfig(direct)
	out, err := orgs.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll})
	if err != nil {
		t.Fatalf("create organization: %v", err)
	}
	ids := make([]string, n)
	for i := range ids {
		acc, err := orgs.CreateAccount(ctx, &organizations.CreateAccountInput{AccountName: aws.String(fmt.Sprint("member-", i)), Email: aws.String(fmt.Sprintf("m%d@example.com", i))})
		if err != nil {
			t.Fatalf("create account: %v", err)
		}
		ids[i] = aws.ToString(acc.CreateAccountStatus.AccountId)
	}
	return aws.ToString(out.Organization.Id), ids
}

// memberConfig acts in account id, as its member role, straight to the
// emulator.
func memberConfig(direct aws.Config, id string) aws.Config {
	cfg := direct.Copy()
	cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(direct), account.RoleARN("aws", id, memberRole)))
	return cfg
}

// orgEngine is an engine ("Lambda instance", with its own caches) in
// organization mode orgID for fx's sandbox as the central account,
// through the proxy.
func orgEngine(fx *fixture, orgID string, mutate func(*playbook.Settings)) *Engine {
	org := &account.Organization{Home: goldenHome, ID: orgID, RoleName: memberRole,
		Orgs: organizations.NewFromConfig(fx.cfg), STS: sts.NewFromConfig(fx.cfg)}
	return New(fx.cfg, sandboxPlaybook(fx.acct, mutate), slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Options{LedgerTable: fx.acct.LedgerTable, Home: goldenHome, Organization: org})
}

// engine is an engine in organization mode for the central account.
func (of *orgFixture) engine(mutate func(*playbook.Settings)) *Engine {
	return orgEngine(of.fixture, of.orgID, mutate)
}

// memberEvent is the AKIA MaliciousIPCaller sample about account id (the
// envelope's account stays the central one, as GuardDuty's administrator
// receives it), its key the member's alice's, with its own finding id.
func (of *orgFixture) memberEvent(t testing.TB, id, findingID string, keys map[string][]string) []byte {
	t.Helper()
	raw := event(t, "guardduty-maliciousipcaller-custom-akia.json",
		`"accountId": "123456789012"`, `"accountId": "`+id+`"`,
		`"df1db1afefc8cb0e1936524a9ad401f8"`, `"`+findingID+`"`)
	sb := sandbox.Account{Keys: keys}
	return sb.Rewrite(raw)
}

// accountState is what the test reads back of one account: alice's first
// key's status, whether alice has the revoke policy, and the IPv4 set's
// addresses.
type accountState struct {
	key    string
	denied bool
	blocks []string
}

func readAccount(t *testing.T, cfg aws.Config, acct *sandbox.Account) accountState {
	t.Helper()
	ctx := context.Background()
	st, err := acct.Snapshot(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := ipset.Parse(acct.IPSetV4)
	if err != nil {
		t.Fatal(err)
	}
	set, err := wafv2.NewFromConfig(cfg).GetIPSet(ctx, &wafv2.GetIPSetInput{Id: aws.String(ref.ID), Name: aws.String(ref.Name), Scope: waftypes.ScopeRegional})
	if err != nil {
		t.Fatal(err)
	}
	blocks := slices.Clone(set.IPSet.Addresses)
	slices.Sort(blocks)
	return accountState{key: st.KeyStatus["alice"][acct.Keys["alice"][0]], denied: hasRevokePolicy(t, iam.NewFromConfig(cfg), "alice", false), blocks: blocks}
}

// TestOrganizationContainsInTheMember: same-named users exist in the
// central account and two members. A finding about member B contains B's
// alice, through B's member role, and blocks the address in B's own IP
// set; nothing changes in A or the central account. Undo restores B.
func TestOrganizationContainsInTheMember(t *testing.T) {
	of := newOrgFixture(t, 2)
	ctx := context.Background()
	a, b := of.members[0], of.members[1]
	direct := of.emu.Config(t)
	before := map[string]accountState{"central": readAccount(t, direct, of.acct), "A": readAccount(t, a.cfg, a.acct), "B": readAccount(t, b.cfg, b.acct)}
	if before["B"].key != "Active" || before["A"].key != "Active" || before["central"].key != "Active" {
		t.Fatalf("before: %+v", before)
	}
	eng := of.engine(nil)
	rec, err := eng.Run(ctx, of.memberEvent(t, b.id, "0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f", b.acct.Keys))
	if err != nil {
		t.Fatalf("run: %v\n%s", err, rec.Text())
	}
	wantVia := "account " + b.id + " via role arn:aws:iam::" + b.id + ":role/" + memberRole + ", session autocontain-0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f"
	if rec.ActsIn != wantVia {
		t.Errorf("acts in %q, want %q\n%s", rec.ActsIn, wantVia, rec.Text())
	}
	got := readAccount(t, b.cfg, b.acct)
	if got.key != "Inactive" || !got.denied || !slices.Contains(got.blocks, "185.220.101.42/32") {
		t.Errorf("member B not contained: %+v\n%s", got, rec.Text())
	}
	for name, st := range map[string]accountState{"central": readAccount(t, direct, of.acct), "A": readAccount(t, a.cfg, a.acct)} {
		if !equalState(st, before[name]) {
			t.Errorf("account %s changed: %+v, was %+v", name, st, before[name])
		}
	}
	// Undo restores B, through B's member role.
	rep, err := eng.Undo(ctx, "0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f")
	if err != nil {
		t.Fatalf("undo: %v (%+v)", err, rep)
	}
	if got := readAccount(t, b.cfg, b.acct); !equalState(got, before["B"]) {
		t.Errorf("undo left member B at %+v, was %+v (%+v)", got, before["B"], rep)
	}
}

func equalState(a, b accountState) bool {
	return a.key == b.key && a.denied == b.denied && slices.Equal(a.blocks, b.blocks)
}

// TestOrganizationReportsAnOutsider: a finding about an account that is not
// the organization's is reported, names the account, and changes nothing
// anywhere: no principal call, no AssumeRole.
func TestOrganizationReportsAnOutsider(t *testing.T) {
	of := newOrgFixture(t, 1)
	ctx := context.Background()
	of.proxy.Reset()
	raw := of.memberEvent(t, "999999999999", "1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f", of.members[0].acct.Keys)
	rec, err := of.engine(nil).Run(ctx, raw)
	// Reported, and the delivery fails, retried: not a permanent failure,
	// so Lambda retries it and its dead-letter queue alarms; each retry
	// reports again.
	if !errors.Is(err, ErrOutsider) || failure.IsPermanent(err) {
		t.Fatalf("run: %v (permanent %v), want a retried ErrOutsider\n%s", err, failure.IsPermanent(err), rec.Text())
	}
	if got := ErrorType(err); got != "AccountOutsideOrganization" {
		t.Errorf("errorType %q, want AccountOutsideOrganization", got)
	}
	if _, err := of.engine(nil).Run(ctx, raw); !errors.Is(err, ErrOutsider) {
		t.Errorf("the retry: %v, want ErrOutsider again", err)
	}
	if !strings.Contains(rec.Text(), "account 999999999999 is not an account of organization "+of.orgID) {
		t.Errorf("the outsider is not reported by name:\n%s", rec.Text())
	}
	if n := principalCalls(of.fixture) + of.proxy.Count("AssumeRole") + of.proxy.Count("UpdateIPSet"); n != 0 {
		t.Errorf("%d principal, AssumeRole or UpdateIPSet calls for an outsider:\n%s", n, rec.Text())
	}
	if !strings.Contains(rec.Text(), "none named autocontain-blocklist-v4 in account 999999999999, which is not an active account of organization") {
		t.Errorf("the block is not skipped with its reason:\n%s", rec.Text())
	}
}

// TestOrganizationRoleThatCannotBeAssumed: moto's AssumeRole succeeds for
// any role, so the proxy answers AccessDenied as STS does when the member
// role is missing or its trust refuses (and, first, as Organizations does
// to a responder not yet its delegated administrator). The delivery fails,
// is not a permanent failure (Lambda retries it), changes nothing; the
// retry contains.
func TestOrganizationRoleThatCannotBeAssumed(t *testing.T) {
	of := newOrgFixture(t, 1)
	ctx := context.Background()
	m := of.members[0]
	eng := of.engine(nil)
	raw := of.memberEvent(t, m.id, "2f2f2f2f2f2f2f2f2f2f2f2f2f2f2f2f", m.acct.Keys)
	of.proxy.Inject("DescribeAccount", faultproxy.AccessDenied, 1)
	out, err := eng.Handle(ctx, raw)
	if err == nil || failure.IsPermanent(err) || ErrorType(err) != "OrganizationUnavailable" {
		t.Fatalf("an organization that cannot answer: err %v (permanent %v, errorType %q), want a retried OrganizationUnavailable; %v",
			err, failure.IsPermanent(err), ErrorType(err), out)
	}
	of.proxy.Inject("AssumeRole", faultproxy.AccessDenied, 1)
	out, err = eng.Handle(ctx, raw)
	if err == nil || failure.IsPermanent(err) || ErrorType(err) != "AccountUnreachable" {
		t.Fatalf("a role that cannot be assumed: err %v (permanent %v, errorType %q), want a retried AccountUnreachable; %v",
			err, failure.IsPermanent(err), ErrorType(err), out)
	}
	if !strings.Contains(err.Error(), account.RoleARN("aws", m.id, memberRole)) {
		t.Errorf("the error does not name the member role: %v", err)
	}
	if st := readAccount(t, m.cfg, m.acct); st.key != "Active" || st.denied || len(st.blocks) != 0 {
		t.Errorf("changed although the role could not be assumed: %+v", st)
	}
	// Lambda's retry.
	if _, err := eng.Handle(ctx, raw); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if st := readAccount(t, m.cfg, m.acct); st.key != "Inactive" || !st.denied {
		t.Errorf("the retry did not contain: %+v", st)
	}
}

// TestOrganizationAssumesOncePerAccount: concurrent deliveries about two
// members share each member's credentials: one AssumeRole per account, and
// each member's IP set gets its own addresses only.
func TestOrganizationAssumesOncePerAccount(t *testing.T) {
	of := newOrgFixture(t, 2)
	ctx := context.Background()
	eng := of.engine(func(s *playbook.Settings) { s.BreakerMax = 100 })
	of.proxy.Reset()
	const per = 8
	var wg sync.WaitGroup
	errs := make(chan error, 2*per)
	for mi, m := range of.members {
		for i := range per {
			wg.Add(1)
			go func() {
				defer wg.Done()
				raw := of.memberEvent(t, m.id, fmt.Sprintf("%02d%030d", mi, i), m.acct.Keys)
				raw = []byte(strings.ReplaceAll(string(raw), "185.220.101.42", fmt.Sprintf("185.220.%d.%d", 101+mi, i+1)))
				if _, err := eng.Run(ctx, raw); err != nil {
					errs <- err
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, ErrInProgress) {
			t.Error(err)
		}
	}
	if n := of.proxy.Count("AssumeRole"); n != len(of.members) {
		t.Errorf("%d AssumeRole calls for %d member accounts, want one each", n, len(of.members))
	}
	for mi, m := range of.members {
		st := readAccount(t, m.cfg, m.acct)
		var want []string
		for i := range per {
			want = append(want, fmt.Sprintf("185.220.%d.%d/32", 101+mi, i+1))
		}
		slices.Sort(want)
		if !slices.Equal(st.blocks, want) {
			t.Errorf("member %s's IP set holds %v, want %v", m.id, st.blocks, want)
		}
	}
	// Membership is cached too: one more finding asks nothing again.
	asked := of.proxy.Count("DescribeAccount")
	if _, err := eng.Run(ctx, of.memberEvent(t, of.members[0].id, "ffffffffffffffffffffffffffffffff", of.members[0].acct.Keys)); err != nil {
		t.Fatal(err)
	}
	if n := of.proxy.Count("DescribeAccount") + of.proxy.Count("AssumeRole"); n != asked+len(of.members) {
		t.Errorf("a later finding asked the organization or STS again (%d calls, want %d)", n, asked+len(of.members))
	}
	// The scheduled reconcile writes the members' sets too: a week on,
	// their blocks have expired and left.
	later := time.Now().UTC().Add(8 * 24 * time.Hour)
	eng.Writer.Now = func() time.Time { return later }
	rep, err := eng.Reconcile(ctx)
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	for _, m := range of.members {
		if _, ok := rep[m.acct.IPSetV4]; !ok {
			t.Errorf("reconcile did not write member %s's set %s: %v", m.id, m.acct.IPSetV4, rep)
		}
		if st := readAccount(t, m.cfg, m.acct); len(st.blocks) != 0 {
			t.Errorf("member %s's expired blocks stay: %v", m.id, st.blocks)
		}
	}
}

// TestOrganizationNeverContainsAdministratorRoles: in organization mode the
// guard leaves alone, in a member, the member role autocontain acts
// through and the roles administrators repair a member with
// (OrganizationAccountAccessRole, which moto creates in every account it
// creates, and AWSControlTowerExecution): no deny policy, a skip that says
// why.
func TestOrganizationNeverContainsAdministratorRoles(t *testing.T) {
	of := newOrgFixture(t, 1)
	ctx := context.Background()
	m := of.members[0]
	eng := of.engine(nil)
	for i, role := range protect.OrganizationRoles(memberRole) {
		raw := event(t, "guardduty-instance-credential-exfiltration-outsideaws.json",
			`"accountId": "123456789012"`, `"accountId": "`+m.id+`"`, "web-app-role", role,
			`"ec964d3d4496eba592913bcbacbb07b7"`, fmt.Sprintf(`"%032d"`, i))
		rec, err := eng.Run(ctx, raw)
		if err != nil {
			t.Fatalf("%s: %v\n%s", role, err, rec.Text())
		}
		if !strings.Contains(rec.Text(), "organization mode never contains") {
			t.Errorf("%s is not reported as protected:\n%s", role, rec.Text())
		}
		if role == "OrganizationAccountAccessRole" && hasRevokePolicy(t, iam.NewFromConfig(m.cfg), role, true) {
			t.Errorf("%s got the deny:\n%s", role, rec.Text())
		}
	}
}

// TestEveryAccountRestrictsToTheSameNetworks: the restrict-source action a
// member's side runs is built as the home account's is, so that undo's
// re-containment of a restriction in a member rebuilds it with the
// configured networks too.
func TestEveryAccountRestrictsToTheSameNetworks(t *testing.T) {
	pb := playbook.Default()
	pb.Settings.AllowCIDRs = playbook.Networks{netip.MustParsePrefix("198.51.100.0/24")}
	cfg := aws.Config{Region: "us-east-1"}
	org := &account.Organization{Home: goldenHome, ID: "o-abcdefghij", RoleName: memberRole,
		Orgs: organizations.NewFromConfig(cfg), STS: sts.NewFromConfig(cfg)}
	e := New(cfg, pb, slog.New(slog.NewJSONHandler(io.Discard, nil)), Options{Home: goldenHome, Organization: org})
	hold := ledger.Hold{Action: playbook.ActionRestrictSource, Account: "222233334444", Principal: "user/alice", Resource: "policy/" + contain.RestrictPolicyName}
	for name, ex := range map[string]*contain.Executor{"home": e.Executor, "member": e.org.build("222233334444").executor} {
		st, err := ex.Reverters()[playbook.ActionRestrictSource].Step(hold)
		if err != nil || !slices.Equal(st.Target.Addresses, pb.Settings.AllowCIDRs) {
			t.Errorf("%s: the step rebuilt from a hold allows %v (%v), want %v", name, st.Target.Addresses, err, pb.Settings.AllowCIDRs)
		}
	}
}
