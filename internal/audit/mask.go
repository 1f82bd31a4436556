package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/autocontain/autocontain/internal/finding"
)

// Masked returns a copy of r with every access key id in its texts masked
// to its last four characters (finding.MaskKeys). The principal's own key
// is masked when the record is made; this also covers the texts that come
// from AWS or from the event (an error message that quotes the key it
// could not find, a session name). Changes, never written out, are kept.
func (r Record) Masked() Record {
	m := finding.MaskKeys
	r.Finding.ID, r.Finding.Type, r.Finding.EventSource = m(r.Finding.ID), m(r.Finding.Type), m(r.Finding.EventSource)
	r.Principal = r.Principal.masked()
	actors := make([]Principal, len(r.Actors))
	for i, a := range r.Actors {
		actors[i] = a.masked()
	}
	r.Actors = actors
	r.Rule, r.Error = m(r.Rule), m(r.Error)
	steps := make([]Step, len(r.Steps))
	for i, s := range r.Steps {
		s.Skipped, s.Target, s.Reason, s.Detail, s.Error = m(s.Skipped), m(s.Target), m(s.Reason), m(s.Detail), m(s.Error)
		steps[i] = s
	}
	r.Steps = steps
	return r
}

func (p Principal) masked() Principal {
	m := finding.MaskKeys
	p.Type, p.ARN, p.UserName, p.RoleName, p.SessionName, p.AccessKey = m(p.Type), m(p.ARN), m(p.UserName), m(p.RoleName), m(p.SessionName), m(p.AccessKey)
	return p
}

// plain is a Record without its methods, to encode it.
type plain Record

// MarshalJSON writes the record masked (see Masked): the record leaves the
// process as the Lambda result, in the notification and in the log.
func (r Record) MarshalJSON() ([]byte, error) { return json.Marshal(plain(r.Masked())) }

// LogValue logs the record masked, whatever the handler's format.
func (r Record) LogValue() slog.Value { return slog.AnyValue(plain(r.Masked())) }

// MaskingHandler returns a slog.Handler that masks every access key id
// (finding.MaskKeys) in the message and in every attribute (strings,
// errors, groups, and any other value as it would be encoded in JSON)
// before next handles the record. The Lambda function and the CLI log
// through it, so an AWS error that quotes a key id never reaches the log
// whole.
func MaskingHandler(next slog.Handler) slog.Handler { return maskingHandler{next} }

type maskingHandler struct{ next slog.Handler }

func (h maskingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h maskingHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, finding.MaskKeys(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(maskAttr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h maskingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	masked := make([]slog.Attr, len(as))
	for i, a := range as {
		masked[i] = maskAttr(a)
	}
	return maskingHandler{h.next.WithAttrs(masked)}
}

func (h maskingHandler) WithGroup(name string) slog.Handler {
	return maskingHandler{h.next.WithGroup(name)}
}

func maskAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		v = slog.StringValue(finding.MaskKeys(v.String()))
	case slog.KindGroup:
		g := v.Group()
		masked := make([]slog.Attr, len(g))
		for i, ga := range g {
			masked[i] = maskAttr(ga)
		}
		v = slog.GroupValue(masked...)
	case slog.KindAny:
		v = maskAny(v)
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// maskAny masks a value of any other type: an error by its message,
// anything else by its JSON encoding, which is what a JSON handler writes.
func maskAny(v slog.Value) slog.Value {
	switch x := v.Any().(type) {
	case nil:
		return v
	case error:
		return slog.StringValue(finding.MaskKeys(x.Error()))
	default:
		js, err := json.Marshal(x)
		if err != nil {
			return slog.StringValue(finding.MaskKeys(fmt.Sprintf("%+v", x)))
		}
		if masked := finding.MaskKeys(string(js)); masked != string(js) {
			return slog.AnyValue(maskedJSON(masked))
		}
		return v
	}
}

// maskedJSON is a value's JSON encoding, masked: a JSON handler writes it
// as JSON, a text handler as its text.
type maskedJSON string

func (m maskedJSON) MarshalJSON() ([]byte, error) { return []byte(m), nil }
func (m maskedJSON) MarshalText() ([]byte, error) { return []byte(m), nil }
