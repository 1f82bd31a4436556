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
	"github.com/autocontain/autocontain/internal/testenv"
)

// eventRulerLib is where `make eventruler` puts event-ruler and its
// dependencies (git-ignored), relative to this package;
// AUTOCONTAIN_EVENTRULER_LIB overrides it.
func eventRulerLib() string {
	if dir := os.Getenv("AUTOCONTAIN_EVENTRULER_LIB"); dir != "" {
		return dir
	}
	return filepath.Join("..", ".eventruler", "lib")
}

// ruled is an event for the event-ruler check, and whether the function
// must receive it.
type ruled struct {
	Event string `json:"event"`
	Want  bool   `json:"want"`
}

// eventRuler runs patterns and events through AWS's event-ruler
// (infra/eventruler/Check.java), which fails the test when a pattern is
// invalid or too large, or an event is matched other than as wanted, and
// returns the patterns' sizes. Without Java or the jars it fails the test
// in CI and skips it elsewhere.
func eventRuler(t *testing.T, ps map[string]string, events map[string]ruled) (sizes map[string]int) {
	t.Helper()
	stdout, stderr, err := runEventRuler(t, ps, events)
	if err != nil {
		t.Fatalf("event-ruler check: %v\n%s", err, stderr)
	}
	var v struct {
		Sizes map[string]int `json:"sizes"`
	}
	if err := json.Unmarshal([]byte(stdout), &v); err != nil {
		t.Fatalf("event-ruler check answered %q: %v", stdout, err)
	}
	if len(v.Sizes) != len(ps) {
		t.Fatalf("event-ruler check saw %d patterns of %d", len(v.Sizes), len(ps))
	}
	return v.Sizes
}

// runEventRuler runs infra/eventruler/Check.java on the cases.
func runEventRuler(t *testing.T, ps map[string]string, events map[string]ruled) (stdout, stderr string, err error) {
	t.Helper()
	java, err := exec.LookPath("java")
	jars, _ := filepath.Glob(filepath.Join(eventRulerLib(), "event-ruler-*.jar"))
	if err != nil || len(jars) == 0 {
		msg := "event-ruler check: needs java, and the event-ruler jars in " + eventRulerLib() + ": run `make eventruler` (Maven)"
		if os.Getenv("CI") == "true" || os.Getenv("AUTOCONTAIN_REQUIRE_EVENTRULER") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	raw, err := json.Marshal(map[string]any{"maxSize": patterns.MaxSize, "patterns": ps, "events": events})
	if err != nil {
		t.Fatal(err)
	}
	cases := filepath.Join(t.TempDir(), "cases.json")
	if err := os.WriteFile(cases, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	cmd := exec.Command(java, "-cp", filepath.Join(eventRulerLib(), "*"), filepath.Join("eventruler", "Check.java"), cases)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// TestEventRulerCheckFails: the checker fails on each kind of fault.
func TestEventRulerCheckFails(t *testing.T) {
	long := `{"source":["` + strings.Repeat("x", patterns.MaxSize) + `"]}`
	_, stderr, err := runEventRuler(t,
		map[string]string{"invalid": `{"source":"aws.guardduty"}`, "large": long, "a": `{"source":["a"]}`, "a2": `{"source":["a","b"]}`, "c": `{"source":["c"]}`},
		map[string]ruled{
			"missed":  {Event: `{"source":"z","detail":{}}`, Want: true},
			"foreign": {Event: `{"source":"c","detail":{}}`, Want: false},
			"twice":   {Event: `{"source":"a","detail":{}}`, Want: true},
			"fine":    {Event: `{"source":"b","detail":{}}`, Want: true},
		})
	if err == nil {
		t.Fatal("the check passed")
	}
	for _, want := range []string{
		"rule invalid: event-ruler rejects the pattern",
		"rule large: pattern is 2063 characters, more than EventBridge's 2048",
		"event missed: the playbook acts on it, and no rule matches it",
		"event foreign: the playbook does not act on it, and rules [c] match it",
		"event twice: rules [a, a2] all match it",
		"5 failures",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("no %q in:\n%s", want, stderr)
		}
	}
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
		raw, err := patterns.Compact(pattern.(map[string]any)) // no HTML escaping of ">="
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(raw, accountRef) {
			t.Errorf("rule %s does not match on the stack's account: %s", id, raw)
		}
		out[id] = strings.ReplaceAll(raw, accountRef, `"123456789012"`)
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
		{"minSeverity-7", func(c *Config) { c.Playbook.Settings.MinSeverity = 7 }},
		{"actOnArchived", func(c *Config) { c.Playbook.Settings.ActOnArchived = true }},
		{"safetyNet-7", func(c *Config) { c.Playbook.Settings.SafetyNet = 7 }},
		{"safetyNet-off", func(c *Config) { c.Playbook.Settings.SafetyNet = playbook.SafetyNetOff }},
		{"findingSources-securityhub", func(c *Config) { c.FindingSources = []string{SourceSecurityHub} }},
		{"findingSources-both-actOnArchived", func(c *Config) {
			c.FindingSources = []string{SourceGuardDuty, SourceSecurityHub}
			c.Playbook.Settings.ActOnArchived = true
		}},
	} {
		t.Run(variant.name, func(t *testing.T) {
			cfg := DefaultConfig()
			variant.cfg(&cfg)
			s := defaultStack(t)
			if variant.name != "default" {
				s = synth(t, "eventruler-"+variant.name, cfg, "")
			}
			ps := templatePatterns(t, s)
			sizes := eventRuler(t, ps, sampleEvents(t, cfg))
			t.Logf("pattern sizes (compact): %v", sizes)
		})
	}
}

// sampleEvents reads events/, adds a member account's finding and the
// archived-flag variants, and says which the function must receive: those
// the playbook acts on, of a finding source cfg takes (findingSources).
func sampleEvents(t *testing.T, cfg Config) map[string]ruled {
	t.Helper()
	pb := cfg.Playbook
	home := account.Account{Partition: "aws", ID: "123456789012"}
	events := map[string]ruled{}
	want := func(name string) bool { return events[name].Want }
	add := func(name string, raw []byte) {
		fs, err := finding.ParseAll(raw)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// A sample finding reaches the function when the playbook would act
		// on it were it real: the function skips it itself. An event of
		// several findings reaches it when it acts on one.
		withSamples := *pb
		withSamples.Settings.ActOnSamples = true
		acts := false
		for _, f := range fs {
			p := plan.BuildWith(f, &withSamples, plan.Facts{Home: home})
			taken := (f.Via == finding.ViaSecurityHub && cfg.Takes(SourceSecurityHub)) ||
				(f.Via == "" && (f.Source != finding.SourceGuardDuty || cfg.Takes(SourceGuardDuty)))
			acts = acts || (p.Rule != "" && f.Account == home.ID && taken)
		}
		events[name] = ruled{Event: string(raw), Want: acts}
	}
	for _, ev := range testenv.SampleEvents(t) {
		name, raw := filepath.Base(ev.Path), ev.Raw
		add(name, raw)
		if name == "guardduty-maliciousipcaller-custom-akia.json" && want(name) {
			add("member:"+name, []byte(strings.Replace(string(raw), `"accountId": "123456789012"`, `"accountId": "210987654321"`, 1)))
			if want("member:" + name) {
				t.Fatalf("%s: the playbook must not act on its member variant", name)
			}
			// service.archived null or missing: not archived.
			for variant, repl := range map[string]string{"archived-null": `"archived": null`, "archived-missing": `"archivedNot": false`} {
				changed := strings.Replace(string(raw), `"archived": false`, repl, 1)
				if changed == string(raw) {
					t.Fatalf("%s has no \"archived\": false", name)
				}
				add(variant+":"+name, []byte(changed))
				if !want(variant+":"+name) && cfg.Takes(SourceGuardDuty) {
					t.Fatalf("%s: the playbook must act on it", variant)
				}
			}
		}
		if name == "securityhub-guardduty-maliciousipcaller-custom-akia.json" {
			// Security Hub's copy: of a member account (an administrator's
			// aggregated findings), archived in Security Hub, or of
			// another product, it must not reach the function.
			for variant, repl := range map[string][2]string{
				"member":    {`"AwsAccountId": "123456789012"`, `"AwsAccountId": "210987654321"`},
				"archived":  {`"RecordState": "ACTIVE"`, `"RecordState": "ARCHIVED"`},
				"inspector": {`"ProductArn": "arn:aws:securityhub:us-east-1::product/aws/guardduty"`, `"ProductArn": "arn:aws:securityhub:us-east-1::product/aws/inspector"`},
			} {
				changed := strings.Replace(string(raw), repl[0], repl[1], 1)
				if changed == string(raw) {
					t.Fatalf("%s has no %s", name, repl[0])
				}
				if variant == "inspector" {
					// The function refuses it (not GuardDuty's): never wanted.
					events[variant+":"+name] = ruled{Event: changed}
					continue
				}
				add(variant+":"+name, []byte(changed))
			}
			if want("member:"+name) || (want("archived:"+name) && !pb.Settings.ActOnArchived) {
				t.Fatalf("%s: the playbook must not act on its member or archived variants", name)
			}
		}
	}
	return events
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
	stack := NewAutocontainStack(app, "Autocontain", &AutocontainStackProps{Config: configWith(pb), AssetDir: dir})
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

	gd := testenv.Event(t, "guardduty-maliciousipcaller-custom-akia.json")
	ct := testenv.Event(t, "cloudtrail-stoplogging-iamuser.json")
	home := account.Account{Partition: "aws", ID: "123456789012"}
	events := map[string]ruled{}
	add := func(name string, raw []byte) {
		f, err := finding.Parse(raw)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		events[name] = ruled{Event: string(raw), Want: plan.BuildWith(f, pb, plan.Facts{Home: home}).Rule != ""}
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
	for _, e := range events {
		if e.Want {
			acted++
		}
	}
	if acted < len(events)/3 || acted == len(events) {
		t.Fatalf("%d of %d generated events acted on: the generator is wrong", acted, len(events))
	}
	t.Logf("%d events, %d acted on; pattern sizes (compact): %v", len(events), acted, eventRuler(t, ps, events))
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
	if err := checkPatterns(Config{Playbook: pb}); err == nil || !strings.Contains(err.Error(), `playbook rule "too-long"`) {
		t.Errorf("checkPatterns: %v, want an error naming the rule", err)
	}
	if err := checkPatterns(DefaultConfig()); err != nil {
		t.Errorf("checkPatterns(default): %v", err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bootstrap"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir())})
	stack := NewAutocontainStack(app, "Autocontain", &AutocontainStackProps{Config: configWith(pb), AssetDir: dir})
	assertions.Annotations_FromStack(stack).HasError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String(`playbook rule "too-long"`)))
}

// TestMissingEventRuler runs the event-ruler check in a child process
// without the jars: in CI it must fail loudly, elsewhere it skips with
// instructions.
func TestMissingEventRuler(t *testing.T) {
	if testenv.InChild() {
		eventRuler(t, map[string]string{}, map[string]ruled{})
		t.Log("ran the check")
		return
	}
	testenv.CheckMissing(t, "AUTOCONTAIN_REQUIRE_EVENTRULER", "make eventruler", "AUTOCONTAIN_EVENTRULER_LIB="+t.TempDir())
}
