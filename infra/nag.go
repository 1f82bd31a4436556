package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// nagSuppression explains one cdk-nag AwsSolutions finding the stack keeps
// on purpose. The infra tests run AwsSolutionsChecks on the synthesized
// stack: a finding that no suppression explains fails them, and so does a
// suppression that no longer matches a finding.
type nagSuppression struct {
	// construct is the id of the stack's child the finding is on; the
	// suppression covers the construct and its children (a role's policy).
	construct string
	rule      string
	// appliesTo narrows a rule with findings per item (IAM5: one per
	// wildcard action or resource) to the items matching these regular
	// expressions; empty for the whole rule.
	appliesTo []string
	reason    string
	// orgOnly: the finding exists in organization mode only, so a
	// single-account stack carries no word of it.
	orgOnly bool
}

// nagSuppressions are the stack's explained cdk-nag findings, by resource.
var nagSuppressions = []nagSuppression{
	// The dead-letter queue.
	{construct: "DeadLetters", rule: "AwsSolutions-SQS3",
		reason: "This queue is the dead-letter queue: of every rule's Lambda target and of the function's asynchronous invocations (OnFailure). " +
			"cdk-nag only recognizes queues named in another queue's redrive policy. A queue behind it would only move the messages; " +
			"the DeadLettersAlarm notifies the topic of any message, and messages are kept 14 days."},

	// The forwarding rules' dead-letter queues (organization mode's member
	// stack and GuardDuty forwarders).
	{construct: "ForwardingDeadLetters", rule: "AwsSolutions-SQS3", orgOnly: true,
		reason: "This queue is the dead-letter queue of the rules that forward events to the central bus; cdk-nag only recognizes queues named in another " +
			"queue's redrive policy. A queue behind it would only move the messages; its alarm fires on any message, and messages are kept 14 days to be re-driven."},

	// The function's role.
	{construct: "Role", rule: "AwsSolutions-IAM5",
		appliesTo: []string{`/^Resource::arn:(<AWS::Partition>|aws[a-z-]*):iam::(<AWS::AccountId>|\d{12}):(user|role|group|policy|instance-profile)\/\*$/`,
			`/^Resource::arn:(<AWS::Partition>|aws[a-z-]*):iam::aws:policy\/\*$/`},
		reason: "The function contains the IAM user or role a finding names, which is known only when the finding arrives, so its IAM actions " +
			"(all declared by the code, tested against the role) apply to the account's users and roles; to tell how much a principal could do, the function reads " +
			"its groups and the managed policies attached to it (the account's and AWS's), so the reads apply to groups and policies; before it plans a finding about an instance, it reads " +
			"the role of the instance's profile (iam:GetInstanceProfile), so that read applies to instance profiles. The explicit denies narrow them " +
			"(no access key deleted, its own role never changed); the protect guard and the function's code are the rest (infra/README.md, threat model)."},
	{construct: "Role", rule: "AwsSolutions-IAM5",
		appliesTo: []string{ec2ResourcesNag, ec2SnapshotsNag, `/^Resource::\*$/`},
		reason:    ec2NagReason},
	{construct: "Role", rule: "AwsSolutions-IAM5",
		appliesTo: []string{`/^Action::kms:GenerateDataKey\*$/`, `/^Action::kms:ReEncrypt\*$/`},
		reason: "KMS action families on the stack's one key only (the statement's resource is the key's ARN): what DynamoDB, SNS and SQS " +
			"need of a customer-managed key (GenerateDataKey, GenerateDataKeyWithoutPlaintext, ReEncryptFrom, ReEncryptTo)."},
	{construct: "Role", rule: "AwsSolutions-IAM5",
		appliesTo: []string{`/^Resource::<Logs[0-9A-F]+\.Arn>:\*$/`},
		reason:    "The log streams of the function's own log group: Lambda names a stream per execution environment at run time."},
	{construct: "Role", rule: "AwsSolutions-IAM5",
		appliesTo: []string{`/^Resource::arn:<AWS::Partition>:iam::\*:role\/[\w+=,.@-]+$/`, `/^Resource::arn:<AWS::Partition>:organizations::\*:account\/o-[a-z0-9]+\/\*$/`},
		orgOnly:   true,
		reason: "Organization mode: the function assumes the member role, by its one name, in whichever account of the organization a finding is about, " +
			"and only a role of the organization (condition aws:ResourceOrgID); it asks Organizations whether that account is a member " +
			"(DescribeAccount on the organization's accounts; the management account's id is not the stack's to know)."},

	// The member role (organization mode's member stack).
	{construct: "MemberRole", rule: "AwsSolutions-IAM5",
		appliesTo: []string{`/^Resource::arn:<AWS::Partition>:iam::<AWS::AccountId>:(user|role|group|policy|instance-profile)\/\*$/`,
			`/^Resource::arn:<AWS::Partition>:iam::aws:policy\/\*$/`},
		reason: "The central function contains, through this role, the member's IAM user or role a finding names, known only when the finding arrives: " +
			"the code's declared IAM actions (tested against the role) apply to this account's users and roles, the impact reads to its groups and policies, " +
			"the read of an instance's profile (iam:GetInstanceProfile) to its instance profiles. " +
			"The role carries the central role's denies: no key deleted, itself never changed, protected principals never touched."},
	{construct: "MemberRole", rule: "AwsSolutions-IAM5",
		appliesTo: []string{`/^Resource::arn:<AWS::Partition>:wafv2:\*:<AWS::AccountId>:regional\/ipset\/autocontain-blocklist-v[46]\/\*$/`, `/^Resource::\*$/`},
		reason: "The member's two IP sets, by their fixed names, in every Region the StackSet deploys to (the one role serves them all; WAF adds an id to the ARN); " +
			"wafv2:ListIPSets, which finds them by name, names no IP set and takes no set's ARN; nor do EC2's Describe actions (isolate-instance), which IAM authorizes on * only."},
	{construct: "MemberRole", rule: "AwsSolutions-IAM5",
		appliesTo: []string{ec2ResourcesNag, ec2SnapshotsNag},
		reason:    ec2NagReason},
}

// The EC2 resources isolate-instance acts on (ec2Statements), as cdk-nag
// names them, and why.
const (
	ec2ResourcesNag = `/^Resource::arn:(<AWS::Partition>|aws[a-z-]*):ec2:\*:(<AWS::AccountId>|\d{12}):(instance|network-interface|security-group|security-group-rule|vpc|volume|\*)\/\*$/`
	ec2SnapshotsNag = `/^Resource::arn:(<AWS::Partition>|aws[a-z-]*):ec2:\*::snapshot\/\*$/`
	ec2NagReason    = "isolate-instance isolates the EC2 instance a finding names, known only when the finding arrives, in the Region of the finding: " +
		"its EC2 actions (declared by the code, tested against the role) apply to the account's instances, network interfaces, security groups, VPCs and volumes, " +
		"and to snapshots (whose ARN names no account); EC2's Describe actions are authorized on * only. Tags are written and removed only with autocontain's " +
		"keys (aws:TagKeys), and an instance tagged autocontain:protected=true is never tagged (explicit deny), which stops the code's isolation before its first change."
)

// suppressNagFindings attaches nagSuppressions to the stack's constructs,
// as cdk-nag metadata on their CloudFormation resources. A construct the
// stack lacks (a variant without it) is skipped, and so are organization
// mode's entries unless org.
func suppressNagFindings(stack awscdk.Stack, org bool) {
	for _, s := range nagSuppressions {
		c := stack.Node().TryFindChild(jsii.String(s.construct))
		if c == nil || (s.orgOnly && !org) {
			continue
		}
		sup := &cdknag.NagPackSuppression{Id: jsii.String(s.rule), Reason: jsii.String(s.reason)}
		if len(s.appliesTo) > 0 {
			applies := make([]any, len(s.appliesTo))
			for i, re := range s.appliesTo {
				applies[i] = &cdknag.RegexAppliesTo{Regex: jsii.String(re)}
			}
			sup.AppliesTo = &applies
		}
		cdknag.NagSuppressions_AddResourceSuppressions(c, &[]*cdknag.NagPackSuppression{sup}, jsii.Bool(true))
	}
}
