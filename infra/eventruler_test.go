package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/autocontain/autocontain/infra/patterns"
	"github.com/autocontain/autocontain/internal/account"
	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/plan"
	"github.com/autocontain/autocontain/internal/playbook"
)

// eventRulerLib is where `make eventruler` puts event-ruler and its
// dependencies (git-ignored), relative to this package.
const eventRulerLib = "../.eventruler/lib"

// verdicts is what infra/eventruler/Check.java answers.
type verdicts struct {
	Patterns map[string]struct {
		Size  int     `json:"size"`
		Error *string `json:"error"`
	} `json:"patterns"`
	Matches map[string][]string `json:"matches"`
}

// eventRuler runs patterns and events through AWS's event-ruler. Without
// Java or the jars it fails the test in CI and skips it elsewhere.
func eventRuler(t *testing.T, ps map[string]string, events map[string]string) verdicts {
	t.Helper()
	java, err := exec.LookPath("java")
	jars, _ := filepath.Glob(filepath.Join(eventRulerLib, "event-ruler-*.jar"))
	if err != nil || len(jars) == 0 {
		msg := "event-ruler check needs java and the event-ruler jars in .eventruler/lib: run `make eventruler` (Maven)"
		if os.Getenv("CI") == "true" || os.Getenv("AUTOCONTAIN_REQUIRE_EVENTRULER") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	raw, err := json.Marshal(map[string]any{"patterns": ps, "events": events})
	if err != nil {
		t.Fatal(err)
	}
	cases := filepath.Join(t.TempDir(), "cases.json")
	if err := os.WriteFile(cases, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(java, "-cp", filepath.Join(eventRulerLib, "*"), filepath.Join("eventruler", "Check.java"), cases)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("event-ruler check: %v\n%s", err, stderr.String())
	}
	var v verdicts
	if err := json.Unmarshal(stdout.Bytes(), &v); err != nil {
		t.Fatalf("event-ruler check answered %q: %v", stdout.String(), err)
	}
	return v
}

// templatePatterns returns the synthesized rules' event patterns by rule,
// with the stack's account as the emulator's, 123456789012.
func templatePatterns(t *testing.T, s *synthesized) map[string]string {
	t.Helper()
	out := map[string]string{}
	for id, r := range s.resources("AWS::Events::Rule") {
		pattern, ok := props(r)["EventPattern"]
		if !ok {
			continue // the schedule
		}
		raw, err := json.Marshal(pattern)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(raw), accountRef) {
			t.Errorf("rule %s does not match on the stack's account: %s", id, raw)
		}
		out[id] = strings.ReplaceAll(string(raw), accountRef, `"123456789012"`)
	}
	return out
}

// TestEventRulerAcceptsThePatternsAndMatchesTheSamples checks every
// synthesized pattern with event-ruler, the matcher EventBridge uses (moto
// accepts patterns EventBridge rejects), and runs every sample event through
// them: each must reach the function exactly when the playbook acts on it
// (or it is a GuardDuty sample finding, which the function skips), through
// one rule. Beyond the samples: a member account's finding must not match,
// and an acted-on finding whose service.archived is null or missing must.
func TestEventRulerAcceptsThePatternsAndMatchesTheSamples(t *testing.T) {
	for _, variant := range []struct {
		name string
		cfg  func(*Config)
	}{
		{"default", func(*Config) {}},
		{"minSeverity-7", func(c *Config) { c.MinSeverity = 7 }},
		{"actOnArchived", func(c *Config) { c.ActOnArchived = true }},
	} {
		t.Run(variant.name, func(t *testing.T) {
			cfg := DefaultConfig()
			variant.cfg(&cfg)
			s := defaultStack(t)
			if variant.name != "default" {
				s = synth(t, "eventruler-"+variant.name, cfg, "")
			}
			ps := templatePatterns(t, s)
			pb := withContext(playbook.Default(), cfg)
			events, want := sampleEvents(t, pb)
			v := eventRuler(t, ps, events)
			for id := range ps {
				got, ok := v.Patterns[id]
				switch {
				case !ok:
					t.Errorf("rule %s: no verdict", id)
				case got.Error != nil:
					t.Errorf("rule %s: event-ruler rejects its pattern: %s", id, *got.Error)
				case got.Size > patterns.MaxSize:
					t.Errorf("rule %s: pattern is %d characters, more than EventBridge's %d", id, got.Size, patterns.MaxSize)
				}
			}
			for name, w := range want {
				matched := v.Matches[name]
				if delivered := len(matched) > 0; delivered != w {
					t.Errorf("%s: matched by %v, want delivered %v", name, matched, w)
				}
				if len(matched) > 1 {
					t.Errorf("%s: matched by %d rules %v: delivered twice", name, len(matched), matched)
				}
			}
		})
	}
}

// sampleEvents reads events/, adds a member account's finding and the
// archived-flag variants, and says which the function must receive.
func sampleEvents(t *testing.T, pb *playbook.Playbook) (events map[string]string, want map[string]bool) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "events", "*.json"))
	if err != nil || len(files) < 12 {
		t.Fatalf("sample events: %v (%d)", err, len(files))
	}
	home := account.Account{Partition: "aws", ID: "123456789012"}
	events, want = map[string]string{}, map[string]bool{}
	add := func(name string, raw []byte) {
		f, err := finding.Parse(raw)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// A sample finding reaches the function when the playbook would act
		// on it were it real: the function skips it itself.
		withSamples := *pb
		withSamples.Settings.ActOnSamples = true
		p := plan.BuildWith(f, &withSamples, plan.Facts{Home: home})
		events[name] = string(raw)
		want[name] = p.Rule != "" && f.Account == home.ID
	}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(file)
		add(name, raw)
		if name == "guardduty-maliciousipcaller-custom-akia.json" && want[name] {
			add("member:"+name, []byte(strings.Replace(string(raw), `"accountId": "123456789012"`, `"accountId": "210987654321"`, 1)))
			if want["member:"+name] {
				t.Fatalf("%s: the playbook must not act on its member variant", name)
			}
			// service.archived null or missing: not archived.
			for variant, repl := range map[string]string{"archived-null": `"archived": null`, "archived-missing": `"archivedNot": false`} {
				changed := strings.Replace(string(raw), `"archived": false`, repl, 1)
				if changed == string(raw) {
					t.Fatalf("%s has no \"archived\": false", name)
				}
				add(variant+":"+name, []byte(changed))
				if !want[variant+":"+name] {
					t.Fatalf("%s: the playbook must act on it", variant)
				}
			}
		}
	}
	return events, want
}

// TestEventRulerLargePlaybook synthesizes the stack for a playbook too
// large for one pattern of each kind: the GuardDuty and CloudTrail rules are
// split, event-ruler accepts every pattern, each within the limit, and
// events of every type of every playbook rule, at and under its severity
// floor, reach the function, through one rule, exactly when the playbook
// acts on them. (That the parts match what the single pattern would is
// proven structurally in package patterns, TestLargePlaybookIsSplit.)
func TestEventRulerLargePlaybook(t *testing.T) {
	var rules []string
	for i := range 30 {
		types := []string{
			fmt.Sprintf(`"Family%d:IAMUser/Finding%dAboutCredentialsThatIsRatherLong"`, i, i),
			fmt.Sprintf(`"Family%d:IAMUser/Prefix%d*"`, i, i),
			fmt.Sprintf(`"Family%d:S3/Exact%d.SomeWhatLongerName"`, i, i),
		}
		if i%10 == 0 {
			types = append(types, fmt.Sprintf(`"*:Wild%d/Thing"`, i))
		}
		rules = append(rules, fmt.Sprintf(`{"name":"gd-%d","source":"guardduty","types":[%s],"minSeverity":%g,"actions":["notify"]}`,
			i, strings.Join(types, ","), []float64{0, 4.5, 7, 8.9}[i%4]))
	}
	for i := range 30 {
		rules = append(rules, fmt.Sprintf(`{"name":"ct-%d","source":"cloudtrail","eventSource":"iam.amazonaws.com","types":["DeleteThing%d","PutThing%dX*","CreateSomethingRatherLongToFillThePattern%d"],"actions":["notify"]}`, i, i, i, i))
	}
	pb, err := playbook.Parse([]byte(`{"version":1,"settings":{"minSeverity":2},"rules":[`+strings.Join(rules, ",")+`]}`), "large")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bootstrap"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir())})
	stack := NewAutocontainStack(app, "Autocontain", &AutocontainStackProps{Config: DefaultConfig(), AssetDir: dir, Playbook: pb})
	raw, err := json.Marshal(assertions.Template_FromStack(stack, nil).ToJSON())
	if err != nil {
		t.Fatal(err)
	}
	s := &synthesized{}
	if err := json.Unmarshal(raw, &s.json); err != nil {
		t.Fatal(err)
	}
	ps := templatePatterns(t, s)
	// Logical ids are the construct ids and a hash: GuardDutyFindings,
	// GuardDutyFindings2, ...
	ids := slices.Sorted(maps.Keys(ps))
	for _, base := range []string{"GuardDutyFindings", "CloudTrailEvents"} {
		n := 0
		for _, id := range ids {
			if strings.HasPrefix(id, base) {
				n++
			}
		}
		if n < 2 {
			t.Errorf("%d %s rules among %v, want a split", n, base, ids)
		}
	}
	t.Logf("%d rules: %v", len(ps), ids)

	gd, err := os.ReadFile(filepath.Join("..", "events", "guardduty-maliciousipcaller-custom-akia.json"))
	if err != nil {
		t.Fatal(err)
	}
	ct, err := os.ReadFile(filepath.Join("..", "events", "cloudtrail-stoplogging-iamuser.json"))
	if err != nil {
		t.Fatal(err)
	}
	home := account.Account{Partition: "aws", ID: "123456789012"}
	events, want := map[string]string{}, map[string]bool{}
	add := func(name string, raw []byte) {
		f, err := finding.Parse(raw)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		events[name] = string(raw)
		want[name] = plan.BuildWith(f, pb, plan.Facts{Home: home}).Rule != ""
	}
	for _, r := range pb.Rules {
		for _, typ := range r.Types {
			concrete := strings.ReplaceAll(string(typ), "*", "Z")
			if r.Source == "cloudtrail" {
				add(r.Name+":"+concrete, []byte(strings.Replace(strings.Replace(strings.Replace(string(ct), `"eventName": "StopLogging"`, `"eventName": "`+concrete+`"`, 1),
					`"eventSource": "cloudtrail.amazonaws.com"`, `"eventSource": "iam.amazonaws.com"`, 1), `"source": "aws.cloudtrail"`, `"source": "aws.iam"`, 1)))
				continue
			}
			for _, sev := range []float64{max(r.MinSeverity, 2), max(r.MinSeverity, 2) - 0.1} {
				ev := strings.Replace(string(gd), `"type": "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom"`, `"type": "`+concrete+`"`, 1)
				ev = strings.Replace(ev, `"severity": 5,`, fmt.Sprintf(`"severity": %g,`, sev), 1)
				add(fmt.Sprintf("%s:%s:%g", r.Name, concrete, sev), []byte(ev))
			}
		}
	}
	acted := 0
	for _, w := range want {
		if w {
			acted++
		}
	}
	if acted < len(want)/3 || acted == len(want) {
		t.Fatalf("%d of %d generated events acted on: the generator is wrong", acted, len(want))
	}
	v := eventRuler(t, ps, events)
	for id := range ps {
		got := v.Patterns[id]
		if got.Error != nil {
			t.Errorf("rule %s: event-ruler rejects its pattern: %s", id, *got.Error)
		}
		if got.Size > patterns.MaxSize || got.Size == 0 {
			t.Errorf("rule %s: pattern is %d characters, limit %d", id, got.Size, patterns.MaxSize)
		}
	}
	for name, w := range want {
		matched := v.Matches[name]
		if delivered := len(matched) > 0; delivered != w {
			t.Errorf("%s: matched by %v, want delivered %v", name, matched, w)
		}
		if len(matched) > 1 {
			t.Errorf("%s: matched by %d rules %v", name, len(matched), matched)
		}
	}
}

// TestPatternsThatCannotFitFailSynthesis: a playbook rule whose single type
// cannot fit a rule of its own fails `go run ./infra` before synthesis, and
// is an error annotation on the stack, which the CDK CLI reports and fails
// on; both name the rule.
func TestPatternsThatCannotFitFailSynthesis(t *testing.T) {
	pb, err := playbook.Parse([]byte(`{"version":1,"rules":[
		{"name":"fine","source":"guardduty","types":["A:B/C"],"actions":["notify"]},
		{"name":"too-long","source":"guardduty","types":["Recon:IAMUser/`+strings.Repeat("x", patterns.MaxSize)+`"],"actions":["notify"]}]}`), "huge")
	if err != nil {
		t.Fatal(err)
	}
	if err := checkPatterns(pb, DefaultConfig()); err == nil || !strings.Contains(err.Error(), `playbook rule "too-long"`) {
		t.Errorf("checkPatterns: %v, want an error naming the rule", err)
	}
	if err := checkPatterns(nil, DefaultConfig()); err != nil {
		t.Errorf("checkPatterns(default): %v", err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bootstrap"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir())})
	stack := NewAutocontainStack(app, "Autocontain", &AutocontainStackProps{Config: DefaultConfig(), AssetDir: dir, Playbook: pb})
	assertions.Annotations_FromStack(stack).HasError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String(`playbook rule "too-long"`)))
}
