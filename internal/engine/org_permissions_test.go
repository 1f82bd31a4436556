package engine

import (
	"slices"
	"strings"
	"testing"
)

// TestMemberPermissions: the member role needs what the engine calls in a
// member (containment, undo, the guard, impact, the IP sets and finding
// them), not the central account's topic or ledger.
func TestMemberPermissions(t *testing.T) {
	got := MemberPermissions()
	for _, want := range []string{"iam:UpdateAccessKey", "iam:PutUserPolicy", "iam:DeleteUserPolicy", "iam:GetRole", "iam:ListUserTags", "wafv2:ListIPSets", "wafv2:UpdateIPSet", "wafv2:GetIPSet"} {
		if !slices.Contains(got, want) {
			t.Errorf("member permissions lack %s: %v", want, got)
		}
	}
	for _, p := range got {
		if strings.HasPrefix(p, "sns:") || strings.HasPrefix(p, "dynamodb:") || strings.HasPrefix(p, "organizations:") || strings.HasPrefix(p, "sts:") {
			t.Errorf("member permissions hold %s, which the engine calls only in the central account", p)
		}
	}
	if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
		t.Errorf("not sorted or repeated: %v", got)
	}
}
