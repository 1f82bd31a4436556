package playbook

import (
	"fmt"
	"regexp"
	"strings"
)

// DefaultQuarantinePolicy is the managed policy quarantine attaches unless
// settings.quarantinePolicyArn names another: the one AWS itself attaches
// to users whose keys it found exposed, in the partition the finding is in.
// It denies the actions that abuse of stolen credentials uses (launching
// instances; creating users, keys, roles and functions) and leaves existing
// resources alone.
func DefaultQuarantinePolicy(partition string) string {
	return "arn:" + partition + ":iam::aws:policy/AWSCompromisedKeyQuarantineV3"
}

// QuarantinePolicy is the managed policy quarantine attaches in partition:
// settings.quarantinePolicyArn, else DefaultQuarantinePolicy.
func (s Settings) QuarantinePolicy(partition string) string {
	if s.QuarantinePolicyARN != "" {
		return s.QuarantinePolicyARN
	}
	return DefaultQuarantinePolicy(partition)
}

// policyARN is an IAM managed policy's ARN: AWS's (account "aws") or an
// account's, with an optional path (IAM User Guide, "IAM identifiers").
var policyARN = regexp.MustCompile(`^arn:(aws[a-z-]*):iam::(aws|\d{12}):policy/([\w+=,.@-]+/)*[\w+=,.@-]{1,128}$`)

func checkQuarantinePolicy(s *Settings) error {
	if s.QuarantinePolicyARN != "" && !policyARN.MatchString(s.QuarantinePolicyARN) {
		return fmt.Errorf("%q is not an IAM managed policy ARN (arn:aws:iam::aws:policy/NAME or arn:aws:iam::123456789012:policy/NAME)", s.QuarantinePolicyARN)
	}
	return nil
}

// quarantineCarry is the policy a quarantine step attaches. A configured
// policy of another partition than the finding's cannot be attached there:
// the step is skipped rather than failing at IAM.
func quarantineCarry(s Settings, partition string) (Carried, string) {
	if partition == "" {
		return Carried{}, "the finding's partition is unknown, so the quarantine policy's ARN is too"
	}
	arn := s.QuarantinePolicy(partition)
	if m := policyARN.FindStringSubmatch(arn); m == nil || m[1] != partition {
		return Carried{}, fmt.Sprintf("settings.quarantinePolicyArn %s is not a managed policy of partition %s, the finding's", arn, partition)
	}
	return Carried{Policy: arn}, ""
}

// restrictSourceCarry is the networks a restrict-source step allows. With
// none, a deny of every other source would deny every request: that is
// revoke-sessions' and deactivate-key's work, not this action's.
func restrictSourceCarry(s Settings, _ string) (Carried, string) {
	if len(s.AllowCIDRs) == 0 {
		return Carried{}, "settings.allowCidrs is empty: with no network to allow, the deny would refuse every request; " +
			"list the application's fixed egress networks there, or use revoke-sessions and deactivate-key"
	}
	return Carried{Networks: s.AllowCIDRs}, ""
}

// IsPolicyARN reports whether arn is an IAM managed policy's ARN.
func IsPolicyARN(arn string) bool { return policyARN.MatchString(strings.TrimSpace(arn)) }

// isolateCarry is what an isolate-instance step takes from the settings:
// whether it snapshots the volumes, and whether it may isolate an instance
// of an Auto Scaling group. It never makes the step a skip.
func isolateCarry(s Settings, _ string) (Carried, string) {
	return Carried{Snapshot: s.SnapshotVolumes, AutoScaling: s.IsolateAutoScaling}, ""
}
