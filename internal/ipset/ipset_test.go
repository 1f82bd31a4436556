package ipset

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		arn     string
		want    Ref
		wantErr string
	}{
		{arn: "arn:aws:wafv2:eu-west-1:123456789012:regional/ipset/blocklist-v4/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111",
			want: Ref{Account: "123456789012", Region: "eu-west-1", Scope: ScopeRegional, Name: "blocklist-v4", ID: "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"}},
		{arn: "arn:aws:wafv2:us-east-1:123456789012:global/ipset/edge-v6/11111111-2222-3333-4444-555555555555",
			want: Ref{Account: "123456789012", Region: "us-east-1", Scope: ScopeCloudFront, Name: "edge-v6", ID: "11111111-2222-3333-4444-555555555555"}},
		{arn: "not-an-arn", wantErr: "arn: invalid prefix"},
		{arn: "arn:aws:waf:us-east-1:123456789012:regional/ipset/x/1", wantErr: `service "waf", want wafv2`},
		{arn: "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/x/1", wantErr: "not SCOPE/ipset/NAME/ID"},
		{arn: "arn:aws:wafv2:us-east-1:123456789012:regional/ipset/x", wantErr: "not SCOPE/ipset/NAME/ID"},
		{arn: "arn:aws:wafv2:us-east-1:123456789012:local/ipset/x/1", wantErr: `scope "local"`},
		{arn: "arn:aws:wafv2::123456789012:regional/ipset/x/1", wantErr: "has no region"},
	}
	for _, tt := range tests {
		t.Run(tt.arn, func(t *testing.T) {
			got, err := Parse(tt.arn)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.want.ARN = tt.arn
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
