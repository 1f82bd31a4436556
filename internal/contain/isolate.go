package contain

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/autocontain/autocontain/internal/failure"
	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/ledger"
	"github.com/autocontain/autocontain/internal/plan"
	"github.com/autocontain/autocontain/internal/playbook"
	"github.com/autocontain/autocontain/internal/protect"
)

// EC2API is the part of the EC2 API that isolate-instance and its undo need.
type EC2API interface {
	DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput, opts ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
	DescribeNetworkInterfaces(ctx context.Context, in *ec2.DescribeNetworkInterfacesInput, opts ...func(*ec2.Options)) (*ec2.DescribeNetworkInterfacesOutput, error)
	DescribeSecurityGroups(ctx context.Context, in *ec2.DescribeSecurityGroupsInput, opts ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupsOutput, error)
	CreateSecurityGroup(ctx context.Context, in *ec2.CreateSecurityGroupInput, opts ...func(*ec2.Options)) (*ec2.CreateSecurityGroupOutput, error)
	AuthorizeSecurityGroupIngress(ctx context.Context, in *ec2.AuthorizeSecurityGroupIngressInput, opts ...func(*ec2.Options)) (*ec2.AuthorizeSecurityGroupIngressOutput, error)
	AuthorizeSecurityGroupEgress(ctx context.Context, in *ec2.AuthorizeSecurityGroupEgressInput, opts ...func(*ec2.Options)) (*ec2.AuthorizeSecurityGroupEgressOutput, error)
	RevokeSecurityGroupIngress(ctx context.Context, in *ec2.RevokeSecurityGroupIngressInput, opts ...func(*ec2.Options)) (*ec2.RevokeSecurityGroupIngressOutput, error)
	RevokeSecurityGroupEgress(ctx context.Context, in *ec2.RevokeSecurityGroupEgressInput, opts ...func(*ec2.Options)) (*ec2.RevokeSecurityGroupEgressOutput, error)
	ModifyNetworkInterfaceAttribute(ctx context.Context, in *ec2.ModifyNetworkInterfaceAttributeInput, opts ...func(*ec2.Options)) (*ec2.ModifyNetworkInterfaceAttributeOutput, error)
	CreateTags(ctx context.Context, in *ec2.CreateTagsInput, opts ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error)
	DeleteTags(ctx context.Context, in *ec2.DeleteTagsInput, opts ...func(*ec2.Options)) (*ec2.DeleteTagsOutput, error)
	DescribeSnapshots(ctx context.Context, in *ec2.DescribeSnapshotsInput, opts ...func(*ec2.Options)) (*ec2.DescribeSnapshotsOutput, error)
	CreateSnapshot(ctx context.Context, in *ec2.CreateSnapshotInput, opts ...func(*ec2.Options)) (*ec2.CreateSnapshotOutput, error)
}

var _ EC2API = (*ec2.Client)(nil)

// The security groups isolate-instance makes, once per VPC, and the tag
// that tells them from a group of the same name that is not autocontain's.
const (
	// OpenGroupName allows all traffic, in and out, IPv4 and IPv6.
	OpenGroupName = "autocontain-isolation-open"
	// IsolationGroupName allows nothing.
	IsolationGroupName = "autocontain-isolation"
	// TagIsolation marks autocontain's groups: TagIsolationOpen on the
	// all-allow group, TagIsolationClosed on the isolation group.
	TagIsolation       = "autocontain:isolation"
	TagIsolationOpen   = "open"
	TagIsolationClosed = "closed"
)

// The tags isolate-instance writes, and undo removes. Every tag key the
// action writes is listed in IsolationTagKeys (the stack grants
// ec2:CreateTags and ec2:DeleteTags for these keys only).
const (
	// TagPriorGroups is on each network interface of an isolated instance:
	// the groups it had before ("sg-a,sg-b"), written before its first
	// swap, so that a retry and undo find them even if the ledger never
	// recorded them. An interface with more groups than one tag value
	// holds has the rest in TagPriorGroups+"-2".
	TagPriorGroups = "autocontain:prior-groups"
	// TagIsolatedBy and TagIsolatedAt are on the instance and its
	// snapshots: the finding that isolated it, and when.
	TagIsolatedBy = "autocontain:isolated-by"
	TagIsolatedAt = "autocontain:isolated-at"
	// TagAutoScalingGroup is the tag EC2 Auto Scaling puts on the
	// instances of a group.
	TagAutoScalingGroup = finding.AutoScalingTag
)

// IsolationTagKeys lists every tag key isolate-instance writes or removes.
func IsolationTagKeys() []string {
	return []string{TagIsolation, TagIsolatedAt, TagIsolatedBy, TagPriorGroups, TagPriorGroups + "-2"}
}

// isolationResource is the Resource of an isolation's hold.
const isolationResource = "isolation"

// groupsPerTag is how many group ids one tag value holds: 12 ids of 20
// characters and their commas fit EC2's 256 characters of a tag value; an
// interface has at most 16 groups (Amazon VPC quotas), so two tags do.
const groupsPerTag = 12

// Isolator is isolate-instance: it moves every network interface of an
// EC2 instance to a security group that allows nothing, in two steps.
//
// Why two: "When you change a security group rule, its tracked connections
// are not immediately interrupted", while "an untracked flow of traffic is
// immediately interrupted if the rule that enables the flow is removed or
// modified", and a flow is untracked when rules allow all traffic from and
// to 0.0.0.0/0 or ::/0 in both directions (EC2 User Guide, "Amazon EC2
// security group connection tracking",
// https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/security-group-connection-tracking.html).
// The AWS Security Incident Response Guide warns that "existing tracked
// connections won't be shut down as a result of changing security groups"
// ("Source containment",
// https://docs.aws.amazon.com/whitepapers/latest/aws-security-incident-response-guide/source-containment.html),
// and AWS's sample aws-samples/automated-ec2-isolation-for-incident-response
// (functions/ec2_isolation.py) swaps to an all-allow group first, then to
// one without rules. So each interface goes to OpenGroupName, then to
// IsolationGroupName, in that order.
//
// It keeps the instance running (its memory and disks stay for forensics),
// tags it with the finding and the time before the first interface moves
// (so that IAM's deny on a protected instance stops it there), and, when
// the step says so, snapshots its EBS volumes. It refuses, changing nothing, an instance
// tagged autocontain:protected=true, one of an Auto Scaling group (unless
// the step allows it: the group would replace it), one of another account
// than the step's, one outside a VPC, and one that is gone.
type Isolator struct {
	EC2 EC2API
	// Region is the Region EC2 reaches: a step about an instance of a
	// finding in another Region is refused. "" leaves it unchecked.
	Region string
}

// Name implements Action.
func (*Isolator) Name() string { return playbook.ActionIsolateInstance }

// Permissions implements Action.
func (*Isolator) Permissions() []string {
	return []string{"ec2:AuthorizeSecurityGroupEgress", "ec2:AuthorizeSecurityGroupIngress", "ec2:CreateSecurityGroup",
		"ec2:CreateSnapshot", "ec2:CreateTags", "ec2:DescribeInstances", "ec2:DescribeNetworkInterfaces",
		"ec2:DescribeSecurityGroups", "ec2:DescribeSnapshots", "ec2:ModifyNetworkInterfaceAttribute",
		"ec2:RevokeSecurityGroupEgress", "ec2:RevokeSecurityGroupIngress"}
}

// UndoPermissions implements Reverter.
func (*Isolator) UndoPermissions() []string { return []string{"ec2:DeleteTags"} }

// instanceOf is the instance a step isolates.
func instanceOf(t plan.Target) (string, error) {
	if t.Kind != plan.TargetInstance || !finding.IsInstanceID(t.InstanceID) {
		return "", fmt.Errorf("isolate-instance needs an EC2 instance id (i-...), got %s", t)
	}
	return t.InstanceID, nil
}

// Hold implements Reverter: the isolation of the instance.
func (*Isolator) Hold(account string, s plan.Step) (ledger.Hold, error) {
	if _, err := instanceOf(s.Target); err != nil {
		return ledger.Hold{}, err
	}
	return ledger.Hold{Action: playbook.ActionIsolateInstance, Account: account, Principal: s.Target.Entity(), Resource: isolationResource}, nil
}

// Step implements Reverter. The step it rebuilds neither snapshots nor
// isolates an instance of an Auto Scaling group: the hold records neither.
func (*Isolator) Step(h ledger.Hold) (plan.Step, error) {
	t, ok := plan.EntityTarget(h.Principal)
	if _, err := instanceOf(t); !ok || err != nil || h.Resource != isolationResource {
		return plan.Step{Action: playbook.ActionIsolateInstance}, fmt.Errorf("isolate-instance cannot read hold %s", h)
	}
	return plan.Step{Action: playbook.ActionIsolateInstance, Target: t}, nil
}

// instance reads the instance and the account that owns it; ok is false
// when EC2 has no such instance (any more).
func (i *Isolator) instance(ctx context.Context, id string) (inst ec2types.Instance, owner string, ok bool, err error) {
	out, err := i.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	switch {
	case failure.Code(err) == "InvalidInstanceID.NotFound":
		return inst, "", false, nil
	case failure.Code(err) == "InvalidInstanceID.Malformed":
		return inst, "", false, failure.Permanent(fmt.Errorf("read instance %s: %w", id, err))
	case err != nil:
		return inst, "", false, fmt.Errorf("read instance %s: %w", id, err)
	}
	for _, r := range out.Reservations {
		for _, in := range r.Instances {
			if aws.ToString(in.InstanceId) == id {
				return in, aws.ToString(r.OwnerId), true, nil
			}
		}
	}
	return inst, "", false, nil
}

// InstanceProtected reports whether an instance's tags exempt it
// (autocontain:protected=true, read by finding.IsProtectTag).
func InstanceProtected(tags []ec2types.Tag) bool {
	return slices.ContainsFunc(tags, func(t ec2types.Tag) bool {
		return finding.IsProtectTag(aws.ToString(t.Key), aws.ToString(t.Value))
	})
}

func tagValue(tags []ec2types.Tag, key string) (string, bool) {
	for _, t := range tags {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value), true
		}
	}
	return "", false
}

// refusal says why the instance is not isolated; "" when it may be.
func refusal(inst ec2types.Instance, owner, account string, t plan.Target) string {
	id := aws.ToString(inst.InstanceId)
	// Case and surrounding spaces aside, as the planner (finding.Instance.Protected)
	// and the protect guard read the tag.
	if InstanceProtected(inst.Tags) {
		return fmt.Sprintf("instance %s is tagged %s=%s: it is never isolated", id, protect.TagKey, protect.TagValue)
	}
	if g, ok := tagValue(inst.Tags, TagAutoScalingGroup); ok && !t.AutoScaling {
		return fmt.Sprintf("instance %s is in Auto Scaling group %s, which would replace it once isolated (its health checks fail) and so lose its memory and disks: "+
			"it is not isolated unless settings.isolateAutoScaling allows it; detach it from the group to isolate it by hand", id, g)
	}
	if owner != account {
		return fmt.Sprintf("instance %s belongs to account %s, not %s that the finding is about: it is not this responder's to isolate", id, owner, account)
	}
	if aws.ToString(inst.VpcId) == "" {
		return fmt.Sprintf("instance %s is not in a VPC: security groups cannot isolate it", id)
	}
	if inst.State != nil && (inst.State.Name == ec2types.InstanceStateNameTerminated || inst.State.Name == ec2types.InstanceStateNameShuttingDown) {
		return fmt.Sprintf("instance %s is %s: there is nothing left to isolate", id, inst.State.Name)
	}
	return ""
}

// Execute implements Action.
func (i *Isolator) Execute(ctx context.Context, req Request) (Outcome, error) {
	t := req.Step.Target
	id, err := instanceOf(t)
	if err != nil {
		return Outcome{}, failure.Permanent(err)
	}
	switch {
	case req.Account == "":
		return Outcome{}, failure.Permanent(fmt.Errorf("isolate instance %s: the step names no account, so whose instance it is cannot be checked", id))
	case req.Region != "" && i.Region != "" && req.Region != i.Region:
		return Outcome{}, failure.Permanent(fmt.Errorf("isolate instance %s: the finding is in Region %s, and this responder acts in %s: deploy autocontain in %s to isolate instances there",
			id, req.Region, i.Region, req.Region))
	}
	inst, owner, ok, err := i.instance(ctx, id)
	switch {
	case err != nil:
		return Outcome{}, fmt.Errorf("isolate instance %s: %w", id, err)
	case !ok:
		return Outcome{}, failure.Permanent(fmt.Errorf("isolate instance %s: it does not exist (terminated, or never in account %s)", id, req.Account))
	}
	if why := refusal(inst, owner, req.Account, t); why != "" {
		return Outcome{}, failure.Permanent(errors.New("isolate-instance refused, nothing changed: " + why))
	}
	enis, err := i.interfaces(ctx, inst)
	if err != nil {
		return Outcome{}, fmt.Errorf("isolate instance %s: %w", id, err)
	}
	// A security group applies only in its VPC, and an instance may have
	// interfaces of other VPCs than its own (multi-VPC ENI attachments):
	// each interface goes to the groups of its own VPC, all of them made
	// or checked before any interface moves.
	groups := map[string]isolationGroups{}
	for _, eni := range enis {
		vpc := interfaceVPC(eni, inst)
		if _, ok := groups[vpc]; ok {
			continue
		}
		var g isolationGroups
		if g.open, err = i.group(ctx, vpc, OpenGroupName, TagIsolationOpen); err != nil {
			return Outcome{}, fmt.Errorf("isolate instance %s: %w", id, err)
		}
		if g.closed, err = i.group(ctx, vpc, IsolationGroupName, TagIsolationClosed); err != nil {
			return Outcome{}, fmt.Errorf("isolate instance %s: %w", id, err)
		}
		groups[vpc] = g
	}
	// The instance's tags come first, before any interface changes: IAM
	// authorizes CreateTags against the instance, so the role's deny on an
	// instance tagged autocontain:protected=true (infra/ec2.go) stops the
	// isolation here, every interface as it was, even when the tag was set
	// after the read above. Changing an interface's groups is authorized
	// against the interface, not documented against its instance.
	moving := slices.ContainsFunc(enis, func(eni ec2types.NetworkInterface) bool {
		return !slices.Equal(groupIDs(eni.Groups), []string{groups[interfaceVPC(eni, inst)].closed})
	})
	untagged, err := i.tagInstance(ctx, inst, req, moving)
	if err != nil {
		return Outcome{}, fmt.Errorf("isolate instance %s: no interface changed: %w", id, err)
	}
	prior := priorGroups{}
	var swapped, unknown, closed, notRecorded []string
	for _, eni := range enis {
		eid := aws.ToString(eni.NetworkInterfaceId)
		g := groups[interfaceVPC(eni, inst)]
		if !slices.Contains(closed, g.closed) {
			closed = append(closed, g.closed)
		}
		was, moved, untaggedENI, err := i.isolateInterface(ctx, eni, g.open, g.closed)
		if err != nil {
			return Outcome{}, fmt.Errorf("isolate instance %s: %w", id, err)
		}
		if untaggedENI {
			notRecorded = append(notRecorded, eid)
		}
		if len(was) > 0 {
			prior[eid] = was
		} else {
			unknown = append(unknown, eid)
		}
		if moved {
			swapped = append(swapped, eid)
		}
	}
	var snaps []string
	if t.Snapshot {
		if snaps, err = i.snapshot(ctx, inst, req); err != nil {
			return Outcome{}, fmt.Errorf("isolate instance %s: it is isolated, but %w", id, err)
		}
	}
	detail := isolationDetail(id, strings.Join(closed, ", "), prior, unknown, snaps) + untagged
	if len(notRecorded) > 0 {
		detail += fmt.Sprintf("; %s not tagged %s: as many tags as EC2 allows (TagLimitExceeded), so the previous groups are in the ledger only",
			strings.Join(notRecorded, ", "), TagPriorGroups)
	}
	if len(swapped) == 0 {
		// Isolated already. The groups its interfaces had before, read
		// from the tags only autocontain writes, say that autocontain
		// isolated it: a delivery may have died before the ledger
		// recorded it, and undo must still restore them.
		return Outcome{Changed: len(snaps) > 0, Detail: "already isolated: " + detail, Prior: prior.String()}, nil
	}
	return Outcome{Changed: true, Detail: detail, Prior: prior.String(), ReplacesPrior: true}, nil
}

// isolationGroups are autocontain's two groups of one VPC.
type isolationGroups struct{ open, closed string }

// interfaceVPC is the VPC of a network interface of inst.
func interfaceVPC(eni ec2types.NetworkInterface, inst ec2types.Instance) string {
	if vpc := aws.ToString(eni.VpcId); vpc != "" {
		return vpc
	}
	return aws.ToString(inst.VpcId)
}

func isolationDetail(id, closed string, prior priorGroups, unknown, snaps []string) string {
	d := fmt.Sprintf("instance %s: every network interface in isolation group %s (through %s first, to cut tracked connections); previous groups %s",
		id, closed, OpenGroupName, cmp.Or(prior.String(), "none recorded"))
	if len(unknown) > 0 {
		d += "; previous groups unknown for " + strings.Join(unknown, ", ") + " (in autocontain's groups without its tag): undo leaves them isolated"
	}
	if len(snaps) > 0 {
		d += "; snapshots " + strings.Join(snaps, ", ")
	}
	return d + "; instance kept running"
}

// group finds autocontain's group name in vpc, or creates it, and sets its
// rules: all traffic for the open group, none for the isolation group. A
// group of that name without autocontain's tag is refused, permanently.
func (i *Isolator) group(ctx context.Context, vpc, name, kind string) (string, error) {
	sg, found, err := i.findGroup(ctx, vpc, name)
	if err != nil {
		return "", err
	}
	if !found {
		_, err := i.EC2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
			GroupName: aws.String(name), VpcId: aws.String(vpc),
			Description: aws.String("autocontain isolation of compromised instances (" + kind + "): do not edit"),
			TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSecurityGroup,
				Tags: []ec2types.Tag{{Key: aws.String(TagIsolation), Value: aws.String(kind)}}}},
		})
		// Another delivery created it at the same moment: read theirs.
		if err != nil && failure.Code(err) != "InvalidGroup.Duplicate" {
			return "", fmt.Errorf("create security group %s in %s: %w", name, vpc, err)
		}
		if sg, found, err = i.findGroup(ctx, vpc, name); err != nil {
			return "", err
		}
		if !found {
			return "", fmt.Errorf("security group %s in %s was created but cannot be read back yet", name, vpc)
		}
	}
	gid := aws.ToString(sg.GroupId)
	if v, _ := tagValue(sg.Tags, TagIsolation); v != kind {
		return "", failure.Permanent(fmt.Errorf("security group %s (%s) in %s is not autocontain's (it lacks the tag %s=%s): nothing changed; rename it, or tag it if it is meant to be autocontain's",
			name, gid, vpc, TagIsolation, kind))
	}
	if kind == TagIsolationOpen {
		return gid, i.allowAll(ctx, sg)
	}
	return gid, i.allowNothing(ctx, sg)
}

func (i *Isolator) findGroup(ctx context.Context, vpc, name string) (ec2types.SecurityGroup, bool, error) {
	out, err := i.EC2.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{
		{Name: aws.String("vpc-id"), Values: []string{vpc}}, {Name: aws.String("group-name"), Values: []string{name}}}})
	if err != nil {
		return ec2types.SecurityGroup{}, false, fmt.Errorf("find security group %s in %s: %w", name, vpc, err)
	}
	for _, sg := range out.SecurityGroups {
		if aws.ToString(sg.GroupName) == name && aws.ToString(sg.VpcId) == vpc {
			return sg, true, nil
		}
	}
	return ec2types.SecurityGroup{}, false, nil
}

// allTraffic is a rule for every protocol and port, from or to any IPv4
// (v6 false) or IPv6 address.
func allTraffic(v6 bool) ec2types.IpPermission {
	p := ec2types.IpPermission{IpProtocol: aws.String("-1")}
	if v6 {
		p.Ipv6Ranges = []ec2types.Ipv6Range{{CidrIpv6: aws.String("::/0")}}
	} else {
		p.IpRanges = []ec2types.IpRange{{CidrIp: aws.String("0.0.0.0/0")}}
	}
	return p
}

// allowsAll reports whether perms hold a rule for all traffic from or to
// every address of the family.
func allowsAll(perms []ec2types.IpPermission, v6 bool) bool {
	for _, p := range perms {
		if aws.ToString(p.IpProtocol) != "-1" {
			continue
		}
		if v6 && slices.ContainsFunc(p.Ipv6Ranges, func(r ec2types.Ipv6Range) bool { return aws.ToString(r.CidrIpv6) == "::/0" }) {
			return true
		}
		if !v6 && slices.ContainsFunc(p.IpRanges, func(r ec2types.IpRange) bool { return aws.ToString(r.CidrIp) == "0.0.0.0/0" }) {
			return true
		}
	}
	return false
}

// allowAll gives the open group the rules that make flows untracked: all
// traffic, in and out, from and to 0.0.0.0/0 and ::/0. A rule another
// delivery added meanwhile is fine.
func (i *Isolator) allowAll(ctx context.Context, sg ec2types.SecurityGroup) error {
	gid := aws.ToString(sg.GroupId)
	for _, v6 := range []bool{false, true} {
		if !allowsAll(sg.IpPermissions, v6) {
			_, err := i.EC2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(gid), IpPermissions: []ec2types.IpPermission{allTraffic(v6)}})
			if err != nil && failure.Code(err) != "InvalidPermission.Duplicate" {
				return fmt.Errorf("allow all inbound traffic in security group %s: %w", gid, err)
			}
		}
		if !allowsAll(sg.IpPermissionsEgress, v6) {
			_, err := i.EC2.AuthorizeSecurityGroupEgress(ctx, &ec2.AuthorizeSecurityGroupEgressInput{GroupId: aws.String(gid), IpPermissions: []ec2types.IpPermission{allTraffic(v6)}})
			if err != nil && failure.Code(err) != "InvalidPermission.Duplicate" {
				return fmt.Errorf("allow all outbound traffic in security group %s: %w", gid, err)
			}
		}
	}
	return nil
}

// allowNothing takes every rule out of the isolation group: the outbound
// rule that CreateSecurityGroup adds to every new group, and any rule a
// person added since.
func (i *Isolator) allowNothing(ctx context.Context, sg ec2types.SecurityGroup) error {
	gid := aws.ToString(sg.GroupId)
	if len(sg.IpPermissions) > 0 {
		_, err := i.EC2.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: aws.String(gid), IpPermissions: sg.IpPermissions})
		if err != nil && failure.Code(err) != "InvalidPermission.NotFound" {
			return fmt.Errorf("remove the inbound rules of isolation group %s: %w", gid, err)
		}
	}
	if len(sg.IpPermissionsEgress) > 0 {
		_, err := i.EC2.RevokeSecurityGroupEgress(ctx, &ec2.RevokeSecurityGroupEgressInput{GroupId: aws.String(gid), IpPermissions: sg.IpPermissionsEgress})
		if err != nil && failure.Code(err) != "InvalidPermission.NotFound" {
			return fmt.Errorf("remove the outbound rules of isolation group %s: %w", gid, err)
		}
	}
	return nil
}

// interfaces reads the instance's network interfaces, with their tags.
func (i *Isolator) interfaces(ctx context.Context, inst ec2types.Instance) ([]ec2types.NetworkInterface, error) {
	var ids []string
	for _, n := range inst.NetworkInterfaces {
		ids = append(ids, aws.ToString(n.NetworkInterfaceId))
	}
	if len(ids) == 0 {
		return nil, nil
	}
	out, err := i.EC2.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: ids})
	if err != nil {
		return nil, fmt.Errorf("read network interfaces %s: %w", strings.Join(ids, ", "), err)
	}
	slices.SortFunc(out.NetworkInterfaces, func(a, b ec2types.NetworkInterface) int {
		return strings.Compare(aws.ToString(a.NetworkInterfaceId), aws.ToString(b.NetworkInterfaceId))
	})
	return out.NetworkInterfaces, nil
}

func groupIDs(gs []ec2types.GroupIdentifier) []string {
	out := make([]string, 0, len(gs))
	for _, g := range gs {
		out = append(out, aws.ToString(g.GroupId))
	}
	slices.Sort(out)
	return out
}

// taggedPrior reads the groups an interface's tags say it had before.
func taggedPrior(tags []ec2types.Tag) []string {
	var out []string
	for _, k := range []string{TagPriorGroups, TagPriorGroups + "-2"} {
		if v, ok := tagValue(tags, k); ok && v != "" {
			out = append(out, strings.Split(v, ",")...)
		}
	}
	if !validGroups(out) {
		return nil
	}
	return out
}

// priorTags are the tags that record groups on an interface.
func priorTags(groups []string) []ec2types.Tag {
	var tags []ec2types.Tag
	for j, c := range chunkStrings(groups, groupsPerTag) {
		k := TagPriorGroups
		if j > 0 {
			k += "-2"
		}
		tags = append(tags, ec2types.Tag{Key: aws.String(k), Value: aws.String(strings.Join(c, ","))})
	}
	return tags
}

func chunkStrings(s []string, size int) [][]string {
	var out [][]string
	for len(s) > size {
		out = append(out, s[:size])
		s = s[size:]
	}
	return append(out, s)
}

// isolateInterface records the interface's groups on it, unless it is in
// autocontain's groups already (then the tag has them from the attempt
// that moved it), and moves it to the open group, then to the isolation
// group. It returns the groups it had before autocontain (nil when not
// known), whether it moved it, and whether the tag could not be written
// because the interface has as many tags as EC2 allows (50,
// TagLimitExceeded): it is isolated all the same, so that whoever can tag
// it cannot keep it from isolation by filling its tags, and its previous
// groups are then in the step's Prior (the ledger) only.
func (i *Isolator) isolateInterface(ctx context.Context, eni ec2types.NetworkInterface, open, closed string) (prior []string, moved, untagged bool, err error) {
	eid := aws.ToString(eni.NetworkInterfaceId)
	cur := groupIDs(eni.Groups)
	ours := slices.Contains(cur, open) || slices.Contains(cur, closed)
	if ours {
		// Never the isolation groups as "previous": the tag written
		// before the first swap has them.
		prior = taggedPrior(eni.TagSet)
	} else {
		prior = cur
		if !slices.Equal(taggedPrior(eni.TagSet), cur) {
			// Written before the first swap, so that a retry after a
			// failure between the swaps still knows them. A tag left by an
			// earlier isolation that was undone is overwritten: the groups
			// the interface has now are its own.
			_, err := i.EC2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{eid}, Tags: priorTags(cur)})
			untagged = failure.Code(err) == "TagLimitExceeded"
			if err != nil && !untagged {
				return nil, false, false, fmt.Errorf("record the security groups of %s on it (tag %s): %w", eid, TagPriorGroups, err)
			}
		}
	}
	if slices.Equal(cur, []string{closed}) {
		return prior, false, untagged, nil
	}
	if !slices.Equal(cur, []string{open}) {
		if err := i.setGroups(ctx, eid, []string{open}); err != nil {
			return nil, false, false, fmt.Errorf("move %s to all-allow group %s (first of two steps): %w", eid, open, err)
		}
	}
	if err := i.setGroups(ctx, eid, []string{closed}); err != nil {
		// Left in the all-allow group, it is more open than before: put
		// it back, as far as that works; the retry isolates it again.
		if len(prior) > 0 {
			_ = i.setGroups(context.WithoutCancel(ctx), eid, prior)
		}
		return nil, false, false, fmt.Errorf("move %s to isolation group %s (second of two steps): %w", eid, closed, err)
	}
	return prior, true, untagged, nil
}

func (i *Isolator) setGroups(ctx context.Context, eni string, groups []string) error {
	_, err := i.EC2.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{NetworkInterfaceId: aws.String(eni), Groups: groups})
	return err
}

// tagInstance tags the instance with the finding and the time, before
// any of its interfaces changes. An instance that has them already (a
// retry, or another finding's isolation) keeps them: they are written
// again unchanged when an interface is still to move (moving), so that
// every attempt that changes an interface passes IAM's deny on a protected
// instance first, and not at all otherwise. IAM's refusal
// (UnauthorizedOperation) is permanent.
//
// An instance that has as many tags as EC2 allows (50: TagLimitExceeded)
// is isolated untagged, and untagged says so for the detail: whoever can
// tag the instance could otherwise fill its tags to keep it from ever
// being isolated. The code read its tags and found it unprotected; the
// tags are a record and IAM's second check, not the isolation.
func (i *Isolator) tagInstance(ctx context.Context, inst ec2types.Instance, req Request, moving bool) (untagged string, err error) {
	tags := isolatedTags(req)
	if _, ok := tagValue(inst.Tags, TagIsolatedAt); ok {
		if !moving {
			return "", nil
		}
		tags = tags[:0]
		for _, k := range []string{TagIsolatedAt, TagIsolatedBy} {
			if v, ok := tagValue(inst.Tags, k); ok {
				tags = append(tags, ec2types.Tag{Key: aws.String(k), Value: aws.String(v)})
			}
		}
	}
	id := aws.ToString(inst.InstanceId)
	_, err = i.EC2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: tags})
	switch c := failure.Code(err); {
	case err == nil:
		return "", nil
	case deniedCode(c):
		return "", failure.Permanent(fmt.Errorf("tag it (%s, %s): refused (the role's policy denies it on an instance tagged %s=%s): %w",
			TagIsolatedBy, TagIsolatedAt, protect.TagKey, protect.TagValue, err))
	case c == "TagLimitExceeded":
		return fmt.Sprintf("; the instance is not tagged %s/%s: it has as many tags as EC2 allows (%s)", TagIsolatedBy, TagIsolatedAt, c), nil
	default:
		return "", fmt.Errorf("tag it (%s, %s): %w", TagIsolatedBy, TagIsolatedAt, err)
	}
}

// deniedCode tells whether an AWS error code is IAM's refusal, in EC2's
// words (UnauthorizedOperation) or the common one (AccessDenied).
func deniedCode(code string) bool { return code == "UnauthorizedOperation" || code == "AccessDenied" }

// isolatedTags name the finding and the time of an isolation.
func isolatedTags(req Request) []ec2types.Tag {
	tags := []ec2types.Tag{{Key: aws.String(TagIsolatedAt), Value: aws.String(req.Now.UTC().Format(time.RFC3339))}}
	if req.Finding != "" {
		by := req.Finding
		if len(by) > 256 {
			by = by[:256] // EC2's limit on a tag value
		}
		tags = append(tags, ec2types.Tag{Key: aws.String(TagIsolatedBy), Value: aws.String(by)})
	}
	return tags
}

// snapshot snapshots each EBS volume of the instance that has no snapshot
// of this finding's yet, tagged as the instance is; it returns the new
// snapshots' ids.
func (i *Isolator) snapshot(ctx context.Context, inst ec2types.Instance, req Request) ([]string, error) {
	var made []string
	for _, bd := range inst.BlockDeviceMappings {
		if bd.Ebs == nil || aws.ToString(bd.Ebs.VolumeId) == "" {
			continue
		}
		vol := aws.ToString(bd.Ebs.VolumeId)
		filters := []ec2types.Filter{{Name: aws.String("volume-id"), Values: []string{vol}}}
		if req.Finding != "" {
			filters = append(filters, ec2types.Filter{Name: aws.String("tag:" + TagIsolatedBy), Values: []string{req.Finding}})
		} else {
			filters = append(filters, ec2types.Filter{Name: aws.String("tag-key"), Values: []string{TagIsolatedAt}})
		}
		out, err := i.EC2.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}, Filters: filters})
		if err != nil {
			return made, fmt.Errorf("look for snapshots of volume %s: %w", vol, err)
		}
		if len(out.Snapshots) > 0 {
			continue
		}
		snap, err := i.EC2.CreateSnapshot(ctx, &ec2.CreateSnapshotInput{VolumeId: aws.String(vol),
			Description:       aws.String(fmt.Sprintf("autocontain: volume %s of isolated instance %s", vol, aws.ToString(inst.InstanceId))),
			TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeSnapshot, Tags: isolatedTags(req)}}})
		if err != nil {
			return made, fmt.Errorf("snapshot volume %s: %w", vol, err)
		}
		made = append(made, aws.ToString(snap.SnapshotId))
	}
	return made, nil
}

// Undo implements Reverter: each network interface still in autocontain's
// groups gets the groups it had before, as the ledger recorded them (or,
// failing that, its tag); one a person moved since is left as it is. The
// tags go; snapshots stay.
func (i *Isolator) Undo(ctx context.Context, h ledger.Hold) (done, left string, err error) {
	s, err := i.Step(h)
	if err != nil {
		return "", "", err
	}
	id := s.Target.InstanceID
	recorded, _ := parsePrior(h.Prior) // unreadable: the interfaces' tags
	inst, _, ok, err := i.instance(ctx, id)
	switch {
	case err != nil:
		return "", "", fmt.Errorf("undo: %w", err)
	case !ok:
		return "", fmt.Sprintf("instance %s no longer exists", id), nil
	}
	enis, err := i.interfaces(ctx, inst)
	if err != nil {
		return "", "", fmt.Errorf("undo: %w", err)
	}
	// autocontain's groups of every VPC the interfaces are in.
	var ours, vpcs []string
	for _, eni := range enis {
		vpc := interfaceVPC(eni, inst)
		if slices.Contains(vpcs, vpc) {
			continue
		}
		vpcs = append(vpcs, vpc)
		for _, name := range []string{OpenGroupName, IsolationGroupName} {
			sg, found, err := i.findGroup(ctx, vpc, name)
			if err != nil {
				return "", "", fmt.Errorf("undo: %w", err)
			}
			if _, tagged := tagValue(sg.Tags, TagIsolation); found && tagged {
				ours = append(ours, aws.ToString(sg.GroupId))
			}
		}
	}
	var restored, leftOut []string
	isolated := false
	for _, eni := range enis {
		eid := aws.ToString(eni.NetworkInterfaceId)
		cur := groupIDs(eni.Groups)
		prior := recorded[eid]
		if len(prior) == 0 {
			prior = taggedPrior(eni.TagSet)
		}
		switch {
		case len(cur) != 1 || !slices.Contains(ours, cur[0]):
			leftOut = append(leftOut, fmt.Sprintf("%s is no longer in autocontain's isolation groups (it has %s): left as it is", eid, strings.Join(cur, ", ")))
		case len(prior) == 0:
			isolated = true
			leftOut = append(leftOut, fmt.Sprintf("%s: no previous security groups recorded: left isolated", eid))
			continue
		default:
			if err := i.setGroups(ctx, eid, prior); err != nil {
				if failure.Code(err) == "InvalidGroup.NotFound" {
					isolated = true
					leftOut = append(leftOut, fmt.Sprintf("%s: a previous security group of %s no longer exists: left isolated", eid, strings.Join(prior, ", ")))
					continue
				}
				return "", "", fmt.Errorf("undo: restore the security groups %s of %s: %w", strings.Join(prior, ", "), eid, err)
			}
			restored = append(restored, fmt.Sprintf("%s (%s)", eid, strings.Join(prior, ", ")))
		}
		if _, tagged := tagValue(eni.TagSet, TagPriorGroups); tagged {
			if err := i.untag(ctx, eid, TagPriorGroups, TagPriorGroups+"-2"); err != nil {
				return "", "", err
			}
		}
	}
	untagged := false
	if !isolated {
		// IAM's deny refuses it on an instance tagged
		// autocontain:protected=true since (infra/ec2.go): its interfaces
		// are restored, and the two tags, which change nothing, stay, said
		// in left, rather than an undo that fails on every attempt.
		err := i.untag(ctx, id, TagIsolatedBy, TagIsolatedAt)
		switch c := failure.Code(err); {
		case err == nil:
			untagged = true
		case deniedCode(c):
			leftOut = append(leftOut, fmt.Sprintf("its tags %s and %s stay: IAM refused to remove them (%s; is it tagged %s=%s now?)",
				TagIsolatedBy, TagIsolatedAt, c, protect.TagKey, protect.TagValue))
		default:
			return "", "", err
		}
	}
	if len(restored) > 0 {
		done = fmt.Sprintf("instance %s: restored the security groups of %s", id, strings.Join(restored, ", "))
		if untagged {
			done += "; removed its isolation tags (snapshots kept)"
		}
	}
	if len(leftOut) > 0 {
		left = fmt.Sprintf("instance %s: %s", id, strings.Join(leftOut, "; "))
	}
	return done, left, nil
}

func (i *Isolator) untag(ctx context.Context, resource string, keys ...string) error {
	tags := make([]ec2types.Tag, len(keys))
	for j, k := range keys {
		tags[j] = ec2types.Tag{Key: aws.String(k)}
	}
	if _, err := i.EC2.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{resource}, Tags: tags}); err != nil {
		return fmt.Errorf("undo: remove the tags %s of %s: %w", strings.Join(keys, ", "), resource, err)
	}
	return nil
}

// priorGroups maps each network interface to the security groups it had
// before autocontain isolated it. Its String is what the ledger keeps
// ("eni-a=sg-1,sg-2 eni-b=sg-3"), which parsePrior reads back.
type priorGroups map[string][]string

func (p priorGroups) String() string {
	enis := make([]string, 0, len(p))
	for e := range p {
		enis = append(enis, e)
	}
	slices.Sort(enis)
	parts := make([]string, len(enis))
	for j, e := range enis {
		parts[j] = e + "=" + strings.Join(p[e], ",")
	}
	return strings.Join(parts, " ")
}

var (
	eniPattern   = regexp.MustCompile(`^eni-[0-9a-f]{8,17}$`)
	groupPattern = regexp.MustCompile(`^sg-[0-9a-f]{8,17}$`)
)

func validGroups(gs []string) bool {
	return len(gs) > 0 && !slices.ContainsFunc(gs, func(g string) bool { return !groupPattern.MatchString(g) })
}

// parsePrior reads priorGroups.String back; anything it cannot read is an
// error, and nothing of it is used.
func parsePrior(s string) (priorGroups, error) {
	out := priorGroups{}
	for _, part := range strings.Fields(s) {
		eni, groups, ok := strings.Cut(part, "=")
		gs := strings.Split(groups, ",")
		if !ok || !eniPattern.MatchString(eni) || !validGroups(gs) {
			return priorGroups{}, fmt.Errorf("isolate-instance: %q is not a record of previous security groups", s)
		}
		out[eni] = gs
	}
	return out, nil
}
