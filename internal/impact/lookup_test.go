package impact_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/impact"
	"github.com/autocontain/autocontain/internal/impact/impacttest"
	"github.com/autocontain/autocontain/internal/testenv"
	"github.com/autocontain/autocontain/internal/testenv/faultproxy"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestLookup reads the class of users and roles granted through every kind
// of policy from the emulator, with IAM's default page size and with one
// item a page (the lookup follows every marker).
func TestLookup(t *testing.T) {
	emu := testenv.Moto(t)
	cfg := emu.Config(t)
	acct := impacttest.Seed(t, cfg)
	api := iam.NewFromConfig(cfg)
	for _, pageSize := range []int32{0, 1} {
		l := impact.New(api)
		l.PageSize = pageSize
		for _, w := range acct.Wants {
			t.Run(fmt.Sprintf("page_%d/%s_%s", pageSize, w.Kind, w.Name), func(t *testing.T) {
				got := l.Entity(context.Background(), w.Kind, w.Name)
				if got.Class != w.Class || !strings.Contains(got.Why, w.Why) {
					t.Errorf("got %s, want %s (…%s…)", got, w.Class, w.Why)
				}
			})
		}
	}
}

// TestLookupPrincipal: the user of the user kinds and of a federated
// session, the role of an assumed-role session; nothing for the rest.
func TestLookupPrincipal(t *testing.T) {
	emu := testenv.Moto(t)
	cfg := emu.Config(t)
	impacttest.Seed(t, cfg)
	l := impact.New(iam.NewFromConfig(cfg))
	for _, tt := range []struct {
		pr   finding.Principal
		want finding.ImpactClass
	}{
		{finding.Principal{Kind: finding.KindIAMUserKey, UserName: "admin-inline", AccessKeyID: "AKIAEXAMPLEEXAMPLE01"}, finding.ImpactAdmin},
		{finding.Principal{Kind: finding.KindIAMUserSession, UserName: "escalator"}, finding.ImpactEscalation},
		{finding.Principal{Kind: finding.KindFederated, UserName: "lister"}, finding.ImpactListAll},
		{finding.Principal{Kind: finding.KindAssumedRole, RoleName: "boss", UserName: "ignored"}, finding.ImpactAdmin},
		{finding.Principal{Kind: finding.KindFederated}, ""},
		{finding.Principal{Kind: finding.KindRoot, UserName: "root"}, ""},
		{finding.Principal{Kind: finding.KindService, InvokedBy: "ec2.amazonaws.com"}, ""},
		{finding.Principal{Kind: finding.KindNone}, ""},
		{finding.Principal{Kind: finding.KindIAMUserKey, UserName: "nobody"}, finding.ImpactUnknown},
	} {
		t.Run(string(tt.pr.Kind)+"_"+tt.pr.UserName+tt.pr.RoleName, func(t *testing.T) {
			if got := l.Principal(context.Background(), tt.pr); got.Class != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

// TestLookupFailureIsUnknown: an IAM error makes the class unknown with the
// error in Why, never scoped; and the lookup is cached: a second ask reads
// nothing, a shared managed policy is read once.
func TestLookupFailureIsUnknown(t *testing.T) {
	proxy, api := seededBehindProxy(t)
	ctx := context.Background()

	proxy.Inject("ListGroupsForUser", faultproxy.AccessDenied, 1)
	l := impact.New(api)
	got := l.Entity(ctx, "user", "scoped-sam")
	if got.Class != finding.ImpactUnknown || !strings.Contains(got.Why, "AccessDenied") {
		t.Errorf("denied: got %s, want unknown naming AccessDenied", got)
	}
	// An admin found before the failure stands: nothing read later can lower it.
	proxy.Inject("ListUserPolicies", faultproxy.AccessDenied, 1)
	if got := impact.New(api).Entity(ctx, "user", "admin-managed"); got.Class != finding.ImpactAdmin {
		t.Errorf("admin before a failure: got %s", got)
	}

	proxy.Reset()
	l = impact.New(api)
	first := l.Entity(ctx, "user", "scoped-sam")
	calls := proxy.Counts()
	if again := l.Entity(ctx, "user", "scoped-sam"); again != first {
		t.Errorf("cached %s, first %s", again, first)
	}
	if proxy.Counts()["GetPolicy"] != calls["GetPolicy"] || sum(proxy.Counts()) != sum(calls) {
		t.Errorf("a second lookup read IAM again: %v then %v", calls, proxy.Counts())
	}
	// scoped-b is attached to scoped-sam, scoped-a to its group readers;
	// escalator is in readers too: scoped-a is not read again.
	before := proxy.Count("GetPolicyVersion")
	l.Entity(ctx, "user", "escalator")
	if n := proxy.Count("GetPolicyVersion") - before; n != 0 {
		t.Errorf("escalator's lookup read %d policy versions already read", n)
	}
	if n := sum(calls); n > 12 {
		t.Errorf("one user of 1 inline, 1 managed and 1 group policy took %d reads: %v", n, calls)
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// TestKeys lists every user's keys from the emulator, the highest impact
// first, masked, with status, age and last use.
func TestKeys(t *testing.T) {
	emu := testenv.Moto(t)
	cfg := emu.Config(t)
	acct := impacttest.Seed(t, cfg)
	api := iam.NewFromConfig(cfg)
	now := time.Now().UTC().Add(72 * time.Hour)
	for _, pageSize := range []int32{0, 1} {
		l := impact.New(api)
		l.PageSize = pageSize
		keys, err := l.Keys(context.Background(), api, now)
		if err != nil {
			t.Fatal(err)
		}
		var order []string
		for _, k := range keys {
			order = append(order, fmt.Sprintf("%s %s %s", k.Impact.Class, k.User, k.Status))
			if k.AgeDays != 2 && k.AgeDays != 3 {
				t.Errorf("%s: age %d days, want 3", k.User, k.AgeDays)
			}
			if k.LastUsed != nil {
				t.Errorf("%s: last used %v, never was", k.User, k.LastUsed)
			}
			if !strings.HasPrefix(k.AccessKey, "AKIA…") || len(k.AccessKey) != len("AKIA…")+4 {
				t.Errorf("%s: key %q is not masked", k.User, k.AccessKey)
			}
		}
		want := []string{
			"admin admin-by-group Active", "admin admin-inline Active", "admin admin-managed Active",
			"escalation escalator Active", "list-all lister Active",
			"scoped scoped-sam Active", "scoped scoped-sam Inactive",
		}
		if strings.Join(order, "\n") != strings.Join(want, "\n") {
			t.Errorf("page size %d: got\n%s\nwant\n%s", pageSize, strings.Join(order, "\n"), strings.Join(want, "\n"))
		}
		if keys[5].AccessKey != finding.MaskKey(acct.KeyIDs["scoped-sam"][0]) {
			t.Errorf("scoped-sam's active key is %s, want %s", keys[5].AccessKey, finding.MaskKey(acct.KeyIDs["scoped-sam"][0]))
		}
	}
}

// TestKeysUnknown: a user whose policies cannot be read is listed, unknown,
// right after the admins; the listing does not fail.
func TestKeysUnknown(t *testing.T) {
	proxy, api := seededBehindProxy(t)
	proxy.Inject("ListGroupsForUser", faultproxy.AccessDenied, 100)
	keys, err := impact.New(api).Keys(context.Background(), api, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, k := range keys {
		order = append(order, fmt.Sprintf("%s %s", k.Impact.Class, k.User))
	}
	// admin-inline and admin-managed are admin before their groups are
	// read; the rest cannot be told.
	want := []string{"admin admin-inline", "admin admin-managed", "unknown admin-by-group", "unknown escalator",
		"unknown lister", "unknown scoped-sam", "unknown scoped-sam"}
	if strings.Join(order, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(order, "\n"), strings.Join(want, "\n"))
	}
}

// seededBehindProxy seeds the emulator and returns an IAM client that
// reaches it through a fault proxy.
func seededBehindProxy(t *testing.T) (*faultproxy.Proxy, *iam.Client) {
	emu := testenv.Moto(t)
	impacttest.Seed(t, emu.Config(t))
	proxy := faultproxy.New(emu.URL)
	t.Cleanup(proxy.Close)
	return proxy, iam.NewFromConfig(testenv.ConfigAt(t, proxy.URL()))
}
