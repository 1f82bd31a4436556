package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdadestinations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awswafv2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/autocontain/autocontain/infra/patterns"
	"github.com/autocontain/autocontain/internal/engine"
	"github.com/autocontain/autocontain/internal/ledger"
	"github.com/autocontain/autocontain/internal/playbook"
)

// AutocontainStackProps configures the stack.
type AutocontainStackProps struct {
	awscdk.StackProps
	// Config holds the options and the effective playbook; a nil
	// Config.Playbook means DefaultConfig's.
	Config Config
	// AssetDir holds the function's code: bootstrap, built for
	// linux/arm64. The stack writes the effective playbook beside it, as
	// playbook.json.
	AssetDir string
}

// bundledPlaybook is where the function finds the playbook the stack
// writes into its asset: Lambda unpacks the asset in /var/task.
const bundledPlaybook = "/var/task/playbook.json"

// Timing of delivery and retries. EventBridge retries a target for up to
// 24 hours and 185 times by default; that budget is cut here so a stuck
// event reaches the dead-letter queue, and a human, within hours.
const (
	functionTimeoutSeconds = 60
	ruleMaxEventAgeHours   = 2
	ruleRetryAttempts      = 8
	asyncMaxEventAgeHours  = 6
	asyncRetryAttempts     = 2
	reconcileEveryMinutes  = 5
)

// NewAutocontainStack builds the containment stack: the function, its
// least-privilege role, the EventBridge rules derived from the playbook, the
// WAF IP sets (and optionally a web ACL), the ledger table, the encrypted
// notification topic, the dead-letter queue and the alarms.
func NewAutocontainStack(scope constructs.Construct, id string, props *AutocontainStackProps) awscdk.Stack {
	var sprops awscdk.StackProps
	if props != nil {
		sprops = props.StackProps
	}
	stack := awscdk.NewStack(scope, &id, &sprops)
	// CDK moves statements of the role's policy into managed policies
	// (Role/OverflowPolicyN) when it estimates the policy over 10,000
	// characters, counting each ARN that holds a token (the partition, the
	// account) as arnSizeEstimate characters, 150 by default. This
	// stack's ARNs are far shorter: resolved, the whole organization-mode
	// policy is at most 7,136 characters (TestRolePolicyFitsIAM checks it against
	// IAM's 10,240), so 150 splits a policy IAM takes whole.
	stack.Node().SetContext(jsii.String("@aws-cdk/aws-iam.arnSizeEstimate"), jsii.Number(100))
	cfg := props.Config
	if cfg.Playbook == nil {
		cfg.Playbook = DefaultConfig().Playbook
	}
	pb := cfg.Playbook
	if region := stack.Region(); !*awscdk.Token_IsUnresolved(region) {
		// The app checks this before it builds anything (run); a caller
		// that skips the check gets the same message, not a bad stack.
		if err := cfg.CheckRegion(*region); err != nil {
			panic(err.Error())
		}
	}
	if cfg.Org.On() && *awscdk.Token_IsUnresolved(stack.Region()) {
		awscdk.Annotations_Of(stack).AddError(jsii.String("organization mode needs the stack pinned to the central account and its Region (env)"))
	}
	if err := cfg.validate(); err != nil {
		awscdk.Annotations_Of(stack).AddError(jsii.String(err.Error()))
	}
	// One path for the settings: the function reads the playbook bundled
	// here, the rules below are derived from the same value, and the
	// variables carry only what the stack's resources resolve to.
	if err := bundlePlaybook(props.AssetDir, pb); err != nil {
		awscdk.Annotations_Of(stack).AddError(jsii.String(err.Error()))
	}

	key := awskms.NewKey(stack, jsii.String("Key"), &awskms.KeyProps{
		Description:       jsii.String("autocontain: notifications, dead letters and the ledger"),
		EnableKeyRotation: jsii.Bool(true),
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
	})
	topic := awssns.NewTopic(stack, jsii.String("Notifications"), &awssns.TopicProps{
		DisplayName: jsii.String("autocontain"), MasterKey: key, EnforceSSL: jsii.Bool(true),
		TopicName: jsii.String(topicName(stack)),
	})
	if cfg.NotificationEmail != "" {
		topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(cfg.NotificationEmail), nil))
	}
	dlq := awssqs.NewQueue(stack, jsii.String("DeadLetters"), &awssqs.QueueProps{
		Encryption: awssqs.QueueEncryption_KMS, EncryptionMasterKey: key, EnforceSSL: jsii.Bool(true),
		QueueName:       jsii.String(queueName(stack)),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
	})
	allowDeliveries(stack, key)

	table := awsdynamodb.NewTable(stack, jsii.String("Ledger"), &awsdynamodb.TableProps{
		PartitionKey:        &awsdynamodb.Attribute{Name: jsii.String(ledger.AttrPK), Type: awsdynamodb.AttributeType_STRING},
		SortKey:             &awsdynamodb.Attribute{Name: jsii.String(ledger.AttrSK), Type: awsdynamodb.AttributeType_STRING},
		BillingMode:         awsdynamodb.BillingMode_PAY_PER_REQUEST,
		TimeToLiveAttribute: jsii.String(ledger.AttrTTL),
		Encryption:          awsdynamodb.TableEncryption_CUSTOMER_MANAGED,
		EncryptionKey:       key,
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})

	v4, v6 := cfg.IPSetV4ARN, cfg.IPSetV6ARN
	if v4 == "" {
		v4, v6 = ipSets(stack, cfg)
	}

	logs := awslogs.NewLogGroup(stack, jsii.String("Logs"), &awslogs.LogGroupProps{
		Retention:     retention(cfg.LogRetentionDays),
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	role := awsiam.NewRole(stack, jsii.String("Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("autocontain: contains abused credentials and addresses; least privilege"),
	})
	for _, st := range statements(stack, role.RoleArn(), resources{
		ipSets: []string{v4, v6}, topic: *topic.TopicArn(), table: *table.TableArn(), key: *key.KeyArn(), logs: *logs.LogGroupArn(),
		quarantinePolicy: pb.Settings.QuarantinePolicy(*stack.Partition()),
	}) {
		role.AddToPrincipalPolicy(st)
	}
	for _, st := range protectionDenies(stack, protectPatterns(pb)) {
		role.AddToPrincipalPolicy(st)
	}
	if cfg.Org.On() {
		for _, st := range orgStatements(stack, cfg.Org) {
			role.AddToPrincipalPolicy(st)
		}
	}
	// The key's encrypt and decrypt family, as one grant: the failure
	// destination's grant on the dead-letter queue is the same statement,
	// and CDK writes identical statements once.
	key.GrantEncryptDecrypt(role)

	env := map[string]*string{
		playbook.EnvPlaybookFile: jsii.String(bundledPlaybook),
		playbook.EnvIPSetV4:      jsii.String(v4),
		playbook.EnvIPSetV6:      jsii.String(v6),
		playbook.EnvTopicARN:     topic.TopicArn(),
		engine.EnvLedgerTable:    table.TableName(),
		engine.EnvSelfRoleARN:    role.RoleArn(),
	}
	if cfg.Org.On() {
		env[EnvOrganizationID] = jsii.String(cfg.Org.ID)
		env[EnvMemberRoleName] = jsii.String(cfg.Org.MemberRoleName)
	}
	fnProps := &awslambda.FunctionProps{
		Description:   jsii.String("autocontain: contains abused AWS credentials and addresses"),
		Runtime:       awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:  awslambda.Architecture_ARM_64(),
		Handler:       jsii.String("bootstrap"),
		Code:          awslambda.Code_FromAsset(jsii.String(props.AssetDir), nil),
		MemorySize:    jsii.Number(256),
		Timeout:       awscdk.Duration_Seconds(jsii.Number(functionTimeoutSeconds)),
		Role:          role,
		LogGroup:      logs,
		LoggingFormat: awslambda.LoggingFormat_JSON,
		Environment:   &env,
		RetryAttempts: jsii.Number(asyncRetryAttempts),
		MaxEventAge:   awscdk.Duration_Hours(jsii.Number(asyncMaxEventAgeHours)),
		OnFailure:     awslambdadestinations.NewSqsDestination(dlq),
	}
	if cfg.ReservedConcurrency > 0 {
		fnProps.ReservedConcurrentExecutions = jsii.Number(float64(cfg.ReservedConcurrency))
	}
	fn := awslambda.NewFunction(stack, jsii.String("Function"), fnProps)

	target := func(input awsevents.RuleTargetInput) awsevents.IRuleTarget {
		return awseventstargets.NewLambdaFunction(fn, &awseventstargets.LambdaFunctionProps{
			DeadLetterQueue: dlq,
			MaxEventAge:     awscdk.Duration_Hours(jsii.Number(ruleMaxEventAgeHours)),
			RetryAttempts:   jsii.Number(ruleRetryAttempts),
			Event:           input,
		})
	}
	// Only the stack's account: in single-account mode another account's
	// findings (a GuardDuty administrator's members') never reach the
	// function; the function checks again (package account).
	// A playbook too large for one pattern gets several rules (package
	// patterns); one that no split fits fails synthesis (checkPatterns).
	guardDutyAccount := *stack.Account()
	if cfg.Org.On() {
		// In organization mode the default bus also carries the members'
		// findings, GuardDuty's administrator aggregation: the function's
		// account rule decides on them (infra/README.md, "Organization
		// mode").
		guardDutyAccount = ""
	}
	// Security Hub's imported findings (context findingSources) are
	// matched as GuardDuty's are: the same accounts, the same rules.
	guardDuty, securityHub, cloudTrail, err := sourcePatterns(cfg, guardDutyAccount, *stack.Account())
	if err != nil {
		awscdk.Annotations_Of(stack).AddError(jsii.String(err.Error()))
	}
	for i, p := range guardDuty {
		rule(stack, nil, ruleID("GuardDutyFindings", i), partOf("GuardDuty findings the playbook acts on", i, len(guardDuty)), p).AddTarget(target(nil))
	}
	for i, p := range securityHub {
		rule(stack, nil, ruleID("SecurityHubFindings", i), partOf("GuardDuty findings imported by Security Hub the playbook acts on", i, len(securityHub)), p).AddTarget(target(nil))
	}
	for i, p := range cloudTrail {
		rule(stack, nil, ruleID("CloudTrailEvents", i), partOf("CloudTrail events the playbook acts on (global services: us-east-1 only)", i, len(cloudTrail)), p).AddTarget(target(nil))
	}
	if cfg.Org.On() {
		organization(stack, cfg, role, func() awsevents.IRuleTarget { return target(nil) })
	}
	awsevents.NewRule(stack, jsii.String("Reconcile"), &awsevents.RuleProps{
		Description: jsii.String("autocontain: write the IP sets from the ledger; expire and evict blocks"),
		Schedule:    awsevents.Schedule_Rate(awscdk.Duration_Minutes(jsii.Number(reconcileEveryMinutes))),
	}).AddTarget(target(awsevents.RuleTargetInput_FromObject(engine.Command{Command: engine.CommandReconcile}.Object())))

	var alarms []awscloudwatch.Alarm
	alarm := func(id, what string, m awscloudwatch.IMetric) {
		a := awscloudwatch.NewAlarm(stack, jsii.String(id), &awscloudwatch.AlarmProps{
			AlarmDescription:   jsii.String("autocontain: " + what),
			Metric:             m,
			Threshold:          jsii.Number(1),
			EvaluationPeriods:  jsii.Number(1),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		a.AddAlarmAction(awscloudwatchactions.NewSnsAction(topic))
		alarms = append(alarms, a)
	}
	five := &awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(5)), Statistic: jsii.String("Sum")}
	// A delivery deferred because another delivery of its finding was being
	// handled returns an error, so that Lambda retries it, but it is no
	// failure: the function counts those in an embedded-format metric, and
	// the alarm subtracts them from the function's errors.
	engineMetric := func(name string) awscloudwatch.Metric {
		return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String(engine.MetricNamespace), MetricName: jsii.String(name),
			DimensionsMap: &map[string]*string{"FunctionName": fn.FunctionName()},
			Period:        awscdk.Duration_Minutes(jsii.Number(5)), Statistic: jsii.String("Sum"),
		})
	}
	inProgress := engineMetric(engine.MetricInProgress)
	alarm("FunctionErrorsAlarm", "the function failed (a step failed or an event was rejected; deferred duplicate deliveries excluded)",
		awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
			Expression:   jsii.String("errors - FILL(inProgress, 0)"),
			UsingMetrics: &map[string]awscloudwatch.IMetric{"errors": fn.MetricErrors(five), "inProgress": inProgress},
			Label:        jsii.String("Errors that are not deferred deliveries"),
			Period:       awscdk.Duration_Minutes(jsii.Number(5)),
		}))
	// A delivery that failed in a way no retry mends returns no error (so
	// Lambda does not repeat it): the function counts it instead.
	alarm("PermanentFailuresAlarm", "a delivery failed in a way retrying cannot mend (the principal is gone, access denied): see its audit record",
		engineMetric(engine.MetricFailedPermanently))
	alarm("FunctionThrottlesAlarm", "the function was throttled (reserved concurrency reached)", fn.MetricThrottles(five))
	alarm("DeadLettersAlarm", "events could not be delivered or handled: see the dead-letter queue",
		dlq.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(5)), Statistic: jsii.String("Maximum")}))
	allowAlarmsToPublish(stack, topic, alarms)

	for k, v := range map[string]*string{
		"FunctionName": fn.FunctionName(), "TopicArn": topic.TopicArn(), "LedgerTable": table.TableName(),
		"IPSetV4Arn": jsii.String(v4), "IPSetV6Arn": jsii.String(v6), "DeadLetterQueueUrl": dlq.QueueUrl(),
	} {
		awscdk.NewCfnOutput(stack, jsii.String(k), &awscdk.CfnOutputProps{Value: v})
	}
	suppressNagFindings(stack, cfg.Org.On()) // infra/nag.go
	return stack
}

// bundlePlaybook writes the effective playbook into the function's
// asset, where the function reads it ($AUTOCONTAIN_PLAYBOOK_FILE): a file,
// because Lambda's environment variables hold 4 KB in all.
func bundlePlaybook(dir string, pb *playbook.Playbook) error {
	data, err := json.MarshalIndent(pb, "", "  ")
	if err != nil {
		return fmt.Errorf("bundle the playbook: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, filepath.Base(bundledPlaybook)), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("bundle the playbook with the function: %w", err)
	}
	return nil
}

// rule makes a rule on bus (nil: the default bus) that matches p.
func rule(stack awscdk.Stack, bus awsevents.IEventBus, id, description string, p patterns.Pattern) awsevents.Rule {
	ep := &awsevents.EventPattern{
		Source:     strs(p["source"]),
		DetailType: strs(p["detail-type"]),
		Account:    strs(p["account"]),
	}
	detail := withNullMatchers(p["detail"]).(map[string]any)
	ep.Detail = &detail
	r := awsevents.NewRule(stack, jsii.String(id), &awsevents.RuleProps{
		Description: jsii.String("autocontain: " + description), EventPattern: ep, EventBus: bus,
	})
	if or, ok := p["$or"]; ok {
		// CDK's EventPattern has no top-level $or (the organization bus's
		// CloudTrail rules, patterns.CloudTrailFromOthers).
		r.Node().DefaultChild().(awsevents.CfnRule).AddPropertyOverride(jsii.String("EventPattern.$or"), or)
	}
	return r
}

// withNullMatchers replaces the pattern's [null] lists by CDK's null
// matcher: CDK drops nil from the lists it is given.
func withNullMatchers(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = withNullMatchers(x)
		}
		return out
	case []any:
		if len(v) == 1 && v[0] == nil {
			return awsevents.Match_NullValue()
		}
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = withNullMatchers(x)
		}
		return out
	}
	return v
}

func strs(v any) *[]*string {
	if v == nil {
		return nil
	}
	var out []*string
	for _, s := range v.([]any) {
		out = append(out, jsii.String(s.(string)))
	}
	return &out
}

// ipSets creates the IPv4 and IPv6 IP sets, and the web ACL if asked.
func ipSets(stack awscdk.Stack, cfg Config) (v4, v6 string) {
	mk := func(id, version string) awswafv2.CfnIPSet {
		return awswafv2.NewCfnIPSet(stack, jsii.String(id), &awswafv2.CfnIPSetProps{
			Addresses: &[]*string{}, IpAddressVersion: jsii.String(version), Scope: jsii.String(cfg.Scope),
			Description: jsii.String("Addresses blocked by autocontain, written by its single writer from the ledger"),
		})
	}
	s4, s6 := mk("BlocklistV4", "IPV4"), mk("BlocklistV6", "IPV6")
	if cfg.WebACL {
		webACL(stack, cfg, s4.AttrArn(), s6.AttrArn())
	}
	return *s4.AttrArn(), *s6.AttrArn()
}

// resources are the ARNs the role's statements are scoped to.
type resources struct {
	ipSets            []string
	topic, table, key string // key: none for a role without the stack's key
	logs              string // none for a role without a log group
	// quarantinePolicy is the one managed policy the role may attach and
	// detach.
	quarantinePolicy string
	// services, when set, are the only services whose declared
	// permissions are granted (the member role: iam, wafv2 and ec2; the
	// ledger and the topic are the central account's).
	services []string
}

// sidQuarantinePolicyOnly is the Sid of the grant to attach and detach
// the quarantine policy, and no other.
const sidQuarantinePolicyOnly = "AutocontainAttachOnlyTheQuarantinePolicy"

// statements builds the role's policy from what the code declares it needs
// (engine.Permissions: the actions', the guard's, undo's, the IP-set
// writer's and the ledger's), each scoped to the resources its API allows,
// and the explicit denies.
func statements(stack awscdk.Stack, roleARN *string, r resources) []awsiam.PolicyStatement {
	byService := map[string][]string{}
	scoped := engine.PolicyScopedPermissions()
	for _, p := range engine.Permissions() {
		if slices.Contains(scoped, p) {
			continue // granted below, on one policy only
		}
		svc, _, _ := strings.Cut(p, ":")
		if r.services != nil && !slices.Contains(r.services, svc) {
			continue
		}
		byService[svc] = append(byService[svc], p)
	}
	// EC2 has statements of its own, with its deny (ec2Statements).
	ec2Actions := byService["ec2"]
	delete(byService, "ec2")
	account := *stack.Account()
	users := fmt.Sprintf("arn:%s:iam::%s:user/*", *stack.Partition(), account)
	roles := fmt.Sprintf("arn:%s:iam::%s:role/*", *stack.Partition(), account)
	// The impact lookup also reads a user's groups and the managed
	// policies attached (the account's and AWS's); every iam: action the
	// code declares acts on one resource type, so the others add nothing.
	groups := fmt.Sprintf("arn:%s:iam::%s:group/*", *stack.Partition(), account)
	policies := fmt.Sprintf("arn:%s:iam::%s:policy/*", *stack.Partition(), account)
	awsPolicies := fmt.Sprintf("arn:%s:iam::aws:policy/*", *stack.Partition())
	// Before planning a finding about an instance, the engine reads the
	// role of its instance profile (iam:GetInstanceProfile).
	profiles := fmt.Sprintf("arn:%s:iam::%s:instance-profile/*", *stack.Partition(), account)
	scope := map[string][]string{
		"iam":      {users, roles, groups, policies, awsPolicies, profiles},
		"wafv2":    r.ipSets,
		"sns":      {r.topic},
		"dynamodb": {r.table},
	}
	allow := func(sid string, actions, res []string) awsiam.PolicyStatement {
		sort.Strings(actions)
		return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid: jsii.String(sid), Effect: awsiam.Effect_ALLOW, Actions: jsii.Strings(actions...), Resources: jsii.Strings(res...),
		})
	}
	var out []awsiam.PolicyStatement
	services := make([]string, 0, len(byService))
	for svc := range byService {
		services = append(services, svc)
	}
	sort.Strings(services)
	for _, svc := range services {
		res, ok := scope[svc]
		if !ok {
			panic(fmt.Sprintf("no resource scope for %s actions %v: add one to statements", svc, byService[svc]))
		}
		out = append(out, allow("Autocontain"+strings.ToUpper(svc[:1])+svc[1:], byService[svc], res))
	}
	if len(scoped) > 0 {
		// Attaching a managed policy can grant anything; with iam:PolicyARN
		// the role can attach and detach only the quarantine policy, a
		// deny, so these grants cannot escalate (Service Authorization
		// Reference, IAM: a condition key of Attach/Detach{User,Role}Policy).
		out = append(out, awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid: jsii.String(sidQuarantinePolicyOnly), Effect: awsiam.Effect_ALLOW,
			Actions: jsii.Strings(scoped...), Resources: jsii.Strings(scope["iam"]...),
			Conditions: &map[string]any{"ArnEquals": map[string]any{"iam:PolicyARN": r.quarantinePolicy}},
		}))
	}
	out = append(out, ec2Statements(stack, ec2Actions)...)
	if r.key != "" {
		// The stack's key encrypts the topic, the dead letters and the ledger.
		// DynamoDB and SNS need of a customer-managed key the encrypt and
		// decrypt family (key.GrantEncryptDecrypt, one statement shared with
		// the dead-letter destination's grant) and DescribeKey.
		out = append(out, allow("DescribeTheStackKey", []string{"kms:DescribeKey"}, []string{r.key}))
	}
	if r.logs != "" {
		out = append(out, allow("WriteLogs", []string{"logs:CreateLogStream", "logs:PutLogEvents"}, []string{r.logs, r.logs + ":*"}))
	}
	return append(out, ownDenies(roleARN)...)
}

// ownDenies are the denies every role of autocontain carries, the central
// function's and each member's: no access key is ever deleted, and the
// role never changes itself.
func ownDenies(roleARN *string) []awsiam.PolicyStatement {
	return []awsiam.PolicyStatement{
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid: jsii.String("NeverDeleteAccessKeys"), Effect: awsiam.Effect_DENY,
			Actions: jsii.Strings("iam:DeleteAccessKey"), Resources: jsii.Strings("*"),
		}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid: jsii.String("NeverChangeOwnRole"), Effect: awsiam.Effect_DENY,
			Actions: jsii.Strings("iam:AttachRolePolicy", "iam:DeleteRole", "iam:DeleteRolePermissionsBoundary", "iam:DeleteRolePolicy",
				"iam:DetachRolePolicy", "iam:PutRolePermissionsBoundary", "iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy", "iam:UpdateRole"),
			Resources: &[]*string{roleARN},
		}),
	}
}

// retention maps days to the log retention CloudWatch accepts, rounding up.
func retention(days int) awslogs.RetentionDays {
	for _, r := range []struct {
		days int
		rd   awslogs.RetentionDays
	}{
		{30, awslogs.RetentionDays_ONE_MONTH}, {90, awslogs.RetentionDays_THREE_MONTHS}, {180, awslogs.RetentionDays_SIX_MONTHS},
		{365, awslogs.RetentionDays_ONE_YEAR}, {731, awslogs.RetentionDays_TWO_YEARS}, {1827, awslogs.RetentionDays_FIVE_YEARS},
	} {
		if days <= r.days {
			return r.rd
		}
	}
	return awslogs.RetentionDays_TEN_YEARS
}
