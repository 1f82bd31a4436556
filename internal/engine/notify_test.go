package engine

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/autocontain/autocontain/internal/audit"
	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/playbook"
)

// TestChatFormatFromTheEnvironment: $AUTOCONTAIN_NOTIFICATION_FORMAT=chat,
// the variable the setting's context key becomes in the deployed function,
// makes the function publish a custom notification of Amazon Q Developer in
// chat applications: a title that says what it contained, the steps, and
// the command that undoes it through the function, in its Region.
func TestChatFormatFromTheEnvironment(t *testing.T) {
	fx := newFixture(t)
	js, err := json.Marshal(sandboxPlaybook(fx.acct, nil))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{playbook.EnvPlaybook: string(js), playbook.EnvNotificationFormat: "chat"}
	pb, err := playbook.FromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	eng := New(fx.cfg, pb, slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Options{LedgerTable: fx.acct.LedgerTable, Home: goldenHome, FunctionName: "autocontain-fn"})
	rec, err := eng.Run(context.Background(), fx.acct.Rewrite(event(t, "guardduty-maliciousipcaller-custom-akia.json")))
	if err != nil || rec.Outcome != audit.OutcomeContained {
		t.Fatalf("outcome %s, %v\n%s", rec.Outcome, err, rec.Text())
	}
	msgs := fx.emu.Published(t, fx.acct.TopicARN)
	if len(msgs) != 1 {
		t.Fatalf("%d notifications, want 1", len(msgs))
	}
	var m struct {
		Version, Source string
		Content         struct {
			TextType, Title, Description string
			NextSteps                    []string
		}
	}
	if err := json.Unmarshal([]byte(msgs[0].Message), &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, msgs[0].Message)
	}
	key := finding.MaskKey(fx.acct.Keys["alice"][0])
	want := "🛡️ autocontain contained user alice (key " + key + ") in " + rec.Finding.Account + ": deactivate-key, revoke-sessions, block-ip"
	if m.Version != "1.0" || m.Source != "custom" || m.Content.TextType != "client-markdown" || m.Content.Title != want {
		t.Errorf("got %+v\nwant title %s", m, want)
	}
	undo := "Undo: `AWS_REGION=" + fx.cfg.Region + " autocontain undo -function autocontain-fn " + rec.Finding.ID + "`"
	if len(m.Content.NextSteps) != 1 || m.Content.NextSteps[0] != undo {
		t.Errorf("next steps %q, want [%s]", m.Content.NextSteps, undo)
	}
	if !strings.Contains(m.Content.Description, "✅ done deactivate-key `key "+key+" of user alice`") {
		t.Errorf("description:\n%s", m.Content.Description)
	}
}

func TestUndoCommand(t *testing.T) {
	for _, tc := range []struct {
		region string
		opts   Options
		want   string
	}{
		{"eu-west-1", Options{LedgerTable: "ledger", FunctionName: "fn"}, "AWS_REGION=eu-west-1 autocontain undo -function fn"},
		{"eu-west-1", Options{LedgerTable: "ledger"}, "AWS_REGION=eu-west-1 autocontain undo -table ledger"},
		{"", Options{LedgerTable: "ledger"}, "autocontain undo -table ledger"},
		{"eu-west-1", Options{FunctionName: "fn"}, ""}, // no ledger: nothing to undo from
	} {
		if got := undoCommand(tc.region, tc.opts); got != tc.want {
			t.Errorf("undoCommand(%q, %+v) = %q, want %q", tc.region, tc.opts, got, tc.want)
		}
	}
}
