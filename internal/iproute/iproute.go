// Package iproute describes routes and policy-routing rules the way
// ip-route(8) and ip-rule(8) write them, which is how keepalived.conf's
// virtual_routes, static_routes, virtual_rules and static_rules lines
// give them. It does no I/O: config fills these values in, vip hands them
// to the kernel.
package iproute

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ProtoKeepalived is the routing protocol number keepalived marks its
// routes and rules with (rt_protos "keepalived"), so that it can tell
// its own from the others when one is deleted; vipd marks them alike.
const ProtoKeepalived = 18

// Create says how a route goes in beside a route to the same
// destination: keepalived's default puts it first (the kernel's default,
// "ip route prepend"), "add" fails if one exists, "append" puts it last.
type Create uint8

const (
	Prepend Create = iota
	Exclusive
	Append
)

// Route is one route.
type Route struct {
	IPv6  bool
	Type  uint8        // unix.RTN_*; unicast unless given
	Dst   netip.Prefix // 0/0 for "default"
	From  netip.Prefix // source prefix ("from", IPv6 only); invalid: none
	Src   netip.Addr   // preferred source ("src"); invalid: none
	Via   netip.Addr   // gateway; invalid: none
	Dev   string       // output interface; "": none
	Table uint32       // unix.RT_TABLE_MAIN unless given
	// Protocol is ProtoKeepalived unless the line gives another (an
	// untracked route only).
	Protocol uint8
	Scope    uint8   // unix.RT_SCOPE_UNIVERSE unless given, as keepalived sends it
	Metric   *uint32 // "metric", "priority", "preference"
	TOS      *uint8
	Onlink   bool
	Realms   uint32 // 0: none
	// Metrics are the RTA_METRICS values by RTAX_ number (mtu, window…);
	// Locked has bit 1<<RTAX set for each one given with "lock".
	Metrics      map[uint16]uint32
	Locked       uint32
	Congctl      string // RTAX_CC_ALGO, "": none
	Expires      *uint32
	Pref         *uint8 // IPv6 router preference
	TTLPropagate *uint8
	Create       Create
	Nexthops     []Nexthop // a multipath route
}

// Nexthop is one path of a multipath route.
type Nexthop struct {
	Via    netip.Addr
	Dev    string
	Weight int // 1..256; 0: not given (1)
	Onlink bool
	Realms uint32
}

// metricNames are the RTAX_ metrics by their ip-route names, in the order
// ip route prints them.
var metricNames = []struct {
	name string
	rtax uint16
}{
	{"mtu", unix.RTAX_MTU}, {"advmss", unix.RTAX_ADVMSS}, {"rtt", unix.RTAX_RTT},
	{"rttvar", unix.RTAX_RTTVAR}, {"reordering", unix.RTAX_REORDERING}, {"window", unix.RTAX_WINDOW},
	{"cwnd", unix.RTAX_CWND}, {"ssthresh", unix.RTAX_SSTHRESH}, {"hoplimit", unix.RTAX_HOPLIMIT},
	{"rto_min", unix.RTAX_RTO_MIN}, {"initcwnd", unix.RTAX_INITCWND}, {"initrwnd", unix.RTAX_INITRWND},
	{"quickack", unix.RTAX_QUICKACK}, {"features", unix.RTAX_FEATURES},
	{"fastopen_no_cookie", unix.RTAX_FASTOPEN_NO_COOKIE},
}

// MetricByName is the RTAX_ number of a metric ip route names.
func MetricByName(name string) (uint16, bool) {
	for _, m := range metricNames {
		if m.name == name {
			return m.rtax, true
		}
	}
	return 0, false
}

// String writes the route as ip route would take it.
func (r *Route) String() string { return r.Format() }

// Format writes the route with extra words before its nexthops, which
// must come last.
func (r *Route) Format(extra ...string) string {
	var w words
	if r.Type != unix.RTN_UNICAST {
		w.add(TypeName(r.Type))
	}
	w.add(r.Dst.String())
	if r.From.IsValid() {
		w.add("from", r.From.String())
	}
	if r.Src.IsValid() {
		w.add("src", r.Src.String())
	}
	if r.Via.IsValid() {
		if r.Via.Is6() != r.IPv6 {
			w.add("via", family(r.Via.Is6()))
		} else {
			w.add("via")
		}
		w.add(r.Via.String())
	}
	if r.Dev != "" {
		w.add("dev", r.Dev)
	}
	if r.Onlink {
		w.add("onlink")
	}
	if r.Table != unix.RT_TABLE_MAIN {
		w.add("table", strconv.FormatUint(uint64(r.Table), 10))
	}
	w.add("protocol", strconv.Itoa(int(r.Protocol)))
	if r.Scope != unix.RT_SCOPE_UNIVERSE {
		w.add("scope", ScopeName(r.Scope))
	}
	if r.Metric != nil {
		w.add("metric", strconv.FormatUint(uint64(*r.Metric), 10))
	}
	if r.TOS != nil {
		w.add("tos", fmt.Sprintf("0x%02x", *r.TOS))
	}
	if r.Realms != 0 {
		w.add("realms", realms(r.Realms))
	}
	for _, m := range metricNames {
		v, ok := r.Metrics[m.rtax]
		if !ok {
			continue
		}
		w.add(m.name)
		if r.Locked&(1<<m.rtax) != 0 {
			w.add("lock")
		}
		if m.rtax == unix.RTAX_FEATURES && v == unix.RTAX_FEATURE_ECN {
			w.add("ecn")
			continue
		}
		w.add(strconv.FormatUint(uint64(v), 10))
	}
	if r.Congctl != "" {
		w.add("congctl")
		if r.Locked&(1<<unix.RTAX_CC_ALGO) != 0 {
			w.add("lock")
		}
		w.add(r.Congctl)
	}
	if r.Expires != nil {
		w.add("expires", strconv.FormatUint(uint64(*r.Expires), 10))
	}
	if r.Pref != nil {
		w.add("pref", prefName(*r.Pref))
	}
	if r.TTLPropagate != nil {
		w.add("ttl-propagate", map[bool]string{true: "enabled", false: "disabled"}[*r.TTLPropagate != 0])
	}
	switch r.Create {
	case Exclusive:
		w.add("add")
	case Append:
		w.add("append")
	}
	w.add(extra...)
	for _, nh := range r.Nexthops {
		w.add("nexthop")
		if nh.Via.IsValid() {
			w.add("via", nh.Via.String())
		}
		if nh.Dev != "" {
			w.add("dev", nh.Dev)
		}
		if nh.Weight != 0 {
			w.add("weight", strconv.Itoa(nh.Weight))
		}
		if nh.Onlink {
			w.add("onlink")
		}
		if nh.Realms != 0 {
			w.add("realms", realms(nh.Realms))
		}
	}
	return w.String()
}

// Rule is one policy-routing rule.
type Rule struct {
	IPv6     bool
	Priority uint32 // always set: keepalived numbers the rules that give none
	Action   uint8  // unix.FR_ACT_*
	Table    uint32 // with FR_ACT_TO_TBL; 0 with l3mdev
	Goto     uint32 // with FR_ACT_GOTO
	From, To netip.Prefix
	Invert   bool // "not"
	TOS      uint8
	Mark     *uint32
	Mask     *uint32
	Realms   uint32
	// SuppressPrefixLen and SuppressGroup: nil when not given.
	SuppressPrefixLen *uint32
	SuppressGroup     *uint32
	IIF, OIF          string
	TunnelID          uint64
	UIDRange          *[2]uint32
	L3mdev            bool
	Protocol          uint8 // ProtoKeepalived unless the line gives another
	IPProto           *uint8
	SPort, DPort      *[2]uint16
}

// String writes the rule as ip rule would take it.
func (r *Rule) String() string {
	var w words
	w.add("priority", strconv.FormatUint(uint64(r.Priority), 10))
	if r.Invert {
		w.add("not")
	}
	if r.From.IsValid() {
		w.add("from", r.From.String())
	}
	if r.To.IsValid() {
		w.add("to", r.To.String())
	}
	if r.TOS != 0 {
		w.add("tos", fmt.Sprintf("0x%02x", r.TOS))
	}
	if r.Mark != nil {
		m := fmt.Sprintf("0x%x", *r.Mark)
		if r.Mask != nil {
			m += fmt.Sprintf("/0x%x", *r.Mask)
		}
		w.add("fwmark", m)
	}
	if r.IIF != "" {
		w.add("iif", r.IIF)
	}
	if r.OIF != "" {
		w.add("oif", r.OIF)
	}
	if r.TunnelID != 0 {
		w.add("tunnel-id", strconv.FormatUint(r.TunnelID, 10))
	}
	if r.UIDRange != nil {
		w.add("uidrange", fmt.Sprintf("%d-%d", r.UIDRange[0], r.UIDRange[1]))
	}
	if r.IPProto != nil {
		w.add("ipproto", strconv.Itoa(int(*r.IPProto)))
	}
	if r.SPort != nil {
		w.add("sport", fmt.Sprintf("%d-%d", r.SPort[0], r.SPort[1]))
	}
	if r.DPort != nil {
		w.add("dport", fmt.Sprintf("%d-%d", r.DPort[0], r.DPort[1]))
	}
	if r.L3mdev {
		w.add("l3mdev")
	}
	switch r.Action {
	case unix.FR_ACT_TO_TBL:
		if !r.L3mdev {
			w.add("lookup", strconv.FormatUint(uint64(r.Table), 10))
		}
	case unix.FR_ACT_GOTO:
		w.add("goto", strconv.FormatUint(uint64(r.Goto), 10))
	case unix.FR_ACT_NOP:
		w.add("nop")
	case unix.FR_ACT_BLACKHOLE:
		w.add("blackhole")
	case unix.FR_ACT_UNREACHABLE:
		w.add("unreachable")
	case unix.FR_ACT_PROHIBIT:
		w.add("prohibit")
	}
	if r.SuppressPrefixLen != nil {
		w.add("suppress_prefixlength", strconv.FormatUint(uint64(*r.SuppressPrefixLen), 10))
	}
	if r.SuppressGroup != nil {
		w.add("suppress_ifgroup", strconv.FormatUint(uint64(*r.SuppressGroup), 10))
	}
	if r.Realms != 0 {
		w.add("realms", realms(r.Realms))
	}
	w.add("protocol", strconv.Itoa(int(r.Protocol)))
	return w.String()
}

// typeNames are the route types by name, as ip route knows them.
var typeNames = []struct {
	name string
	typ  uint8
}{
	{"local", unix.RTN_LOCAL}, {"nat", unix.RTN_NAT}, {"broadcast", unix.RTN_BROADCAST},
	{"brd", unix.RTN_BROADCAST}, {"anycast", unix.RTN_ANYCAST}, {"multicast", unix.RTN_MULTICAST},
	{"prohibit", unix.RTN_PROHIBIT}, {"unreachable", unix.RTN_UNREACHABLE},
	{"blackhole", unix.RTN_BLACKHOLE}, {"xresolve", unix.RTN_XRESOLVE}, {"unicast", unix.RTN_UNICAST},
	{"throw", unix.RTN_THROW},
}

// TypeByName reads a route type: a name or a number 0..255, as
// keepalived reads it.
func TypeByName(s string) (uint8, bool) {
	for _, t := range typeNames {
		if t.name == s {
			return t.typ, true
		}
	}
	if strings.HasPrefix(s, "-") {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 0, 8)
	return uint8(v), err == nil
}

// TypeName is the name of a route type, or its number.
func TypeName(t uint8) string {
	for _, n := range typeNames {
		if n.typ == t {
			return n.name
		}
	}
	return strconv.Itoa(int(t))
}

// ScopeName is the name of an address or route scope, or its number.
func ScopeName(s uint8) string {
	switch s {
	case unix.RT_SCOPE_UNIVERSE:
		return "global"
	case unix.RT_SCOPE_SITE:
		return "site"
	case unix.RT_SCOPE_LINK:
		return "link"
	case unix.RT_SCOPE_HOST:
		return "host"
	case unix.RT_SCOPE_NOWHERE:
		return "nowhere"
	}
	return strconv.Itoa(int(s))
}

func prefName(p uint8) string {
	switch p {
	case 3: // ICMPV6_ROUTER_PREF_LOW
		return "low"
	case 0:
		return "medium"
	case 1:
		return "high"
	}
	return strconv.Itoa(int(p))
}

// realms writes a realms value: "TO", or "FROM/TO" when a source realm
// is set (the high 16 bits).
func realms(v uint32) string {
	if v>>16 == 0 {
		return strconv.Itoa(int(v & 0xffff))
	}
	return fmt.Sprintf("%d/%d", v>>16, v&0xffff)
}

func family(v6 bool) string {
	if v6 {
		return "inet6"
	}
	return "inet"
}

type words []string

func (w *words) add(s ...string) { *w = append(*w, s...) }
func (w words) String() string   { return strings.Join(slices.Clip(w), " ") }

// Address is one interface address, as ip-address(8) adds it.
type Address struct {
	Prefix    netip.Prefix
	Peer      netip.Addr // the other end of a point-to-point link; invalid: none
	Dev       string
	Broadcast string // "": none; "+" or "-": host bits set or cleared; or an IPv4 address
	Scope     string // a scope name or number; "": global
	Label     string // IPv4 only, must start with Dev
	// The ip-address flags keepalived takes.
	Home, MngTmpAddr, NoPrefixRoute, AutoJoin bool
	// DAD runs duplicate address detection on an IPv6 address ("-nodad"
	// in keepalived's words); by default it is skipped, as VRRP already
	// decided who owns the address.
	DAD bool
	// PreferredLft is an IPv6 address's preferred lifetime in seconds;
	// nil: forever. 0 deprecates it, so that it is not picked as a
	// source (keepalived's default for a /128).
	PreferredLft *uint32
}

func (a Address) String() string { return a.Prefix.String() + " dev " + a.Dev }

// BroadcastOf is the broadcast address "brd SPEC" gives an address, as
// ip-address(8) reads it: "+" sets the host bits, "-" clears them, else an
// IPv4 address; none (the invalid Addr) for "" or where a prefix has no
// host bits to speak of (IPv6, /31, /32).
func BroadcastOf(p netip.Prefix, spec string) (netip.Addr, error) {
	switch spec {
	case "":
		return netip.Addr{}, nil
	case "+", "-":
		if !p.Addr().Is4() || p.Bits() >= 31 {
			return netip.Addr{}, nil
		}
		b := p.Masked().Addr().As4()
		if spec == "+" {
			for i := p.Bits(); i < 32; i++ {
				b[i/8] |= 0x80 >> (i % 8)
			}
		}
		return netip.AddrFrom4(b), nil
	}
	ip, err := netip.ParseAddr(spec)
	if err != nil || !ip.Is4() {
		return netip.Addr{}, fmt.Errorf("address %v: broadcast %q is not an IPv4 address", p, spec)
	}
	return ip, nil
}

// ParseScope reads an address or route scope: a name, as ip(8) and
// keepalived write it, or a number.
func ParseScope(s string) (uint8, error) {
	switch s {
	case "", "global", "universe":
		return unix.RT_SCOPE_UNIVERSE, nil
	case "site":
		return unix.RT_SCOPE_SITE, nil
	case "link":
		return unix.RT_SCOPE_LINK, nil
	case "host":
		return unix.RT_SCOPE_HOST, nil
	case "nowhere":
		return unix.RT_SCOPE_NOWHERE, nil
	}
	if v, err := strconv.ParseUint(s, 0, 8); err == nil && !strings.HasPrefix(s, "+") {
		return uint8(v), nil
	}
	return 0, fmt.Errorf("scope %q: must be global, site, link, host, nowhere or a number 0..255", s)
}
