// Package patterns derives the EventBridge event patterns of the stack's
// rules from the playbook, so the rules deliver to the function exactly the
// events the playbook handles and cannot drift from it.
//
// A pattern must fit EventBridge's quota on its size (MaxSize). A playbook
// large enough to exceed it gets its pattern split over several rules, which
// together match exactly what the single pattern would have: each rule keeps
// the whole envelope (source, detail-type, account, archived flag) and takes
// a share of the $or branches, one per playbook rule; a branch too large on
// its own is split on its list of types. Only a branch whose single type
// cannot fit is an error, which names the playbook rule.
package patterns

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/playbook"
)

// Pattern is an EventBridge event pattern, ready to marshal as JSON.
type Pattern = map[string]any

// MaxSize is EventBridge's quota on an event pattern, in characters: 2,048
// by default, adjustable (EventBridge User Guide, "Amazon EventBridge
// quotas": "Event pattern size ... Maximum size, in characters, of an event
// pattern"). The rules are kept within the default.
const MaxSize = 2048

// MaxWildcardRules is EventBridge's quota on the rules of one event bus that
// hold a wildcard filter: 30, not adjustable (same page, "Rules containing
// wildcards").
const MaxWildcardRules = 30

// sizeAccount stands for the account while measuring: the stack's account
// is a CloudFormation reference until deployed, and an account ID is 12
// digits.
const sizeAccount = "123456789012"

// Size is the size of p as measured against MaxSize: the length in bytes
// (at least its length in characters) of its JSON with a space after every
// colon and comma, with account, when set, counted as the 12 digits it will
// be. CloudFormation passes the template's pattern object to EventBridge as
// a string; whether that string is compact or spaced is not documented, so
// the larger of the two is measured.
func Size(p Pattern, account string) int {
	raw, err := marshal(p)
	if err != nil {
		return MaxSize + 1 // cannot happen: patterns hold strings, numbers, booleans, nil
	}
	if account != "" {
		raw = strings.ReplaceAll(raw, quote(account), quote(sizeAccount))
	}
	return len(raw) + spaces(raw)
}

// Compact is p's JSON as EventBridge receives it at least: compact, with
// no HTML escaping.
func Compact(p Pattern) (string, error) {
	return marshal(p)
}

func marshal(p Pattern) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p); err != nil {
		return "", fmt.Errorf("marshal event pattern: %w", err)
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

func quote(s string) string {
	raw, _ := json.Marshal(s)
	return string(raw)
}

// spaces counts the colons and commas of compact JSON outside strings: the
// spaces a spaced serialization adds.
func spaces(raw string) int {
	n, inString, escaped := 0, false, false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case !inString && (c == ':' || c == ','):
			n++
		}
	}
	return n
}

// GuardDuty returns the patterns of the GuardDuty rules, usually one: one
// branch per GuardDuty rule of the playbook, each with its finding types
// (exact, prefix or wildcard), its minimum severity and its principal types.
// Archived findings are left out unless the playbook acts on them; a finding
// whose service.archived is missing or null is not archived, as the function
// reads it. Sample findings cannot be told apart by a pattern (the marker
// may sit inside a JSON string), so the function skips them itself. It
// returns none when the playbook has no GuardDuty rule, and an error naming
// the playbook rule when no split fits MaxSize.
//
// When account is set, only that account's findings match: the envelope's
// account and detail.accountId, since a GuardDuty administrator's bus also
// receives its members' findings, with the member in detail.accountId
// (GuardDuty User Guide, "Creating custom responses to GuardDuty findings":
// "You can identify the member account the GuardDuty finding originated from
// with the accountId field").
func GuardDuty(pb *playbook.Playbook, account string) ([]Pattern, error) {
	return guardDuty(pb, account).split()
}

func guardDuty(pb *playbook.Playbook, account string) shape {
	s := shape{source: "GuardDuty", account: account, common: map[string]any{}}
	for _, r := range pb.Rules {
		if r.Source != finding.SourceGuardDuty {
			continue
		}
		min, on := pb.MinSeverity(r)
		if !on {
			continue // a safety net switched off (settings.safetyNet)
		}
		b := branch{rule: r.Name, typesKey: "type", types: matchers(r.Types), fields: map[string]any{}, min: min}
		if r.IsSafetyNet() {
			b.types = nil // every type: no type filter at all
		}
		if min > 0 {
			b.fields["severity"] = []any{map[string]any{"numeric": []any{">=", min}}}
		}
		resource := map[string]any{}
		if types := userTypes(r.Principals); types != nil {
			resource["accessKeyDetails"] = map[string]any{"userType": types}
		}
		if len(r.ResourceTypes) > 0 {
			resource["resourceType"] = strings2any(r.ResourceTypes)
		}
		if len(resource) > 0 {
			b.fields["resource"] = resource
		}
		if r.ResourceRole != "" {
			b.fields["service"] = map[string]any{"resourceRole": []any{r.ResourceRole}}
		}
		s.branches = append(s.branches, b)
	}
	s.branches = withoutCovered(s.branches)
	if len(s.branches) == 0 {
		return s
	}
	if !pb.Settings.ActOnArchived {
		// false, null, or missing: event-ruler matches null only with null,
		// and a missing field only with {"exists": false}. null stands
		// alone in its list, which CDK writes only so (Match.nullValue).
		s.common["service"] = map[string]any{"$or": []any{
			map[string]any{"archived": []any{false, map[string]any{"exists": false}}},
			map[string]any{"archived": []any{nil}},
		}}
	}
	s.envelope = Pattern{"source": []any{finding.SourceGuardDutyEvents}, "detail-type": []any{finding.DetailTypeGuardDuty}}
	if account != "" {
		s.envelope["account"] = []any{account}
		s.common["accountId"] = []any{account}
	}
	return s
}

// CloudTrail returns the patterns of the CloudTrail rules, usually one: one
// branch per CloudTrail rule of the playbook (event source, event names,
// principal types). The event's source is the service's
// (cloudtrail.amazonaws.com arrives as aws.cloudtrail); console sign-ins
// have their own detail-type. It returns none when the playbook has no
// CloudTrail rule, and an error naming the playbook rule when no split fits
// MaxSize. When account is set, only events of that account match (the
// envelope's account: CloudTrail delivers an event to the bus of the account
// that recorded it).
func CloudTrail(pb *playbook.Playbook, account string) ([]Pattern, error) {
	return cloudTrail(pb, account).split()
}

func cloudTrail(pb *playbook.Playbook, account string) shape {
	s := shape{source: "CloudTrail", account: account, common: map[string]any{}}
	var sources, detailTypes []any
	for _, r := range pb.Rules {
		if r.Source != finding.SourceCloudTrail {
			continue
		}
		b := branch{rule: r.Name, typesKey: "eventName", types: matchers(r.Types), fields: map[string]any{"eventSource": []any{r.EventSource}}}
		if types := userTypes(r.Principals); types != nil {
			b.fields["userIdentity"] = map[string]any{"type": types}
		}
		s.branches = append(s.branches, b)
		sources = appendNew(sources, EventBridgeSource(r.EventSource))
		dt := finding.DetailTypeAPICall
		if r.EventSource == "signin.amazonaws.com" {
			dt = finding.DetailTypeConsoleSignIn
		}
		detailTypes = appendNew(detailTypes, dt)
	}
	if len(s.branches) == 0 {
		return s
	}
	s.envelope = Pattern{"source": sources, "detail-type": detailTypes}
	if account != "" {
		s.envelope["account"] = []any{account}
	}
	return s
}

// CloudTrailFromOthers returns the patterns of CloudTrail rules for the
// events of the organization bus, in region: every account's, but the
// central account's (account) of region itself, which its default bus
// there delivers (the member stack in the central account, when it is in
// a target OU, forwards them a second time). The central account's events
// of its other Regions, forwarded the same way, reach no other rule, so
// they match.
func CloudTrailFromOthers(pb *playbook.Playbook, account, region string) ([]Pattern, error) {
	s := cloudTrail(pb, "")
	if len(s.branches) > 0 {
		s.account = account
		s.envelope["$or"] = []any{
			map[string]any{"account": []any{map[string]any{"anything-but": account}}},
			map[string]any{"region": []any{map[string]any{"anything-but": region}}},
		}
	}
	return s.split()
}

// CheckQuotas checks the quotas that bind the rules of one event bus
// together: at most MaxWildcardRules of them may hold a wildcard filter.
func CheckQuotas(ps []Pattern) error {
	n := 0
	for _, p := range ps {
		if raw, err := marshal(p); err == nil && strings.Contains(raw, `{"wildcard":`) {
			n++
		}
	}
	if n > MaxWildcardRules {
		return fmt.Errorf("the playbook needs %d EventBridge rules with wildcard types, more than the %d an event bus allows (not adjustable): use fewer wildcard types, or prefixes (Type:*)", n, MaxWildcardRules)
	}
	return nil
}

// EventBridgeSource is the source EventBridge gives a service's CloudTrail
// events (see finding.EventBridgeSource, which the function checks).
func EventBridgeSource(eventSource string) string {
	return finding.EventBridgeSource(eventSource)
}

// shape is a pattern before it is cut into rules: the envelope and the
// detail fields every rule keeps, and the branches, one per playbook rule,
// that the rules share out.
type shape struct {
	source   string // "GuardDuty", "Security Hub" or "CloudTrail", for errors
	account  string
	envelope Pattern        // source, detail-type, account
	common   map[string]any // detail fields outside $or
	branches []branch
	// nest, when set, is the detail field that holds the fields
	// ("findings": Security Hub's detail.findings[]).
	nest string
}

// branch is one playbook rule's part of a pattern: its types, which may be
// split, and its other fields. A branch without types matches every type
// (a safety net).
type branch struct {
	rule     string
	typesKey string // a field, or a dotted path to a nested one
	types    []any
	fields   map[string]any
	min      float64 // GuardDuty: the severity floor in fields, 0 for none
	// sevKey is the field of fields that holds the severity floor:
	// "severity" when empty.
	sevKey string
}

func (b branch) detail() map[string]any {
	d := make(map[string]any, len(b.fields)+1)
	for k, v := range b.fields {
		d[k] = v
	}
	if b.types != nil {
		put(d, strings.Split(b.typesKey, "."), b.types)
	}
	return d
}

// put sets the field at path in d, copying the maps on the way rather
// than changing maps that d shares with other branches.
func put(d map[string]any, path []string, v any) {
	if len(path) == 1 {
		d[path[0]] = v
		return
	}
	inner := map[string]any{}
	if m, ok := d[path[0]].(map[string]any); ok {
		for k, x := range m {
			inner[k] = x
		}
	}
	put(inner, path[1:], v)
	d[path[0]] = inner
}

// withoutCovered drops each type of a branch that another branch already
// matches (one for every type, a safety net, or one with the same type,
// whose severity floor is no higher and whose other filters are among the
// branch's), and each branch left with no type. The pattern matches the
// union of its branches, so it matches the same events; a safety net, or a
// rule narrowed to some principals or a resource role before a broader one
// of the same types, shrinks the pattern instead of growing it. When the
// pattern is split, no event matches two of its rules for a type two
// branches share, so none is delivered twice.
func withoutCovered(bs []branch) []branch {
	// covers reports whether n matches every event b matches with type t
	// (t nil: every event b matches, for a branch of every type).
	covers := func(n, b branch, t any) bool {
		if b.min < n.min || (n.types != nil && (t == nil || !slices.ContainsFunc(n.types, func(m any) bool { return reflect.DeepEqual(m, t) }))) {
			return false
		}
		for k, v := range n.fields {
			if k != cmp.Or(n.sevKey, "severity") && !reflect.DeepEqual(b.fields[k], v) {
				return false
			}
		}
		return true
	}
	// covered reports whether another branch matches what bs[i] matches
	// with type t. Of two that cover each other (two alike safety nets,
	// one type in two alike rules), the first keeps it; a branch of every
	// type keeps it over a typed one.
	covered := func(i int, t any) bool {
		b := bs[i]
		for j, n := range bs {
			if i != j && covers(n, b, t) && !(i < j && (n.types != nil || b.types == nil) && covers(b, n, t)) {
				return true
			}
		}
		return false
	}
	var out []branch
	for i, b := range bs {
		if b.types == nil {
			if !covered(i, nil) {
				out = append(out, b)
			}
			continue
		}
		var keep []any
		for _, t := range b.types {
			if !covered(i, t) {
				keep = append(keep, t)
			}
		}
		if len(keep) > 0 {
			b.types = keep
			out = append(out, b)
		}
	}
	return out
}

// pattern is the pattern of one rule holding bs.
func (s shape) pattern(bs []branch) Pattern {
	var detail map[string]any
	if len(bs) == 1 {
		detail = bs[0].detail()
	} else {
		// A field every branch has alike moves out of $or: (a AND x) OR
		// (b AND x) is (a OR b) AND x, and shorter. A field that also
		// holds a branch's types (a nested types key) stays.
		detail = map[string]any{}
		typesIn, _, _ := strings.Cut(bs[0].typesKey, ".")
		for k, v := range bs[0].fields {
			if k != typesIn && all(bs, func(b branch) bool { return reflect.DeepEqual(b.fields[k], v) }) {
				detail[k] = v
			}
		}
		list := make([]any, len(bs))
		for i, b := range bs {
			d := b.detail()
			for k := range detail {
				delete(d, k)
			}
			list[i] = d
		}
		detail["$or"] = list
	}
	for k, v := range s.common {
		// A branch's own part of a field the rules share (service's
		// resourceRole beside its archived flag) is kept beside it.
		detail[k] = mergedField(detail[k], v)
	}
	if s.nest != "" {
		detail = map[string]any{s.nest: detail}
	}
	p := make(Pattern, len(s.envelope)+1)
	for k, v := range s.envelope {
		p[k] = v
	}
	p["detail"] = detail
	return p
}

func all(bs []branch, f func(branch) bool) bool {
	for _, b := range bs {
		if !f(b) {
			return false
		}
	}
	return true
}

func (s shape) fits(bs []branch) bool { return Size(s.pattern(bs), s.account) <= MaxSize }

// split cuts the shape into as few rules, in playbook order, as keep each
// within MaxSize: one when it fits.
func (s shape) split() ([]Pattern, error) {
	if len(s.branches) == 0 {
		return nil, nil
	}
	if s.fits(s.branches) {
		return []Pattern{s.pattern(s.branches)}, nil
	}
	// Branches too large alone are split on their types: a branch matches
	// any of its types, so its parts together match what it did.
	var units []branch
	for _, b := range s.branches {
		if s.fits([]branch{b}) {
			units = append(units, b)
			continue
		}
		if b.types == nil {
			return nil, fmt.Errorf("playbook rule %q: its %s event pattern, for every type, is %d characters, more than EventBridge's %d even in a rule of its own: shorten its other filters",
				b.rule, s.source, Size(s.pattern([]branch{b}), s.account), MaxSize)
		}
		var part branch
		for _, t := range b.types {
			next := b
			next.types = append(slices.Clip(part.types), t)
			if s.fits([]branch{next}) {
				part = next
				continue
			}
			if len(part.types) > 0 {
				units = append(units, part)
			}
			part = b
			part.types = []any{t}
			if !s.fits([]branch{part}) {
				return nil, fmt.Errorf("playbook rule %q: its %s event pattern is %d characters with the single type %s, more than EventBridge's %d even in a rule of its own: shorten its types or its other filters",
					b.rule, s.source, Size(s.pattern([]branch{part}), s.account), typeText(t), MaxSize)
			}
		}
		units = append(units, part)
	}
	// Pack the units, in order, as many to a rule as fit.
	var out []Pattern
	var cur []branch
	for _, u := range units {
		if len(cur) > 0 && !s.fits(append(slices.Clip(cur), u)) {
			out = append(out, s.pattern(cur))
			cur = nil
		}
		cur = append(cur, u)
	}
	return append(out, s.pattern(cur)), nil
}

// typeText shows a type in an error, shortened when long.
func typeText(t any) string {
	raw, _ := json.Marshal(t)
	if len(raw) > 80 {
		return fmt.Sprintf("%s… (%d characters)", raw[:60], len(raw))
	}
	return string(raw)
}

// matchers turns playbook patterns into EventBridge value matchers.
func matchers(ps []playbook.Pattern) []any {
	var out []any
	for _, p := range ps {
		switch p.Kind() {
		case playbook.Exact:
			out = append(out, string(p))
		case playbook.Prefix:
			out = append(out, map[string]any{"prefix": p.Literal()})
		default:
			out = append(out, map[string]any{"wildcard": string(p)})
		}
	}
	return out
}

// userTypes maps principal kinds to the user types events carry
// (GuardDuty's accessKeyDetails.userType, CloudTrail's userIdentity.type).
// It returns nil, no filter, when a kind cannot be expressed as a type.
func userTypes(kinds []finding.Kind) []any {
	if len(kinds) == 0 {
		return nil
	}
	var out []any
	for _, k := range kinds {
		var t string
		switch k {
		case finding.KindIAMUserKey, finding.KindIAMUserSession:
			t = "IAMUser"
		case finding.KindAssumedRole:
			t = "AssumedRole"
		case finding.KindFederated:
			t = "FederatedUser"
		case finding.KindRoot:
			t = "Root"
		case finding.KindService:
			t = "AWSService"
		default:
			return nil
		}
		out = appendNew(out, t)
	}
	return out
}

// mergedField is b with a's keys added, when both are objects; b otherwise.
// An event pattern's object is the AND of its keys, so merging two
// objects of one field keeps both filters.
func mergedField(a, b any) any {
	am, ok1 := a.(map[string]any)
	bm, ok2 := b.(map[string]any)
	if !ok1 || !ok2 {
		return b
	}
	out := make(map[string]any, len(am)+len(bm))
	for k, v := range am {
		out[k] = v
	}
	for k, v := range bm {
		out[k] = mergedField(out[k], v)
	}
	return out
}

func strings2any(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func appendNew(list []any, v any) []any {
	if slices.Contains(list, v) {
		return list
	}
	return append(list, v)
}
