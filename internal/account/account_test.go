package account

import (
	"strings"
	"testing"

	"github.com/autocontain/autocontain/internal/finding"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    Account
		wantErr string
	}{
		{"123456789012", Account{"aws", "123456789012"}, ""},
		{" aws-us-gov:123456789012 ", Account{"aws-us-gov", "123456789012"}, ""},
		{"aws-cn:210987654321", Account{"aws-cn", "210987654321"}, ""},
		{"12345678901", Account{}, "12 digits"},
		{"1234567890123", Account{}, "12 digits"},
		{"aws:12345678901x", Account{}, "12 digits"},
		{"AWS:123456789012", Account{}, "is not a partition"},
		{":123456789012", Account{}, "is not a partition"},
		{"", Account{}, "12 digits"},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Parse(%q) error %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
		if back, err := Parse(got.String()); err != nil || back != got {
			t.Errorf("Parse(%q.String()) = %v, %v", tt.in, back, err)
		}
	}
}

func TestFromARN(t *testing.T) {
	tests := []struct {
		arn      string
		function bool
		want     Account
		wantErr  string
	}{
		{"arn:aws:lambda:us-east-1:123456789012:function:autocontain", true, Account{"aws", "123456789012"}, ""},
		{"arn:aws-us-gov:lambda:us-gov-west-1:210987654321:function:autocontain:live", true, Account{"aws-us-gov", "210987654321"}, ""},
		{"arn:aws-cn:lambda:cn-north-1:210987654321:function:autocontain:$LATEST", true, Account{"aws-cn", "210987654321"}, ""},
		{"arn:aws:lambda:us-east-1:123456789012:layer:x", true, Account{}, "not a Lambda function ARN"},
		{"arn:aws:sts::123456789012:assumed-role/admin/me", true, Account{}, "not a Lambda function ARN"},
		{"arn:aws:sts::123456789012:assumed-role/admin/me", false, Account{"aws", "123456789012"}, ""},
		{"arn:aws:iam::123456789012:user/alice", false, Account{"aws", "123456789012"}, ""},
		{"arn:aws:s3:::bucket", false, Account{}, "12 digits"},
		{"autocontain", false, Account{}, "not an ARN"},
	}
	for _, tt := range tests {
		from := FromARN
		if tt.function {
			from = FromFunctionARN
		}
		got, err := from(tt.arn)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: error %v, want %q", tt.arn, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s = %v, %v; want %v", tt.arn, got, err, tt.want)
		}
	}
}

func TestSingleReach(t *testing.T) {
	home := Account{"aws", "123456789012"}
	in := func(refs ...finding.AccountRef) finding.Finding {
		return finding.Finding{Account: "123456789012", Partition: "aws", Accounts: refs,
			Principal: finding.Principal{Kind: finding.KindIAMUserKey, Account: "123456789012", Partition: "aws"}}
	}
	tests := []struct {
		name   string
		home   Account
		f      finding.Finding
		ok     bool
		reason string
	}{
		{"home", home, in(finding.AccountRef{Field: "account", Account: "123456789012"}), true, ""},
		{"unknown_home", Account{}, in(), false, "not known"},
		{"no_finding_account", home, finding.Finding{}, false, "names no account for the finding"},
		{"two_sources_disagree", home, in(finding.AccountRef{Field: "account", Account: "123456789012"}, finding.AccountRef{Field: "detail.accountId", Account: "210987654321"}),
			false, "detail.accountId names account 210987654321"},
		{"unreadable_arn", home, in(finding.AccountRef{Field: "detail.userIdentity.arn"}), false, "detail.userIdentity.arn names no account"},
		{"principal_only", home, func() finding.Finding { f := in(); f.Principal.Account = "210987654321"; return f }(), false, "the principal names account 210987654321"},
		{"partition_only", home, func() finding.Finding { f := in(); f.Partition = "aws-cn"; return f }(), false, "partition aws-cn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Single{Home: tt.home}.Reach(tt.f)
			if d.OK != tt.ok || !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("Reach = %+v, want ok %v and a reason with %q", d, tt.ok, tt.reason)
			}
			if d.OK && (d.Account != tt.home || d.How != "own") {
				t.Errorf("Reach = %+v", d)
			}
		})
	}
}
