package main

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/autocontain/autocontain/internal/ipset"
	"github.com/autocontain/autocontain/internal/playbook"
	"github.com/autocontain/autocontain/internal/protect"
)

// Config is every deploy-time option, read from CDK context (cdk.json or
// `cdk deploy -c key=value`): the playbook, with the context's settings
// over it (the keys of playbook.SettingsTable), and the stack's own
// options (options). The zero value is not the default: use DefaultConfig.
type Config struct {
	// Playbook is the effective playbook: the file the playbook key names
	// (or the embedded default) with the context's settings over it,
	// validated. The stack bundles it with the function and derives the
	// rules' patterns from it, so both see the same settings.
	Playbook *playbook.Playbook
	// PlaybookFile is the playbook file (context playbook); empty for the
	// embedded default.
	PlaybookFile string
	// NotificationEmail is subscribed to the topic when set.
	NotificationEmail string
	// IPSetV4ARN, IPSetV6ARN are existing IP sets to use; when both are
	// set the stack creates none.
	IPSetV4ARN, IPSetV6ARN string
	// Scope is REGIONAL or CLOUDFRONT (us-east-1 only).
	Scope string
	// WebACL: also create a web ACL that blocks both sets, then applies
	// AWS's managed rule groups (see WAFRuleGroups).
	WebACL bool
	// WAFRuleGroups holds, by context key (WAFRuleGroupKeys), what the web
	// ACL does with each AWS managed rule group: WAFBlock (the group's own
	// actions), WAFCount (matches are counted and logged, never blocked)
	// or WAFOff (left out).
	WAFRuleGroups map[string]string
	// WebACLLogging: log the web ACL's requests to a CloudWatch log group
	// named aws-waf-logs-*, kept LogRetentionDays.
	WebACLLogging bool
	// ReservedConcurrency of the function; 0 for none.
	ReservedConcurrency int
	// LogRetentionDays of the function's log group (and the web ACL's).
	LogRetentionDays int
	// Org is organization mode's options (infra/org.go); its zero value,
	// no organization, is single-account mode.
	Org OrgConfig
	// FindingSources are where the stack takes GuardDuty's findings from:
	// SourceGuardDuty (its own events), SourceSecurityHub (Security Hub's
	// imported findings), or both. Empty is SourceGuardDuty alone.
	FindingSources []string
}

// The finding sources of context findingSources.
const (
	SourceGuardDuty   = "guardduty"
	SourceSecurityHub = "securityhub"
)

// Takes reports whether the stack subscribes to source (SourceGuardDuty,
// SourceSecurityHub).
func (c Config) Takes(source string) bool {
	if len(c.FindingSources) == 0 {
		return source == SourceGuardDuty
	}
	return slices.Contains(c.FindingSources, source)
}

// option is a context key of the stack's own, one that is no playbook
// setting: its default and meaning (for infra/README.md) and how its text
// is read into a Config.
type option struct {
	key, def, doc string
	set           func(c *Config, text string) error
}

// into reads an option's text into the field f returns, the way the
// playbook's settings are read (playbook.ParseText).
func into(f func(c *Config) any) func(*Config, string) error {
	return func(c *Config, text string) error { return playbook.ParseText(f(c), text) }
}

// options lists the stack's own context keys, in infra/README.md's order.
func options() []option {
	out := []option{
		{"playbook", "the embedded default", "a playbook file; validated at synthesis with the settings' context keys over it, and bundled beside `bootstrap`",
			into(func(c *Config) any { return &c.PlaybookFile })},
		{"notificationEmail", "none", "e-mail address subscribed to the notification topic (confirm the subscription)",
			into(func(c *Config) any { return &c.NotificationEmail })},
		{"ipSetV4Arn", "none", "an existing WAFv2 IP set of IPv4 addresses to write to; with `ipSetV6Arn`, both or neither; then the stack creates none",
			into(func(c *Config) any { return &c.IPSetV4ARN })},
		{"ipSetV6Arn", "none", "the existing WAFv2 IP set of IPv6 addresses, with `ipSetV4Arn`",
			into(func(c *Config) any { return &c.IPSetV6ARN })},
		{"scope", "`REGIONAL`", "`REGIONAL` (ALB, API Gateway, AppSync, Cognito, App Runner, Verified Access) or `CLOUDFRONT`, which must be deployed in `us-east-1`",
			func(c *Config, text string) error { c.Scope = strings.ToUpper(strings.TrimSpace(text)); return nil }},
		{"webAcl", "`false`", "also create a web ACL that blocks both IP sets, then applies AWS managed rule groups (associate it yourself; see \"Web ACL\")",
			into(func(c *Config) any { return &c.WebACL })},
	}
	for _, g := range webACLRuleGroups {
		out = append(out, option{g.key, "`" + WAFBlock + "`", "the web ACL's `" + g.name + "` (" + g.doc + "): `block`, `count` or `off`",
			func(c *Config, text string) error {
				c.WAFRuleGroups[g.key] = strings.ToLower(strings.TrimSpace(text))
				return nil
			}})
	}
	return append(append(out,
		option{"webAclLogging", "`false`", "log the web ACL's requests to a CloudWatch log group `aws-waf-logs-<stack>-<stack id>`, kept `logRetentionDays` and retained on stack deletion",
			into(func(c *Config) any { return &c.WebACLLogging })},
		option{"reservedConcurrency", "`5`", "reserved concurrency of the function; `0` for none (accounts with a concurrency limit of 10 cannot reserve any)",
			into(func(c *Config) any { return &c.ReservedConcurrency })},
		option{"logRetentionDays", "`365`", "retention of the function's log group (and of the web ACL's), rounded up to a value CloudWatch accepts",
			into(func(c *Config) any { return &c.LogRetentionDays })},
		option{"findingSources", "`guardduty`", "where GuardDuty's findings come from: `guardduty` (its own events), `securityhub` (Security Hub's imported findings, see \"Security Hub as the input\" in README.md), or both, comma-separated; each finding is acted on once either way",
			func(c *Config, text string) error {
				c.FindingSources = nil
				for _, s := range strings.Split(text, ",") {
					c.FindingSources = append(c.FindingSources, strings.ToLower(strings.TrimSpace(s)))
				}
				return nil
			}},
	), orgOptions()...)
}

// DefaultConfig is the configuration of a deploy without context.
func DefaultConfig() Config {
	c, err := configFrom(func(string) (any, bool) { return nil, false })
	if err != nil {
		// The embedded playbook and the defaults are valid: a test rules it out.
		panic(fmt.Sprintf("the default configuration is invalid: %v", err))
	}
	return c
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

// ContextKeys lists every context key: the playbook settings' that have
// one, then the stack's own options.
func ContextKeys() []string {
	var keys []string
	for _, st := range playbook.SettingsTable {
		if st.Context != "" {
			keys = append(keys, st.Context)
		}
	}
	for _, o := range options() {
		keys = append(keys, o.key)
	}
	return keys
}

// ConfigFromContext reads the context of node over the defaults.
func ConfigFromContext(node constructs.Node) (Config, error) {
	return configFrom(func(k string) (any, bool) {
		v := node.TryGetContext(jsii.String(k))
		return v, v != nil
	})
}

// contextText turns a context value, as CDK gives it (a string from the
// command line, a JSON type from cdk.json), into the text the settings'
// and options' readers take: a list becomes comma-separated.
func contextText(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case []any:
		parts := make([]string, len(t))
		for i, e := range t {
			parts[i] = fmt.Sprint(e)
		}
		return strings.Join(parts, ",")
	default:
		return fmt.Sprint(t)
	}
}

// configFrom reads the options from get: the stack's own, then the
// playbook they name with each setting's context key over it (a setting
// whose key is absent keeps the playbook's value, or takes its Deploy
// value). Every value goes through the one reader of its kind; errors name
// the key, in the tables' order.
func configFrom(get func(string) (any, bool)) (Config, error) {
	c := Config{Scope: ipset.ScopeRegional, ReservedConcurrency: 5, LogRetentionDays: 365, WAFRuleGroups: map[string]string{},
		Org: OrgConfig{MemberRoleName: DefaultMemberRoleName}}
	for _, k := range WAFRuleGroupKeys {
		c.WAFRuleGroups[k] = WAFBlock
	}
	var errs []string
	for _, o := range options() {
		if v, ok := get(o.key); ok {
			if err := o.set(&c, contextText(v)); err != nil {
				errs = append(errs, fmt.Sprintf("context %s: %v", o.key, err))
			}
		}
	}
	pb, err := loadPlaybook(c.PlaybookFile)
	if err != nil {
		return c, errors.New(strings.Join(append(errs, err.Error()), "; "))
	}
	for _, st := range playbook.SettingsTable {
		if st.Context == "" {
			continue
		}
		text, ok := "", false
		if v, given := get(st.Context); given {
			text, ok = contextText(v), true
		} else if st.Deploy != "" {
			text, ok = st.Deploy, true
		}
		if ok {
			if err := st.Set(&pb.Settings, text); err != nil {
				errs = append(errs, playbook.Named("context "+st.Context, err).Error())
			}
		}
	}
	c.Playbook = pb
	if len(errs) > 0 {
		return c, errors.New(strings.Join(errs, "; "))
	}
	return c, c.validate()
}

// loadPlaybook reads the playbook file, or the embedded default when none
// is named.
func loadPlaybook(file string) (*playbook.Playbook, error) {
	if file == "" {
		return playbook.Default(), nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("context playbook: %w", err)
	}
	pb, err := playbook.Parse(data, file)
	if err != nil {
		return nil, fmt.Errorf("context playbook: %w", err)
	}
	return pb, nil
}

// validate checks the effective playbook and the options it does not
// cover.
func (c Config) validate() error {
	if c.Playbook == nil {
		return errors.New("no playbook: build the Config with DefaultConfig or ConfigFromContext")
	}
	if err := c.Playbook.Validate(); err != nil {
		return fmt.Errorf("playbook with the context's settings: %w", err)
	}
	// The protect patterns become the resources of a Deny in the role.
	if err := checkProtectSize(c.Playbook.Settings.Protect); err != nil {
		return fmt.Errorf("context protect, or the playbook's settings.protect: %w", err)
	}
	if c.ReservedConcurrency < 0 {
		return fmt.Errorf("context reservedConcurrency: %d is negative", c.ReservedConcurrency)
	}
	if c.LogRetentionDays < 0 {
		return fmt.Errorf("context logRetentionDays: %d is negative", c.LogRetentionDays)
	}
	if c.Scope != ipset.ScopeRegional && c.Scope != ipset.ScopeCloudFront {
		return fmt.Errorf("context scope: %q is neither REGIONAL nor CLOUDFRONT", c.Scope)
	}
	if (c.IPSetV4ARN == "") != (c.IPSetV6ARN == "") {
		return fmt.Errorf("context ipSetV4Arn and ipSetV6Arn: give both existing IP sets, or neither")
	}
	for _, set := range []struct{ key, arn string }{{"ipSetV4Arn", c.IPSetV4ARN}, {"ipSetV6Arn", c.IPSetV6ARN}} {
		if set.arn == "" {
			continue
		}
		ref, err := ipset.Parse(set.arn)
		if err != nil {
			return fmt.Errorf("context %s: %w", set.key, err)
		}
		if ref.Scope != c.Scope {
			return fmt.Errorf("context %s: the set's scope is %s, the stack's %s", set.key, ref.Scope, c.Scope)
		}
	}
	if err := c.validateSources(); err != nil {
		return err
	}
	if err := c.Org.validate(c.Playbook); err != nil {
		return err
	}
	if c.WebACL && c.IPSetV4ARN != "" {
		return fmt.Errorf("context webAcl: the stack makes a web ACL only for IP sets it creates; reference existing sets from your own web ACL")
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
// at most 6,310 characters once its ARNs are resolved, 7,136 in
// organization mode (TestRolePolicyFitsIAM logs them): past about 3,000
// characters of patterns, CDK moves statements into managed policies of
// the role (Role/OverflowPolicyN), which cdk-nag's suppressions do not
// name.
const maxProtectPolicyChars = 6000

// checkProtectSize refuses protect patterns that would not fit in the
// role's policy: what they take in its JSON, each quoted, with a comma.
func checkProtectSize(patterns []playbook.Pattern) error {
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
	return c.Org.checkHomeRegion(region)
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

// validateSources checks context findingSources: guardduty, securityhub or
// both, once each. Organization mode takes GuardDuty's own events through
// its forwarders and organization bus, so there it must include guardduty.
func (c Config) validateSources() error {
	seen := map[string]bool{}
	for _, s := range c.FindingSources {
		switch {
		case s != SourceGuardDuty && s != SourceSecurityHub:
			return fmt.Errorf("context findingSources: %q is neither %s nor %s", s, SourceGuardDuty, SourceSecurityHub)
		case seen[s]:
			return fmt.Errorf("context findingSources: %s is named twice", s)
		}
		seen[s] = true
	}
	if c.Org.On() && !c.Takes(SourceGuardDuty) {
		return fmt.Errorf("context findingSources: organization mode takes GuardDuty's findings of every Region through its forwarders: name %s too (%s,%s)",
			SourceGuardDuty, SourceGuardDuty, SourceSecurityHub)
	}
	return nil
}
