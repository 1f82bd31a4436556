package contain_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/autocontain/autocontain/internal/audit"
	"github.com/autocontain/autocontain/internal/contain"
	"github.com/autocontain/autocontain/internal/failure"
	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/ledger"
	"github.com/autocontain/autocontain/internal/plan"
	"github.com/autocontain/autocontain/internal/playbook"
	"github.com/autocontain/autocontain/internal/testenv"
	"github.com/autocontain/autocontain/internal/testenv/faultproxy"
)

// moto's account and Region.
const (
	motoAccount = "123456789012"
	motoRegion  = "us-east-1"
)

// instanceFixture is an instance with two network interfaces: the first
// in groups web and db, the second in db.
type instanceFixture struct {
	ec2        *ec2.Client
	vpc, id    string
	web, db    string
	eni0, eni1 string
	proxy      *faultproxy.Proxy
	in         testenv.Instance
	cfg        aws.Config
}

// newInstance runs the fixture's instance in moto, reached through a fault
// proxy, with tags.
func newInstance(t *testing.T, tags ...ec2types.Tag) *instanceFixture {
	t.Helper()
	emu := testenv.Moto(t)
	p := faultproxy.New(emu.URL)
	t.Cleanup(p.Close)
	cfg := testenv.ConfigAt(t, p.URL())
	cfg.Retryer = func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxBackoff = time.Millisecond })
	}
	in := testenv.RunInstance(t, cfg, tags...)
	fx := &instanceFixture{in: in, cfg: cfg, ec2: ec2.NewFromConfig(cfg), vpc: in.VPC, id: in.ID, web: in.Groups[0], db: in.Groups[1], eni0: in.ENIs[0], eni1: in.ENIs[1], proxy: p}
	p.Reset()
	return fx
}

// newIsolated is the fixture's instance isolated by finding f1, and the
// record of that step.
func newIsolated(t *testing.T) (*instanceFixture, audit.Record) {
	t.Helper()
	fx := newInstance(t)
	rec := fx.isolate(t, "f1", plan.Target{})
	if s := rec.Steps[0]; s.Status != audit.StatusDone {
		t.Fatalf("isolate: %+v", s)
	}
	return fx, rec
}

func (fx *instanceFixture) isolator() *contain.Isolator {
	return &contain.Isolator{EC2: fx.ec2, Region: motoRegion}
}

// isolate runs an isolate-instance step of finding id, as the executor does.
func (fx *instanceFixture) isolate(t *testing.T, id string, target plan.Target) audit.Record {
	t.Helper()
	if target.InstanceID == "" {
		target.Kind, target.InstanceID = plan.TargetInstance, fx.id
	}
	ex := contain.NewExecutor(clock, fx.isolator())
	p := plan.Plan{Finding: finding.Finding{ID: id, Account: motoAccount, Region: motoRegion},
		Steps: []plan.Step{{Action: playbook.ActionIsolateInstance, Target: target, Reason: "test"}}}
	return ex.Execute(context.Background(), p)
}

// groupsOf reads the groups of each of the fixture's interfaces.
func (fx *instanceFixture) groupsOf(t *testing.T) map[string][]string {
	t.Helper()
	return fx.in.InterfaceGroups(t, fx.cfg)
}

// tagsOf reads the tags of a resource.
func (fx *instanceFixture) tagsOf(t *testing.T, id string) map[string]string {
	t.Helper()
	out, err := fx.ec2.DescribeTags(context.Background(), &ec2.DescribeTagsInput{Filters: []ec2types.Filter{{Name: aws.String("resource-id"), Values: []string{id}}}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, tg := range out.Tags {
		got[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	return got
}

// group reads a security group of the fixture's VPC by name.
func (fx *instanceFixture) group(t *testing.T, name string) ec2types.SecurityGroup {
	t.Helper()
	out, err := fx.ec2.DescribeSecurityGroups(context.Background(), &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{
		{Name: aws.String("vpc-id"), Values: []string{fx.vpc}}, {Name: aws.String("group-name"), Values: []string{name}}}})
	if err != nil || len(out.SecurityGroups) != 1 {
		t.Fatalf("security group %s: %v %v", name, out, err)
	}
	return out.SecurityGroups[0]
}

func sorted(s ...string) []string { slices.Sort(s); return s }

// rules renders a group's rules as "in -1 0.0.0.0/0".
func rules(sg ec2types.SecurityGroup) []string {
	var out []string
	for dir, perms := range map[string][]ec2types.IpPermission{"in": sg.IpPermissions, "out": sg.IpPermissionsEgress} {
		for _, p := range perms {
			for _, r := range p.IpRanges {
				out = append(out, dir+" "+aws.ToString(p.IpProtocol)+" "+aws.ToString(r.CidrIp))
			}
			for _, r := range p.Ipv6Ranges {
				out = append(out, dir+" "+aws.ToString(p.IpProtocol)+" "+aws.ToString(r.CidrIpv6))
			}
			for _, g := range p.UserIdGroupPairs {
				out = append(out, dir+" "+aws.ToString(p.IpProtocol)+" "+aws.ToString(g.GroupId))
			}
		}
	}
	slices.Sort(out)
	return out
}

// swaps lists, per interface, the groups each ModifyNetworkInterfaceAttribute
// call set, in the order the proxy saw them.
func swaps(p *faultproxy.Proxy) map[string][]string {
	out := map[string][]string{}
	for _, c := range p.Log() {
		if c.Op != "ModifyNetworkInterfaceAttribute" {
			continue
		}
		var gs []string
		for k, v := range c.Form {
			if strings.HasPrefix(k, "SecurityGroupId.") {
				gs = append(gs, v...)
			}
		}
		slices.Sort(gs)
		eni := c.Form.Get("NetworkInterfaceId")
		out[eni] = append(out[eni], strings.Join(gs, ","))
	}
	return out
}

// changes lists the calls that tag a resource or move an interface, in
// the order the proxy saw them, as "CreateTags i-…" and
// "ModifyNetworkInterfaceAttribute eni-…".
func changes(p *faultproxy.Proxy) []string {
	var out []string
	for _, c := range p.Log() {
		switch c.Op {
		case "CreateTags":
			out = append(out, c.Op+" "+c.Form.Get("ResourceId.1"))
		case "ModifyNetworkInterfaceAttribute":
			out = append(out, c.Op+" "+c.Form.Get("NetworkInterfaceId"))
		}
	}
	return out
}

// TestIsolateInstance isolates an instance with two interfaces, reads back
// each interface's groups (the isolation group only), the two groups'
// rules, the order of the calls (the instance's tags first, then per
// interface the all-allow group, then the isolation group) and the tags;
// runs again without a change; and undoes: each interface has its groups
// back, and the tags are gone.
func TestIsolateInstance(t *testing.T) {
	fx, rec := newIsolated(t)
	ctx := context.Background()
	open, closed := fx.group(t, contain.OpenGroupName), fx.group(t, contain.IsolationGroupName)
	oid, cid := aws.ToString(open.GroupId), aws.ToString(closed.GroupId)
	if got := fx.groupsOf(t); !slices.Equal(got[fx.eni0], []string{cid}) || !slices.Equal(got[fx.eni1], []string{cid}) {
		t.Errorf("groups after isolation %v, want only %s on each interface", got, cid)
	}
	if got, want := rules(open), sorted("in -1 0.0.0.0/0", "in -1 ::/0", "out -1 0.0.0.0/0", "out -1 ::/0"); !slices.Equal(got, want) {
		t.Errorf("open group's rules %q, want %q", got, want)
	}
	if got := rules(closed); len(got) != 0 {
		t.Errorf("isolation group's rules %q, want none (CreateSecurityGroup's default outbound rule revoked)", got)
	}
	for name, sg := range map[string]ec2types.SecurityGroup{"open": open, "closed": closed} {
		if v := fx.tagsOf(t, aws.ToString(sg.GroupId))[contain.TagIsolation]; v != name {
			t.Errorf("group %s tagged %s=%q, want %q", aws.ToString(sg.GroupName), contain.TagIsolation, v, name)
		}
	}
	// Per interface: the all-allow group first, then the isolation group.
	for eni, got := range swaps(fx.proxy) {
		if !slices.Equal(got, []string{oid, cid}) {
			t.Errorf("%s was moved to %q, want %s then %s", eni, got, oid, cid)
		}
	}
	if n := len(swaps(fx.proxy)); n != 2 {
		t.Errorf("%d interfaces moved, want 2", n)
	}
	// The instance's tags before any interface changes, its prior-groups
	// tag included: IAM's deny on a protected instance applies to them.
	if got := changes(fx.proxy); len(got) == 0 || got[0] != "CreateTags "+fx.id {
		t.Errorf("calls %q; want the instance's CreateTags first", got)
	}
	if tags := fx.tagsOf(t, fx.id); tags[contain.TagIsolatedBy] != "f1" || tags[contain.TagIsolatedAt] != fixedNow.Format(time.RFC3339) {
		t.Errorf("instance tags %v", tags)
	}
	if v := fx.tagsOf(t, fx.eni0)[contain.TagPriorGroups]; v != strings.Join(sorted(fx.web, fx.db), ",") {
		t.Errorf("%s tagged %s=%q", fx.eni0, contain.TagPriorGroups, v)
	}
	wantPrior := fx.eni0 + "=" + strings.Join(sorted(fx.web, fx.db), ",") + " " + fx.eni1 + "=" + fx.db
	if fx.eni1 < fx.eni0 {
		wantPrior = fx.eni1 + "=" + fx.db + " " + fx.eni0 + "=" + strings.Join(sorted(fx.web, fx.db), ",")
	}
	if len(rec.Changes) != 1 || rec.Changes[0].Prior != wantPrior || rec.Changes[0].Principal != "instance/"+fx.id || rec.Changes[0].Resource != "isolation" {
		t.Fatalf("changes %+v, want the isolation with prior %q", rec.Changes, wantPrior)
	}

	// Again: unchanged, no swap, and the previous groups are still the
	// instance's own, never the isolation group.
	fx.proxy.Reset()
	again := fx.isolate(t, "f1", plan.Target{})
	if s := again.Steps[0]; s.Status != audit.StatusUnchanged {
		t.Errorf("isolate again: %+v", s)
	}
	if got := changes(fx.proxy); len(got) != 0 {
		t.Errorf("isolate again changed %q", got)
	}
	if len(again.Changes) != 1 || again.Changes[0].Prior != wantPrior {
		t.Errorf("isolate again recorded %+v, want prior %q", again.Changes, wantPrior)
	}

	hd := ledger.Hold{Action: playbook.ActionIsolateInstance, Account: motoAccount, Principal: "instance/" + fx.id, Resource: "isolation", Prior: wantPrior}
	done, left, err := fx.isolator().Undo(ctx, hd)
	if err != nil || left != "" || !strings.Contains(done, "restored the security groups") {
		t.Fatalf("undo: done %q, left %q, %v", done, left, err)
	}
	if got := fx.groupsOf(t); !slices.Equal(got[fx.eni0], sorted(fx.web, fx.db)) || !slices.Equal(got[fx.eni1], []string{fx.db}) {
		t.Errorf("groups after undo %v", got)
	}
	for _, id := range []string{fx.id, fx.eni0, fx.eni1} {
		for k := range fx.tagsOf(t, id) {
			if strings.HasPrefix(k, "autocontain:") {
				t.Errorf("%s keeps tag %s after undo", id, k)
			}
		}
	}
	// Undo again: nothing of autocontain's left to restore.
	if done, left, err := fx.isolator().Undo(ctx, hd); err != nil || done != "" || !strings.Contains(left, "no longer in autocontain's isolation groups") {
		t.Errorf("undo again: done %q, left %q, %v", done, left, err)
	}
}

// TestIsolateRefuses: a protected instance, one of an Auto Scaling group,
// one of another account, and one that is gone are refused, permanently,
// and nothing changes; an Auto Scaling group's instance is isolated when
// the step allows it.
func TestIsolateRefuses(t *testing.T) {
	tag := func(k, v string) ec2types.Tag { return ec2types.Tag{Key: aws.String(k), Value: aws.String(v)} }
	tests := []struct {
		name    string
		tags    []ec2types.Tag
		account string
		target  plan.Target
		want    string
	}{
		{"protected", []ec2types.Tag{tag("autocontain:protected", "true")}, motoAccount, plan.Target{}, "is tagged autocontain:protected=true"},
		// Read as the planner and the protect guard read it: case and
		// surrounding spaces aside.
		{"protected_spaced", []ec2types.Tag{tag("autocontain:protected", " True ")}, motoAccount, plan.Target{}, "is tagged autocontain:protected=true"},
		// The key in another case, as IAM's deny and the planner read it.
		{"protected_key_case", []ec2types.Tag{tag("Autocontain:Protected", "true")}, motoAccount, plan.Target{}, "is tagged autocontain:protected=true"},
		{"auto_scaling", []ec2types.Tag{tag("aws:autoscaling:groupName", "web-asg")}, motoAccount, plan.Target{}, "Auto Scaling group web-asg, which would replace it"},
		{"other_account", nil, "210987654321", plan.Target{}, "belongs to account 123456789012, not 210987654321"},
		{"gone", nil, motoAccount, plan.Target{Kind: plan.TargetInstance, InstanceID: "i-0123456789abcdef0"}, "does not exist"},
		{"other_region", nil, motoAccount, plan.Target{}, "the finding is in Region eu-west-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newInstance(t, tt.tags...)
			before := fx.groupsOf(t)
			if tt.target.InstanceID == "" {
				tt.target = plan.Target{Kind: plan.TargetInstance, InstanceID: fx.id}
			}
			region := motoRegion
			if tt.name == "other_region" {
				region = "eu-west-1"
			}
			_, err := fx.isolator().Execute(context.Background(), contain.Request{Step: plan.Step{Action: playbook.ActionIsolateInstance, Target: tt.target},
				Now: fixedNow, Account: tt.account, Region: region, Finding: "f1"})
			if err == nil || !failure.IsPermanent(err) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v; want a permanent refusal saying %q", err, tt.want)
			}
			if got := fx.groupsOf(t); !slices.Equal(got[fx.eni0], before[fx.eni0]) || !slices.Equal(got[fx.eni1], before[fx.eni1]) {
				t.Errorf("groups changed: %v, were %v", got, before)
			}
			for _, op := range []string{"ModifyNetworkInterfaceAttribute", "CreateTags", "CreateSecurityGroup", "CreateSnapshot"} {
				if n := fx.proxy.Count(op); n != 0 {
					t.Errorf("%s called %d times", op, n)
				}
			}
		})
	}
	t.Run("auto_scaling_allowed", func(t *testing.T) {
		fx := newInstance(t, tag("aws:autoscaling:groupName", "web-asg"))
		rec := fx.isolate(t, "f1", plan.Target{Kind: plan.TargetInstance, InstanceID: fx.id, AutoScaling: true})
		if s := rec.Steps[0]; s.Status != audit.StatusDone {
			t.Errorf("isolate with AutoScaling allowed: %+v", s)
		}
	})
}

// TestIsolateRefusesAGroupThatIsNotAutocontains: a group named as
// autocontain's isolation group but without its tag is not used.
func TestIsolateRefusesAGroupThatIsNotAutocontains(t *testing.T) {
	fx := newInstance(t)
	if _, err := fx.ec2.CreateSecurityGroup(context.Background(), &ec2.CreateSecurityGroupInput{GroupName: aws.String(contain.IsolationGroupName),
		Description: aws.String("someone's"), VpcId: aws.String(fx.vpc)}); err != nil {
		t.Fatal(err)
	}
	before := fx.groupsOf(t)
	rec := fx.isolate(t, "f1", plan.Target{})
	if s := rec.Steps[0]; s.Status != audit.StatusFailed || !s.Permanent || !strings.Contains(s.Error, "is not autocontain's") {
		t.Errorf("step %+v", s)
	}
	if got := fx.groupsOf(t); !slices.Equal(got[fx.eni0], before[fx.eni0]) {
		t.Errorf("groups changed: %v", got)
	}
}

// TestIsolateSurvivesAFailureBetweenTheSwaps: the second swap of the first
// interface fails; the retry ends with both interfaces isolated, and the
// previous groups recorded are the instance's own.
func TestIsolateSurvivesAFailureBetweenTheSwaps(t *testing.T) {
	fx := newInstance(t)
	// The first swap passes; the second is refused, and so is the
	// attempt to put the interface back: it stays in the all-allow group,
	// as if the delivery had died between the two calls.
	fx.proxy.Inject("ModifyNetworkInterfaceAttribute", faultproxy.Pass, 1)
	fx.proxy.Inject("ModifyNetworkInterfaceAttribute", faultproxy.AccessDenied, 2)
	rec := fx.isolate(t, "f1", plan.Target{})
	if s := rec.Steps[0]; s.Status != audit.StatusFailed || !strings.Contains(s.Error, "second of two steps") {
		t.Fatalf("first attempt: %+v", s)
	}
	open := aws.ToString(fx.group(t, contain.OpenGroupName).GroupId)
	got := fx.groupsOf(t)
	first := fx.eni0
	if fx.eni1 < fx.eni0 {
		first = fx.eni1
	}
	if !slices.Equal(got[first], []string{open}) {
		t.Fatalf("after the failure %v; want %s in the all-allow group %s", got, first, open)
	}
	tagged := fx.tagsOf(t, fx.id)
	fx.proxy.Reset()
	retry := fx.isolate(t, "f1", plan.Target{})
	if s := retry.Steps[0]; s.Status != audit.StatusDone {
		t.Fatalf("retry: %+v", s)
	}
	// The retry moves interfaces, so it writes the instance's tags again
	// first (IAM checks each attempt), unchanged: the first attempt's.
	if got := changes(fx.proxy); len(got) == 0 || got[0] != "CreateTags "+fx.id {
		t.Errorf("retry's calls %q; want the instance's CreateTags first", got)
	}
	if got := fx.tagsOf(t, fx.id); got[contain.TagIsolatedBy] != tagged[contain.TagIsolatedBy] || got[contain.TagIsolatedAt] != tagged[contain.TagIsolatedAt] || got[contain.TagIsolatedAt] == "" {
		t.Errorf("instance tags after the retry %v, were %v", got, tagged)
	}
	closed := aws.ToString(fx.group(t, contain.IsolationGroupName).GroupId)
	if got := fx.groupsOf(t); !slices.Equal(got[fx.eni0], []string{closed}) || !slices.Equal(got[fx.eni1], []string{closed}) {
		t.Errorf("after the retry %v", got)
	}
	prior := retry.Changes[0].Prior
	if strings.Contains(prior, open) || strings.Contains(prior, closed) || !strings.Contains(prior, fx.eni0+"="+strings.Join(sorted(fx.web, fx.db), ",")) {
		t.Errorf("retry recorded previous groups %q; want the instance's own", prior)
	}
}

// TestIsolateStopsWhenTheInstanceCannotBeTagged: IAM denies CreateTags on
// an instance tagged autocontain:protected=true (infra/ec2.go), a tag the
// code's read may miss (set after it); changing an interface's groups is
// not documented as authorized against the instance. The instance's tag
// is the isolation's first change, so the denial stops it with every
// interface in its own groups, and it is permanent. The interfaces carry
// their prior-groups tags already, so that the instance's is the only
// CreateTags of the isolation, as IAM's deny names the instance only.
func TestIsolateStopsWhenTheInstanceCannotBeTagged(t *testing.T) {
	fx := newInstance(t)
	ctx := context.Background()
	for eni, gs := range fx.groupsOf(t) {
		if _, err := fx.ec2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{eni},
			Tags: []ec2types.Tag{{Key: aws.String(contain.TagPriorGroups), Value: aws.String(strings.Join(sorted(gs...), ","))}}}); err != nil {
			t.Fatal(err)
		}
	}
	before := fx.groupsOf(t)
	fx.proxy.Reset()
	fx.proxy.Inject("CreateTags", faultproxy.AccessDenied, 1)
	rec := fx.isolate(t, "f1", plan.Target{})
	s := rec.Steps[0]
	if s.Status != audit.StatusFailed || !s.Permanent || s.ErrorCode != "UnauthorizedOperation" || !strings.Contains(s.Error, "no interface changed") {
		t.Errorf("step %+v; want a permanent failure, UnauthorizedOperation, no interface changed", s)
	}
	if got := changes(fx.proxy); !slices.Equal(got, []string{"CreateTags " + fx.id}) {
		t.Errorf("calls %q; want only the instance's refused CreateTags", got)
	}
	if got := fx.groupsOf(t); !slices.Equal(got[fx.eni0], before[fx.eni0]) || !slices.Equal(got[fx.eni1], before[fx.eni1]) {
		t.Errorf("groups %v, were %v", got, before)
	}
	if len(rec.Changes) != 0 {
		t.Errorf("changes recorded: %+v", rec.Changes)
	}
}

// TestIsolateSnapshots: with Snapshot, each EBS volume gets one snapshot
// tagged with the finding, and a re-run makes none.
func TestIsolateSnapshots(t *testing.T) {
	fx := newInstance(t)
	ctx := context.Background()
	snaps := func() []ec2types.Snapshot {
		out, err := fx.ec2.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"},
			Filters: []ec2types.Filter{{Name: aws.String("tag:" + contain.TagIsolatedBy), Values: []string{"f1"}}}})
		if err != nil {
			t.Fatal(err)
		}
		return out.Snapshots
	}
	target := plan.Target{Kind: plan.TargetInstance, InstanceID: fx.id, Snapshot: true}
	if s := fx.isolate(t, "f1", target).Steps[0]; s.Status != audit.StatusDone || !strings.Contains(s.Detail, "snapshots snap-") {
		t.Fatalf("isolate: %+v", s)
	}
	if n := len(snaps()); n != 1 {
		t.Errorf("%d snapshots, want 1 (one volume)", n)
	}
	if s := fx.isolate(t, "f1", target).Steps[0]; s.Status != audit.StatusUnchanged {
		t.Errorf("again: %+v", s)
	}
	if n := len(snaps()); n != 1 {
		t.Errorf("%d snapshots after a re-run, want 1", n)
	}
}

// TestIsolateHoldLeadsBackToItsStep: the hold names the instance and reads
// back; a hold of anything else is refused.
func TestIsolateHoldLeadsBackToItsStep(t *testing.T) {
	a := &contain.Isolator{}
	s := plan.Step{Action: playbook.ActionIsolateInstance, Target: plan.Target{Kind: plan.TargetInstance, InstanceID: "i-0123456789abcdef0"}}
	h, err := a.Hold(motoAccount, s)
	if err != nil || h.Principal != "instance/i-0123456789abcdef0" || h.Resource != "isolation" {
		t.Fatalf("hold %+v %v", h, err)
	}
	if back, err := a.Step(h); err != nil || back.Target.String() != s.Target.String() || back.Target.Kind != plan.TargetInstance {
		t.Errorf("step of hold %+v %v", back, err)
	}
	for _, bad := range []ledger.Hold{{Principal: "role/web", Resource: "isolation"}, {Principal: "instance/i-0123456789abcdef0", Resource: "policy/x"},
		{Principal: "instance/x; rm", Resource: "isolation"}} {
		if _, err := a.Step(bad); err == nil {
			t.Errorf("hold %+v read back", bad)
		}
	}
	if _, err := a.Hold(motoAccount, plan.Step{Target: plan.Target{Kind: plan.TargetRole, RoleName: "web"}}); err == nil {
		t.Error("a role's step held as an instance")
	}
	if _, err := a.Execute(context.Background(), contain.Request{Step: s}); err == nil || !failure.IsPermanent(err) {
		t.Errorf("a step without its account: %v", err)
	}
}

// TestIsolateAnInterfaceOfAnotherVPC: an instance may have a network
// interface of another VPC than its own (multi-VPC ENI attachments, EC2
// User Guide, "Network interfaces"); a security group applies only in its
// own VPC, so that interface is isolated by autocontain's groups of its
// VPC, and undo gives it its groups back.
func TestIsolateAnInterfaceOfAnotherVPC(t *testing.T) {
	fx := newInstance(t)
	ctx := context.Background()
	vpc, err := fx.ec2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.1.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	other := aws.ToString(vpc.Vpc.VpcId)
	sub, err := fx.ec2.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: aws.String(other), CidrBlock: aws.String("10.1.1.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	sg, err := fx.ec2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("app"), Description: aws.String("app"), VpcId: aws.String(other)})
	if err != nil {
		t.Fatal(err)
	}
	eni, err := fx.ec2.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{SubnetId: sub.Subnet.SubnetId, Groups: []string{aws.ToString(sg.GroupId)}})
	if err != nil {
		t.Fatal(err)
	}
	eid := aws.ToString(eni.NetworkInterface.NetworkInterfaceId)
	if _, err := fx.ec2.AttachNetworkInterface(ctx, &ec2.AttachNetworkInterfaceInput{InstanceId: aws.String(fx.id), NetworkInterfaceId: aws.String(eid), DeviceIndex: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	groupsOf := func() map[string][]string {
		out, err := fx.ec2.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{fx.eni0, fx.eni1, eid}})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][]string{}
		for _, n := range out.NetworkInterfaces {
			for _, g := range n.Groups {
				got[aws.ToString(n.NetworkInterfaceId)] = append(got[aws.ToString(n.NetworkInterfaceId)], aws.ToString(g.GroupId))
			}
		}
		return got
	}
	before := groupsOf()
	rec := fx.isolate(t, "f1", plan.Target{})
	if s := rec.Steps[0]; s.Status != audit.StatusDone {
		t.Fatalf("isolate: %+v", s)
	}
	vpcOf := map[string]string{fx.eni0: fx.vpc, fx.eni1: fx.vpc, eid: other}
	for e, gs := range groupsOf() {
		if len(gs) != 1 {
			t.Fatalf("%s in %v after isolation", e, gs)
		}
		out, err := fx.ec2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: gs})
		if err != nil {
			t.Fatal(err)
		}
		g := out.SecurityGroups[0]
		if aws.ToString(g.GroupName) != contain.IsolationGroupName || aws.ToString(g.VpcId) != vpcOf[e] {
			t.Errorf("%s (VPC %s) in group %s %s of VPC %s; want autocontain's isolation group of its own VPC", e, vpcOf[e], gs[0], aws.ToString(g.GroupName), aws.ToString(g.VpcId))
		}
	}
	hd := ledger.Hold{Action: playbook.ActionIsolateInstance, Account: motoAccount, Principal: "instance/" + fx.id, Resource: "isolation", Prior: rec.Changes[0].Prior}
	if _, left, err := fx.isolator().Undo(ctx, hd); err != nil || left != "" {
		t.Fatalf("undo: left %q, %v", left, err)
	}
	after := groupsOf()
	for e, gs := range before {
		if !slices.Equal(sorted(after[e]...), sorted(gs...)) {
			t.Errorf("%s has %v after undo, had %v", e, after[e], gs)
		}
	}
}

// TestIsolateAnInstanceWithEveryTagTaken: EC2 holds at most 50 tags on a
// resource (TagLimitExceeded past them; moto enforces it), and whoever can
// tag the instance can fill them. The instance's own tags then cannot be
// written, but they are a record and IAM's second check, not the
// isolation: the instance is isolated all the same (the code read its
// tags and found it unprotected), the detail says why it is untagged, and
// a re-run is unchanged instead of failing on the same tags for ever.
func TestIsolateAnInstanceWithEveryTagTaken(t *testing.T) {
	fx := newInstance(t, everyTag()...)
	rec := fx.isolate(t, "f1", plan.Target{})
	s := rec.Steps[0]
	if s.Status != audit.StatusDone || !strings.Contains(s.Detail, "TagLimitExceeded") {
		t.Fatalf("step %+v; want done, the detail naming TagLimitExceeded", s)
	}
	closed := aws.ToString(fx.group(t, contain.IsolationGroupName).GroupId)
	if got := fx.groupsOf(t); !slices.Equal(got[fx.eni0], []string{closed}) || !slices.Equal(got[fx.eni1], []string{closed}) {
		t.Errorf("groups %v; want every interface in %s", got, closed)
	}
	if got := fx.tagsOf(t, fx.id); got[contain.TagIsolatedAt] != "" || len(got) != 50 {
		t.Errorf("instance tags %v; want its own 50", got)
	}
	again := fx.isolate(t, "f1", plan.Target{})
	if s := again.Steps[0]; s.Status != audit.StatusUnchanged {
		t.Errorf("re-run %+v; want unchanged", s)
	}
}

// TestIsolateUndoOfAnInstanceProtectedSince: IAM denies DeleteTags on an
// instance tagged autocontain:protected=true (infra/ec2.go), which a
// person may add after the isolation, or after a first attempt that
// tagged the instance and then failed (the instance's tags come first).
// Undo restores the interfaces and leaves the two tags, saying so, instead
// of failing on every attempt; a second undo does the same.
func TestIsolateUndoOfAnInstanceProtectedSince(t *testing.T) {
	fx, rec := newIsolated(t)
	ctx := context.Background()
	if _, err := fx.ec2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{fx.id},
		Tags: []ec2types.Tag{{Key: aws.String("autocontain:protected"), Value: aws.String("true")}}}); err != nil {
		t.Fatal(err)
	}
	hd := ledger.Hold{Action: playbook.ActionIsolateInstance, Account: motoAccount, Principal: "instance/" + fx.id, Resource: "isolation", Prior: rec.Changes[0].Prior}
	// The interfaces' prior-groups tags go; the instance's are refused.
	fx.proxy.Inject("DeleteTags", faultproxy.Pass, 2)
	fx.proxy.Inject("DeleteTags", faultproxy.AccessDenied, 1)
	done, left, err := fx.isolator().Undo(ctx, hd)
	if err != nil || !strings.Contains(done, "restored the security groups") || strings.Contains(done, "removed its isolation tags") ||
		!strings.Contains(left, "IAM refused to remove them (UnauthorizedOperation") {
		t.Fatalf("undo: done %q, left %q, %v", done, left, err)
	}
	if got := fx.groupsOf(t); !slices.Equal(got[fx.eni0], sorted(fx.web, fx.db)) || !slices.Equal(got[fx.eni1], []string{fx.db}) {
		t.Errorf("groups after undo %v", got)
	}
	fx.proxy.Inject("DeleteTags", faultproxy.AccessDenied, 1)
	if done, left, err := fx.isolator().Undo(ctx, hd); err != nil || done != "" || !strings.Contains(left, "IAM refused") {
		t.Errorf("undo again: done %q, left %q, %v", done, left, err)
	}
}

// TestIsolateAnInterfaceWithEveryTagTaken: an interface with EC2's 50
// tags cannot carry autocontain:prior-groups, and whoever can tag it could
// fill them to keep the instance from isolation. It is isolated all the
// same, its previous groups in the step's Prior (the ledger) only, the
// detail says so, and undo restores them from there.
func TestIsolateAnInterfaceWithEveryTagTaken(t *testing.T) {
	fx := newInstance(t)
	ctx := context.Background()
	if _, err := fx.ec2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{fx.eni0}, Tags: everyTag()}); err != nil {
		t.Fatal(err)
	}
	rec := fx.isolate(t, "f1", plan.Target{})
	s := rec.Steps[0]
	if s.Status != audit.StatusDone || !strings.Contains(s.Detail, fx.eni0+" not tagged") || !strings.Contains(s.Detail, "TagLimitExceeded") {
		t.Fatalf("step %+v; want done, the detail naming %s and TagLimitExceeded", s, fx.eni0)
	}
	closed := aws.ToString(fx.group(t, contain.IsolationGroupName).GroupId)
	if got := fx.groupsOf(t); !slices.Equal(got[fx.eni0], []string{closed}) || !slices.Equal(got[fx.eni1], []string{closed}) {
		t.Errorf("groups %v; want every interface in %s", got, closed)
	}
	hd := ledger.Hold{Action: playbook.ActionIsolateInstance, Account: motoAccount, Principal: "instance/" + fx.id, Resource: "isolation", Prior: rec.Changes[0].Prior}
	if done, left, err := fx.isolator().Undo(ctx, hd); err != nil || left != "" || !strings.Contains(done, "restored") {
		t.Fatalf("undo: done %q, left %q, %v", done, left, err)
	}
	if got := fx.groupsOf(t); !slices.Equal(got[fx.eni0], sorted(fx.web, fx.db)) {
		t.Errorf("%s after undo %v", fx.eni0, got[fx.eni0])
	}
}

// everyTag is as many tags as EC2 allows on a resource (50).
func everyTag() []ec2types.Tag {
	var tags []ec2types.Tag
	for k := range 50 {
		tags = append(tags, ec2types.Tag{Key: aws.String(fmt.Sprintf("k%02d", k)), Value: aws.String("v")})
	}
	return tags
}
