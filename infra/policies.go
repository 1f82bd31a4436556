package main

import (
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/jsii-runtime-go"

	"github.com/autocontain/autocontain/internal/engine"
	"github.com/autocontain/autocontain/internal/playbook"
	"github.com/autocontain/autocontain/internal/protect"
)

// mutatingIAMActions are the IAM actions the role holds that change a
// principal: every declared iam: action but the reads (Get*, List*). Today
// PutUserPolicy, PutRolePolicy, DeleteUserPolicy, DeleteRolePolicy and
// UpdateAccessKey; an action added to the code is denied on protected
// principals without another edit here.
func mutatingIAMActions() []string {
	var out []string
	for _, p := range engine.Permissions() {
		svc, name, _ := strings.Cut(p, ":")
		if svc == "iam" && !strings.HasPrefix(name, "Get") && !strings.HasPrefix(name, "List") {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// protectPatterns is the protect list the function will apply, the
// effective playbook's (the protect context key replaces the playbook's).
func protectPatterns(pb *playbook.Playbook) []string {
	out := make([]string, len(pb.Settings.Protect))
	for i, p := range pb.Settings.Protect {
		out[i] = string(p)
	}
	return out
}

// protectTagValues are the values of autocontain:protected that the
// denies match, case aside (StringEqualsIgnoreCase): "true" and "true"
// padded with one ASCII space before, after, or both. The code protects
// any value that is "true" once surrounding white space is trimmed
// (finding.IsProtectValue, strings.TrimSpace: Unicode white space, any
// amount). An IAM tag value may hold any Unicode separator (IAM API
// Reference, Tag: Value matches [\p{L}\p{Z}\p{N}_.:/=+\-@]*), an EC2 tag
// value more, and IAM has no condition operator that trims, so no list
// matches every padding: the common ones are matched here, any other
// (two spaces, a no-break space) is protected by the code's check only
// (infra/README.md, threat model).
func protectTagValues() []string {
	v := protect.TagValue
	return []string{v, " " + v, v + " ", " " + v + " "}
}

// protectedTagCondition is the condition of every deny on a protected
// resource: key, the tag's condition key for the resource type
// (iam:ResourceTag/autocontain:protected for IAM, aws:ResourceTag/… for
// EC2), is one of protectTagValues, case aside.
func protectedTagCondition(key string) *map[string]any {
	return &map[string]any{"StringEqualsIgnoreCase": map[string]any{key: protectTagValues()}}
}

// Sids of the statements that enforce protection in IAM.
const (
	sidDenyProtectedTag      = "NeverChangeTaggedProtectedPrincipals"
	sidDenyProtectedPatterns = "NeverChangeProtectPatternPrincipals"
)

// protectionDenies enforces the protect list in IAM, not only in the code:
// whatever the function is made to do, its role cannot change a principal
// tagged autocontain:protected=true or one whose ARN matches a protect
// pattern. IAM has no condition key on the content of an inline policy, so
// the reach of iam:Put*Policy is narrowed by target instead.
//
// Service Authorization Reference, IAM (see
// /work/shared/reference/facts-2026-11-25.md §6): PutUserPolicy,
// DeleteUserPolicy and UpdateAccessKey act on the user resource type,
// PutRolePolicy and DeleteRolePolicy on role, and both resource types carry
// iam:ResourceTag/${TagKey} (and aws:ResourceTag/${TagKey}), so the tag
// condition applies to every action denied here. UpdateAccessKey is
// authorized against the user who owns the key. Protect patterns only use
// '*' (playbook.Pattern rejects '?', '[' and '\'), which IAM's Resource
// element reads the same way: any run of characters, slashes included.
func protectionDenies(stack awscdk.Stack, patterns []string) []awsiam.PolicyStatement {
	actions := mutatingIAMActions()
	if len(actions) == 0 {
		return nil
	}
	partition, account := *stack.Partition(), *stack.Account()
	out := []awsiam.PolicyStatement{awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid: jsii.String(sidDenyProtectedTag), Effect: awsiam.Effect_DENY,
		Actions:    jsii.Strings(actions...),
		Resources:  jsii.Strings("arn:"+partition+":iam::"+account+":user/*", "arn:"+partition+":iam::"+account+":role/*"),
		Conditions: protectedTagCondition("iam:ResourceTag/" + protect.TagKey),
	})}
	if len(patterns) > 0 {
		out = append(out, awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid: jsii.String(sidDenyProtectedPatterns), Effect: awsiam.Effect_DENY,
			Actions: jsii.Strings(actions...), Resources: jsii.Strings(patterns...),
		}))
	}
	return out
}

// Names of the topic and the dead-letter queue. The key's policy names
// them by ARN, and a reference to the resources themselves would be a
// cycle (each is encrypted with the key), so they are named after the stack.
func topicName(stack awscdk.Stack) string { return *stack.StackName() + "-notifications" }
func queueName(stack awscdk.Stack) string { return *stack.StackName() + "-dead-letters" }

// allowAlarmsToPublish lets the stack's alarms publish to the topic.
// CloudWatch publishes as cloudwatch.amazonaws.com; a topic policy replaces
// SNS's default policy, so without an Allow the alarms fire into nothing
// (aws-solutions/automated-security-response-on-aws issue 43). Scoped with
// aws:SourceAccount and aws:SourceArn, the alarm's ARN, which CloudWatch
// sends (AWS re:Post "Why didn't I receive an SNS notification for my
// CloudWatch alarm trigger?": "Resource: arn:aws:cloudwatch:…:alarm:NAME is
// not authorized to perform: SNS:Publish", and its ArnLike aws:SourceArn
// example): only these alarms, of this account, may publish.
func allowAlarmsToPublish(stack awscdk.Stack, topic awssns.Topic, alarms []awscloudwatch.Alarm) {
	arns := make([]*string, len(alarms))
	for i, a := range alarms {
		arns[i] = a.AlarmArn()
	}
	topic.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("AllowTheAlarmsToPublish"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("sns:Publish"),
		Resources:  &[]*string{topic.TopicArn()},
		Conditions: &map[string]any{
			"StringEquals": map[string]any{"aws:SourceAccount": stack.Account()},
			"ArnLike":      map[string]any{"aws:SourceArn": arns},
		},
	}))
}

// allowDeliveries lets the services that deliver to the stack's encrypted
// topic and queue use its key, and nothing else:
//
//   - CloudWatch alarms publish to the encrypted topic (see
//     allowAlarmsToPublish); the publish needs the key (SNS Developer Guide, "Enable
//     compatibility between event sources from AWS services and encrypted
//     topics"): kms:GenerateDataKey* and kms:Decrypt for CloudWatch, with
//     aws:SourceAccount and SNS's encryption context (aws:sns:topicArn).
//   - EventBridge sends undeliverable events to the encrypted queue. SNS
//     documents that aws:SourceAccount, aws:SourceArn and aws:SourceOrgID are
//     not supported in a key policy for EventBridge deliveries, so its
//     statement is scoped with SQS's encryption context (aws:sqs:arn, the
//     queue's ARN, which names this account) instead.
func allowDeliveries(stack awscdk.Stack, key awskms.Key) {
	cloudwatch := awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)
	events := awsiam.NewServicePrincipal(jsii.String("events.amazonaws.com"), nil)
	account := stack.Account()
	topicARN := stack.FormatArn(&awscdk.ArnComponents{Service: jsii.String("sns"), Resource: jsii.String(topicName(stack))})
	queueARN := stack.FormatArn(&awscdk.ArnComponents{Service: jsii.String("sqs"), Resource: jsii.String(queueName(stack))})
	key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("AllowCloudWatchAlarmsToUseKeyForTheTopic"),
		Principals: &[]awsiam.IPrincipal{cloudwatch},
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey*"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]any{"StringEquals": map[string]any{
			"aws:SourceAccount": account, "kms:EncryptionContext:aws:sns:topicArn": topicARN,
		}},
	}), jsii.Bool(false))
	key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("AllowEventBridgeToUseKeyForDeadLetters"),
		Principals: &[]awsiam.IPrincipal{events},
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey*"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]any{"StringEquals": map[string]any{"kms:EncryptionContext:aws:sqs:arn": queueARN}},
	}), jsii.Bool(false))
}
