package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/autocontain/autocontain/internal/ledger"
)

// TestMaskingHandler: whatever the handler's format and however the key id
// reaches the log line (message, string, error, group, attribute bound with
// With, a struct), only its masked form is written.
func TestMaskingHandler(t *testing.T) {
	const key, masked = "AKIA3EXAMPLEALICE001", "AKIA…E001"
	type report struct{ Restored []string }
	for _, format := range []struct {
		name string
		new  func(*bytes.Buffer) slog.Handler
	}{
		{"json", func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) }},
		{"text", func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) }},
	} {
		for _, tc := range []struct {
			name string
			log  func(*slog.Logger)
		}{
			{"message", func(l *slog.Logger) { l.Info("key " + key) }},
			{"string", func(l *slog.Logger) { l.Info("m", slog.String("k", key)) }},
			{"error", func(l *slog.Logger) {
				l.Error("m", slog.Any("error", fmt.Errorf("wrap: %w", errors.New("no key "+key))))
			}},
			{"group", func(l *slog.Logger) { l.Info("m", slog.Group("g", slog.String("k", key))) }},
			{"with", func(l *slog.Logger) { l.With("k", key).WithGroup("g").Info("m") }},
			{"struct", func(l *slog.Logger) { l.Info("m", slog.Any("undo", report{Restored: []string{"key " + key}})) }},
			{"record", func(l *slog.Logger) {
				Record{Steps: []Step{{Action: "deactivate-key", Error: "NoSuchEntity: The Access Key with id " + key + " cannot be found"}}}.Log(context.Background(), l)
			}},
		} {
			t.Run(format.name+"/"+tc.name, func(t *testing.T) {
				var b bytes.Buffer
				tc.log(slog.New(MaskingHandler(format.new(&b))))
				if out := b.String(); strings.Contains(out, key) || !strings.Contains(out, masked) {
					t.Errorf("log line does not mask %s to %s:\n%s", key, masked, out)
				}
			})
		}
	}
}

// eachString calls fn on every string a Record writes out, at any depth:
// the exported fields JSON writes (not json:"-"), through slices, arrays,
// maps and pointers. With grow, it first gives each empty slice, map and
// pointer one element, so that a record filled through it has every
// string set. It fails on a kind that may hold a string it cannot reach
// (an interface, a func, a channel): Masked must learn it first.
func eachString(t *testing.T, v reflect.Value, path string, grow bool, fn func(string, reflect.Value)) {
	t.Helper()
	switch v.Kind() {
	case reflect.String:
		fn(path, v)
	case reflect.Struct:
		ty := v.Type()
		for i := range ty.NumField() {
			if f := ty.Field(i); f.IsExported() && f.Tag.Get("json") != "-" {
				eachString(t, v.Field(i), path+"."+f.Name, grow, fn)
			}
		}
	case reflect.Slice, reflect.Array:
		if grow && v.Kind() == reflect.Slice && v.Len() == 0 {
			v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		}
		for i := range v.Len() {
			eachString(t, v.Index(i), fmt.Sprintf("%s[%d]", path, i), grow, fn)
		}
	case reflect.Pointer:
		if grow && v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		if !v.IsNil() {
			eachString(t, v.Elem(), path, grow, fn)
		}
	case reflect.Map:
		if grow && v.Len() == 0 {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			eachString(t, k, path+"{key}", grow, fn)
			eachString(t, e, path+"{value}", grow, fn)
			v.Set(reflect.MakeMap(v.Type()))
			v.SetMapIndex(k, e)
		}
		for it := v.MapRange(); it.Next(); {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			k.Set(it.Key())
			e.Set(it.Value())
			eachString(t, k, path+"{key}", false, fn)
			eachString(t, e, path+"{value}", false, fn)
		}
	case reflect.Interface, reflect.Func, reflect.Chan, reflect.UnsafePointer:
		t.Fatalf("%s is a %s, which may hold a key id that Masked does not reach", path, v.Kind())
	}
}

// TestMaskedCoversEveryString: every string of a record that leaves the
// process is masked, whatever field it is in, those added after this test
// included (a record with a key id in every string); the record it was
// copied from, and Changes (never written out), keep theirs.
func TestMaskedCoversEveryString(t *testing.T) {
	const key, masked = "AKIA3EXAMPLEALICE001", "AKIA…E001"
	var r Record
	n := 0
	eachString(t, reflect.ValueOf(&r).Elem(), "Record", true, func(_ string, v reflect.Value) {
		v.SetString("id " + key)
		n++
	})
	r.Changes = []ledger.Change{{Action: "deactivate-key", Resource: key}}
	got := r.Masked()
	seen := 0
	eachString(t, reflect.ValueOf(&got).Elem(), "Record", false, func(path string, v reflect.Value) {
		seen++
		if s := v.String(); s != "id "+masked {
			t.Errorf("%s = %q, want %q", path, s, "id "+masked)
		}
	})
	if seen != n || n < 30 {
		t.Errorf("%d strings filled, %d seen masked", n, seen)
	}
	js, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(js), key) {
		t.Errorf("the record's JSON holds the key whole:\n%s", js)
	}
	eachString(t, reflect.ValueOf(&r).Elem(), "Record", false, func(path string, v reflect.Value) {
		if v.String() != "id "+key {
			t.Errorf("Masked changed the record it copied: %s = %q", path, v.String())
		}
	})
	if got.Changes[0].Resource != key {
		t.Errorf("Changes were masked: %+v", got.Changes)
	}
}

// BenchmarkMasked masks the record of a finding with 10,000 addresses (the
// largest the README promises to complete), as each log line, result and
// notification of it does.
func BenchmarkMasked(b *testing.B) {
	r := Record{Finding: Finding{ID: "f1", Type: "Recon:EC2/PortProbeUnprotectedPort"},
		Steps: []Step{{Action: "block-ip", Target: "IP set autocontain-v4", Reason: "block 10,000 addresses", Error: "ThrottlingException"}}}
	for i := range 10000 {
		r.Finding.Addresses = append(r.Finding.Addresses, fmt.Sprintf("45.%d.%d.%d", i>>16&0xff, i>>8&0xff, i&0xff))
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = r.Masked()
	}
}
