package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/autocontain/autocontain/internal/account"
	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/impact/impacttest"
	"github.com/autocontain/autocontain/internal/playbook"
	"github.com/autocontain/autocontain/internal/testenv/faultproxy"
)

// adminAnomalyRule is the README's example: contain AnomalousBehavior at
// any severity when the key is admin.
var adminAnomalyRule = playbook.Rule{
	Name: "anomalous-admin-key", Source: finding.SourceGuardDuty, Types: []playbook.Pattern{"*:IAMUser/AnomalousBehavior"},
	Impact: []finding.ImpactClass{finding.ImpactAdmin}, Actions: []string{"deactivate-key", "revoke-sessions", "notify"},
}

// TestImpactInTheRun: a run reads the principal's class from IAM before
// planning, so that a rule with impact matches, and shows it in the audit
// record; a failure to read is unknown and does not block containment; a
// dry run and a principal of another account read nothing.
func TestImpactInTheRun(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	c := iam.NewFromConfig(fx.cfg)
	eng := fx.engine(nil)
	eng.Playbook.Rules = append([]playbook.Rule{adminAnomalyRule}, eng.Playbook.Rules...)
	const user = "ci-deployer"
	run := func(t *testing.T, id string, severity string) (rule string, imp finding.Impact, text string, steps []string) {
		t.Helper()
		raw := fx.acct.Rewrite(event(t, "guardduty-credentialaccess-anomalousbehavior.json",
			"08250218c791b1431b0650fc9daae133", id, `"severity": 5,`, `"severity": `+severity+`,`))
		rec, err := eng.Run(ctx, raw)
		if err != nil {
			t.Fatalf("run: %v", err)
		}
		for _, s := range rec.Steps {
			steps = append(steps, s.Action+" "+s.Status)
		}
		return rec.Rule, rec.Principal.Impact, rec.Text(), steps
	}
	keyStatus := func(t *testing.T) string {
		t.Helper()
		return fx.state(t).KeyStatus[user][fx.acct.Keys[user][0]]
	}

	t.Run("scoped_key_at_low_severity_is_only_notified", func(t *testing.T) {
		rule, imp, _, _ := run(t, "impact-scoped", "2")
		if rule != "other-credential-findings" || imp.Class != finding.ImpactScoped || keyStatus(t) != "Active" {
			t.Errorf("rule %s, impact %s, key %s", rule, imp, keyStatus(t))
		}
	})

	t.Run("admin_key_at_low_severity_is_contained", func(t *testing.T) {
		if _, err := c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(user), PolicyName: aws.String("ops"),
			PolicyDocument: aws.String(impacttest.Admin)}); err != nil {
			t.Fatal(err)
		}
		rule, imp, text, steps := run(t, "impact-admin", "2")
		if rule != "anomalous-admin-key" || imp.Class != finding.ImpactAdmin || !strings.Contains(imp.Why, "inline policy ops of user ci-deployer") {
			t.Errorf("rule %s, impact %s", rule, imp)
		}
		if keyStatus(t) != "Inactive" || !strings.Contains(strings.Join(steps, ","), "deactivate-key done") {
			t.Errorf("key %s, steps %v", keyStatus(t), steps)
		}
		if !strings.Contains(text, "Impact: admin (inline policy ops of user ci-deployer: statement 1 (Everything) allows * on *)") {
			t.Errorf("the record's text does not show the impact:\n%s", text)
		}
	})

	t.Run("unreadable_is_unknown_and_does_not_block_containment", func(t *testing.T) {
		fx.proxy.Inject("ListAttachedUserPolicies", faultproxy.AccessDenied, 1)
		rule, imp, text, steps := run(t, "impact-denied", "5")
		if imp.Class != finding.ImpactUnknown || !strings.Contains(imp.Why, "AccessDenied") || !strings.Contains(text, "Impact: unknown (could not read") {
			t.Errorf("impact %s\n%s", imp, text)
		}
		// Unknown never matches the admin rule; the severity rule contains.
		if rule != "anomalous-credential-use" || !strings.Contains(strings.Join(steps, ","), "revoke-sessions done") {
			t.Errorf("rule %s, steps %v", rule, steps)
		}
	})

	t.Run("dry_run_reads_nothing", func(t *testing.T) {
		eng.Playbook.Settings.DryRun = true
		defer func() { eng.Playbook.Settings.DryRun = false }()
		fx.proxy.Reset()
		rule, imp, _, _ := run(t, "impact-dry-run", "2")
		if imp != (finding.Impact{}) || rule != "other-credential-findings" || len(fx.proxy.Counts()) != 0 {
			t.Errorf("rule %s, impact %s, calls %v", rule, imp, fx.proxy.Counts())
		}
	})

	t.Run("an_archived_finding_reads_nothing", func(t *testing.T) {
		fx.proxy.Reset()
		raw := fx.acct.Rewrite(event(t, "guardduty-credentialaccess-anomalousbehavior.json", "08250218c791b1431b0650fc9daae133", "impact-archived",
			`"archived": false`, `"archived": true`))
		rec, _ := eng.Run(ctx, raw)
		if !rec.Finding.Archived || rec.Principal.Impact != (finding.Impact{}) || fx.proxy.Count("ListAttachedUserPolicies") != 0 {
			t.Errorf("archived %v, impact %s, calls %v", rec.Finding.Archived, rec.Principal.Impact, fx.proxy.Counts())
		}
	})

	t.Run("another_account_reads_nothing", func(t *testing.T) {
		other := *eng
		other.Home = account.Account{Partition: "aws", ID: "210987654321"}
		fx.proxy.Reset()
		raw := fx.acct.Rewrite(event(t, "guardduty-credentialaccess-anomalousbehavior.json", "08250218c791b1431b0650fc9daae133", "impact-other"))
		rec, _ := other.Run(ctx, raw)
		if rec.Principal.Impact != (finding.Impact{}) || fx.proxy.Count("ListAttachedUserPolicies") != 0 {
			t.Errorf("impact %s, calls %v", rec.Principal.Impact, fx.proxy.Counts())
		}
	})
}
