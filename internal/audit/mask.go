package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"

	"github.com/autocontain/autocontain/internal/finding"
)

// Masked returns a copy of r with every access key id in its texts masked
// to its last four characters (finding.MaskKeys). The principal's own key
// is masked when the record is made; this also covers the texts that come
// from AWS or from the event (an error message that quotes the key it
// could not find, a session name, a resource). Every string the record
// writes out is masked, at any depth, found by reflection so that a field
// added later is masked too (TestMaskedCoversEveryString); Changes, never
// written out (json:"-"), are kept.
func (r Record) Masked() Record {
	maskStrings(reflect.ValueOf(&r).Elem())
	return r
}

// maskStrings masks every string in v, which is settable: the exported
// fields of a struct that JSON writes out, and the elements of slices,
// arrays, maps and pointers, each slice, map and pointee copied first, so
// that the record v was copied from keeps its own.
func maskStrings(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		if s := v.String(); s != "" {
			v.SetString(finding.MaskKeys(s))
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() && f.Tag.Get("json") != "-" {
				maskStrings(v.Field(i))
			}
		}
	case reflect.Slice:
		if v.IsNil() {
			return
		}
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(c, v)
		for i := range c.Len() {
			maskStrings(c.Index(i))
		}
		v.Set(c)
	case reflect.Array:
		for i := range v.Len() {
			maskStrings(v.Index(i))
		}
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		c := reflect.New(v.Type().Elem())
		c.Elem().Set(v.Elem())
		maskStrings(c.Elem())
		v.Set(c)
	case reflect.Map:
		if v.IsNil() {
			return
		}
		c := reflect.MakeMapWithSize(v.Type(), v.Len())
		for it := v.MapRange(); it.Next(); {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			k.Set(it.Key())
			e.Set(it.Value())
			maskStrings(k)
			maskStrings(e)
			c.SetMapIndex(k, e)
		}
		v.Set(c)
	}
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
