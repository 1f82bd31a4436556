// Package ipset names a WAFv2 IP set by its ARN and writes it: Update is
// the one read-merge-write of a set with WAF's lock-token protocol, which
// block-ip without the ledger and the ledger's single writer (blocklist)
// both use.
package ipset

import (
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/arn"
)

// Scope values of WAFv2 (types.Scope): REGIONAL, or CLOUDFRONT, which AWS
// writes as "global" in ARNs and serves only from us-east-1.
const (
	ScopeRegional   = "REGIONAL"
	ScopeCloudFront = "CLOUDFRONT"
)

// Ref identifies one WAFv2 IP set, as GetIPSet and UpdateIPSet need it.
type Ref struct {
	ARN string
	// Account is the account the set is in.
	Account string
	Region  string
	Scope   string
	Name    string
	ID      string
}

// Parse reads an IP set ARN,
// arn:PARTITION:wafv2:REGION:ACCOUNT:(regional|global)/ipset/NAME/ID.
func Parse(s string) (Ref, error) {
	a, err := arn.Parse(s)
	if err != nil {
		return Ref{}, fmt.Errorf("IP set ARN %q: %w", s, err)
	}
	if a.Service != "wafv2" {
		return Ref{}, fmt.Errorf("IP set ARN %q is for service %q, want wafv2", s, a.Service)
	}
	parts := strings.Split(a.Resource, "/")
	if len(parts) != 4 || parts[1] != "ipset" || parts[2] == "" || parts[3] == "" {
		return Ref{}, fmt.Errorf("IP set ARN %q: resource %q is not SCOPE/ipset/NAME/ID", s, a.Resource)
	}
	r := Ref{ARN: s, Account: a.AccountID, Region: a.Region, Name: parts[2], ID: parts[3]}
	switch parts[0] {
	case "regional":
		r.Scope = ScopeRegional
	case "global":
		r.Scope = ScopeCloudFront
	default:
		return Ref{}, fmt.Errorf("IP set ARN %q: scope %q is neither regional nor global", s, parts[0])
	}
	if r.Region == "" {
		return Ref{}, fmt.Errorf("IP set ARN %q has no region", s)
	}
	return r, nil
}

// String returns the ARN.
func (r Ref) String() string { return r.ARN }
