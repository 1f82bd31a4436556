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
}

// nagSuppressions are the stack's explained cdk-nag findings, by resource.
var nagSuppressions = []nagSuppression{
	// The dead-letter queue.
	{construct: "DeadLetters", rule: "AwsSolutions-SQS3",
		reason: "This queue is the dead-letter queue: of every rule's Lambda target and of the function's asynchronous invocations (OnFailure). " +
			"cdk-nag only recognizes queues named in another queue's redrive policy. A queue behind it would only move the messages; " +
			"the DeadLettersAlarm notifies the topic of any message, and messages are kept 14 days."},

	// The function's role.
	{construct: "Role", rule: "AwsSolutions-IAM5",
		appliesTo: []string{`/^Resource::arn:(<AWS::Partition>|aws[a-z-]*):iam::(<AWS::AccountId>|\d{12}):(user|role|group|policy)\/\*$/`,
			`/^Resource::arn:(<AWS::Partition>|aws[a-z-]*):iam::aws:policy\/\*$/`},
		reason: "The function contains the IAM user or role a finding names, which is known only when the finding arrives, so its IAM actions " +
			"(all declared by the code, tested against the role) apply to the account's users and roles; to tell how much a principal could do, the function reads " +
			"its groups and the managed policies attached to it (the account's and AWS's), so the reads apply to groups and policies. The explicit denies narrow them " +
			"(no access key deleted, its own role never changed); the protect guard and the function's code are the rest (infra/README.md, threat model)."},
	{construct: "Role", rule: "AwsSolutions-IAM5",
		appliesTo: []string{`/^Action::kms:GenerateDataKey\*$/`, `/^Action::kms:ReEncrypt\*$/`},
		reason: "KMS action families on the stack's one key only (the statement's resource is the key's ARN): what DynamoDB, SNS and SQS " +
			"need of a customer-managed key (GenerateDataKey, GenerateDataKeyWithoutPlaintext, ReEncryptFrom, ReEncryptTo)."},
	{construct: "Role", rule: "AwsSolutions-IAM5",
		appliesTo: []string{`/^Resource::<Logs[0-9A-F]+\.Arn>:\*$/`},
		reason:    "The log streams of the function's own log group: Lambda names a stream per execution environment at run time."},
}

// suppressNagFindings attaches nagSuppressions to the stack's constructs,
// as cdk-nag metadata on their CloudFormation resources. A construct the
// stack lacks (a variant without it) is skipped.
func suppressNagFindings(stack awscdk.Stack) {
	for _, s := range nagSuppressions {
		c := stack.Node().TryFindChild(jsii.String(s.construct))
		if c == nil {
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
