package main

import (
	"fmt"

	"github.com/autocontain/autocontain/infra/patterns"
	"github.com/autocontain/autocontain/internal/playbook"
)

// rulePatterns derives the patterns of the GuardDuty and CloudTrail rules
// of one account's default bus, each list split as EventBridge's size quota
// needs (package patterns), and checks the quotas that bind the rules of
// the bus together.
func rulePatterns(pb *playbook.Playbook, account string) (guardDuty, cloudTrail []patterns.Pattern, err error) {
	return busPatterns(
		func() ([]patterns.Pattern, error) { return patterns.GuardDuty(pb, account) },
		func() ([]patterns.Pattern, error) { return patterns.CloudTrail(pb, account) })
}

// busPatterns derives the GuardDuty and CloudTrail patterns of one bus's
// rules and checks the quotas that bind them together.
func busPatterns(gd, ct func() ([]patterns.Pattern, error)) (guardDuty, cloudTrail []patterns.Pattern, err error) {
	if guardDuty, err = gd(); err != nil {
		return nil, nil, err
	}
	if cloudTrail, err = ct(); err != nil {
		return nil, nil, err
	}
	if err := patterns.CheckQuotas(append(append([]patterns.Pattern{}, guardDuty...), cloudTrail...)); err != nil {
		return nil, nil, err
	}
	return guardDuty, cloudTrail, nil
}

// sourcePatterns derives the patterns of a default bus's rules for the
// finding sources cfg takes (context findingSources): GuardDuty's own
// events (of guardDutyAccount, every account when empty), Security Hub's
// imported findings (the same accounts), and CloudTrail's events (of
// cloudTrailAccount); and checks the quotas that bind them together.
func sourcePatterns(cfg Config, guardDutyAccount, cloudTrailAccount string) (guardDuty, securityHub, cloudTrail []patterns.Pattern, err error) {
	pb := cfg.Playbook
	gd := func() ([]patterns.Pattern, error) { return nil, nil }
	if cfg.Takes(SourceGuardDuty) {
		gd = func() ([]patterns.Pattern, error) { return patterns.GuardDuty(pb, guardDutyAccount) }
	}
	guardDuty, cloudTrail, err = busPatterns(gd, func() ([]patterns.Pattern, error) { return patterns.CloudTrail(pb, cloudTrailAccount) })
	if err != nil || !cfg.Takes(SourceSecurityHub) {
		return guardDuty, nil, cloudTrail, err
	}
	if securityHub, err = patterns.SecurityHub(pb, guardDutyAccount); err != nil {
		return nil, nil, nil, err
	}
	if err := patterns.CheckQuotas(append(append(append([]patterns.Pattern{}, guardDuty...), securityHub...), cloudTrail...)); err != nil {
		return nil, nil, nil, err
	}
	return guardDuty, securityHub, cloudTrail, nil
}

// checkPatterns fails before synthesis when the effective playbook cannot
// be expressed in EventBridge rules; the stack itself records the same
// error as an annotation, which the CDK CLI reports.
func checkPatterns(cfg Config) error {
	if _, _, _, err := sourcePatterns(cfg, "123456789012", "123456789012"); err != nil {
		return fmt.Errorf("event patterns: %w", err)
	}
	return nil
}

// ruleID is the construct id of part i of a rule: the first keeps the
// rule's own id, so the ids of a playbook that needs no split never change.
func ruleID(base string, i int) string {
	if i == 0 {
		return base
	}
	return fmt.Sprintf("%s%d", base, i+1)
}

func partOf(description string, i, n int) string {
	if n == 1 {
		return description
	}
	return fmt.Sprintf("%s (part %d of %d)", description, i+1, n)
}
