package playbook

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/autocontain/autocontain/internal/ipset"
)

// A Setting is one playbook setting, declared once: its place in the
// playbook's JSON, the environment variable that overrides it in the
// function, the CDK context key that sets it at deploy time, how a text
// value is read into it, what a valid value is, and its documentation.
// Decoding, validation, the environment, the CDK app and the README's
// tables all read SettingsTable; a test fails when a field of Settings is
// missing from it, or when the README's tables differ from it.
type Setting struct {
	// JSON is the setting's path under "settings": "dryRun", "ipSets.ipv4".
	JSON string
	// Env is the variable that overrides the setting (AUTOCONTAIN_DRY_RUN).
	Env string
	// Context is the CDK context key that sets it at deploy time; empty
	// when the stack sets the variable from a resource it creates.
	Context string
	// Deploy is the value a deploy gives the setting when its context key
	// is absent; empty keeps the playbook's value.
	Deploy string
	// Default describes the value when the playbook leaves it out.
	Default string
	// Doc is one line for the README's tables.
	Doc string
	// field returns a pointer to the setting in s: *bool, *int,
	// *float64, *string, *Networks, *[]Pattern or *SafetyNet (the kinds ParseText reads).
	field func(s *Settings) any
	// check reports what is wrong with the setting's value; nil when
	// every value that parses is valid.
	check func(s *Settings) error
}

// SettingsTable declares every setting, in the order of the README's
// table and of validation (so the first error reported never depends on
// map order). A new setting is a field of Settings and one line here.
var SettingsTable = []Setting{
	{JSON: "dryRun", Env: EnvDryRun, Context: "dryRun", Deploy: "true", Default: "`false`; a deploy: `true`",
		Doc:   "plans are decided, recorded and notified, never executed; a deploy is a dry run unless its context says `dryRun=false`",
		field: func(s *Settings) any { return &s.DryRun }},
	{JSON: "minSeverity", Env: EnvMinSeverity, Context: "minSeverity", Default: "`0`",
		Doc:   "a severity floor (0–10) under every GuardDuty rule's own `minSeverity`; the stack's GuardDuty patterns apply it too",
		field: func(s *Settings) any { return &s.MinSeverity }, check: checkSeverity},
	{JSON: "allowCidrs", Env: EnvAllowCIDRs, Context: "allowCidrs", Default: "none",
		Doc:   "networks never blocked (offices, partners, scanners you run); comma-separated as text, and replaces the list",
		field: func(s *Settings) any { return &s.AllowCIDRs }, check: checkAllowCIDRs},
	{JSON: "protect", Env: EnvProtect, Context: "protect", Default: "none",
		Doc:   "ARN globs of principals never contained (`arn:aws:iam::*:role/break-glass-*`); comma-separated as text, and replaces the list; the stack also denies them to its role in IAM",
		field: func(s *Settings) any { return &s.Protect }, check: checkProtect},
	{JSON: "ipSets.ipv4", Env: EnvIPSetV4, Default: "none (block-ip has nowhere to write)",
		Doc:   "the WAFv2 IP set of IPv4 addresses block-ip writes to; the stack sets it to its own set (or `ipSetV4Arn`)",
		field: func(s *Settings) any { return &s.IPSets.IPv4 }, check: func(s *Settings) error { return checkIPSet(s.IPSets.IPv4) }},
	{JSON: "ipSets.ipv6", Env: EnvIPSetV6, Default: "none (block-ip has nowhere to write)",
		Doc:   "the WAFv2 IP set of IPv6 addresses; the stack sets it to its own set (or `ipSetV6Arn`)",
		field: func(s *Settings) any { return &s.IPSets.IPv6 }, check: func(s *Settings) error { return checkIPSet(s.IPSets.IPv6) }},
	{JSON: "topicArn", Env: EnvTopicARN, Default: "none (notify is skipped)",
		Doc:   "the SNS topic notify publishes to; the stack sets it to its own topic",
		field: func(s *Settings) any { return &s.TopicARN }, check: checkTopic},
	{JSON: "notificationFormat", Env: EnvNotificationFormat, Context: "notificationFormat", Default: "`text`",
		Doc:   "how notify writes its message: `text` (readable text, then the audit record as JSON; for e-mail) or `chat` (the custom notification format of Amazon Q Developer in chat applications, formerly AWS Chatbot, for Slack and Microsoft Teams); see \"Notification formats\"",
		field: func(s *Settings) any { return &s.NotificationFormat }, check: checkNotificationFormat},
	{JSON: "actOnSamples", Env: EnvActOnSamples, Context: "actOnSamples", Default: "`false`",
		Doc:   "let GuardDuty's generated sample findings trigger actions",
		field: func(s *Settings) any { return &s.ActOnSamples }},
	{JSON: "actOnArchived", Env: EnvActOnArchived, Context: "actOnArchived", Default: "`false`",
		Doc:   "let archived GuardDuty findings trigger actions (else the stack's pattern filters them out)",
		field: func(s *Settings) any { return &s.ActOnArchived }},
	{JSON: "breakerMax", Env: EnvBreakerMax, Context: "breakerMax", Default: "`10`",
		Doc:   "at most this many principals contained per window per account; past it they are reported, not contained",
		field: func(s *Settings) any { return &s.BreakerMax }, check: checkBreakerMax},
	{JSON: "orgBreakerMax", Env: EnvOrgBreakerMax, Context: "orgBreakerMax", Default: "`25`",
		Doc:   "organization mode only: at most this many principals contained per window in the whole organization, every account together; past it they are reported, not contained",
		field: func(s *Settings) any { return &s.OrgBreakerMax }, check: checkOrgBreakerMax},
	{JSON: "breakerWindow", Env: EnvBreakerWindow, Context: "breakerWindow", Default: "`1h`",
		Doc:   "the breaker's window, a Go duration of a minute or more",
		field: func(s *Settings) any { return &s.BreakerWindow }, check: func(s *Settings) error { return checkDuration(s.BreakerWindow) }},
	{JSON: "blockTtl", Env: EnvBlockTTL, Context: "blockTtl", Default: "`168h` (seven days)",
		Doc:   "how long a block lasts after the address was last seen, a Go duration of a minute or more",
		field: func(s *Settings) any { return &s.BlockTTL }, check: func(s *Settings) error { return checkDuration(s.BlockTTL) }},
	{JSON: "safetyNet", Env: EnvSafetyNet, Context: "safetyNet", Default: "`0`: each safety net's own `minSeverity` (the default playbook's: 4, medium)",
		Doc:   "raises the severity floor of the safety-net rules (types `[\"*\"]`: notify every finding no earlier rule took), 0–10, or `off` switches them off; the stack's GuardDuty patterns follow it",
		field: func(s *Settings) any { return &s.SafetyNet }, check: checkSafetyNet},
	{JSON: "quarantinePolicyArn", Env: EnvQuarantinePolicy, Context: "quarantinePolicyArn", Default: "`arn:<partition>:iam::aws:policy/AWSCompromisedKeyQuarantineV3`",
		Doc:   "the managed policy quarantine attaches; the stack grants attaching and detaching only this policy (`iam:PolicyARN`)",
		field: func(s *Settings) any { return &s.QuarantinePolicyARN }, check: checkQuarantinePolicy},
	{JSON: "snapshotVolumes", Env: EnvSnapshotVolumes, Context: "snapshotVolumes", Default: "`false`",
		Doc:   "isolate-instance also creates an EBS snapshot of each of the instance's volumes, tagged with the finding, for forensics (snapshots cost storage until you delete them)",
		field: func(s *Settings) any { return &s.SnapshotVolumes }},
	{JSON: "isolateAutoScaling", Env: EnvIsolateAutoScaling, Context: "isolateAutoScaling", Default: "`false`",
		Doc:   "isolate-instance also isolates an instance of an Auto Scaling group; off, such an instance is skipped: the group would replace it (a failed load-balancer health check, a scale-in), terminating it with its evidence",
		field: func(s *Settings) any { return &s.IsolateAutoScaling }},
}

// Set reads text into the setting of s and checks the result. Its error
// does not name the setting: the caller names it as its reader knows it
// (a variable, a context key).
func (st Setting) Set(s *Settings, text string) error {
	if err := ParseText(st.field(s), text); err != nil {
		return err
	}
	return st.Check(s)
}

// Check reports what is wrong with the setting's value in s.
func (st Setting) Check(s *Settings) error {
	if st.check == nil {
		return nil
	}
	return st.check(s)
}

// ParseText reads text into dst, the one way a setting's variable or a
// CDK context value is read. dst is a *bool ("true", "false", "1", "0"),
// *int, *float64, *string (trimmed), *Networks, *[]Pattern or *[]string
// (comma-separated lists, empty items dropped), or *SafetyNet (a number or
// "off"). Empty text leaves a bool or a number unchanged, and empties a
// string or a list.
func ParseText(dst any, text string) error {
	text = strings.TrimSpace(text)
	switch d := dst.(type) {
	case *bool:
		if text == "" {
			return nil
		}
		b, err := strconv.ParseBool(text)
		if err != nil {
			return fmt.Errorf("%q is not true or false", text)
		}
		*d = b
	case *int:
		if text == "" {
			return nil
		}
		i, err := strconv.Atoi(text)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", text)
		}
		*d = i
	case *float64:
		if text == "" {
			return nil
		}
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", text)
		}
		*d = f
	case *string:
		*d = text
	case *Networks:
		n, err := parseNetworks(splitList(text))
		if err != nil {
			return err
		}
		*d = n
	case *SafetyNet:
		return d.parse(text)
	case *[]Pattern:
		*d = (*d)[:0]
		for _, v := range splitList(text) {
			*d = append(*d, Pattern(v))
		}
	case *[]string:
		*d = splitList(text)
	default:
		// A programming error in a table, which the tests exercise.
		panic(fmt.Sprintf("playbook.ParseText: no reader for %T", dst))
	}
	return nil
}

func splitList(v string) []string {
	var out []string
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// Networks are CIDR networks; in JSON, a list of strings such as
// "192.0.2.0/24" or "2001:db8::/32". It is a named slice only so that a
// bad entry's error names its place in the list.
type Networks []netip.Prefix

// UnmarshalJSON reads a list of CIDR strings.
func (n *Networks) UnmarshalJSON(data []byte) error {
	var texts []string
	if err := json.Unmarshal(data, &texts); err != nil {
		return pathError{errors.New("settings.allowCidrs: want a list of CIDR strings")}
	}
	parsed, err := parseNetworks(texts)
	if err != nil {
		return pathError{Named("settings.allowCidrs", err)}
	}
	*n = parsed
	return nil
}

func parseNetworks(texts []string) (Networks, error) {
	out := make(Networks, 0, len(texts))
	for i, t := range texts {
		p, err := netip.ParsePrefix(strings.TrimSpace(t))
		if err != nil {
			return nil, indexed(i, fmt.Errorf("%q is not a CIDR such as 192.0.2.0/24 or 2001:db8::/32", t))
		}
		out = append(out, unmapPrefix(p))
	}
	return out, nil
}

// unmapPrefix writes an IPv4-mapped network (::ffff:185.220.101.0/120) as
// the IPv4 network it maps (185.220.101.0/24): addresses are judged as
// IPv4, so only that form can contain them.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p
}

// pathError is a decoding error that names its field path itself: the
// decoder's position, after the whole document, would only mislead.
type pathError struct{ error }

func (e pathError) Unwrap() error { return e.error }

// indexedError is an error about one entry of a list setting.
type indexedError struct {
	i   int
	err error
}

func (e indexedError) Error() string { return fmt.Sprintf("[%d]: %v", e.i, e.err) }
func (e indexedError) Unwrap() error { return e.err }

// indexed marks err as being about entry i of a list, so that Named writes
// it as name[i].
func indexed(i int, err error) error { return indexedError{i, err} }

// Named prefixes err with the name of what it is about: "settings.protect",
// "$AUTOCONTAIN_PROTECT", "context protect"; an error about one entry of a
// list reads name[i].
func Named(name string, err error) error {
	var ie indexedError
	if errors.As(err, &ie) {
		return fmt.Errorf("%s[%d]: %w", name, ie.i, ie.err)
	}
	return fmt.Errorf("%s: %w", name, err)
}

func checkSeverity(s *Settings) error {
	if s.MinSeverity < 0 || s.MinSeverity > 10 {
		return fmt.Errorf("%g is outside 0–10", s.MinSeverity)
	}
	return nil
}

func checkAllowCIDRs(s *Settings) error {
	for i, n := range s.AllowCIDRs {
		if !n.IsValid() {
			return indexed(i, errors.New("not a CIDR such as 192.0.2.0/24 or 2001:db8::/32"))
		}
	}
	return nil
}

func checkProtect(s *Settings) error {
	for i, pat := range s.Protect {
		if err := pat.validate(); err != nil {
			return indexed(i, err)
		}
		if !strings.HasPrefix(string(pat), "arn:") {
			return indexed(i, fmt.Errorf("%q is not an ARN pattern (arn:aws:iam::*:role/break-glass-*)", pat))
		}
	}
	return nil
}

func checkIPSet(arn string) error {
	if arn == "" {
		return nil
	}
	_, err := ipset.Parse(arn)
	return err
}

func checkTopic(s *Settings) error {
	if s.TopicARN != "" && !strings.HasPrefix(s.TopicARN, "arn:") {
		return fmt.Errorf("%q is not an ARN", s.TopicARN)
	}
	return nil
}

func checkNotificationFormat(s *Settings) error {
	switch s.NotificationFormat {
	case "", FormatText, FormatChat:
		return nil
	}
	return fmt.Errorf("%q is not %s or %s", s.NotificationFormat, FormatText, FormatChat)
}

func checkBreakerMax(s *Settings) error {
	if s.BreakerMax < 0 {
		return fmt.Errorf("%d is negative", s.BreakerMax)
	}
	return nil
}

func checkOrgBreakerMax(s *Settings) error {
	if s.OrgBreakerMax < 0 {
		return fmt.Errorf("%d is negative", s.OrgBreakerMax)
	}
	return nil
}

func checkDuration(v string) error {
	if v == "" {
		return nil
	}
	if d, err := time.ParseDuration(v); err != nil || d < time.Minute {
		return fmt.Errorf("%q is not a Go duration of a minute or more (such as 1h or 168h)", v)
	}
	return nil
}
