package plan

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/autocontain/autocontain/internal/finding"
	"github.com/autocontain/autocontain/internal/playbook"
)

// lastAddr is the last address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := range b {
		host := p.Bits() - i*8 // bits of this byte inside the prefix
		switch {
		case host <= 0:
			b[i] = 0xff
		case host < 8:
			b[i] |= 0xff >> host
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// covered tells whether any row of the table contains a.
func covered(a netip.Addr) bool {
	for _, r := range specials {
		if r.prefix.Contains(a) {
			return true
		}
	}
	return false
}

// TestSpecialsRowByRow walks the table itself: the first and last address of
// every row are never blocked, and so reported by that row or a more specific
// one inside it; the address just outside a row, when no other row covers it,
// is blockable. For a row judged by its embedded IPv4 address the first and
// last addresses embed 0.0.0.0 and 255.255.255.255 (for Teredo, a client of
// 255.255.255.255 and 0.0.0.0), which are never blocked either.
func TestSpecialsRowByRow(t *testing.T) {
	seen := map[netip.Prefix]bool{}
	for _, r := range specials {
		t.Run(r.prefix.String(), func(t *testing.T) {
			if r.prefix != r.prefix.Masked() {
				t.Fatalf("%s has host bits set", r.prefix)
			}
			if seen[r.prefix] {
				t.Fatalf("%s is in the table twice", r.prefix)
			}
			seen[r.prefix] = true
			if r.name == "" || !strings.HasPrefix(r.rfc, "RFC ") {
				t.Errorf("%s needs a name and an RFC, got %q, %q", r.prefix, r.name, r.rfc)
			}
			switch r.global {
			case "True", "False", "N/A", "":
			default:
				t.Errorf("%s: global %q is not IANA's True, False or N/A", r.prefix, r.global)
			}
			if r.byEmbedded && r.embeds == nil {
				t.Errorf("%s is judged by an embedded address it cannot extract", r.prefix)
			}
			for _, a := range []netip.Addr{r.prefix.Addr(), lastAddr(r.prefix)} {
				got, why := reservedRange(a)
				if why == "" {
					t.Errorf("%s (in %s) would be blocked", a, r.prefix)
					continue
				}
				if !r.prefix.Contains(got.Addr()) || got.Bits() < r.prefix.Bits() {
					t.Errorf("%s: reported by %s, which is not %s or a row inside it", a, got, r.prefix)
				}
			}
			for _, out := range []netip.Addr{r.prefix.Addr().Prev(), lastAddr(r.prefix).Next()} {
				if !out.IsValid() || covered(out) {
					continue
				}
				if got, why := reservedRange(out); why != "" {
					t.Errorf("%s, just outside %s, is never blocked: %s %s", out, r.prefix, got, why)
				}
			}
		})
	}
}

// TestReservedRange covers the regressions of issue 7 and the embedded-IPv4
// rule: an IPv6 address that stands for an IPv4 host is judged by that host.
func TestReservedRange(t *testing.T) {
	for _, tt := range []struct {
		name, addr string
		want       string // the deciding range, "" when the address may be blocked
		reason     []string
	}{
		// Blocked before issue 7.
		{"ipv6_benchmarking", "2001:2::1", "2001:2::/48", []string{"Benchmarking", "RFC 5180"}},
		{"local_use_nat64", "64:ff9b:1::c633:6407", "64:ff9b:1::/48", []string{"local-use NAT64", "RFC 8215"}},
		{"ipv4_compatible", "::b9dc:652a", "::/96", []string{"IPv4-compatible"}},
		{"ipv4_compatible_embedding_private", "::10.1.2.3", "::/96", []string{"10.1.2.3 is in 10.0.0.0/8, Private-Use"}},
		{"zoned_link_local", "fe80::1%eth0", "fe80::/10", []string{"Link-Local"}},
		{"srv6_sid", "5f00::1", "5f00::/16", []string{"SRv6"}},
		{"dummy_ipv6", "100:0:0:1::1", "100:0:0:1::/64", []string{"Dummy"}},
		{"limited_broadcast", "255.255.255.255", "255.255.255.255/32", []string{"Limited Broadcast"}},

		// Globally reachable rows are never blocked either.
		{"pcp_anycast_v4", "192.0.0.9", "192.0.0.9/32", []string{"Port Control Protocol Anycast"}},
		{"as112_v6", "2620:4f:8000::53", "2620:4f:8000::/48", []string{"AS112"}},
		{"orchid_v2", "2001:20::1", "2001:20::/28", []string{"ORCHIDv2"}},
		{"amt_v6", "2001:3::1", "2001:3::/32", []string{"AMT"}},

		// NAT64's well-known prefix, judged by the IPv4 address it carries.
		{"nat64_private", "64:ff9b::10.0.0.1", "64:ff9b::/96", []string{"NAT64", "the IPv4 address 10.0.0.1 is in 10.0.0.0/8, Private-Use (RFC 1918)"}},
		{"nat64_documentation", "64:ff9b::198.51.100.7", "64:ff9b::/96", []string{"198.51.100.0/24, Documentation, TEST-NET-2"}},
		{"nat64_public", "64:ff9b::185.220.101.42", "", nil},

		// 6to4: the site's IPv4 address is bits 16-47.
		{"6to4_loopback", "2002:7f00:1::1", "2002::/16", []string{"6to4", "127.0.0.1 is in 127.0.0.0/8, Loopback"}},
		{"6to4_cgnat", "2002:6440:0101::1", "2002::/16", []string{"100.64.1.1 is in 100.64.0.0/10"}},
		{"6to4_public", "2002:b9dc:652a::1", "", nil},

		// Teredo: judged by the client, the inverted last 32 bits.
		// 2001:0:4136:e378:8000:63bf:3fff:fdd2 is RFC 4380's example:
		// server 65.54.227.120, client 192.0.2.45 (a documentation address).
		{"teredo_rfc_example_documentation_client", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001::/32", []string{"TEREDO", "its client 192.0.2.45 is in 192.0.2.0/24"}},
		{"teredo_private_client", "2001:0:4136:e378:8000:63bf:f5ff:fffe", "2001::/32", []string{"its client 10.0.0.1 is in 10.0.0.0/8"}},
		// The server is a relay the client picks, not the host: a private
		// server field must not keep a public client from being blocked.
		{"teredo_private_server_public_client", "2001:0:a00:1:8000:63bf:46dd:9ad5", "", nil},
		{"teredo_public_both", "2001:0:4136:e378:8000:63bf:46dd:9ad5", "", nil}, // client 185.34.101.42

		// IPv4-mapped: judged as the IPv4 address.
		{"mapped_private", "::ffff:192.168.1.1", "::ffff:0:0/96", []string{"192.168.1.1 is in 192.168.0.0/16, Private-Use"}},
		{"mapped_public", "::ffff:185.220.101.42", "", nil},

		// Ordinary public addresses.
		{"public_v4", "185.220.101.42", "", nil},
		{"public_v6", "2a0b:f4c2:2::1", "", nil},
		{"just_past_ietf_block", "2001:200::1", "", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := netip.MustParseAddr(tt.addr)
			got, why := reservedRange(a)
			if tt.want == "" {
				if why != "" {
					t.Fatalf("%s is never blocked (%s, %s); want it blockable", a, got, why)
				}
				return
			}
			if why == "" || got != netip.MustParsePrefix(tt.want) {
				t.Fatalf("reservedRange(%s) = %s, %q; want %s", a, got, why, tt.want)
			}
			for _, r := range tt.reason {
				if !strings.Contains(why, r) {
					t.Errorf("reason %q does not mention %q", why, r)
				}
			}
		})
	}
}

// TestBlockStepsSkipSpecialIPv6 is the three addresses through the
// planner: each gets a skip step and none reaches the IPv6 IP set.
func TestBlockStepsSkipSpecialIPv6(t *testing.T) {
	pb := testPlaybook(t, nil)
	f := gd("Recon:EC2/PortProbeUnprotectedPort", 2, finding.Principal{Kind: finding.KindNone},
		"2001:2::1", "64:ff9b:1::1", "::b9dc:652a", "2604:a880:400:d0::2a1:e001")
	p := Build(f, pb)
	var skipped []string
	for _, s := range p.Steps {
		if s.Action != "block-ip" && s.Skipped != "block-ip" {
			continue
		}
		if s.Skipped != "" {
			skipped = append(skipped, s.Target.Addresses[0].String())
			if !strings.HasSuffix(s.Reason, "never blocked") {
				t.Errorf("skip reason %q", s.Reason)
			}
			continue
		}
		if len(s.Target.Addresses) != 1 || s.Target.Addresses[0] != netip.MustParsePrefix("2604:a880:400:d0::2a1:e001/128") {
			t.Errorf("block step targets %v, want only the public address", s.Target.Addresses)
		}
	}
	want := []string{"2001:2::1/128", "64:ff9b:1::1/128", "::b9dc:652a/128"}
	if strings.Join(skipped, " ") != strings.Join(want, " ") {
		t.Errorf("skipped %v, want %v", skipped, want)
	}
}

// TestMappedAddressGoesToIPv4Set: an IPv4-mapped address that may be blocked
// is the IPv4 address, so it belongs in the IPv4 set, not the IPv6 one.
func TestMappedAddressGoesToIPv4Set(t *testing.T) {
	pb := testPlaybook(t, nil)
	f := gd("Recon:EC2/PortProbeUnprotectedPort", 2, finding.Principal{Kind: finding.KindNone}, "::ffff:185.220.101.42")
	p := Build(f, pb)
	for _, s := range p.Steps {
		if s.Action == "block-ip" {
			if s.Target.ARN != v4Set || len(s.Target.Addresses) != 1 || s.Target.Addresses[0] != netip.MustParsePrefix("185.220.101.42/32") {
				t.Fatalf("block step %+v, want 185.220.101.42/32 in the IPv4 set", s.Target)
			}
			return
		}
	}
	t.Fatalf("no block step in %+v", p.Steps)
}

// TestEmbeddedAllowListedIsNeverBlocked: an IPv6 address that stands for an
// allow-listed IPv4 host is never blocked, whichever way it embeds it, and
// the skip names the embedded address and the allowCidrs entry; one that
// embeds a public address outside the list is blocked as its /128.
func TestEmbeddedAllowListedIsNeverBlocked(t *testing.T) {
	pb := testPlaybook(t, func(s *playbook.Settings) {
		s.AllowCIDRs = []netip.Prefix{netip.MustParsePrefix("185.220.101.0/24")}
	})
	tests := []struct {
		name, addr string
		why        []string // substrings of the skip's reason; nil: blocked
	}{
		{"ipv4_itself", "185.220.101.42", []string{"185.220.101.0/24", "allowCidrs"}},
		{"ipv4_mapped", "::ffff:185.220.101.42", []string{"the IPv4 address 185.220.101.42", "185.220.101.0/24", "allowCidrs"}},
		{"nat64_well_known", "64:ff9b::b9dc:652a", []string{"RFC 6052", "the IPv4 address 185.220.101.42", "185.220.101.0/24", "allowCidrs"}},
		{"nat64_local_use", "64:ff9b:1::b9dc:652a", []string{"local-use NAT64"}},
		{"six_to_four", "2002:b9dc:652a::1", []string{"6to4", "the IPv4 address 185.220.101.42", "185.220.101.0/24", "allowCidrs"}},
		{"teredo_client", "2001:0:4137:9e76:8000:f227:4623:9ad5", []string{"TEREDO", "its client 185.220.101.42", "185.220.101.0/24", "allowCidrs"}},
		// The server field is not the host: a Teredo client picks its
		// server, and a relay reaches the client at its own (mapped)
		// address, so whoever writes an allow-listed server in would
		// never be blocked. The client 45.155.205.233 is public.
		{"teredo_server_alone", "2001:0:b9dc:652a:8000:f227:d264:3216", nil},
		{"nat64_public_outside_the_list", "64:ff9b::2d9b:cde9", nil},
		{"teredo_public_outside_the_list", "2001:0:4137:9e76:8000:f227:d264:3216", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := gd("UnauthorizedAccess:EC2/SSHBruteForce", 2, finding.Principal{Kind: finding.KindNone}, tt.addr)
			p := BuildWith(f, pb, Facts{Home: testHome})
			var acts, skips []Step
			for _, s := range p.Steps {
				switch {
				case s.Action == playbook.ActionBlockIP:
					acts = append(acts, s)
				case s.Skipped == playbook.ActionBlockIP:
					skips = append(skips, s)
				}
			}
			if tt.why == nil {
				if len(acts) != 1 || len(skips) != 0 {
					t.Fatalf("%s is public and not allow-listed: want it blocked, steps %+v", tt.addr, p.Steps)
				}
				return
			}
			if len(acts) != 0 || len(skips) != 1 {
				t.Fatalf("%s is blocked: steps %+v", tt.addr, p.Steps)
			}
			for _, w := range tt.why {
				if !strings.Contains(skips[0].Reason, w) {
					t.Errorf("the skip says %q, not %q", skips[0].Reason, w)
				}
			}
		})
	}
}
