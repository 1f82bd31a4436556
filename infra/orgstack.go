package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudformation"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awswafv2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/autocontain/autocontain/infra/patterns"
	"github.com/autocontain/autocontain/internal/playbook"
	"github.com/autocontain/autocontain/internal/protect"
)

// Sids of the central role's organization-mode grants.
const (
	sidAssumeMemberRoles = "AssumeTheMemberRoleInTheOrganization"
	sidDescribeAccounts  = "DescribeTheOrganizationsAccounts"
)

// orgStatements are what the central function needs besides its
// single-account grants, which it keeps: a finding about the central
// account itself is handled as in single-account mode, with the function's
// own role and IP sets (internal/account, Org.Reach). It assumes the
// member role, by name, in any account, only when the role belongs to the
// organization (aws:ResourceOrgID, the organization of the account that
// owns the requested resource, the role: IAM User Guide, "AWS global
// condition context keys"); and it asks Organizations whether an account
// is a member (DescribeAccount, whose resource is an account of the
// organization: Service Authorization Reference, AWS Organizations,
// arn:${Partition}:organizations::${ManagementAccountId}:account/o-${OrganizationId}/${AccountId}).
func orgStatements(stack awscdk.Stack, o OrgConfig) []awsiam.PolicyStatement {
	partition := *stack.Partition()
	return []awsiam.PolicyStatement{
		organizationRolesDeny(stack, o.MemberRoleName),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid: jsii.String(sidAssumeMemberRoles), Effect: awsiam.Effect_ALLOW,
			Actions:    jsii.Strings("sts:AssumeRole"),
			Resources:  jsii.Strings(fmt.Sprintf("arn:%s:iam::*:role/%s", partition, o.MemberRoleName)),
			Conditions: &map[string]any{"StringEquals": map[string]any{"aws:ResourceOrgID": o.ID}},
		}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid: jsii.String(sidDescribeAccounts), Effect: awsiam.Effect_ALLOW,
			Actions:   jsii.Strings("organizations:DescribeAccount"),
			Resources: jsii.Strings(fmt.Sprintf("arn:%s:organizations::*:account/%s/*", partition, o.ID)),
		}),
	}
}

// sidDenyOrganizationRoles is the Sid of the deny that keeps both roles,
// the central one and each member's, off the organization's own roles.
const sidDenyOrganizationRoles = "NeverChangeTheOrganizationsRoles"

// organizationRolesDeny denies every IAM action that changes a principal
// on the organization's roles of the stack's account.
func organizationRolesDeny(stack awscdk.Stack, memberRole string) awsiam.PolicyStatement {
	var arns []string
	// The roles organization mode never contains, in any account
	// (protect.OrganizationRoles, which the code applies; here IAM
	// enforces them too).
	for _, name := range protect.OrganizationRoles(memberRole) {
		arns = append(arns, fmt.Sprintf("arn:%s:iam::%s:role/%s", *stack.Partition(), *stack.Account(), name))
	}
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid: jsii.String(sidDenyOrganizationRoles), Effect: awsiam.Effect_DENY,
		Actions: jsii.Strings(mutatingIAMActions()...), Resources: jsii.Strings(arns...),
	})
}

// orgBusName is the name of the central account's bus for the
// organization, in the stack's Region.
func orgBusName(stackName string) string { return stackName + "-organization" }

// organization adds organization mode's central parts to the stack: the
// organization's bus, which accepts events from the organization's
// accounts only; the playbook's rules on it; and the StackSet of the
// member stacks. target makes a rule's target, the function.
func organization(stack awscdk.Stack, cfg Config, role awsiam.Role, target func() awsevents.IRuleTarget) {
	bus := awsevents.NewEventBus(stack, jsii.String("OrganizationBus"), &awsevents.EventBusProps{
		EventBusName: jsii.String(orgBusName(*stack.StackName())),
		Description:  jsii.String("autocontain: events forwarded by the organization's member stacks and the GuardDuty forwarders"),
	})
	// Any principal of the organization may put events; no other
	// (EventBridge User Guide, "Permissions for event buses": a
	// resource-based policy "to grant permissions to an organization").
	awsevents.NewCfnEventBusPolicy(stack, jsii.String("OrganizationBusPolicy"), &awsevents.CfnEventBusPolicyProps{
		EventBusName: bus.EventBusName(),
		StatementId:  jsii.String("AllowPutEventsFromTheOrganizationOnly"),
		Statement: map[string]any{
			"Sid": "AllowPutEventsFromTheOrganizationOnly", "Effect": "Allow", "Principal": "*",
			"Action": "events:PutEvents", "Resource": bus.EventBusArn(),
			"Condition": map[string]any{"StringEquals": map[string]any{"aws:PrincipalOrgID": cfg.Org.ID}},
		},
	})
	pb := cfg.Playbook
	guardDuty, cloudTrail, err := orgBusPatterns(pb, *stack.Account(), *stack.Region())
	if err != nil {
		awscdk.Annotations_Of(stack).AddError(jsii.String(err.Error()))
	}
	for i, p := range guardDuty {
		rule(stack, bus, ruleID("OrganizationGuardDutyFindings", i),
			partOf("GuardDuty findings the playbook acts on, forwarded from the central account's other Regions", i, len(guardDuty)), p).AddTarget(target())
	}
	for i, p := range cloudTrail {
		rule(stack, bus, ruleID("OrganizationCloudTrailEvents", i),
			partOf("CloudTrail events the playbook acts on, forwarded by the member stacks", i, len(cloudTrail)), p).AddTarget(target())
	}

	body, err := memberTemplate(cfg)
	if err != nil {
		awscdk.Annotations_Of(stack).AddError(jsii.String(err.Error()))
	}
	o := cfg.Org
	stackSet := awscloudformation.NewCfnStackSet(stack, jsii.String("MemberStackSet"), &awscloudformation.CfnStackSetProps{
		StackSetName: jsii.String(*stack.StackName() + "-member"),
		Description:  jsii.String("autocontain: the member role, the member's IP sets and the forwarding of its CloudTrail events, in each account of the OUs"),
		// Service-managed: StackSets creates the roles it needs in the
		// targets, and deploys to accounts that join the OUs later
		// (CloudFormation User Guide, StackSets with service-managed
		// permissions; AutoDeployment.Enabled).
		PermissionModel: jsii.String("SERVICE_MANAGED"),
		// The central account is the organization's delegated
		// administrator (GuardDuty's, and registered for StackSets), not
		// the management account: CallAs DELEGATED_ADMIN.
		CallAs: jsii.String("DELEGATED_ADMIN"),
		AutoDeployment: &awscloudformation.CfnStackSet_AutoDeploymentProperty{
			Enabled: jsii.Bool(true),
			// An account that leaves the OUs loses its member stack: a role
			// that can change its principals, trusted by another account,
			// must not outlive the account's membership (and the function
			// refuses a non-member anyway).
			RetainStacksOnAccountRemoval: jsii.Bool(false),
		},
		Capabilities: jsii.Strings("CAPABILITY_NAMED_IAM"),
		// ManagedExecution is passed through as JSON: CDK does not rename
		// the struct's fields.
		ManagedExecution: map[string]any{"Active": true},
		OperationPreferences: &awscloudformation.CfnStackSet_OperationPreferencesProperty{
			RegionConcurrencyType:      jsii.String("PARALLEL"),
			ConcurrencyMode:            jsii.String("SOFT_FAILURE_TOLERANCE"),
			MaxConcurrentPercentage:    jsii.Number(100),
			FailureTolerancePercentage: jsii.Number(0),
		},
		Parameters: &[]any{
			&awscloudformation.CfnStackSet_ParameterProperty{ParameterKey: jsii.String(memberParamRole), ParameterValue: role.RoleArn()},
			&awscloudformation.CfnStackSet_ParameterProperty{ParameterKey: jsii.String(memberParamBus), ParameterValue: bus.EventBusArn()},
		},
		StackInstancesGroup: &[]any{&awscloudformation.CfnStackSet_StackInstancesProperty{
			DeploymentTargets: &awscloudformation.CfnStackSet_DeploymentTargetsProperty{OrganizationalUnitIds: jsii.Strings(o.MemberTargets...)},
			Regions:           jsii.Strings(o.Regions...),
		}},
		TemplateBody: jsii.String(body),
	})
	for k, v := range map[string]*string{"OrganizationBusArn": bus.EventBusArn(), "MemberStackSetName": stackSet.StackSetName()} {
		awscdk.NewCfnOutput(stack, jsii.String(k), &awscdk.CfnOutputProps{Value: v})
	}
}

// orgBusPatterns derives the patterns of the organization bus's rules:
// every account's GuardDuty findings (forwarded from the central account's
// other Regions, where GuardDuty's administrator aggregation published
// them) and every account's CloudTrail events but those of the central
// account in its own Region, which its default bus delivers.
func orgBusPatterns(pb *playbook.Playbook, account, region string) (guardDuty, cloudTrail []patterns.Pattern, err error) {
	return busPatterns(
		func() ([]patterns.Pattern, error) { return patterns.GuardDuty(pb, "") },
		func() ([]patterns.Pattern, error) { return patterns.CloudTrailFromOthers(pb, account, region) })
}

// The member template's parameters, which the StackSet sets.
const (
	memberParamRole = "CentralFunctionRoleArn"
	memberParamBus  = "CentralEventBusArn"
)

// MemberStackProps configures the member stack.
type MemberStackProps struct {
	awscdk.StackProps
	Config Config
}

// NewMemberStack builds the member stack, which the StackSet deploys to
// each account of the OUs and each Region: the member role (in one Region:
// IAM is global), the member's two REGIONAL IP sets, and the rule that
// forwards the member's CloudTrail events the playbook acts on to the
// central bus. The central function's role and bus are its parameters.
func NewMemberStack(scope constructs.Construct, id string, props *MemberStackProps) awscdk.Stack {
	stack := awscdk.NewStack(scope, &id, &props.StackProps)
	cfg, o := props.Config, props.Config.Org
	pb := cfg.Playbook
	centralRole := awscdk.NewCfnParameter(stack, jsii.String(memberParamRole), &awscdk.CfnParameterProps{
		Type: jsii.String("String"), AllowedPattern: jsii.String(`^arn:aws[a-z-]*:iam::\d{12}:role/.+$`),
		Description: jsii.String("The ARN of the central autocontain function's role, the only principal the member role trusts"),
	})
	centralBus := awscdk.NewCfnParameter(stack, jsii.String(memberParamBus), &awscdk.CfnParameterProps{
		Type: jsii.String("String"), AllowedPattern: jsii.String(`^arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus/.+$`),
		Description: jsii.String("The ARN of the central account's event bus for the organization"),
	})

	// The member role, in one Region of the StackSet's.
	roleRegion := awscdk.NewCfnCondition(stack, jsii.String("MemberRoleRegion"), &awscdk.CfnConditionProps{
		Expression: awscdk.Fn_ConditionEquals(stack.Region(), jsii.String(o.memberRoleRegion())),
	})
	roleARN := jsii.String(fmt.Sprintf("arn:%s:iam::%s:role/%s", *stack.Partition(), *stack.Account(), o.MemberRoleName))
	doc := awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{})
	for _, st := range memberStatements(stack, roleARN, o.MemberRoleName, pb) {
		doc.AddStatements(st)
	}
	role := awsiam.NewRole(stack, jsii.String("MemberRole"), &awsiam.RoleProps{
		RoleName:       jsii.String(o.MemberRoleName),
		AssumedBy:      awsiam.NewArnPrincipal(centralRole.ValueAsString()),
		Description:    jsii.String("autocontain: the central function contains this account's principals through it; least privilege"),
		InlinePolicies: &map[string]awsiam.PolicyDocument{"autocontain": doc},
	})
	role.Node().DefaultChild().(awsiam.CfnRole).CfnOptions().SetCondition(roleRegion)

	for _, set := range []struct{ id, name, version string }{{"BlocklistV4", MemberIPSetV4, "IPV4"}, {"BlocklistV6", MemberIPSetV6, "IPV6"}} {
		awswafv2.NewCfnIPSet(stack, jsii.String(set.id), &awswafv2.CfnIPSetProps{
			Name: jsii.String(set.name), Addresses: &[]*string{}, IpAddressVersion: jsii.String(set.version), Scope: jsii.String("REGIONAL"),
			Description: jsii.String("Addresses blocked by autocontain in this account and Region, written by the central function"),
		})
	}

	// The member's CloudTrail events reach only its own default bus, in
	// the Region of the call (IAM and sign-in: us-east-1): a rule in each
	// Region forwards those the playbook acts on to the central bus, as an
	// event bus target with a role EventBridge assumes (EventBridge User
	// Guide, "Sending and receiving events between AWS accounts").
	cloudTrail, err := patterns.CloudTrail(pb, *stack.Account())
	if err != nil {
		awscdk.Annotations_Of(stack).AddError(jsii.String(err.Error()))
	}
	forward(stack, centralBus.ValueAsString(), "ForwardCloudTrailEvents", "forward CloudTrail events the playbook acts on to the central account",
		"autocontain: EventBridge forwards this account's CloudTrail events the playbook acts on to the central bus", memberForwardingDeadLetters, cloudTrail)
	suppressNagFindings(stack, true)
	return stack
}

// memberStatements are the member role's policy: the code's declared
// IAM, WAF and EC2 permissions (engine.Permissions, as the central role gets
// them; the ledger and the topic are the central account's), scoped to
// the member's own account and its IP sets of that name in any Region;
// the IP sets' discovery by name; the quarantine policy only; and the
// central role's denies (never delete a key, never change itself, never
// touch a protected principal or one of the organization's roles).
func memberStatements(stack awscdk.Stack, roleARN *string, memberRole string, pb *playbook.Playbook) []awsiam.PolicyStatement {
	ipSets := make([]string, 0, 2)
	for _, name := range []string{MemberIPSetV4, MemberIPSetV6} {
		ipSets = append(ipSets, fmt.Sprintf("arn:%s:wafv2:*:%s:regional/ipset/%s/*", *stack.Partition(), *stack.Account(), name))
	}
	out := statements(stack, roleARN, resources{
		ipSets: ipSets, quarantinePolicy: pb.Settings.QuarantinePolicy(*stack.Partition()), services: []string{"iam", "wafv2", "ec2"},
	})
	out = append(out, awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		// ListIPSets lists the account's sets of a scope in a Region; it
		// names no set, so it takes no set's ARN.
		Sid: jsii.String("FindTheIPSetsByName"), Effect: awsiam.Effect_ALLOW,
		Actions: jsii.Strings("wafv2:ListIPSets"), Resources: jsii.Strings("*"),
	}))
	out = append(out, protectionDenies(stack, protectPatterns(pb))...)
	return append(out, organizationRolesDeny(stack, memberRole))
}

// memberTemplate synthesizes the member stack on its own, as the
// StackSet's template body: no bootstrap resources (the members are not
// bootstrapped for CDK), no assets.
func memberTemplate(cfg Config) (string, error) {
	dir, err := os.MkdirTemp("", "autocontain-member-")
	if err != nil {
		return "", fmt.Errorf("synthesize the member template: %w", err)
	}
	defer os.RemoveAll(dir)
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(dir), AnalyticsReporting: jsii.Bool(false)})
	NewMemberStack(app, "AutocontainMember", &MemberStackProps{
		StackProps: awscdk.StackProps{
			Description: jsii.String("autocontain member: the role the central function acts through, the IP sets it writes, the forwarding of CloudTrail events"),
			Synthesizer: awscdk.NewBootstraplessSynthesizer(&awscdk.BootstraplessSynthesizerProps{}),
		},
		Config: cfg,
	})
	tpl := app.Synth(nil).GetStackArtifact(jsii.String("AutocontainMember")).Template()
	raw, err := json.Marshal(tpl)
	if err != nil {
		return "", fmt.Errorf("the member template: %w", err)
	}
	if len(raw) > maxTemplateBody {
		return "", fmt.Errorf("the member template is %d bytes, more than the %d a StackSet's TemplateBody takes: use fewer protect patterns or a smaller playbook", len(raw), maxTemplateBody)
	}
	return string(raw), nil
}

// maxTemplateBody is CloudFormation's limit on a template passed as a
// body, in bytes (CloudFormation User Guide, "CloudFormation quotas":
// template body size in a request, 51,200 bytes).
const maxTemplateBody = 51200

// ForwarderStackProps configures a GuardDuty forwarder.
type ForwarderStackProps struct {
	awscdk.StackProps
	Config Config
	// HomeRegion is the central stack's Region, BusName its organization
	// bus.
	HomeRegion, BusName string
}

// NewForwarderStack builds the GuardDuty forwarder of one Region, in the
// central account: GuardDuty publishes a member's findings on its
// administrator's default bus in the finding's Region only (a delegated
// administrator is Regional), so a rule there forwards those the playbook
// acts on to the organization bus in the home Region (EventBridge User
// Guide, "Sending and receiving events between AWS Regions").
func NewForwarderStack(scope constructs.Construct, id string, props *ForwarderStackProps) awscdk.Stack {
	stack := awscdk.NewStack(scope, &id, &props.StackProps)
	guardDuty, err := patterns.GuardDuty(props.Config.Playbook, "")
	if err != nil {
		awscdk.Annotations_Of(stack).AddError(jsii.String(err.Error()))
	}
	busARN := stack.FormatArn(&awscdk.ArnComponents{
		Service: jsii.String("events"), Region: jsii.String(props.HomeRegion),
		Resource: jsii.String("event-bus"), ResourceName: jsii.String(props.BusName), ArnFormat: awscdk.ArnFormat_SLASH_RESOURCE_NAME,
	})
	forward(stack, busARN, "ForwardGuardDutyFindings", "forward GuardDuty findings the playbook acts on to the home Region",
		"autocontain: EventBridge forwards GuardDuty findings of this Region to the home Region's organization bus", forwarderDeadLetters(*stack.StackName()), guardDuty)
	suppressNagFindings(stack, true)
	return stack
}

// NewForwarderStacks adds a GuardDuty forwarder for each Region of the
// organization's but central's own, in central's account.
func NewForwarderStacks(scope constructs.Construct, central awscdk.Stack, cfg Config) []awscdk.Stack {
	var out []awscdk.Stack
	home := *central.Region()
	for _, r := range cfg.Org.Regions {
		if r == home {
			continue
		}
		out = append(out, NewForwarderStack(scope, "AutocontainForwarder-"+r, &ForwarderStackProps{
			StackProps: awscdk.StackProps{
				Description: jsii.String("autocontain: forwards this Region's GuardDuty findings to the organization bus in " + home),
				Env:         &awscdk.Environment{Account: central.Account(), Region: jsii.String(r)},
			},
			Config: cfg, HomeRegion: home, BusName: orgBusName(*central.StackName()),
		}))
	}
	return out
}

// Names of the forwarding rules' dead-letter queues, and of their alarms
// (the queue's name and "-alarm"): fixed, so that a person finds them in
// every account and Region (infra/README.md, "Organization mode"). The
// member stack's and a forwarder's differ: the central account may be a
// member too, with both stacks in one Region.
const memberForwardingDeadLetters = "autocontain-member-forwarding-dead-letters"

func forwarderDeadLetters(stackName string) string { return stackName + "-forwarding-dead-letters" }

// forward adds rules on the stack's default bus, one per pattern, whose
// target is the bus busARN, through one role EventBridge assumes and that
// may put events on that bus only (the target grants it).
//
// An event the central bus refuses after EventBridge's retries (24 hours,
// 185 attempts, by default) would be dropped without a trace: each target
// sends it to a dead-letter queue in this stack, named queueName, kept 14
// days to be re-driven, with an alarm on any message in it. The alarm has
// no action: an action must be in the alarm's Region (and the topic is
// the central account's, in the home Region), so the alarm is watched
// where it is (infra/README.md, "Organization mode").
func forward(stack awscdk.Stack, busARN *string, id, description, roleDescription, queueName string, ps []patterns.Pattern) {
	if len(ps) == 0 {
		return
	}
	bus := awsevents.EventBus_FromEventBusArn(stack, jsii.String("TargetBus"), busARN)
	role := awsiam.NewRole(stack, jsii.String("ForwarderRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("events.amazonaws.com"), nil),
		Description: jsii.String(roleDescription),
	})
	// SQS-managed encryption: EventBridge writes to it without a key
	// policy, and the queue holds events, not secrets.
	dlq := awssqs.NewQueue(stack, jsii.String("ForwardingDeadLetters"), &awssqs.QueueProps{
		QueueName:  jsii.String(queueName),
		Encryption: awssqs.QueueEncryption_SQS_MANAGED, EnforceSSL: jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
	})
	awscloudwatch.NewAlarm(stack, jsii.String("ForwardingDeadLettersAlarm"), &awscloudwatch.AlarmProps{
		AlarmName:        jsii.String(queueName + "-alarm"),
		AlarmDescription: jsii.String("autocontain: events could not be forwarded to the central bus: they are in queue " + queueName + " (kept 14 days); see infra/README.md, Organization mode"),
		Metric: dlq.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
			Period: awscdk.Duration_Minutes(jsii.Number(5)), Statistic: jsii.String("Maximum")}),
		Threshold: jsii.Number(1), EvaluationPeriods: jsii.Number(1),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
	for i, p := range ps {
		rule(stack, nil, ruleID(id, i), partOf(description, i, len(ps)), p).
			AddTarget(awseventstargets.NewEventBus(bus, &awseventstargets.EventBusProps{Role: role, DeadLetterQueue: dlq}))
	}
}
