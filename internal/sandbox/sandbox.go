// Package sandbox builds, in an AWS emulator, the account that the sample
// events in events/ talk about: the IAM users with their access keys, the
// roles, the WAF IP sets and the notification topic. The demo and the
// integration tests use it. It refuses any endpoint that is not on this
// machine, so it can never create users in a real account.
package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/aws-sdk-go-v2/service/wafv2"
	waftypes "github.com/aws/aws-sdk-go-v2/service/wafv2/types"

	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/ipset"
	"github.com/autocontain/autocontain/internal/ledger"
	"github.com/autocontain/autocontain/internal/playbook"
)

// Users and roles the sample events name.
var (
	Users = []string{"alice", "bob", "ci-deployer"}
	Roles = []string{"web-app-role", "data-pipeline-role"}
	// InstanceProfiles the sample events name, each with its role (a
	// profile's name need not be its role's).
	InstanceProfiles = [][2]string{{"web-app-profile", "web-app-role"}, {"batch-worker", "data-pipeline-role"}, {"ci-runner", "data-pipeline-role"}}
	// Instances the sample events isolate: the emulator makes up its own
	// instance ids, and Rewrite puts the sandbox's in place of these.
	Instances = []string{"i-0a1b2c3d4e5f67890", "i-0e4b6d8f0a2c41357"}
)

// InstanceGroup is the security group each sandbox instance starts in.
const InstanceGroup = "web-app"

// Account is the sandbox's state as created.
type Account struct {
	// Keys maps each user to the ids of the access keys created for it.
	Keys     map[string][]string
	IPSetV4  string
	IPSetV6  string
	TopicARN string
	// QueueURL is an SQS queue subscribed to the topic, to read notifications back.
	QueueURL string
	// LedgerTable is the ledger's DynamoDB table.
	LedgerTable string
	// Instances maps each of the sample events' instance ids (Instances)
	// to the id of the instance the emulator ran for it.
	Instances map[string]string
}

// CreateLedgerTable makes the ledger's table as the CDK stack does: a
// string partition key and sort key, on-demand, with TTL.
func CreateLedgerTable(ctx context.Context, cfg aws.Config, name string) error {
	db := dynamodb.NewFromConfig(cfg)
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(name),
		AttributeDefinitions: []ddbtypes.AttributeDefinition{
			{AttributeName: aws.String(ledger.AttrPK), AttributeType: ddbtypes.ScalarAttributeTypeS},
			{AttributeName: aws.String(ledger.AttrSK), AttributeType: ddbtypes.ScalarAttributeTypeS},
		},
		KeySchema: []ddbtypes.KeySchemaElement{
			{AttributeName: aws.String(ledger.AttrPK), KeyType: ddbtypes.KeyTypeHash},
			{AttributeName: aws.String(ledger.AttrSK), KeyType: ddbtypes.KeyTypeRange},
		},
		BillingMode: ddbtypes.BillingModePayPerRequest,
	})
	if err != nil {
		return fmt.Errorf("create table %s: %w", name, err)
	}
	_, err = db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{TableName: aws.String(name),
		TimeToLiveSpecification: &ddbtypes.TimeToLiveSpecification{AttributeName: aws.String(ledger.AttrTTL), Enabled: aws.Bool(true)}})
	if err != nil {
		return fmt.Errorf("enable TTL on %s: %w", name, err)
	}
	return nil
}

// CheckLocal refuses configurations whose endpoint is not on this machine.
func CheckLocal(cfg aws.Config) error {
	if cfg.BaseEndpoint == nil {
		return errors.New("sandbox: no endpoint is set (AWS_ENDPOINT_URL): refusing to touch a real AWS account")
	}
	u, err := url.Parse(*cfg.BaseEndpoint)
	if err != nil {
		return fmt.Errorf("sandbox: endpoint %q: %w", *cfg.BaseEndpoint, err)
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("sandbox: endpoint %q is not on this machine: refusing to touch it", *cfg.BaseEndpoint)
	}
	return nil
}

// Create builds the account in the emulator cfg points at.
func Create(ctx context.Context, cfg aws.Config) (*Account, error) {
	if err := CheckLocal(cfg); err != nil {
		return nil, err
	}
	iamc, waf, snsc, sqsc := iam.NewFromConfig(cfg), wafv2.NewFromConfig(cfg), sns.NewFromConfig(cfg), sqs.NewFromConfig(cfg)
	a := &Account{Keys: map[string][]string{}, LedgerTable: "autocontain-ledger"}
	if err := CreateLedgerTable(ctx, cfg, a.LedgerTable); err != nil {
		return nil, err
	}
	// quarantine attaches AWS's managed policy, which moto has only when
	// started with MOTO_IAM_LOAD_MANAGED_POLICIES=true (internal/emulator
	// does; a server named by AUTOCONTAIN_MOTO_URL may not).
	quarantine := playbook.DefaultQuarantinePolicy("aws")
	if _, err := iamc.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String(quarantine)}); err != nil {
		return nil, fmt.Errorf("the emulator lacks AWS's managed policy %s, which quarantine attaches (start moto_server with MOTO_IAM_LOAD_MANAGED_POLICIES=true): %w", quarantine, err)
	}
	keys := map[string]int{"alice": 2, "bob": 1, "ci-deployer": 1}
	for _, u := range Users {
		if _, err := iamc.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(u)}); err != nil {
			return nil, fmt.Errorf("create user %s: %w", u, err)
		}
		for range keys[u] {
			out, err := iamc.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(u)})
			if err != nil {
				return nil, fmt.Errorf("create access key for %s: %w", u, err)
			}
			a.Keys[u] = append(a.Keys[u], aws.ToString(out.AccessKey.AccessKeyId))
		}
	}
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
	for _, r := range Roles {
		if _, err := iamc.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(r), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
			return nil, fmt.Errorf("create role %s: %w", r, err)
		}
	}
	for _, ip := range InstanceProfiles {
		if _, err := iamc.CreateInstanceProfile(ctx, &iam.CreateInstanceProfileInput{InstanceProfileName: aws.String(ip[0])}); err != nil {
			return nil, fmt.Errorf("create instance profile %s: %w", ip[0], err)
		}
		if _, err := iamc.AddRoleToInstanceProfile(ctx, &iam.AddRoleToInstanceProfileInput{InstanceProfileName: aws.String(ip[0]), RoleName: aws.String(ip[1])}); err != nil {
			return nil, fmt.Errorf("add role %s to instance profile %s: %w", ip[1], ip[0], err)
		}
	}
	instances, err := runInstances(ctx, ec2.NewFromConfig(cfg))
	if err != nil {
		return nil, err
	}
	a.Instances = instances
	for _, s := range []struct {
		name    string
		version waftypes.IPAddressVersion
		dst     *string
	}{
		{"autocontain-blocklist-v4", waftypes.IPAddressVersionIpv4, &a.IPSetV4},
		{"autocontain-blocklist-v6", waftypes.IPAddressVersionIpv6, &a.IPSetV6},
	} {
		out, err := waf.CreateIPSet(ctx, &wafv2.CreateIPSetInput{
			Name: aws.String(s.name), Scope: waftypes.ScopeRegional, IPAddressVersion: s.version, Addresses: []string{},
			Description: aws.String("Addresses blocked by autocontain"),
		})
		if err != nil {
			return nil, fmt.Errorf("create IP set %s: %w", s.name, err)
		}
		*s.dst = aws.ToString(out.Summary.ARN)
	}
	topic, err := snsc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("autocontain-notifications")})
	if err != nil {
		return nil, fmt.Errorf("create topic: %w", err)
	}
	a.TopicARN = aws.ToString(topic.TopicArn)
	q, err := sqsc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("autocontain-notifications-inbox")})
	if err != nil {
		return nil, fmt.Errorf("create queue: %w", err)
	}
	a.QueueURL = aws.ToString(q.QueueUrl)
	qa, err := sqsc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		return nil, fmt.Errorf("read queue ARN: %w", err)
	}
	if _, err := snsc.Subscribe(ctx, &sns.SubscribeInput{
		TopicArn: topic.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(qa.Attributes["QueueArn"]),
		Attributes: map[string]string{"RawMessageDelivery": "true"},
	}); err != nil {
		return nil, fmt.Errorf("subscribe queue to topic: %w", err)
	}
	return a, nil
}

// runInstances runs one instance for each of Instances, in a VPC of its
// own, with one network interface in the group InstanceGroup.
func runInstances(ctx context.Context, c *ec2.Client) (map[string]string, error) {
	vpc, err := c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16")})
	if err != nil {
		return nil, fmt.Errorf("create VPC: %w", err)
	}
	sub, err := c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpc.Vpc.VpcId, CidrBlock: aws.String("10.0.1.0/24")})
	if err != nil {
		return nil, fmt.Errorf("create subnet: %w", err)
	}
	sg, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String(InstanceGroup), Description: aws.String("the sample instances' group"), VpcId: vpc.Vpc.VpcId})
	if err != nil {
		return nil, fmt.Errorf("create security group: %w", err)
	}
	out := map[string]string{}
	for _, id := range Instances {
		run, err := c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-12c6146b"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
			InstanceType:      ec2types.InstanceTypeT3Micro,
			NetworkInterfaces: []ec2types.InstanceNetworkInterfaceSpecification{{DeviceIndex: aws.Int32(0), SubnetId: sub.Subnet.SubnetId, Groups: []string{aws.ToString(sg.GroupId)}}}})
		if err != nil {
			return nil, fmt.Errorf("run the instance for %s: %w", id, err)
		}
		out[id] = aws.ToString(run.Instances[0].InstanceId)
	}
	return out, nil
}

// Settings returns the playbook settings that point the actions at the sandbox.
func (a *Account) Settings(base playbook.Settings) playbook.Settings {
	base.IPSets = playbook.IPSets{IPv4: a.IPSetV4, IPv6: a.IPSetV6}
	base.TopicARN = a.TopicARN
	return base
}

// Env returns the same settings as AUTOCONTAIN_* environment variables.
func (a *Account) Env() []string {
	return []string{
		playbook.EnvIPSetV4 + "=" + a.IPSetV4,
		playbook.EnvIPSetV6 + "=" + a.IPSetV6,
		playbook.EnvTopicARN + "=" + a.TopicARN,
		"AUTOCONTAIN_LEDGER_TABLE=" + a.LedgerTable,
	}
}

// Rewrite returns event with each long-term access key id it names
// replaced by the sandbox's first key of the same user, and each sample
// instance id by the sandbox's instance: the emulator makes up its own
// ids, the sample events carry realistic ones.
func (a *Account) Rewrite(event []byte) []byte {
	for sample, id := range a.Instances {
		event = bytes.ReplaceAll(event, []byte(sample), []byte(id))
	}
	fs, err := finding.ParseAll(event)
	if err != nil {
		return event
	}
	for _, f := range fs {
		for _, pr := range f.Principals() {
			keys := a.Keys[pr.UserName]
			if pr.Kind == finding.KindIAMUserKey && len(keys) > 0 && pr.AccessKeyID != "" {
				event = bytes.ReplaceAll(event, []byte(pr.AccessKeyID), []byte(keys[0]))
			}
		}
	}
	return event
}

// Messages receives the notifications published so far (at most max).
func (a *Account) Messages(ctx context.Context, cfg aws.Config, max int) ([]string, error) {
	sqsc := sqs.NewFromConfig(cfg)
	var out []string
	for len(out) < max {
		r, err := sqsc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(a.QueueURL), MaxNumberOfMessages: int32(min(10, max-len(out)))})
		if err != nil {
			return nil, fmt.Errorf("receive notifications: %w", err)
		}
		if len(r.Messages) == 0 {
			break
		}
		for _, m := range r.Messages {
			out = append(out, aws.ToString(m.Body))
			if _, err := sqsc.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(a.QueueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				return nil, fmt.Errorf("delete notification: %w", err)
			}
		}
	}
	return out, nil
}

// State is what containment changes in the sandbox, read back through the API.
type State struct {
	// KeyStatus maps user -> key id -> Active or Inactive.
	KeyStatus map[string]map[string]string
	// UserPolicies and RolePolicies map a name to its inline policies' names.
	UserPolicies map[string][]string
	RolePolicies map[string][]string
	// UserAttached and RoleAttached map a name to the ARNs of the managed
	// policies attached to it (quarantine's).
	UserAttached map[string][]string
	RoleAttached map[string][]string
	// IPv4 and IPv6 are the IP sets' addresses, sorted.
	IPv4, IPv6 []string
	// InstanceGroups maps each sandbox instance to the names of the
	// security groups of its network interfaces, sorted.
	InstanceGroups map[string][]string
}

// Snapshot reads the state back.
func (a *Account) Snapshot(ctx context.Context, cfg aws.Config) (State, error) {
	iamc, waf := iam.NewFromConfig(cfg), wafv2.NewFromConfig(cfg)
	s := State{KeyStatus: map[string]map[string]string{}, UserPolicies: map[string][]string{}, RolePolicies: map[string][]string{},
		UserAttached: map[string][]string{}, RoleAttached: map[string][]string{}}
	for _, u := range Users {
		keys, err := iamc.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String(u)})
		if err != nil {
			return State{}, fmt.Errorf("list keys of %s: %w", u, err)
		}
		s.KeyStatus[u] = map[string]string{}
		for _, k := range keys.AccessKeyMetadata {
			s.KeyStatus[u][aws.ToString(k.AccessKeyId)] = string(k.Status)
		}
		pols, err := iamc.ListUserPolicies(ctx, &iam.ListUserPoliciesInput{UserName: aws.String(u)})
		if err != nil {
			return State{}, fmt.Errorf("list policies of user %s: %w", u, err)
		}
		s.UserPolicies[u] = pols.PolicyNames
		att, err := iamc.ListAttachedUserPolicies(ctx, &iam.ListAttachedUserPoliciesInput{UserName: aws.String(u)})
		if err != nil {
			return State{}, fmt.Errorf("list attached policies of user %s: %w", u, err)
		}
		s.UserAttached[u] = policyARNs(att.AttachedPolicies)
	}
	for _, r := range Roles {
		pols, err := iamc.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: aws.String(r)})
		if err != nil {
			return State{}, fmt.Errorf("list policies of role %s: %w", r, err)
		}
		s.RolePolicies[r] = pols.PolicyNames
		att, err := iamc.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(r)})
		if err != nil {
			return State{}, fmt.Errorf("list attached policies of role %s: %w", r, err)
		}
		s.RoleAttached[r] = policyARNs(att.AttachedPolicies)
	}
	groups, err := instanceGroups(ctx, ec2.NewFromConfig(cfg), a.Instances)
	if err != nil {
		return State{}, err
	}
	s.InstanceGroups = groups
	for _, set := range []struct {
		arn string
		dst *[]string
	}{{a.IPSetV4, &s.IPv4}, {a.IPSetV6, &s.IPv6}} {
		ref, err := ipset.Parse(set.arn)
		if err != nil {
			return State{}, err
		}
		out, err := waf.GetIPSet(ctx, &wafv2.GetIPSetInput{Name: aws.String(ref.Name), Id: aws.String(ref.ID), Scope: waftypes.Scope(ref.Scope)})
		if err != nil {
			return State{}, fmt.Errorf("get IP set %s: %w", ref.Name, err)
		}
		*set.dst = slices.Sorted(slices.Values(out.IPSet.Addresses))
	}
	return s, nil
}

// instanceGroups reads the groups of each instance's interfaces, by name.
func instanceGroups(ctx context.Context, c *ec2.Client, instances map[string]string) (map[string][]string, error) {
	out := map[string][]string{}
	if len(instances) == 0 {
		return out, nil
	}
	ids := slices.Sorted(maps.Values(instances))
	res, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids})
	if err != nil {
		return nil, fmt.Errorf("describe the sandbox's instances: %w", err)
	}
	for _, r := range res.Reservations {
		for _, in := range r.Instances {
			var names []string
			for _, n := range in.NetworkInterfaces {
				for _, g := range n.Groups {
					names = append(names, aws.ToString(g.GroupName))
				}
			}
			out[aws.ToString(in.InstanceId)] = slices.Sorted(slices.Values(names))
		}
	}
	return out, nil
}

// policyARNs are the attached policies' ARNs, sorted.
func policyARNs(ps []iamtypes.AttachedPolicy) []string {
	var out []string
	for _, p := range ps {
		out = append(out, aws.ToString(p.PolicyArn))
	}
	slices.Sort(out)
	return out
}

// attached renders the attached policies, when there are any.
func attached(arns []string) string {
	if len(arns) == 0 {
		return ""
	}
	return "  attached: " + strings.Join(arns, " ")
}

// String renders the state for the demo, keys masked.
func (s State) String() string {
	var b strings.Builder
	for _, u := range Users {
		var keys []string
		for id, st := range s.KeyStatus[u] {
			keys = append(keys, finding.MaskKey(id)+" "+st)
		}
		sort.Strings(keys)
		fmt.Fprintf(&b, "  user %-12s keys: %-42s inline policies: %s%s\n", u, strings.Join(keys, ", "), list(s.UserPolicies[u]), attached(s.UserAttached[u]))
	}
	for _, r := range Roles {
		fmt.Fprintf(&b, "  role %-19s inline policies: %s%s\n", r, list(s.RolePolicies[r]), attached(s.RoleAttached[r]))
	}
	for _, id := range slices.Sorted(maps.Keys(s.InstanceGroups)) {
		fmt.Fprintf(&b, "  instance %s security groups: %s\n", id, list(s.InstanceGroups[id]))
	}
	fmt.Fprintf(&b, "  WAF IPv4 set: %s\n  WAF IPv6 set: %s\n", list(s.IPv4), list(s.IPv6))
	return b.String()
}

func list(ss []string) string {
	if len(ss) == 0 {
		return "(none)"
	}
	return strings.Join(ss, " ")
}
