package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/autocontain/autocontain/internal/audit"
	"github.com/autocontain/autocontain/internal/status"
	"github.com/autocontain/autocontain/internal/testenv"
	"github.com/autocontain/autocontain/internal/testenv/faultproxy"
	"github.com/autocontain/autocontain/internal/testenv/sandboxtest"
)

// TestStatus: the deployed binary answers the status command from its own
// ledger, and the CLI reads that answer as it reads the ledger itself
// (-table), as a table or as JSON.
func TestStatus(t *testing.T) {
	emu := testenv.Moto(t)
	acct, _ := sandboxtest.New(t, emu)
	api := newRuntimeAPI(t)
	startFunction(t, api, emu.URL, acct.Env()...)
	res := api.invoke(t, "s-1", acct.Rewrite(testenv.Event(t, "guardduty-maliciousipcaller-custom-akia.json")))
	var rec audit.Record
	if err := json.Unmarshal(res.body, &rec); err != nil || rec.Outcome != audit.OutcomeContained {
		t.Fatalf("containment: %s", res.body)
	}
	key := acct.Keys["alice"][0]
	masked := "AKIA…" + key[len(key)-4:]

	res = api.invoke(t, "s-2", []byte(`{"autocontain":{"command":"status","last":5}}`))
	if res.isError || strings.Contains(string(res.body), key) {
		t.Fatalf("status answer (error %v): %s", res.isError, res.body)
	}
	st, err := statusAnswer("autocontain", res.body, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Held) != 1 || st.Held[0].Name != "alice" || st.Held[0].Findings[0].Undo != "autocontain undo -function autocontain "+rec.Finding.ID ||
		len(st.Decisions) != 1 || st.Decisions[0].Outcome != "contained" {
		t.Errorf("the function's status %+v", st)
	}
	if text := st.String(); !strings.Contains(text, "key Inactive (key/"+masked+")") || !strings.Contains(text, "185.220.101.42/32") {
		t.Errorf("the function's status as a table:\n%s", text)
	}

	setEnv(t, emulatorEnv(emu.URL)...)
	setEnv(t, "AUTOCONTAIN_LEDGER_TABLE=")
	code, out, errOut := cli(t, "status", "-table", acct.LedgerTable)
	if code != exitOK {
		t.Fatalf("status -table: exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"HELD: 1 principal", "alice", "key Inactive (key/" + masked + ")", "deny policy",
		"autocontain undo -table " + acct.LedgerTable + " " + rec.Finding.ID,
		"autocontain-blocklist-v4", "185.220.101.42/32",
		"account 123456789012", "LAST 1 DECISION", "contained",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status -table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, key) {
		t.Errorf("the table carries the key id whole:\n%s", out)
	}
	code, out, errOut = cli(t, "status", "-table", acct.LedgerTable, "-json", "-last", "1")
	var js status.Status
	if code != exitOK || json.Unmarshal([]byte(out), &js) != nil || len(js.Held) != 1 || len(js.Decisions) != 1 || js.Held[0].Holds[0].Resource != "key/"+masked {
		t.Errorf("status -json: exit %d\n%s\n%s", code, out, errOut)
	}
}

// TestStatusErrors: a missing table, an unreachable or unknown function,
// and bad flags each say what is wrong; a usage error makes no AWS call.
func TestStatusErrors(t *testing.T) {
	emu := testenv.Moto(t)
	proxy := faultproxy.New(emu.URL)
	t.Cleanup(proxy.Close)
	proxied := append(emulatorEnv(proxy.URL()), "AUTOCONTAIN_LEDGER_TABLE=")
	unreachable := append(emulatorEnv("http://127.0.0.1:1"), "AWS_MAX_ATTEMPTS=1", "AUTOCONTAIN_LEDGER_TABLE=")
	tests := []struct {
		name       string
		env        []string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{"missing_table", proxied, []string{"status", "-table", "no-such-table"}, exitFailed, "table no-such-table does not exist"},
		{"ledger_unreachable", unreachable, []string{"status", "-table", "t"}, exitFailed, "read table t"},
		// moto (in its default, Docker mode) knows no such function.
		{"unknown_function", proxied, []string{"status", "-function", "no-such-function"}, exitFailed, "ResourceNotFoundException"},
		{"function_unreachable", unreachable, []string{"status", "-function", "autocontain"}, exitFailed, "invoke autocontain"},
		{"no_ledger", proxied, []string{"status"}, exitUsage, "-table"},
		{"argument", proxied, []string{"status", "-table", "t", "extra"}, exitUsage, "no arguments"},
		{"negative_last", proxied, []string{"status", "-table", "t", "-last", "-1"}, exitUsage, "-last"},
		{"too_many_last", proxied, []string{"status", "-table", "t", "-last", "5000"}, exitUsage, "-last"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setEnv(t, tt.env...)
			proxy.Reset()
			code, out, errOut := cli(t, tt.args...)
			if code != tt.wantCode || !strings.Contains(errOut, tt.wantStderr) {
				t.Errorf("exit %d, want %d with %q\nstdout: %s\nstderr: %s", code, tt.wantCode, tt.wantStderr, out, errOut)
			}
			if tt.wantCode == exitUsage && len(proxy.Counts()) != 0 {
				t.Errorf("a usage error made AWS calls: %v", proxy.Counts())
			}
		})
	}
}

// TestStatusAnswer: the function's answer is read as a status, or its
// error said plainly; a function that is not autocontain's (or one that
// echoes its input) is not taken for one.
func TestStatusAnswer(t *testing.T) {
	tests := []struct {
		name, payload, functionError, want string
	}{
		{"older_function", `{"errorMessage":"unknown command \"status\" (want \"reconcile\" or \"undo\")","errorType":"wrapError"}`, "Unhandled",
			`function f returned an error (Unhandled): unknown command "status"`},
		{"echo", `{"autocontain":{"command":"status"}}`, "", "did not answer with a status"},
		{"not_json", `Internal Server Error`, "", "did not answer with a status"},
		{"empty_object", `{}`, "", "did not answer with a status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := statusAnswer("f", []byte(tt.payload), tt.functionError)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := statusAnswer("f", []byte(`{"errorMessage":"unknown command \"status\""}`), "Unhandled"); !strings.Contains(err.Error(), "deploy this version") {
		t.Errorf("no hint for a function older than status: %v", err)
	}
}
