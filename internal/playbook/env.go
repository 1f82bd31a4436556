package playbook

import (
	"fmt"
	"os"
)

// Environment variables FromEnv reads: the playbook, and each setting's
// (SettingsTable). The CDK stack bundles the playbook with the function
// and sets only the variables of the resources it creates.
const (
	EnvPlaybook      = "AUTOCONTAIN_PLAYBOOK"      // a whole playbook, as JSON
	EnvPlaybookFile  = "AUTOCONTAIN_PLAYBOOK_FILE" // path of a playbook file
	EnvDryRun        = "AUTOCONTAIN_DRY_RUN"       // true or false
	EnvMinSeverity   = "AUTOCONTAIN_MIN_SEVERITY"  // 0–10
	EnvAllowCIDRs    = "AUTOCONTAIN_ALLOW_CIDRS"   // comma-separated CIDRs
	EnvProtect       = "AUTOCONTAIN_PROTECT"       // comma-separated ARN globs
	EnvIPSetV4       = "AUTOCONTAIN_IPSET_V4_ARN"
	EnvIPSetV6       = "AUTOCONTAIN_IPSET_V6_ARN"
	EnvTopicARN      = "AUTOCONTAIN_TOPIC_ARN"
	EnvActOnSamples  = "AUTOCONTAIN_ACT_ON_SAMPLES"  // true or false
	EnvActOnArchived = "AUTOCONTAIN_ACT_ON_ARCHIVED" // true or false
	EnvBreakerMax    = "AUTOCONTAIN_BREAKER_MAX"     // principals per window
	EnvOrgBreakerMax = "AUTOCONTAIN_ORG_BREAKER_MAX" // principals per window, organization-wide
	EnvBreakerWindow = "AUTOCONTAIN_BREAKER_WINDOW"  // a Go duration
	EnvBlockTTL      = "AUTOCONTAIN_BLOCK_TTL"       // a Go duration

	EnvQuarantinePolicy   = "AUTOCONTAIN_QUARANTINE_POLICY_ARN" // an IAM managed policy ARN
	EnvNotificationFormat = "AUTOCONTAIN_NOTIFICATION_FORMAT"   // text or chat

	EnvSnapshotVolumes    = "AUTOCONTAIN_SNAPSHOT_VOLUMES"     // true or false
	EnvIsolateAutoScaling = "AUTOCONTAIN_ISOLATE_AUTO_SCALING" // true or false
)

// FromEnv builds the playbook in force: the one in AUTOCONTAIN_PLAYBOOK, else
// the file AUTOCONTAIN_PLAYBOOK_FILE, else the embedded default; then each
// setting variable that is set overrides the playbook's setting. lookup is
// os.LookupEnv outside tests.
func FromEnv(lookup func(string) (string, bool)) (*Playbook, error) {
	var (
		p   *Playbook
		err error
	)
	if text, ok := lookup(EnvPlaybook); ok && text != "" {
		p, err = Parse([]byte(text), "from $"+EnvPlaybook)
	} else if path, ok := lookup(EnvPlaybookFile); ok && path != "" {
		var data []byte
		if data, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("read playbook named by $%s: %w", EnvPlaybookFile, err)
		}
		p, err = Parse(data, path)
	} else {
		p, err = Parse(defaultJSON, "default.json")
	}
	if err != nil {
		return nil, err
	}
	if err := p.applyEnv(lookup); err != nil {
		return nil, err
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("playbook after environment overrides: %w", err)
	}
	return p, nil
}

// applyEnv reads each setting's variable that is set, in SettingsTable's
// order, over p's settings.
func (p *Playbook) applyEnv(lookup func(string) (string, bool)) error {
	for _, st := range SettingsTable {
		if v, ok := lookup(st.Env); ok {
			if err := st.Set(&p.Settings, v); err != nil {
				return Named("$"+st.Env, err)
			}
		}
	}
	return nil
}
