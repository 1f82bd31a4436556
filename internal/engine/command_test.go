package engine

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestCommandEvent: the envelope Event builds is the wire format the
// schedule and operators send, and ParseCommand reads it back.
func TestCommandEvent(t *testing.T) {
	tests := []struct {
		name string
		cmd  Command
		want string
	}{
		{"reconcile", Command{Command: CommandReconcile}, `{"autocontain":{"command":"reconcile"}}`},
		{"undo", Command{Command: CommandUndo, FindingID: "f-1"}, `{"autocontain":{"command":"undo","findingId":"f-1"}}`},
		{"status", Command{Command: CommandStatus, Last: 5}, `{"autocontain":{"command":"status","last":5}}`},
		{"status_default_last", Command{Command: CommandStatus}, `{"autocontain":{"command":"status"}}`},
		{"quotes_escaped", Command{Command: CommandUndo, FindingID: `a"b`}, `{"autocontain":{"command":"undo","findingId":"a\"b"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(tt.cmd.Event()); got != tt.want {
				t.Errorf("Event() = %s, want %s", got, tt.want)
			}
			got, ok, err := ParseCommand(tt.cmd.Event())
			if !ok || err != nil || got != tt.cmd {
				t.Errorf("ParseCommand(Event()) = %+v, %v, %v; want %+v", got, ok, err, tt.cmd)
			}
			var want map[string]any
			if err := json.Unmarshal([]byte(tt.want), &want); err != nil {
				t.Fatal(err)
			}
			if obj := tt.cmd.Object(); !reflect.DeepEqual(obj, want) {
				t.Errorf("Object() = %v, want %v", obj, want)
			}
		})
	}
}
