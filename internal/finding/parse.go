package finding

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// MaxEventSize is the largest event Parse accepts: EventBridge's own limit
// on an event's size is 256 KB (EventBridge User Guide, "Amazon EventBridge quotas").
const MaxEventSize = 256 * 1024

// The EventBridge detail-types autocontain reads.
const (
	DetailTypeGuardDuty     = "GuardDuty Finding"
	DetailTypeAPICall       = "AWS API Call via CloudTrail"
	DetailTypeConsoleSignIn = "AWS Console Sign In via CloudTrail"
)

// SourceGuardDutyEvents is the EventBridge source of GuardDuty findings.
const SourceGuardDutyEvents = "aws.guardduty"

// ErrUnsupported is wrapped by Parse's error for well-formed events that are
// not a GuardDuty finding (from GuardDuty or Security Hub) or a CloudTrail record.
var ErrUnsupported = errors.New("unsupported event")

// envelope is the EventBridge event around a finding.
type envelope struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       string          `json:"time"`
	Region     string          `json:"region"`
	Detail     json.RawMessage `json:"detail"`
}

// Parse reads one EventBridge event and returns the finding it carries.
// Errors name the field that is wrong; ErrUnsupported marks events of other
// kinds. A Security Hub event that carries several findings is an error
// here: ParseAll reads it.
func Parse(raw []byte) (Finding, error) {
	fs, err := ParseAll(raw)
	if err != nil {
		return Finding{}, err
	}
	if len(fs) != 1 {
		return Finding{}, fmt.Errorf("the event carries %d findings; read it with ParseAll", len(fs))
	}
	return fs[0], nil
}

// ParseAll reads one EventBridge event and returns every finding it
// carries: one for a GuardDuty finding or a CloudTrail record, one or more
// for a Security Hub event (detail.findings[]), in their order. An event
// any of whose findings cannot be read is refused whole, with an error
// naming the finding's JSON path: nothing of it is acted on.
func ParseAll(raw []byte) ([]Finding, error) {
	if len(raw) > MaxEventSize {
		return nil, fmt.Errorf("event is %d bytes, more than the %d that EventBridge delivers", len(raw), MaxEventSize)
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, errors.New("event is empty")
	}
	if raw[0] != '{' {
		return nil, errors.New("event is not a JSON object")
	}
	if err := checkRaw(raw); err != nil {
		return nil, err
	}
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, fmt.Errorf("event is not a valid EventBridge envelope: %w", describe(err))
	}
	if env.Source == "" {
		return nil, errors.New("event has no \"source\": not an EventBridge event")
	}
	if env.DetailType == "" {
		return nil, errors.New("event has no \"detail-type\": not an EventBridge event")
	}
	if !isObject(env.Detail) {
		return nil, fmt.Errorf("event %q from %s has no \"detail\" object", env.DetailType, env.Source)
	}
	if err := checkText([2]string{"account", env.Account}); err != nil {
		return nil, err
	}
	one := func(f Finding, err error) ([]Finding, error) {
		if err != nil {
			return nil, err
		}
		return []Finding{f}, nil
	}
	switch {
	case env.DetailType == DetailTypeGuardDuty:
		// Anyone allowed to PutEvents on the bus can send any detail-type;
		// only GuardDuty can send source aws.guardduty (EventBridge User
		// Guide: the aws. prefix is reserved for AWS services).
		if env.Source != SourceGuardDutyEvents {
			return nil, fmt.Errorf("a %q event from source %q: only %s sends them; refused", env.DetailType, env.Source, SourceGuardDutyEvents)
		}
		return one(parseGuardDuty(env))
	case env.DetailType == DetailTypeSecurityHub:
		// The same reservation: only Security Hub sends aws.securityhub.
		if env.Source != SourceSecurityHubEvents {
			return nil, fmt.Errorf("a %q event from source %q: only %s sends them; refused", env.DetailType, env.Source, SourceSecurityHubEvents)
		}
		return parseSecurityHub(env)
	case env.DetailType == DetailTypeAPICall, env.DetailType == DetailTypeConsoleSignIn:
		return one(parseCloudTrail(env))
	}
	return nil, fmt.Errorf("%w: source %q with detail-type %q (want %q from aws.guardduty, %q from aws.securityhub, %q or %q)",
		ErrUnsupported, env.Source, env.DetailType, DetailTypeGuardDuty, DetailTypeSecurityHub, DetailTypeAPICall, DetailTypeConsoleSignIn)
}

// isObject reports whether raw holds a JSON object.
func isObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{'
}

// describe turns encoding/json's type errors into messages that name the
// field by its JSON path.
func describe(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Errorf("field %q is a JSON %s, want %s", te.Field, te.Value, jsonKind(te.Type.Kind().String()))
	}
	return err
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "float64", "int", "int64":
		return "a number"
	case "slice":
		return "an array"
	default:
		return "an object"
	}
}

// parseTime reads the timestamps AWS writes: RFC 3339 with or without
// fractional seconds (2026-11-20T11:02:37Z, 2026-11-20T11:02:37.123Z),
// in UTC or with a numeric offset. RFC 3339 also allows a lower-case t
// and z (section 5.6, the note under the grammar), which Go's parser
// refuses: they are read as upper case. A decimal comma (ISO 8601's, not
// RFC 3339's), which Go's parser takes, is refused; so is everything else
// that is not RFC 3339, and a leap second (:60), which Go cannot hold.
// The refusal fails the delivery: Lambda retries it, then sends it to the
// dead-letter queue, which is alarmed.
func parseTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, fmt.Errorf("%s is missing", field)
	}
	norm := s
	if len(norm) > 10 && norm[10] == 't' {
		norm = norm[:10] + "T" + norm[11:]
	}
	if strings.HasSuffix(norm, "z") {
		norm = norm[:len(norm)-1] + "Z"
	}
	t, err := time.Parse(time.RFC3339Nano, norm)
	if err != nil || strings.Contains(s, ",") {
		return time.Time{}, fmt.Errorf("%s %q is not an RFC 3339 time such as 2026-11-20T11:02:37Z", field, s)
	}
	return t.UTC(), nil
}

// addressList collects addresses in order without duplicates.
type addressList struct {
	seen  map[netip.Addr]bool
	addrs []netip.Addr
}

// add parses s (an address, not a CIDR) and appends it if new; empty strings
// are ignored, malformed ones are an error naming field.
func (l *addressList) add(field, s string) error {
	if s == "" {
		return nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return fmt.Errorf("%s %q is not an IP address", field, s)
	}
	a = a.Unmap()
	if l.seen == nil {
		l.seen = make(map[netip.Addr]bool)
	}
	if !l.seen[a] {
		l.seen[a] = true
		l.addrs = append(l.addrs, a)
	}
	return nil
}

// accessKeyKind tells long-term (AKIA) from temporary (ASIA) access keys
// (IAM User Guide, "IAM identifiers": unique id prefixes).
func accessKeyKind(id string) (longTerm, temporary bool) {
	return strings.HasPrefix(id, "AKIA"), strings.HasPrefix(id, "ASIA")
}
