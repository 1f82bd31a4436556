package playbook

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/autocontain/autocontain/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the README's table of settings from SettingsTable")

// leafFields returns every field of Settings that holds a value, by its
// JSON path ("ipSets.ipv4"), as an addressable value of s.
func leafFields(s reflect.Value, prefix string, out map[string]reflect.Value) {
	for i := 0; i < s.NumField(); i++ {
		f := s.Type().Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		if f.Type.Kind() == reflect.Struct {
			leafFields(s.Field(i), prefix+name+".", out)
			continue
		}
		out[prefix+name] = s.Field(i)
	}
}

// TestSettingsTableCoversSettings keeps the one table and the struct
// together: every field of Settings has exactly one entry, whose JSON path
// is the field's, whose field reader returns that field, and whose
// variable and context key are used by no other setting.
func TestSettingsTableCoversSettings(t *testing.T) {
	var s Settings
	fields := map[string]reflect.Value{}
	leafFields(reflect.ValueOf(&s).Elem(), "", fields)
	envs, keys := map[string]string{}, map[string]string{}
	for _, st := range SettingsTable {
		f, ok := fields[st.JSON]
		if !ok {
			t.Errorf("SettingsTable names %q, which is no field of Settings", st.JSON)
			continue
		}
		delete(fields, st.JSON)
		p := reflect.ValueOf(st.field(&s))
		if p.Kind() != reflect.Pointer || p.Pointer() != f.Addr().Pointer() || p.Elem().Type() != f.Type() {
			t.Errorf("%s: the table's field is not the struct's field tagged %q", st.JSON, st.JSON)
		}
		if !strings.HasPrefix(st.Env, "AUTOCONTAIN_") {
			t.Errorf("%s: variable %q", st.JSON, st.Env)
		}
		if other, dup := envs[st.Env]; dup {
			t.Errorf("%s and %s share the variable %s", other, st.JSON, st.Env)
		}
		envs[st.Env] = st.JSON
		if st.Context != "" {
			if other, dup := keys[st.Context]; dup {
				t.Errorf("%s and %s share the context key %s", other, st.JSON, st.Context)
			}
			keys[st.Context] = st.JSON
		}
		if st.Doc == "" || st.Default == "" {
			t.Errorf("%s: undocumented", st.JSON)
		}
		if st.Deploy != "" {
			var c Settings
			if err := st.Set(&c, st.Deploy); err != nil {
				t.Errorf("%s: its deploy value %q: %v", st.JSON, st.Deploy, err)
			}
		}
	}
	for name := range fields {
		t.Errorf("Settings.%s has no entry in SettingsTable: add one line there", name)
	}
}

// TestSetReadsEveryKind sets each setting from text, the way a variable or
// a context key does, and reads it back from the playbook's JSON: the
// reader, the field and the JSON path agree.
func TestSetReadsEveryKind(t *testing.T) {
	text := map[reflect.Type]string{
		reflect.TypeFor[bool]():      "true",
		reflect.TypeFor[int]():       "7",
		reflect.TypeFor[float64]():   "4.5",
		reflect.TypeFor[Networks]():  " 10.1.2.3/16 , 2001:db8::/32,",
		reflect.TypeFor[[]Pattern](): "arn:aws:iam::*:role/a,arn:aws:iam::*:role/b",
		reflect.TypeFor[SafetyNet](): "7",
	}
	special := map[string]string{
		"ipSets.ipv4":   "arn:aws:wafv2:us-east-1:123456789012:regional/ipset/v4/11111111-2222-3333-4444-555555555555",
		"ipSets.ipv6":   "arn:aws:wafv2:us-east-1:123456789012:regional/ipset/v6/66666666-7777-8888-9999-000000000000",
		"topicArn":      "arn:aws:sns:us-east-1:123456789012:alerts",
		"breakerWindow": "2h",
		"blockTtl":      "24h",

		"quarantinePolicyArn": "arn:aws:iam::123456789012:policy/security/Quarantine",
		"notificationFormat":  "chat",
	}
	for _, st := range SettingsTable {
		t.Run(st.JSON, func(t *testing.T) {
			p := Default()
			v, ok := special[st.JSON]
			if !ok {
				v, ok = text[reflect.TypeOf(st.field(&p.Settings)).Elem()]
			}
			if !ok {
				t.Fatalf("no sample text for %T: add one to this test", st.field(&p.Settings))
			}
			if err := st.Set(&p.Settings, v); err != nil {
				t.Fatal(err)
			}
			if err := p.Validate(); err != nil {
				t.Fatal(err)
			}
			var fields = map[string]reflect.Value{}
			leafFields(reflect.ValueOf(&p.Settings).Elem(), "", fields)
			if fields[st.JSON].IsZero() {
				t.Errorf("setting %s to %q left it zero", st.JSON, v)
			}
			// What the environment sets is what the variable's table says.
			q, err := FromEnv(func(k string) (string, bool) { return v, k == st.Env })
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(q.Settings, p.Settings) {
				t.Errorf("$%s=%q gave %+v, Set gave %+v", st.Env, v, q.Settings, p.Settings)
			}
		})
	}
}

// TestAllowedFollowsSettings: a caller that changes the allow list after
// loading (the CLI, infra, test fixtures) is obeyed. The playbook used to
// keep a parsed copy filled by validation, which such a change left stale.
func TestAllowedFollowsSettings(t *testing.T) {
	p := Default()
	a := netip.MustParseAddr("198.51.100.7")
	if _, ok := p.Allowed(a); ok {
		t.Fatal("the default allows nothing")
	}
	p.Settings.AllowCIDRs = []netip.Prefix{netip.MustParsePrefix("198.51.100.9/24")}
	n, ok := p.Allowed(a)
	if !ok || n != netip.MustParsePrefix("198.51.100.0/24") {
		t.Errorf("after changing allowCidrs, Allowed(%s) = %s, %v; want 198.51.100.0/24, true", a, n, ok)
	}
	p.Settings.AllowCIDRs = nil
	if n, ok := p.Allowed(a); ok {
		t.Errorf("after clearing allowCidrs, %s is still allowed by %s", a, n)
	}
}

// TestValidateErrorsAreDeterministic: with two bad settings, the error
// names the first in SettingsTable's order, every time. It used to depend
// on the iteration order of a map.
func TestValidateErrorsAreDeterministic(t *testing.T) {
	tests := []struct{ name, settings, want string }{
		{"ip_sets", `"ipSets":{"ipv4":"v4-set","ipv6":"v6-set"}`, "settings.ipSets.ipv4:"},
		{"durations", `"breakerWindow":"soon","blockTtl":"long"`, "settings.breakerWindow:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := map[string]bool{}
			for range 64 {
				_, err := Parse([]byte(settings(tt.settings)), "test.json")
				if err == nil {
					t.Fatal("no error")
				}
				seen[err.Error()] = true
			}
			if len(seen) != 1 {
				t.Fatalf("the same playbook gave %d different errors: %v", len(seen), seen)
			}
			for e := range seen {
				if !strings.Contains(e, tt.want) {
					t.Errorf("error %q, want the first setting in table order, %s", e, tt.want)
				}
			}
		})
	}
}

// settingsTable is the README's table of settings, from SettingsTable.
func settingsTable() string {
	var b strings.Builder
	b.WriteString("| setting | variable | default | meaning |\n| --- | --- | --- | --- |\n")
	for _, st := range SettingsTable {
		fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s |\n", st.JSON, st.Env, st.Default, st.Doc)
	}
	return b.String()
}

// TestReadmeDocumentsEverySetting keeps the README's table of settings
// equal to SettingsTable; -update rewrites it.
func TestReadmeDocumentsEverySetting(t *testing.T) {
	testenv.ReadmeBlock(t, filepath.Join("..", "..", "README.md"), "settings", settingsTable(), *update)
}

// TestReadmeDocumentsEveryRuleField: each field a rule can have has a row
// in the README's table of rule fields.
func TestReadmeDocumentsEveryRuleField(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	rt := reflect.TypeFor[Rule]()
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		if !strings.Contains(string(readme), "\n| `"+name+"` | ") {
			t.Errorf("README's table of rule fields has no row for %q", name)
		}
	}
}
