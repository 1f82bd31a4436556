package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/autocontain/autocontain/internal/ipset"
	"github.com/autocontain/autocontain/internal/playbook"
	"github.com/autocontain/autocontain/internal/protect"
)

// Config is every deploy-time option, read from CDK context (cdk.json or
// `cdk deploy -c key=value`). The zero value is not the default: use
// DefaultConfig.
type Config struct {
	// DryRun (context dryRun, default true): plans are recorded and
	// notified, never executed. A first deploy shows its plans before
	// anything is contained; deploy with -c dryRun=false to act.
	DryRun bool
	// Protect (protect): comma-separated ARN globs never contained.
	Protect []string
	// AllowCIDRs (allowCidrs): comma-separated networks never blocked.
	AllowCIDRs []string
	// MinSeverity (minSeverity, default 0): a floor under every GuardDuty rule.
	MinSeverity float64
	// NotificationEmail (notificationEmail): subscribed to the topic when set.
	NotificationEmail string
	// IPSetV4ARN, IPSetV6ARN (ipSetV4Arn, ipSetV6Arn): existing IP sets to
	// use; when both are set the stack creates none.
	IPSetV4ARN, IPSetV6ARN string
	// Scope (scope, default REGIONAL): REGIONAL or CLOUDFRONT (us-east-1 only).
	Scope string
	// WebACL (webAcl, default false): also create a web ACL that blocks both
	// sets, then applies AWS's managed rule groups (see WAFRuleGroups).
	WebACL bool
	// WAFRuleGroups holds, by context key (wafKnownBadInputs, wafSqliRules,
	// wafCommonRules; default block), what the web ACL does with each AWS
	// managed rule group: WAFBlock (the group's own actions), WAFCount
	// (matches are counted and logged, never blocked) or WAFOff (left out).
	WAFRuleGroups map[string]string
	// WebACLLogging (webAclLogging, default false): log the web ACL's
	// requests to a CloudWatch log group named aws-waf-logs-*, kept
	// LogRetentionDays.
	WebACLLogging bool
	// ActOnSamples, ActOnArchived (actOnSamples, actOnArchived, default false).
	ActOnSamples, ActOnArchived bool
	// Playbook (playbook): a playbook file, validated at synth time.
	Playbook string
	// BreakerMax, BreakerWindow, BlockTTL (breakerMax, breakerWindow, blockTtl).
	BreakerMax    int
	BreakerWindow string
	BlockTTL      string
	// ReservedConcurrency (reservedConcurrency, default 5; 0 for none).
	ReservedConcurrency int
	// LogRetentionDays (logRetentionDays, default 365).
	LogRetentionDays int
}

// DefaultConfig is the configuration of a deploy without context.
func DefaultConfig() Config {
	return Config{DryRun: true, Scope: ipset.ScopeRegional, ReservedConcurrency: 5, LogRetentionDays: 365,
		WAFRuleGroups: defaultWAFRuleGroups()}
}

// What the web ACL does with a managed rule group (context keys
// wafKnownBadInputs, wafSqliRules, wafCommonRules).
const (
	WAFBlock = "block" // the group's rules act as AWS set them: matches are blocked
	WAFCount = "count" // every match is only counted (metrics, sampled requests, logs)
	WAFOff   = "off"   // the group is not in the web ACL
)

// WAFRuleGroupKeys are the context keys of the web ACL's managed rule
// groups, in the order of the web ACL's rules (webACLRuleGroups).
var WAFRuleGroupKeys = func() []string {
	keys := make([]string, len(webACLRuleGroups))
	for i, g := range webACLRuleGroups {
		keys[i] = g.key
	}
	return keys
}()

func defaultWAFRuleGroups() map[string]string {
	m := map[string]string{}
	for _, k := range WAFRuleGroupKeys {
		m[k] = WAFBlock
	}
	return m
}

// ContextKeys lists every context key, for documentation and tests.
var ContextKeys = []string{
	"dryRun", "protect", "allowCidrs", "minSeverity", "notificationEmail", "ipSetV4Arn", "ipSetV6Arn",
	"scope", "webAcl", "actOnSamples", "actOnArchived", "playbook", "breakerMax", "breakerWindow", "blockTtl",
	"reservedConcurrency", "logRetentionDays",
	"wafKnownBadInputs", "wafSqliRules", "wafCommonRules", "webAclLogging",
}

// ConfigFromContext reads the context of node over the defaults.
func ConfigFromContext(node constructs.Node) (Config, error) {
	return configFrom(func(k string) (any, bool) {
		v := node.TryGetContext(jsii.String(k))
		return v, v != nil
	})
}

// configFrom reads the options from get, which returns context values as
// CDK gives them: strings from the command line, JSON types from cdk.json.
func configFrom(get func(string) (any, bool)) (Config, error) {
	c := DefaultConfig()
	str := func(k string) (string, bool) {
		v, ok := get(k)
		if !ok {
			return "", false
		}
		switch t := v.(type) {
		case string:
			return strings.TrimSpace(t), true
		case []any:
			parts := make([]string, len(t))
			for i, e := range t {
				parts[i] = fmt.Sprint(e)
			}
			return strings.Join(parts, ","), true
		default:
			return fmt.Sprint(t), true
		}
	}
	var errs []string
	boolean := func(k string, dst *bool) {
		if s, ok := str(k); ok {
			b, err := strconv.ParseBool(s)
			if err != nil {
				errs = append(errs, fmt.Sprintf("context %s: %q is not true or false", k, s))
			}
			*dst = b
		}
	}
	integer := func(k string, dst *int) {
		if s, ok := str(k); ok {
			i, err := strconv.Atoi(s)
			if err != nil || i < 0 {
				errs = append(errs, fmt.Sprintf("context %s: %q is not a whole number of 0 or more", k, s))
			}
			*dst = i
		}
	}
	list := func(k string) []string {
		s, _ := str(k)
		var out []string
		for _, f := range strings.Split(s, ",") {
			if f = strings.TrimSpace(f); f != "" {
				out = append(out, f)
			}
		}
		return out
	}
	boolean("dryRun", &c.DryRun)
	boolean("webAcl", &c.WebACL)
	boolean("webAclLogging", &c.WebACLLogging)
	c.WAFRuleGroups = defaultWAFRuleGroups()
	for _, k := range WAFRuleGroupKeys {
		if s, ok := str(k); ok {
			c.WAFRuleGroups[k] = strings.ToLower(s)
		}
	}
	boolean("actOnSamples", &c.ActOnSamples)
	boolean("actOnArchived", &c.ActOnArchived)
	integer("breakerMax", &c.BreakerMax)
	integer("reservedConcurrency", &c.ReservedConcurrency)
	integer("logRetentionDays", &c.LogRetentionDays)
	c.Protect, c.AllowCIDRs = list("protect"), list("allowCidrs")
	if s, ok := str("minSeverity"); ok {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f < 0 || f > 10 {
			errs = append(errs, fmt.Sprintf("context minSeverity: %q is not a number from 0 to 10", s))
		}
		c.MinSeverity = f
	}
	c.NotificationEmail, _ = str("notificationEmail")
	c.IPSetV4ARN, _ = str("ipSetV4Arn")
	c.IPSetV6ARN, _ = str("ipSetV6Arn")
	c.Playbook, _ = str("playbook")
	c.BreakerWindow, _ = str("breakerWindow")
	c.BlockTTL, _ = str("blockTtl")
	if s, ok := str("scope"); ok {
		c.Scope = strings.ToUpper(s)
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return c, c.validate()
}

// validate checks the options that the playbook does not.
func (c Config) validate() error {
	if c.Scope != ipset.ScopeRegional && c.Scope != ipset.ScopeCloudFront {
		return fmt.Errorf("context scope: %q is neither REGIONAL nor CLOUDFRONT", c.Scope)
	}
	if (c.IPSetV4ARN == "") != (c.IPSetV6ARN == "") {
		return fmt.Errorf("context ipSetV4Arn and ipSetV6Arn: give both existing IP sets, or neither")
	}
	for k, arn := range map[string]string{"ipSetV4Arn": c.IPSetV4ARN, "ipSetV6Arn": c.IPSetV6ARN} {
		if arn == "" {
			continue
		}
		ref, err := ipset.Parse(arn)
		if err != nil {
			return fmt.Errorf("context %s: %w", k, err)
		}
		if ref.Scope != c.Scope {
			return fmt.Errorf("context %s: the set's scope is %s, the stack's %s", k, ref.Scope, c.Scope)
		}
	}
	if c.WebACL && c.IPSetV4ARN != "" {
		return fmt.Errorf("context webAcl: the stack makes a web ACL only for IP sets it creates; reference existing sets from your own web ACL")
	}
	if len(c.Protect) > 0 {
		// The same check the function makes of AUTOCONTAIN_PROTECT, so a
		// pattern it would refuse fails synthesis instead of every delivery;
		// the role's denies use these patterns as IAM resources.
		only := func(k string) (string, bool) {
			if k == playbook.EnvProtect {
				return strings.Join(c.Protect, ","), true
			}
			return "", false
		}
		if _, err := playbook.FromEnv(only); err != nil {
			return fmt.Errorf("context protect: %w", err)
		}
		if err := checkProtectSize(c.Protect); err != nil {
			return fmt.Errorf("context protect: %w", err)
		}
	}
	if err := c.validateWebACL(); err != nil {
		return err
	}
	if c.NotificationEmail != "" && !strings.Contains(c.NotificationEmail, "@") {
		return fmt.Errorf("context notificationEmail: %q is not an e-mail address", c.NotificationEmail)
	}
	return nil
}

// maxProtectPolicyChars bounds what the protect patterns may add to the
// role's policy, where each is a resource of a Deny. IAM limits the inline
// policies of a role to 10,240 characters in all, whitespace not counted
// (IAM User Guide, "IAM and AWS STS quotas"); the rest of the policy takes
// about 3,500 characters once its ARNs are resolved.
const maxProtectPolicyChars = 6000

// checkProtectSize refuses protect patterns that would not fit in the
// role's policy: what they take in its JSON, each quoted, with a comma.
func checkProtectSize(patterns []string) error {
	n := 0
	for _, p := range patterns {
		n += len(p) + 3
	}
	if n > maxProtectPolicyChars {
		return fmt.Errorf("the patterns take %d characters of the role's policy, more than %d: "+
			"IAM limits a role's inline policies to 10,240 characters in all; use fewer, broader patterns, or tag the principals %s=%s",
			n, maxProtectPolicyChars, protect.TagKey, protect.TagValue)
	}
	return nil
}

// CheckRegion checks the options against the stack's Region, when it is
// known at synthesis: WAF keeps CloudFront-scope IP sets and web ACLs in
// us-east-1 only (WAF Developer Guide, "Scope").
func (c Config) CheckRegion(region string) error {
	if c.Scope == ipset.ScopeCloudFront && region != "" && region != "us-east-1" {
		return fmt.Errorf("context scope: CLOUDFRONT IP sets exist only in us-east-1, and this stack is in %s: deploy it in us-east-1 (AWS_REGION=us-east-1 or the profile's Region) or use scope=REGIONAL", region)
	}
	return nil
}

// validateWebACL checks the web ACL's options: each managed rule group is
// block, count or off, and none is set to anything but the default without
// the web ACL it would configure.
func (c Config) validateWebACL() error {
	for _, k := range WAFRuleGroupKeys {
		mode, ok := c.WAFRuleGroups[k]
		if !ok {
			mode = WAFBlock
		}
		switch mode {
		case WAFBlock, WAFCount, WAFOff:
		default:
			return fmt.Errorf("context %s: %q is none of block, count or off", k, mode)
		}
		if mode != WAFBlock && !c.WebACL {
			return fmt.Errorf("context %s: %s configures the stack's web ACL, which only webAcl=true creates", k, mode)
		}
	}
	if c.WebACLLogging && !c.WebACL {
		return fmt.Errorf("context webAclLogging: logs the stack's web ACL, which only webAcl=true creates")
	}
	return nil
}

// PlaybookJSON returns the playbook file's text, validated, or "" when none is named.
func (c Config) PlaybookJSON() (string, *playbook.Playbook, error) {
	if c.Playbook == "" {
		return "", playbook.Default(), nil
	}
	data, err := os.ReadFile(c.Playbook)
	if err != nil {
		return "", nil, fmt.Errorf("context playbook: %w", err)
	}
	pb, err := playbook.Parse(data, c.Playbook)
	if err != nil {
		return "", nil, err
	}
	// Compact: environment variables are limited to 4 KB in all.
	compact, err := json.Marshal(pb)
	if err != nil {
		return "", nil, err
	}
	return string(compact), pb, nil
}
