package plan

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"

	"github.com/autocontain/autocontain/internal/playbook"
)

// special is one row of the never-block table: a range that is not an
// attacker's own public address. Blocking one could cut off the account's
// own traffic, block a service that many share, or do nothing at all.
type special struct {
	prefix netip.Prefix
	name   string // the registry's name for the range
	rfc    string // the RFC (or registry) that defines it
	// global is IANA's "Globally Reachable" column: "True", "False", "N/A",
	// or "" for a row that is not in the special-purpose registries.
	global string
	// embeds, when set, extracts the IPv4 addresses an address of the range
	// stands for, each with its role ("" or "server"/"client" for Teredo).
	embeds func(netip.Addr) []embedded
	// byEmbedded makes the row blockable when every embedded IPv4 address
	// is: the address then stands for a public IPv4 host and nothing else.
	// Without it the row is never blocked, whatever it embeds.
	byEmbedded bool
}

// embedded is an IPv4 address carried inside an IPv6 address.
type embedded struct {
	role string
	addr netip.Addr
}

// specials is the single source of the addresses that are never blocked.
//
// It is IANA's IPv4 and IPv6 Special-Purpose Address Registries, whole, every
// row (https://www.iana.org/assignments/iana-ipv4-special-registry and
// https://www.iana.org/assignments/iana-ipv6-special-registry, RFC 6890 and
// RFC 8190; contents as of the registries' 2025-10-09 update), plus four
// ranges from IANA's address-space registries that are not special-purpose
// rows but are no attacker's public address either: IPv4 multicast
// (224.0.0.0/4, RFC 5771), IPv6 multicast (ff00::/8, RFC 4291), the
// deprecated IPv4-compatible IPv6 addresses (::/96, RFC 4291 section
// 2.5.5.1) and the deprecated site-local unicast range (fec0::/10, RFC 3879).
//
// The most specific row containing an address decides (192.0.0.9 is PCP
// anycast, not just IETF protocol assignments; 2001::/32 is Teredo inside
// 2001::/23).
//
// Decision on IANA's "Globally Reachable = True" rows (192.0.0.9/32,
// 192.0.0.10/32, 192.31.196.0/24, 192.52.193.0/24, 192.175.48.0/24,
// 64:ff9b::/96, 2001:1::1-3, 2001:3::/32, 2001:4:112::/48, 2001:20::/28,
// 2001:30::/28, 2620:4f:8000::/48): they are never blocked, like every other
// row. Each is an anycast service address that many operators answer on
// (PCP, TURN, DNS-SD, AMT relays, AS112 sinks) or an identifier rather than
// a host's locator (ORCHIDv2, drone DETs): no one attacker owns it, so a
// block would hit a shared service, or match nothing. An automatic responder
// must not guess.
//
// The exceptions are the rows whose addresses stand for exactly one IPv4
// host (byEmbedded): NAT64's well-known prefix 64:ff9b::/96 (RFC 6052;
// globally reachable), 6to4 2002::/16 (RFC 3056) and Teredo 2001::/32 (RFC
// 4380), both routed on the Internet, and IPv4-mapped ::ffff:0:0/96 (blocked
// as the IPv4 address itself). An attacker really does reach a service from
// such an address, and its /128 matches only that one host. Such an address
// is judged by the IPv4 address it embeds (for Teredo, the client's, see
// teredo): when that is never blocked, neither is the IPv6 address,
// and the skip reason says why. The local-use NAT64 prefix 64:ff9b:1::/48
// (RFC 8215) is not globally reachable and its embedding depends on the
// operator's prefix length, so it is never blocked.
var specials = []special{
	// IANA IPv4 Special-Purpose Address Registry.
	{prefix: netip.MustParsePrefix("0.0.0.0/8"), name: "\"this network\"", rfc: "RFC 791", global: "False"},
	{prefix: netip.MustParsePrefix("0.0.0.0/32"), name: "\"this host on this network\"", rfc: "RFC 1122", global: "False"},
	{prefix: netip.MustParsePrefix("10.0.0.0/8"), name: "Private-Use", rfc: "RFC 1918", global: "False"},
	{prefix: netip.MustParsePrefix("100.64.0.0/10"), name: "Shared Address Space, carrier-grade NAT", rfc: "RFC 6598", global: "False"},
	{prefix: netip.MustParsePrefix("127.0.0.0/8"), name: "Loopback", rfc: "RFC 1122", global: "False"},
	{prefix: netip.MustParsePrefix("169.254.0.0/16"), name: "Link Local, includes the instance metadata service", rfc: "RFC 3927", global: "False"},
	{prefix: netip.MustParsePrefix("172.16.0.0/12"), name: "Private-Use", rfc: "RFC 1918", global: "False"},
	{prefix: netip.MustParsePrefix("192.0.0.0/24"), name: "IETF Protocol Assignments", rfc: "RFC 6890", global: "False"},
	{prefix: netip.MustParsePrefix("192.0.0.0/29"), name: "IPv4 Service Continuity Prefix", rfc: "RFC 7335", global: "False"},
	{prefix: netip.MustParsePrefix("192.0.0.8/32"), name: "IPv4 dummy address", rfc: "RFC 7600", global: "False"},
	{prefix: netip.MustParsePrefix("192.0.0.9/32"), name: "Port Control Protocol Anycast", rfc: "RFC 7723", global: "True"},
	{prefix: netip.MustParsePrefix("192.0.0.10/32"), name: "Traversal Using Relays around NAT Anycast", rfc: "RFC 8155", global: "True"},
	{prefix: netip.MustParsePrefix("192.0.0.170/32"), name: "NAT64/DNS64 Discovery", rfc: "RFC 8880, RFC 7050", global: "False"},
	{prefix: netip.MustParsePrefix("192.0.0.171/32"), name: "NAT64/DNS64 Discovery", rfc: "RFC 8880, RFC 7050", global: "False"},
	{prefix: netip.MustParsePrefix("192.0.2.0/24"), name: "Documentation, TEST-NET-1", rfc: "RFC 5737", global: "False"},
	{prefix: netip.MustParsePrefix("192.31.196.0/24"), name: "AS112-v4", rfc: "RFC 7535", global: "True"},
	{prefix: netip.MustParsePrefix("192.52.193.0/24"), name: "AMT", rfc: "RFC 7450", global: "True"},
	{prefix: netip.MustParsePrefix("192.88.99.0/24"), name: "Deprecated (6to4 Relay Anycast)", rfc: "RFC 7526", global: "N/A"},
	{prefix: netip.MustParsePrefix("192.88.99.2/32"), name: "6a44-relay anycast address", rfc: "RFC 6751", global: "False"},
	{prefix: netip.MustParsePrefix("192.168.0.0/16"), name: "Private-Use", rfc: "RFC 1918", global: "False"},
	{prefix: netip.MustParsePrefix("192.175.48.0/24"), name: "Direct Delegation AS112 Service", rfc: "RFC 7534", global: "True"},
	{prefix: netip.MustParsePrefix("198.18.0.0/15"), name: "Benchmarking", rfc: "RFC 2544", global: "False"},
	{prefix: netip.MustParsePrefix("198.51.100.0/24"), name: "Documentation, TEST-NET-2", rfc: "RFC 5737", global: "False"},
	{prefix: netip.MustParsePrefix("203.0.113.0/24"), name: "Documentation, TEST-NET-3", rfc: "RFC 5737", global: "False"},
	{prefix: netip.MustParsePrefix("240.0.0.0/4"), name: "Reserved", rfc: "RFC 1112", global: "False"},
	{prefix: netip.MustParsePrefix("255.255.255.255/32"), name: "Limited Broadcast", rfc: "RFC 8190, RFC 919", global: "False"},
	// IANA IPv4 Multicast Address Space Registry.
	{prefix: netip.MustParsePrefix("224.0.0.0/4"), name: "Multicast", rfc: "RFC 5771"},

	// IANA IPv6 Special-Purpose Address Registry.
	{prefix: netip.MustParsePrefix("::1/128"), name: "Loopback Address", rfc: "RFC 4291", global: "False"},
	{prefix: netip.MustParsePrefix("::/128"), name: "Unspecified Address", rfc: "RFC 4291", global: "False"},
	{prefix: netip.MustParsePrefix("::ffff:0:0/96"), name: "IPv4-mapped Address", rfc: "RFC 4291", global: "False", embeds: last32, byEmbedded: true},
	{prefix: netip.MustParsePrefix("64:ff9b::/96"), name: "IPv4-IPv6 Translat., the NAT64 well-known prefix", rfc: "RFC 6052", global: "True", embeds: last32, byEmbedded: true},
	{prefix: netip.MustParsePrefix("64:ff9b:1::/48"), name: "IPv4-IPv6 Translat., local-use NAT64", rfc: "RFC 8215", global: "False"},
	{prefix: netip.MustParsePrefix("100::/64"), name: "Discard-Only Address Block", rfc: "RFC 6666", global: "False"},
	{prefix: netip.MustParsePrefix("100:0:0:1::/64"), name: "Dummy IPv6 Prefix", rfc: "RFC 9780", global: "False"},
	{prefix: netip.MustParsePrefix("2001::/23"), name: "IETF Protocol Assignments", rfc: "RFC 2928", global: "False"},
	{prefix: netip.MustParsePrefix("2001::/32"), name: "TEREDO", rfc: "RFC 4380, RFC 8190", global: "N/A", embeds: teredo, byEmbedded: true},
	{prefix: netip.MustParsePrefix("2001:1::1/128"), name: "Port Control Protocol Anycast", rfc: "RFC 7723", global: "True"},
	{prefix: netip.MustParsePrefix("2001:1::2/128"), name: "Traversal Using Relays around NAT Anycast", rfc: "RFC 8155", global: "True"},
	{prefix: netip.MustParsePrefix("2001:1::3/128"), name: "DNS-SD Service Registration Protocol Anycast", rfc: "RFC 9665", global: "True"},
	{prefix: netip.MustParsePrefix("2001:2::/48"), name: "Benchmarking", rfc: "RFC 5180", global: "False"},
	{prefix: netip.MustParsePrefix("2001:3::/32"), name: "AMT", rfc: "RFC 7450", global: "True"},
	{prefix: netip.MustParsePrefix("2001:4:112::/48"), name: "AS112-v6", rfc: "RFC 7535", global: "True"},
	{prefix: netip.MustParsePrefix("2001:10::/28"), name: "Deprecated (previously ORCHID)", rfc: "RFC 4843", global: "N/A"},
	{prefix: netip.MustParsePrefix("2001:20::/28"), name: "ORCHIDv2", rfc: "RFC 7343", global: "True"},
	{prefix: netip.MustParsePrefix("2001:30::/28"), name: "Drone Remote ID Protocol Entity Tags (DETs) Prefix", rfc: "RFC 9374", global: "True"},
	{prefix: netip.MustParsePrefix("2001:db8::/32"), name: "Documentation", rfc: "RFC 3849", global: "False"},
	{prefix: netip.MustParsePrefix("2002::/16"), name: "6to4", rfc: "RFC 3056", global: "N/A", embeds: sixToFour, byEmbedded: true},
	{prefix: netip.MustParsePrefix("2620:4f:8000::/48"), name: "Direct Delegation AS112 Service", rfc: "RFC 7534", global: "True"},
	{prefix: netip.MustParsePrefix("3fff::/20"), name: "Documentation", rfc: "RFC 9637", global: "False"},
	{prefix: netip.MustParsePrefix("5f00::/16"), name: "Segment Routing (SRv6) SIDs", rfc: "RFC 9602", global: "False"},
	{prefix: netip.MustParsePrefix("fc00::/7"), name: "Unique-Local, the IPv6 private range", rfc: "RFC 4193, RFC 8190", global: "False"},
	{prefix: netip.MustParsePrefix("fe80::/10"), name: "Link-Local Unicast", rfc: "RFC 4291", global: "False"},
	// IANA IPv6 Address Space Registry.
	{prefix: netip.MustParsePrefix("::/96"), name: "IPv4-compatible, deprecated", rfc: "RFC 4291", embeds: last32},
	{prefix: netip.MustParsePrefix("fec0::/10"), name: "Site-Local, deprecated", rfc: "RFC 3879"},
	{prefix: netip.MustParsePrefix("ff00::/8"), name: "Multicast", rfc: "RFC 4291"},
}

// last32 is the IPv4 address in the last 32 bits (IPv4-mapped,
// IPv4-compatible, and NAT64's /96 prefix, RFC 6052 section 2.2).
func last32(a netip.Addr) []embedded {
	b := a.As16()
	return []embedded{{addr: netip.AddrFrom4([4]byte(b[12:16]))}}
}

// sixToFour is the 6to4 site's IPv4 address, bits 16 to 47 (RFC 3056
// section 2).
func sixToFour(a netip.Addr) []embedded {
	b := a.As16()
	return []embedded{{addr: netip.AddrFrom4([4]byte(b[2:6]))}}
}

// teredo is the Teredo client's public, NAT-mapped IPv4 address, the last
// 32 bits inverted (RFC 4380 section 4): the host the address stands for.
// The server's address (bits 32 to 63) is not judged: it is a relay the
// client picks, relays reach the client at its own mapped address, so any
// client may write any server into its address, a private or allow-listed
// one included, and the server field says nothing about the host.
func teredo(a netip.Addr) []embedded {
	b := a.As16()
	client := binary.BigEndian.Uint32(b[12:16]) ^ 0xffffffff
	var c [4]byte
	binary.BigEndian.PutUint32(c[:], client)
	return []embedded{{role: "client", addr: netip.AddrFrom4(c)}}
}

// specialRow returns the most specific row of specials containing a, or nil.
func specialRow(a netip.Addr) *special {
	var best *special
	for i := range specials {
		r := &specials[i]
		if r.prefix.Contains(a) && (best == nil || r.prefix.Bits() > best.prefix.Bits()) {
			best = r
		}
	}
	return best
}

// reservedRange tells whether a is never blocked: it returns the range that
// decides and why, or an invalid prefix and "" when a may be blocked. An
// address inside a row that stands for an IPv4 host (NAT64, 6to4, Teredo,
// IPv4-mapped) is judged by that IPv4 address, and the reason names it.
func reservedRange(a netip.Addr) (netip.Prefix, string) {
	// A zone does not make an address another host, but netip's Contains
	// never matches a zoned address: judge the address without it.
	a = a.WithZone("")
	r := specialRow(a)
	if r == nil {
		return netip.Prefix{}, ""
	}
	why := fmt.Sprintf("%s (%s)", r.name, r.rfc)
	if r.embeds == nil {
		return r.prefix, why
	}
	var reasons []string
	for _, e := range r.embeds(a) {
		if er := specialRow(e.addr); er != nil {
			reasons = append(reasons, fmt.Sprintf("%s is in %s, %s (%s)", e, er.prefix, er.name, er.rfc))
		}
	}
	if len(reasons) > 0 {
		return r.prefix, why + ", and " + strings.Join(reasons, ", and ")
	}
	if r.byEmbedded {
		return netip.Prefix{}, ""
	}
	return r.prefix, why
}

// String names the embedded address in a reason: "the IPv4 address
// 185.220.101.42", or "its client 185.220.101.42" for Teredo.
func (e embedded) String() string {
	if e.role != "" {
		return "its " + e.role + " " + e.addr.String()
	}
	return "the IPv4 address " + e.addr.String()
}

// allowListed tells why a is never blocked for settings.allowCidrs, or ""
// when it is not: a is inside an allow-listed network, or an IPv6 address
// that stands for an IPv4 host (IPv4-mapped, NAT64, 6to4, Teredo)
// embeds an allow-listed address. Without this, an allow-listed
// 185.220.101.42 would be blocked as 64:ff9b::b9dc:652a.
func allowListed(pb *playbook.Playbook, a netip.Addr) string {
	a = a.WithZone("")
	if n, ok := pb.Allowed(a); ok {
		return fmt.Sprintf("%s is in %s, allow-listed in settings.allowCidrs", a, n)
	}
	r := specialRow(a)
	if r == nil || r.embeds == nil {
		return ""
	}
	for _, e := range r.embeds(a) {
		if n, ok := pb.Allowed(e.addr); ok {
			return fmt.Sprintf("%s is in %s, %s (%s), and %s is in %s, allow-listed in settings.allowCidrs: never blocked",
				a, r.prefix, r.name, r.rfc, e, n)
		}
	}
	return ""
}

// hostPrefix returns the single-address CIDR of a: /32 or /128, as WAF wants.
// An IPv4-mapped address is the IPv4 address it maps.
func hostPrefix(a netip.Addr) netip.Prefix {
	a = a.Unmap().WithZone("")
	return netip.PrefixFrom(a, a.BitLen())
}
