package playbook

import (
	"net/netip"
	"strings"
	"testing"
)

func TestQuarantinePolicySetting(t *testing.T) {
	for _, tt := range []struct {
		name, arn, wantErr string
	}{
		{"default_is_empty", "", ""},
		{"aws_managed", "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3", ""},
		{"customer_managed_with_path", "arn:aws:iam::123456789012:policy/security/Quarantine", ""},
		{"other_partition", "arn:aws-us-gov:iam::aws:policy/AWSCompromisedKeyQuarantineV3", ""},
		{"a_role_is_not_a_policy", "arn:aws:iam::123456789012:role/Quarantine", "not an IAM managed policy ARN"},
		{"not_an_arn", "AWSCompromisedKeyQuarantineV3", "not an IAM managed policy ARN"},
		{"wildcard", "arn:aws:iam::aws:policy/*", "not an IAM managed policy ARN"},
		{"short_account", "arn:aws:iam::1234:policy/Q", "not an IAM managed policy ARN"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pb := Default()
			err := settingNamed(t, "quarantinePolicyArn").Set(&pb.Settings, tt.arn)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("Set(%q) = %v, want error %q", tt.arn, err, tt.wantErr)
			}
		})
	}
}

func settingNamed(t *testing.T, name string) Setting {
	t.Helper()
	for _, st := range SettingsTable {
		if st.JSON == name {
			return st
		}
	}
	t.Fatalf("no setting %s", name)
	return Setting{}
}

func TestCarry(t *testing.T) {
	office := Networks{netip.MustParsePrefix("198.51.100.0/24")}
	for _, tt := range []struct {
		name      string
		action    string
		settings  Settings
		partition string
		want      Carried
		skip      string
	}{
		{"quarantine_default_policy_in_the_findings_partition", ActionQuarantine, Settings{}, "aws-cn",
			Carried{Policy: "arn:aws-cn:iam::aws:policy/AWSCompromisedKeyQuarantineV3"}, ""},
		{"quarantine_configured_policy", ActionQuarantine, Settings{QuarantinePolicyARN: "arn:aws:iam::123456789012:policy/Q"}, "aws",
			Carried{Policy: "arn:aws:iam::123456789012:policy/Q"}, ""},
		{"quarantine_policy_of_another_partition_is_a_skip", ActionQuarantine, Settings{QuarantinePolicyARN: "arn:aws:iam::123456789012:policy/Q"}, "aws-us-gov",
			Carried{}, "not a managed policy of partition aws-us-gov"},
		{"quarantine_unknown_partition_is_a_skip", ActionQuarantine, Settings{}, "", Carried{}, "partition is unknown"},
		{"restrict_source_allows_allowCidrs", ActionRestrictSource, Settings{AllowCIDRs: office}, "aws", Carried{Networks: office}, ""},
		{"restrict_source_without_allowCidrs_is_a_skip", ActionRestrictSource, Settings{}, "aws", Carried{}, "settings.allowCidrs is empty"},
		{"isolate_defaults_neither_snapshot_nor_auto_scaling", ActionIsolateInstance, Settings{}, "aws", Carried{}, ""},
		{"isolate_carries_snapshot_and_auto_scaling", ActionIsolateInstance, Settings{SnapshotVolumes: true, IsolateAutoScaling: true}, "aws",
			Carried{Snapshot: true, AutoScaling: true}, ""},
		{"isolate_carries_auto_scaling_alone", ActionIsolateInstance, Settings{IsolateAutoScaling: true}, "", Carried{AutoScaling: true}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			spec, _ := Spec(tt.action)
			got, skip := spec.Carry(tt.settings, tt.partition)
			if got.Policy != tt.want.Policy || len(got.Networks) != len(tt.want.Networks) ||
				got.Snapshot != tt.want.Snapshot || got.AutoScaling != tt.want.AutoScaling ||
				tt.skip == "" && skip != "" || tt.skip != "" && !strings.Contains(skip, tt.skip) {
				t.Errorf("Carry = %+v, %q; want %+v, %q", got, skip, tt.want, tt.skip)
			}
		})
	}
}
