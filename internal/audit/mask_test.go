package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
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
