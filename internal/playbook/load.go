package playbook

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/ipset"
)

//go:embed default.json
var defaultJSON []byte

// DefaultJSON returns the embedded default playbook's text.
func DefaultJSON() []byte { return bytes.Clone(defaultJSON) }

// Default returns the embedded default playbook. It panics if the embedded
// file is invalid, which a test rules out.
func Default() *Playbook {
	p, err := Parse(defaultJSON, "default.json")
	if err != nil {
		panic(fmt.Sprintf("embedded default playbook is invalid: %v", err))
	}
	return p
}

// MaxSize bounds a playbook file; a real one is a few kilobytes.
const MaxSize = 1 << 20

// Load reads and validates a playbook from r; name labels errors.
func Load(r io.Reader, name string) (*Playbook, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read playbook %s: %w", name, err)
	}
	return Parse(data, name)
}

// Parse decodes and validates a playbook. Unknown fields are errors, so a
// misspelt key cannot silently do nothing; errors name the line and column
// or the field path.
func Parse(data []byte, name string) (*Playbook, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("playbook %s: larger than %d bytes", name, MaxSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var p Playbook
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("playbook %s: %s", name, decodeError(data, dec, err))
	}
	if dec.More() {
		return nil, fmt.Errorf("playbook %s:%s: unexpected data after the playbook object", name, position(data, dec.InputOffset()))
	}
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("playbook %s: %w", name, err)
	}
	return &p, nil
}

// decodeError turns encoding/json's errors into "line:col: what".
func decodeError(data []byte, dec *json.Decoder, err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("%s: %v", position(data, se.Offset), se)
	case errors.As(err, &te):
		return fmt.Sprintf("%s: field %q: a JSON %s cannot be %s", position(data, te.Offset), te.Field, te.Value, te.Type)
	case errors.Is(err, io.EOF):
		return "empty: want a JSON object"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated JSON"
	}
	// Unknown fields: encoding/json gives no offset, the decoder's position is close.
	return fmt.Sprintf("%s: %v", position(data, dec.InputOffset()), err)
}

// position returns the 1-based line:column of a byte offset.
func position(data []byte, offset int64) string {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	before := data[:max(offset, 0)]
	line := bytes.Count(before, []byte("\n")) + 1
	col := len(before) - bytes.LastIndexByte(before, '\n')
	return fmt.Sprintf("%d:%d", line, col)
}

var ruleName = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

var kinds = []finding.Kind{
	finding.KindNone, finding.KindIAMUserKey, finding.KindIAMUserSession, finding.KindAssumedRole,
	finding.KindRoot, finding.KindFederated, finding.KindService, finding.KindUnknown,
}

// validate checks everything that Parse's decoding cannot, and fills the
// parsed forms of the settings.
func (p *Playbook) validate() error {
	if p.Version != 1 {
		return fmt.Errorf("version: %d is not supported, want 1", p.Version)
	}
	s := &p.Settings
	if s.MinSeverity < 0 || s.MinSeverity > 10 {
		return fmt.Errorf("settings.minSeverity: %g is outside 0–10", s.MinSeverity)
	}
	p.allow = p.allow[:0]
	for i, c := range s.AllowCIDRs {
		n, err := netip.ParsePrefix(c)
		if err != nil {
			return fmt.Errorf("settings.allowCidrs[%d]: %q is not a CIDR such as 192.0.2.0/24 or 2001:db8::/32", i, c)
		}
		p.allow = append(p.allow, n.Masked())
	}
	for i, pat := range s.Protect {
		if err := pat.validate(); err != nil {
			return fmt.Errorf("settings.protect[%d]: %w", i, err)
		}
		if !strings.HasPrefix(string(pat), "arn:") {
			return fmt.Errorf("settings.protect[%d]: %q is not an ARN pattern (arn:aws:iam::*:role/break-glass-*)", i, pat)
		}
	}
	for field, a := range map[string]string{"settings.ipSets.ipv4": s.IPSets.IPv4, "settings.ipSets.ipv6": s.IPSets.IPv6} {
		if a == "" {
			continue
		}
		if _, err := ipset.Parse(a); err != nil {
			return fmt.Errorf("%s: %w", field, err)
		}
	}
	if s.BreakerMax < 0 {
		return fmt.Errorf("settings.breakerMax: %d is negative", s.BreakerMax)
	}
	for field, v := range map[string]string{"settings.breakerWindow": s.BreakerWindow, "settings.blockTtl": s.BlockTTL} {
		if v == "" {
			continue
		}
		if d, err := time.ParseDuration(v); err != nil || d < time.Minute {
			return fmt.Errorf("%s: %q is not a Go duration of a minute or more (such as 1h or 168h)", field, v)
		}
	}
	if s.TopicARN != "" && !strings.HasPrefix(s.TopicARN, "arn:") {
		return fmt.Errorf("settings.topicArn: %q is not an ARN", s.TopicARN)
	}
	if len(p.Rules) == 0 {
		return errors.New("rules: a playbook needs at least one rule")
	}
	names := map[string]int{}
	for i := range p.Rules {
		if err := p.Rules[i].validate(); err != nil {
			return fmt.Errorf("rules[%d] (%s): %w", i, p.Rules[i].Name, err)
		}
		if j, dup := names[p.Rules[i].Name]; dup {
			return fmt.Errorf("rules[%d]: name %q is already used by rules[%d]", i, p.Rules[i].Name, j)
		}
		names[p.Rules[i].Name] = i
	}
	return nil
}

func (r *Rule) validate() error {
	if !ruleName.MatchString(r.Name) {
		return fmt.Errorf("name: %q must be lower-case kebab-case (stolen-keys)", r.Name)
	}
	switch r.Source {
	case finding.SourceGuardDuty:
		if r.EventSource != "" {
			return errors.New("eventSource: only CloudTrail rules have one")
		}
		if r.MinSeverity < 0 || r.MinSeverity > 10 {
			return fmt.Errorf("minSeverity: %g is outside 0–10", r.MinSeverity)
		}
	case finding.SourceCloudTrail:
		if !strings.HasSuffix(r.EventSource, ".amazonaws.com") {
			return fmt.Errorf("eventSource: %q is not a service such as cloudtrail.amazonaws.com", r.EventSource)
		}
		if r.MinSeverity != 0 {
			return errors.New("minSeverity: CloudTrail records carry no severity")
		}
	default:
		return fmt.Errorf("source: %q is not %q or %q", r.Source, finding.SourceGuardDuty, finding.SourceCloudTrail)
	}
	if len(r.Types) == 0 {
		return errors.New("types: a rule needs at least one finding type or event name")
	}
	for i, t := range r.Types {
		if err := t.validate(); err != nil {
			return fmt.Errorf("types[%d]: %w", i, err)
		}
	}
	for i, k := range r.Principals {
		if !slices.Contains(kinds, k) {
			return fmt.Errorf("principals[%d]: %q is not one of %v", i, k, kinds)
		}
	}
	if len(r.Actions) == 0 {
		return errors.New("actions: a rule needs at least one action")
	}
	for i, a := range r.Actions {
		if !slices.Contains(Actions, a) {
			return fmt.Errorf("actions[%d]: %q is not one of %s", i, a, strings.Join(Actions, ", "))
		}
		if slices.Index(r.Actions, a) != i {
			return fmt.Errorf("actions[%d]: %q is listed twice", i, a)
		}
	}
	return nil
}

// Environment variables FromEnv reads. The CDK stack sets them from its context.
const (
	EnvPlaybook      = "AUTOCONTAIN_PLAYBOOK"      // a whole playbook, as JSON
	EnvPlaybookFile  = "AUTOCONTAIN_PLAYBOOK_FILE" // path of a playbook file
	EnvDryRun        = "AUTOCONTAIN_DRY_RUN"       // true or false
	EnvMinSeverity   = "AUTOCONTAIN_MIN_SEVERITY"  // 0–10
	EnvAllowCIDRs    = "AUTOCONTAIN_ALLOW_CIDRS"   // comma-separated CIDRs
	EnvProtect       = "AUTOCONTAIN_PROTECT"       // comma-separated ARN globs
	EnvIPSetV4       = "AUTOCONTAIN_IPSET_V4_ARN"
	EnvIPSetV6       = "AUTOCONTAIN_IPSET_V6_ARN"
	EnvTopicARN      = "AUTOCONTAIN_TOPIC_ARN"
	EnvActOnSamples  = "AUTOCONTAIN_ACT_ON_SAMPLES"  // true or false
	EnvActOnArchived = "AUTOCONTAIN_ACT_ON_ARCHIVED" // true or false
	EnvBreakerMax    = "AUTOCONTAIN_BREAKER_MAX"     // principals per window
	EnvBreakerWindow = "AUTOCONTAIN_BREAKER_WINDOW"  // a Go duration
	EnvBlockTTL      = "AUTOCONTAIN_BLOCK_TTL"       // a Go duration
)

// FromEnv builds the playbook in force: the one in AUTOCONTAIN_PLAYBOOK, else
// the file AUTOCONTAIN_PLAYBOOK_FILE, else the embedded default; then each
// setting variable that is set overrides the playbook's setting. lookup is
// os.LookupEnv outside tests.
func FromEnv(lookup func(string) (string, bool)) (*Playbook, error) {
	var (
		p   *Playbook
		err error
	)
	if text, ok := lookup(EnvPlaybook); ok && text != "" {
		p, err = Parse([]byte(text), "from $"+EnvPlaybook)
	} else if path, ok := lookup(EnvPlaybookFile); ok && path != "" {
		var data []byte
		if data, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("read playbook named by $%s: %w", EnvPlaybookFile, err)
		}
		p, err = Parse(data, path)
	} else {
		p, err = Parse(defaultJSON, "default.json")
	}
	if err != nil {
		return nil, err
	}
	if err := p.applyEnv(lookup); err != nil {
		return nil, err
	}
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("playbook after environment overrides: %w", err)
	}
	return p, nil
}

func (p *Playbook) applyEnv(lookup func(string) (string, bool)) error {
	s := &p.Settings
	boolVar := func(name string, dst *bool) error {
		v, ok := lookup(name)
		if !ok || v == "" {
			return nil
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("$%s: %q is not true or false", name, v)
		}
		*dst = b
		return nil
	}
	list := func(name string, dst *[]string) {
		if v, ok := lookup(name); ok {
			*dst = splitList(v)
		}
	}
	str := func(name string, dst *string) {
		if v, ok := lookup(name); ok {
			*dst = strings.TrimSpace(v)
		}
	}
	if err := boolVar(EnvDryRun, &s.DryRun); err != nil {
		return err
	}
	if err := boolVar(EnvActOnSamples, &s.ActOnSamples); err != nil {
		return err
	}
	if err := boolVar(EnvActOnArchived, &s.ActOnArchived); err != nil {
		return err
	}
	if v, ok := lookup(EnvMinSeverity); ok && v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("$%s: %q is not a number", EnvMinSeverity, v)
		}
		s.MinSeverity = f
	}
	if v, ok := lookup(EnvBreakerMax); ok && v != "" {
		i, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("$%s: %q is not a whole number", EnvBreakerMax, v)
		}
		s.BreakerMax = i
	}
	str(EnvBreakerWindow, &s.BreakerWindow)
	str(EnvBlockTTL, &s.BlockTTL)
	list(EnvAllowCIDRs, &s.AllowCIDRs)
	var protect []string
	if _, ok := lookup(EnvProtect); ok {
		list(EnvProtect, &protect)
		s.Protect = s.Protect[:0]
		for _, v := range protect {
			s.Protect = append(s.Protect, Pattern(v))
		}
	}
	str(EnvIPSetV4, &s.IPSets.IPv4)
	str(EnvIPSetV6, &s.IPSets.IPv6)
	str(EnvTopicARN, &s.TopicARN)
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
