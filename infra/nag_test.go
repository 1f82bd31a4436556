package main

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/autocontain/autocontain/internal/playbook"
)

// nagRow is one line of cdk-nag's compliance report.
type nagRow struct {
	rule, resource, compliance, reason, level string
}

// nagReport synthesizes the stack for cfg with cdk-nag's AwsSolutions
// checks applied and returns its compliance report: one row per rule and
// resource it applies to, errors and warnings alike.
func nagReport(t *testing.T, cfg Config, region string) []nagRow {
	t.Helper()
	return nagReportOf(t, func(app awscdk.App, assets string) {
		var env *awscdk.Environment
		if region != "" {
			env = &awscdk.Environment{Account: jsii.String("123456789012"), Region: jsii.String(region)}
		}
		NewAutocontainStack(app, "Autocontain", &AutocontainStackProps{StackProps: awscdk.StackProps{Env: env}, Config: cfg, AssetDir: assets})
	})
}

// nagReportOf is nagReport for the stacks build adds to app (assets holds
// a stand-in bootstrap): the rows of every stack's report.
func nagReportOf(t *testing.T, build func(app awscdk.App, assets string)) []nagRow {
	t.Helper()
	dir, out := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bootstrap"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(out)})
	build(app, dir)
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Reports: jsii.Bool(true)}), nil)
	app.Synth(nil)
	// The findings' messages name the item (an IAM5 wildcard) the report
	// leaves out: shown when the test is about to fail.
	t.Cleanup(func() {
		if t.Failed() {
			metadata, _ := filepath.Glob(filepath.Join(out, "*.metadata.json"))
			for _, m := range metadata {
				logNagMessages(t, m)
			}
		}
	})
	files, err := filepath.Glob(filepath.Join(out, "AwsSolutions-*NagReport.csv"))
	if err != nil || len(files) == 0 {
		t.Fatalf("cdk-nag report: %v, %v", files, err)
	}
	var rows []nagRow
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		records, err := csv.NewReader(f).ReadAll()
		f.Close()
		if err != nil {
			t.Fatalf("cdk-nag report %s: %v", file, err)
		}
		if len(records) < 2 || strings.Join(records[0], ",") != "Rule ID,Resource ID,Compliance,Exception Reason,Rule Level,Rule Info" {
			t.Fatalf("cdk-nag report %s: unexpected header or no rows: %v", file, records)
		}
		for _, r := range records[1:] {
			rows = append(rows, nagRow{rule: r[0], resource: r[1], compliance: r[2], reason: r[3], level: r[4]})
		}
	}
	return rows
}

// logNagMessages logs cdk-nag's error and warning messages from the cloud
// assembly's metadata of the stack (path -> [{type, data}]).
func logNagMessages(t *testing.T, metadata string) {
	raw, err := os.ReadFile(metadata)
	if err != nil {
		t.Log(err)
		return
	}
	var m map[string][]struct{ Type, Data any }
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Log(err)
		return
	}
	for path, entries := range m {
		for _, e := range entries {
			if msg, _ := e.Data.(string); strings.HasPrefix(msg, "AwsSolutions-") && e.Type != "aws:cdk:info" {
				t.Logf("cdk-nag %v: %s: %s", e.Type, path, msg)
			}
		}
	}
}

// TestNagAwsSolutions runs cdk-nag's AwsSolutions pack on the default stack
// and on a variant with every option that adds resources. Any finding at
// error or warning level that no entry of nagSuppressions explains fails
// the test, and so does an entry (or one of its appliesTo patterns) that
// explains nothing any more.
func TestNagAwsSolutions(t *testing.T) {
	full := DefaultConfig()
	full.WebACL, full.WebACLLogging, full.Scope = true, true, "CLOUDFRONT"
	full.NotificationEmail, full.Playbook.Settings.Protect = "secops@example.com", []playbook.Pattern{"arn:aws:iam::*:role/break-glass-*"}
	org, err := configFromMap(orgContext())
	if err != nil {
		t.Fatal(err)
	}
	variants := []struct {
		name   string
		cfg    Config
		region string
		build  func(app awscdk.App, assets string) // other stacks than the central one alone
	}{
		{"default", DefaultConfig(), "", nil},
		{"web_acl_logging_pinned", full, "us-east-1", nil},
		{"organization", org, "", func(app awscdk.App, assets string) {
			central := NewAutocontainStack(app, "Autocontain", &AutocontainStackProps{
				StackProps: awscdk.StackProps{Env: &awscdk.Environment{Account: jsii.String(testAccount), Region: jsii.String(testRegion)}},
				Config:     org, AssetDir: assets,
			})
			NewForwarderStacks(app, central, org)
			// The member stack as the StackSet's body holds it (memberTemplate).
			NewMemberStack(app, "AutocontainMember", &MemberStackProps{
				StackProps: awscdk.StackProps{Synthesizer: awscdk.NewBootstraplessSynthesizer(&awscdk.BootstraplessSynthesizerProps{})},
				Config:     org,
			})
		}},
	}
	used := map[int]bool{}      // nagSuppressions entries that explained a finding
	usedRe := map[string]bool{} // appliesTo patterns that matched a finding
	for _, v := range variants {
		var rows []nagRow
		if v.build != nil {
			rows = nagReportOf(t, v.build)
		} else {
			rows = nagReport(t, v.cfg, v.region)
		}
		count := map[string]int{}
		for _, r := range rows {
			count[r.compliance]++
			switch r.compliance {
			case "Compliant":
			case "Suppressed":
				i, item := explaining(r)
				if i < 0 {
					t.Errorf("%s: %s on %s is suppressed by no entry of nagSuppressions: %q", v.name, r.rule, r.resource, r.reason)
					continue
				}
				used[i] = true
				for _, re := range nagSuppressions[i].appliesTo {
					if item != "" && jsRegexp(t, re).MatchString(item) {
						usedRe[re] = true
					}
				}
			default: // Non-Compliant, or a rule that could not be evaluated
				t.Errorf("%s: cdk-nag %s %s on %s (%s): explain it with an entry in nagSuppressions (infra/nag.go) or fix the resource",
					v.name, r.level, r.rule, r.resource, r.compliance)
			}
		}
		t.Logf("cdk-nag AwsSolutions, %s stack: %d rows: %v", v.name, len(rows), count)
	}
	for i, s := range nagSuppressions {
		if !used[i] {
			t.Errorf("nagSuppressions entry %s on %s explains no finding: remove it", s.rule, s.construct)
		}
		for _, re := range s.appliesTo {
			if !usedRe[re] {
				t.Errorf("nagSuppressions entry %s on %s: appliesTo %s matches no finding: remove it", s.rule, s.construct, re)
			}
		}
	}
}

// explaining returns the nagSuppressions entry whose reason a suppressed
// row carries, and the finding's item ("Action::kms:ReEncrypt*") for rules
// with per-item findings; -1 when none does.
func explaining(r nagRow) (int, string) {
	reason, item := r.reason, ""
	if strings.HasPrefix(reason, "[") {
		if end := strings.Index(reason, "] "); end > 0 {
			item, reason = reason[1:end], reason[end+2:]
		}
	}
	for i, s := range nagSuppressions {
		// The resource is the construct's path in its stack, any stack's.
		_, path, _ := strings.Cut(r.resource, "/")
		if s.rule == r.rule && s.reason == reason && strings.HasPrefix(path, s.construct+"/") {
			return i, item
		}
	}
	return -1, item
}

// jsRegexp compiles a cdk-nag appliesTo pattern, /expr/flags, for Go.
func jsRegexp(t *testing.T, re string) *regexp.Regexp {
	t.Helper()
	end := strings.LastIndex(re, "/")
	if !strings.HasPrefix(re, "/") || end <= 0 {
		t.Fatalf("appliesTo %q is not /expr/", re)
	}
	return regexp.MustCompile(re[1:end])
}

// TestNagSuppressionsHaveReasons: cdk-nag wants 10 characters; a reader
// wants the why.
func TestNagSuppressionsHaveReasons(t *testing.T) {
	for _, s := range nagSuppressions {
		if len(s.reason) < 60 || !strings.HasPrefix(s.rule, "AwsSolutions-") {
			t.Errorf("suppression %s on %s: rule must be an AwsSolutions id and its reason must explain (%d characters)", s.rule, s.construct, len(s.reason))
		}
		for _, re := range s.appliesTo {
			jsRegexp(t, re)
		}
	}
}
