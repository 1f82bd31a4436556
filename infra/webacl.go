package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awswafv2"
	"github.com/aws/jsii-runtime-go"
)

// webACLRuleGroup is an AWS managed rule group the web ACL holds after its
// blocklist rule, unless its context key turns it off.
type webACLRuleGroup struct {
	key      string // context key (Config.WAFRuleGroups)
	name     string // the group's name, vendor AWS
	priority int
	doc      string // what it matches, for infra/README.md
}

// webACLRuleGroups are the managed rule groups, in the web ACL's order.
// The addresses autocontain blocked come first (priority 0): they are
// blocked whatever they send, at 1 WCU per set. Then the narrowest and
// surest signatures before the broadest group, so that a request's match
// is counted under the most specific threat, and the group most likely to
// need tuning (the core rule set's size limits) comes last:
//   - Known bad inputs: Log4j and Java deserialization RCE, exploitable
//     paths (checkov CKV_AWS_192 asks for it);
//   - SQL database: SQL injection (the built-in SQL injection match
//     statement and AWS's extended patterns);
//   - Core rule set: cross-site scripting, local file inclusion, SSRF to
//     the instance metadata, bad bots, oversized requests.
//
// AWS maintains these groups as threats change, where the built-in
// SqliMatchStatement and XssMatchStatement would inspect only the request
// parts this stack named; the core rule set and the SQL group use those
// built-in statements themselves.
var webACLRuleGroups = []webACLRuleGroup{
	{"wafKnownBadInputs", "AWSManagedRulesKnownBadInputsRuleSet", 10, "Log4j, Java deserialization, exploitable paths"},
	{"wafSqliRules", "AWSManagedRulesSQLiRuleSet", 20, "SQL injection"},
	{"wafCommonRules", "AWSManagedRulesCommonRuleSet", 30, "cross-site scripting, file inclusion, metadata SSRF, oversized requests"},
}

// webACLLogPrefix is the prefix WAF requires of a CloudWatch Logs log
// group it logs to (AWS WAF Developer Guide, "Sending web ACL traffic logs
// to an Amazon CloudWatch Logs log group").
const webACLLogPrefix = "aws-waf-logs-"

// webACL creates the web ACL: the blocklist rule over both IP sets, the
// managed rule groups as configured, and optionally its logging.
func webACL(stack awscdk.Stack, cfg Config, v4, v6 *string) awswafv2.CfnWebACL {
	ref := func(arn *string) *awswafv2.CfnWebACL_StatementProperty {
		return &awswafv2.CfnWebACL_StatementProperty{IpSetReferenceStatement: &awswafv2.CfnWebACL_IPSetReferenceStatementProperty{Arn: arn}}
	}
	visibility := func(name string) *awswafv2.CfnWebACL_VisibilityConfigProperty {
		return &awswafv2.CfnWebACL_VisibilityConfigProperty{
			CloudWatchMetricsEnabled: jsii.Bool(true), SampledRequestsEnabled: jsii.Bool(true), MetricName: jsii.String(name),
		}
	}
	rules := []*awswafv2.CfnWebACL_RuleProperty{{
		Name:             jsii.String("autocontain-blocklist"),
		Priority:         jsii.Number(0),
		Action:           &awswafv2.CfnWebACL_RuleActionProperty{Block: &awswafv2.CfnWebACL_BlockActionProperty{}},
		VisibilityConfig: visibility("autocontain-blocklist"),
		Statement: &awswafv2.CfnWebACL_StatementProperty{OrStatement: &awswafv2.CfnWebACL_OrStatementProperty{
			Statements: &[]*awswafv2.CfnWebACL_StatementProperty{ref(v4), ref(v6)},
		}},
	}}
	for _, g := range webACLRuleGroups {
		mode, ok := cfg.WAFRuleGroups[g.key]
		if !ok {
			mode = WAFBlock
		}
		// A managed group's rules keep their own actions (None), or are
		// all overridden to Count.
		override := &awswafv2.CfnWebACL_OverrideActionProperty{None: map[string]any{}}
		switch mode {
		case WAFOff:
			continue
		case WAFCount:
			override = &awswafv2.CfnWebACL_OverrideActionProperty{Count: map[string]any{}}
		}
		rules = append(rules, &awswafv2.CfnWebACL_RuleProperty{
			Name:           jsii.String("aws-" + g.name),
			Priority:       jsii.Number(float64(g.priority)),
			OverrideAction: override,
			Statement: &awswafv2.CfnWebACL_StatementProperty{ManagedRuleGroupStatement: &awswafv2.CfnWebACL_ManagedRuleGroupStatementProperty{
				VendorName: jsii.String("AWS"), Name: jsii.String(g.name),
			}},
			VisibilityConfig: visibility("autocontain-" + g.name),
		})
	}
	acl := awswafv2.NewCfnWebACL(stack, jsii.String("WebAcl"), &awswafv2.CfnWebACLProps{
		Scope:            jsii.String(cfg.Scope),
		Description:      jsii.String("Blocks the addresses autocontain blocked, then applies AWS managed rule groups. Associate it with an ALB, API Gateway or CloudFront"),
		DefaultAction:    &awswafv2.CfnWebACL_DefaultActionProperty{Allow: &awswafv2.CfnWebACL_AllowActionProperty{}},
		VisibilityConfig: visibility("autocontain"),
		Rules:            &rules,
	})
	if cfg.WebACLLogging {
		webACLLogging(stack, cfg, acl)
	}
	return acl
}

// webACLLogging sends the web ACL's request logs to a log group of its own.
// The name carries the stack's id, so that a log group retained after the
// stack's deletion does not block the next deployment. WAF adds the log
// group's resource policy for its log delivery when logging is enabled.
// The credentials and session cookies requests carry are redacted.
func webACLLogging(stack awscdk.Stack, cfg Config, acl awswafv2.CfnWebACL) {
	stackUUID := awscdk.Fn_Select(jsii.Number(2), awscdk.Fn_Split(jsii.String("/"), stack.StackId(), nil))
	group := awslogs.NewLogGroup(stack, jsii.String("WebAclLogs"), &awslogs.LogGroupProps{
		LogGroupName:  awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String(webACLLogPrefix + *stack.StackName() + "-"), stackUUID}),
		Retention:     retention(cfg.LogRetentionDays),
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	// WAF takes the log group's ARN without the ":*" that CloudFormation's
	// Arn attribute ends with.
	arn := stack.FormatArn(&awscdk.ArnComponents{
		Service: jsii.String("logs"), Resource: jsii.String("log-group"), ResourceName: group.LogGroupName(),
		ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME,
	})
	header := func(name string) *awswafv2.CfnLoggingConfiguration_FieldToMatchProperty {
		return &awswafv2.CfnLoggingConfiguration_FieldToMatchProperty{SingleHeader: map[string]any{"Name": name}}
	}
	awswafv2.NewCfnLoggingConfiguration(stack, jsii.String("WebAclLogging"), &awswafv2.CfnLoggingConfigurationProps{
		ResourceArn:           acl.AttrArn(),
		LogDestinationConfigs: &[]any{arn},
		RedactedFields:        &[]*awswafv2.CfnLoggingConfiguration_FieldToMatchProperty{header("authorization"), header("cookie")},
	})
}
