package config

import (
	"math"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/vipd/vipd/internal/iproute"
)

// Route is a line of virtual_routes or static_routes.
type Route struct {
	Pos Pos
	iproute.Route
	// Track: deleted by someone else, the route is put back (static) or
	// its instance leaves MASTER; "no_track" turns it off, as does a
	// route with no interface, which keepalived cannot track.
	Track      bool
	TrackGroup string // static routes: the track_group whose instances watch its interface
}

// Rule is a line of virtual_rules or static_rules.
type Rule struct {
	Pos Pos
	iproute.Rule
	Track      bool
	TrackGroup string
}

// wordCursor walks the words of a data line (an address, route or rule),
// where keywords take the word after them as their value.
type wordCursor struct {
	b     *builder
	n     *Node
	words []string
	i     int
}

func newCursor(b *builder, n *Node) *wordCursor {
	return &wordCursor{b: b, n: n, words: append([]string{n.Keyword}, n.Args...)}
}

func (c *wordCursor) more() bool   { return c.i < len(c.words) }
func (c *wordCursor) peek() string { return c.words[c.i] }

// value takes the word after keyword kw; a missing one is an error.
func (c *wordCursor) value(kw string) (string, bool) {
	c.i++
	if c.i >= len(c.words) {
		c.b.errorf(c.n.Pos, "%s needs a value", kw)
		return "", false
	}
	return c.words[c.i], true
}

// lock takes the "lock" some metrics may be given before their value.
func (c *wordCursor) lock() bool {
	if c.i+1 < len(c.words) && c.words[c.i+1] == "lock" {
		c.i++
		return true
	}
	return false
}

// destination is parseDestination with keepalived's word on default6.
func (c *wordCursor) destination(s string) (p netip.Prefix, zero, ok bool) {
	if s == "default6" {
		c.b.warnf(c.n.Pos, "default6 is deprecated: write ::/0")
	}
	return parseDestination(s)
}

// named reads a number or a name from one of ip(8)'s name files
// (rt_tables, rt_protos…), as keepalived does.
func (c *wordCursor) named(what string, names *rtName) (uint32, bool) {
	s, ok := c.value(what)
	if !ok {
		return 0, false
	}
	v, ok := names.lookup(s)
	if !ok {
		return 0, c.errorf("%s %q: not a number up to %d or a name in %s/%s", what, s, names.max, iproute2Dir, names.file)
	}
	return v, true
}

// realms reads "REALM" or "FROM/TO", which makes the line IPv4.
func (c *wordCursor) realms(what string, fam *addrFamily) (uint32, bool) {
	s, ok := c.value(what)
	if !ok {
		return 0, false
	}
	v, ok := parseRealms(s)
	if !ok {
		return 0, c.errorf("%s %q: want REALM or FROM/TO, numbers or names in %s/rt_realms", what, s, iproute2Dir)
	}
	return v, fam.join(c, false)
}

// trackGroup reads "track_group NAME" into group: static items only, and
// once.
func (c *wordCursor) trackGroup(static bool, what string, group *string) bool {
	if !static {
		return c.errorf("track_group is only for static %s", map[string]string{"address": "addresses", "route": "routes", "rule": "rules"}[what])
	}
	s, ok := c.value("track_group")
	if !ok {
		return false
	}
	if *group != "" {
		return c.errorf("track_group %s: the %s already has track_group %s", s, what, *group)
	}
	*group = s
	return true
}

func (c *wordCursor) errorf(format string, args ...any) bool {
	c.b.errorf(c.n.Pos, format, args...)
	return false
}

// uint reads keepalived's unsigned number: decimal, at most max.
func (c *wordCursor) uint(kw string, max uint64) (uint64, bool) {
	s, ok := c.value(kw)
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v > max {
		return 0, c.errorf("%s %q: must be a whole number 0..%d", kw, s, max)
	}
	return v, true
}

// addrFamily tracks the family a line settles on: from "inet"/"inet6"
// or the first address; a later address of the other family is an error.
type addrFamily struct {
	set, v6 bool
}

// inet reads "inet" or "inet6" before a route's or rule's other words.
// keepalived 2.2.7 skips the word after it (it steps past the keyword
// twice), so it reads such a line differently from ip(8): unless the
// family word ends the line, that is an error.
func (f *addrFamily) inet(c *wordCursor, w string) bool {
	if c.i+1 < len(c.words) {
		return c.errorf("%s %s: keepalived 2.2.7 skips the word after %s and reads the line differently; leave %s out (the addresses give the family) or write it after via", w, c.words[c.i+1], w, w)
	}
	return f.join(c, w == "inet6")
}

// zero checks a "default", "all" or "any" prefix: keepalived 2.2.7 takes
// one only while the line's family is still open.
func (f *addrFamily) zero(c *wordCursor, s string) bool {
	if f.set {
		return c.errorf("%s: keepalived 2.2.7 calls it a mix of families once an address has been given; write it first, or as 0.0.0.0/0 or ::/0", s)
	}
	return true
}

func (f *addrFamily) join(c *wordCursor, v6 bool) bool {
	if f.set && f.v6 != v6 {
		return c.errorf("%s: mixes IPv4 and IPv6", strings.Join(c.words, " "))
	}
	f.set, f.v6 = true, v6
	return true
}

// parseHost reads an address without a prefix length, as keepalived's
// inet_pton does: no zone, no surrounding text.
func parseHost(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" || a.Is4In6() && !strings.Contains(s, ":") {
		return netip.Addr{}, false
	}
	return a, true
}

// parseDestination reads a route or rule prefix: "default", "any" or
// "all" (a zero-length prefix of the line's family, settled later), else
// IP[/LEN]. zero reports the specials.
func parseDestination(s string) (p netip.Prefix, zero, ok bool) {
	switch s {
	case "default", "any", "all":
		return netip.Prefix{}, true, true
	case "default6": // keepalived 2.0.7's, still taken
		return zeroPrefix(true), false, true
	}
	a, length, cut := strings.Cut(s, "/")
	ip, ok := parseHost(a)
	if !ok {
		return netip.Prefix{}, false, false
	}
	bits := ip.BitLen()
	if cut {
		n, err := strconv.ParseUint(length, 10, 8)
		if err != nil || int(n) > bits {
			return netip.Prefix{}, false, false
		}
		bits = int(n)
	}
	return netip.PrefixFrom(ip, bits), false, true
}

func zeroPrefix(v6 bool) netip.Prefix {
	if v6 {
		return netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	}
	return netip.PrefixFrom(netip.IPv4Unspecified(), 0)
}

// routes reads a virtual_routes or static_routes block.
func (b *builder) routes(blk *Node, static bool, out []Route) []Route {
	if !b.listBlock(blk) {
		return out
	}
	for _, n := range blk.Children {
		if r, ok := b.route(n, static); ok {
			out = append(out, r)
		}
	}
	return out
}

// listBlock checks a block of data lines. Words before the brace are
// ignored with a warning, as keepalived ignores them ("static_routes
// name {").
func (b *builder) listBlock(blk *Node) bool {
	if !blk.Block {
		b.errorf(blk.Pos, "%s takes a block", blk.Keyword)
		return false
	}
	if len(blk.Args) > 0 {
		b.warnf(blk.Pos, "%s takes no words before its block: %q ignored, as keepalived ignores them", blk.Keyword, strings.Join(blk.Args, " "))
	}
	return true
}

// route reads one route line as keepalived 2.2.7 does: ip route's words,
// plus no_track and (static routes) track_group.
func (b *builder) route(n *Node, static bool) (Route, bool) {
	r := Route{Pos: n.Pos, Route: iproute.Route{Type: unix.RTN_UNICAST, Table: unix.RT_TABLE_MAIN}}
	c := newCursor(b, n)
	var fam addrFamily
	var protocol *uint8
	dstZero, fromZero := false, false
	haveDst := false
	noTrack := false
	for c.more() {
		w := c.peek()
		switch w {
		case "inet", "inet6":
			if !fam.inet(c, w) {
				return r, false
			}
		case "src":
			s, ok := c.value(w)
			if !ok {
				return r, false
			}
			a, ok := parseHost(s)
			if !ok {
				return r, c.errorf("route src %q is not an IP address", s)
			}
			if !fam.join(c, a.Is6()) {
				return r, false
			}
			r.Src = a
		case "via", "gw":
			if w == "gw" {
				b.warnf(n.Pos, "gw in a route is deprecated, use via")
			}
			s, ok := c.value(w)
			if !ok {
				return r, false
			}
			if s == "inet" || s == "inet6" {
				if !fam.join(c, s == "inet6") {
					return r, false
				}
				if s, ok = c.value(w); !ok {
					return r, false
				}
			}
			a, ok := parseHost(s)
			if !ok {
				return r, c.errorf("route via %q is not an IP address", s)
			}
			if !fam.join(c, a.Is6()) {
				return r, false
			}
			r.Via = a
		case "from":
			s, ok := c.value(w)
			if !ok {
				return r, false
			}
			p, zero, ok := c.destination(s)
			if !ok {
				return r, c.errorf("route from %q is not an address or prefix", s)
			}
			if zero || !p.Addr().Is6() {
				return r, c.errorf("route from %s: a source prefix is only for IPv6 routes", s)
			}
			if !fam.join(c, true) {
				return r, false
			}
			r.From, fromZero = p, zero
		case "tos", "dsfield":
			v, ok := c.named("route "+w, rtDSFields)
			if !ok {
				return r, false
			}
			t := uint8(v)
			r.TOS = &t
		case "table":
			v, ok := c.named("route table", rtTables)
			if !ok {
				return r, false
			}
			r.Table = v
		case "protocol":
			v, ok := c.named("route protocol", rtProtos)
			if !ok {
				return r, false
			}
			p := uint8(v)
			protocol = &p
		case "scope":
			s, ok := c.value(w)
			if !ok {
				return r, false
			}
			v, ok := scopeByName(s)
			if !ok {
				return r, c.errorf("route scope %q: must be global, site, link, host, nowhere or a number 0..255", s)
			}
			r.Scope = v
		case "metric", "priority", "preference":
			v, ok := c.uint(w, math.MaxUint32)
			if !ok {
				return r, false
			}
			m := uint32(v)
			r.Metric = &m
		case "dev", "oif":
			s, ok := c.value(w)
			if !ok {
				return r, false
			}
			r.Dev = s
		case "onlink":
			r.Onlink = true
		case "mtu", "advmss", "reordering", "cwnd", "ssthresh":
			locked := c.lock()
			v, ok := c.uint(w, math.MaxUint32)
			if !ok {
				return r, false
			}
			r.setMetric(w, uint32(v), locked)
		case "window", "initcwnd", "initrwnd":
			v, ok := c.uint(w, math.MaxUint32)
			if !ok {
				return r, false
			}
			r.setMetric(w, uint32(v), false)
		case "hoplimit":
			v, ok := c.uint(w, 255)
			if !ok {
				return r, false
			}
			r.setMetric(w, uint32(v), false)
		case "rtt", "rttvar", "rto_min":
			locked := c.lock()
			s, ok := c.value(w)
			if !ok {
				return r, false
			}
			v, ok := rttValue(s, map[string]uint32{"rtt": 8, "rttvar": 4, "rto_min": 1}[w])
			if !ok {
				return r, c.errorf("route %s %q: want a time such as 300ms or 1s, or a number in the kernel's unit", w, s)
			}
			r.setMetric(w, v, locked)
		case "features":
			s, ok := c.value(w)
			if !ok {
				return r, false
			}
			if s != "ecn" {
				return r, c.errorf("route features %q: only ecn is known", s)
			}
			r.setMetric(w, unix.RTAX_FEATURE_ECN, false)
		case "quickack", "fastopen_no_cookie":
			v, ok := c.uint(w, 1)
			if !ok {
				return r, false
			}
			r.setMetric(w, uint32(v), false)
		case "congctl":
			if c.lock() {
				r.Locked |= 1 << unix.RTAX_CC_ALGO
			}
			s, ok := c.value(w)
			if !ok {
				return r, false
			}
			r.Congctl = s
		case "realms":
			v, ok := c.realms("route realms", &fam)
			if !ok {
				return r, false
			}
			r.Realms = v
		case "expires":
			if !fam.join(c, true) {
				return r, false
			}
			v, ok := c.uint(w, math.MaxUint32)
			if !ok {
				return r, false
			}
			e := uint32(v)
			r.Expires = &e
		case "pref":
			if !fam.join(c, true) {
				return r, false
			}
			s, ok := c.value(w)
			if !ok {
				return r, false
			}
			p, ok := map[string]uint8{"low": 3, "medium": 0, "high": 1}[s]
			if !ok {
				v, err := strconv.ParseUint(s, 10, 8)
				if err != nil {
					return r, c.errorf("route pref %q: must be low, medium, high or a number 0..255", s)
				}
				p = uint8(v)
			}
			r.Pref = &p
		case "ttl-propagate":
			s, ok := c.value(w)
			if !ok {
				return r, false
			}
			v, ok := map[string]uint8{"enabled": 1, "disabled": 0}[s]
			if !ok {
				return r, c.errorf("route ttl-propagate %q: must be enabled or disabled", s)
			}
			r.TTLPropagate = &v
		case "add":
			r.Create = iproute.Exclusive
		case "prepend":
			r.Create = iproute.Prepend
		case "append":
			r.Create = iproute.Append
		case "or":
			b.warnf(n.Pos, "or in a route is deprecated, use nexthop")
			s, ok := c.value(w)
			if !ok {
				return r, false
			}
			if len(r.Nexthops) > 0 {
				return r, c.errorf("a route takes one or; use nexthop for more paths")
			}
			a, ok := parseHost(s)
			if !ok {
				return r, c.errorf("route or %q is not an IP address", s)
			}
			r.Nexthops = []Nexthop{{Via: r.Via}, {Via: a}}
			r.Via = netip.Addr{}
		case "nexthop":
			if len(r.Nexthops) > 0 {
				return r, c.errorf("a route cannot have both or and nexthop")
			}
			if !b.nexthops(c, &r.Route, &fam) {
				return r, false
			}
			continue // nexthops reads to the end of the line
		case "no_track":
			noTrack = true
		case "track_group":
			if !c.trackGroup(static, "route", &r.TrackGroup) {
				return r, false
			}
		case "encap", "vrf", "as":
			b.notSupportedAt(n.Pos, "route option "+w)
			return r, false
		default:
			// After "to" comes the destination itself: keepalived looks
			// for a route type only where "to" is not written.
			if w == "to" {
				if _, ok := c.value(w); !ok {
					return r, false
				}
				w = c.peek()
			} else if t, ok := iproute.TypeByName(w); ok {
				r.Type = t
				s, ok := c.value(w)
				if !ok {
					return r, false
				}
				w = s
			}
			p, zero, ok := c.destination(w)
			if !ok {
				return r, c.errorf("route: %q is neither an address nor a route keyword", w)
			}
			if zero && !fam.zero(c, w) || !zero && !fam.join(c, p.Addr().Is6()) {
				return r, false
			}
			r.Dst, dstZero, haveDst = p, zero, true
		}
		c.i++
	}
	if !haveDst {
		return r, c.errorf("route %q has no destination", strings.Join(c.words, " "))
	}
	r.IPv6 = fam.v6
	if dstZero {
		r.Dst = zeroPrefix(r.IPv6)
	}
	if fromZero {
		r.From = zeroPrefix(true)
	}
	r.Track = !noTrack
	r.Protocol = iproute.ProtoKeepalived
	if protocol != nil {
		if r.Track && *protocol != iproute.ProtoKeepalived {
			b.warnf(n.Pos, "a tracked route must have protocol keepalived (%d): protocol %d is replaced; add no_track to keep it", iproute.ProtoKeepalived, *protocol)
		} else {
			r.Protocol = *protocol
		}
	}
	if r.Track && r.Dev == "" {
		b.warnf(n.Pos, "route %v has no dev: it is not tracked, as keepalived cannot track it (add dev, or no_track to say so)", r.Dst)
		r.Track = false
	}
	if r.TrackGroup != "" && r.Dev == "" {
		b.warnf(n.Pos, "route %v: track_group needs a dev; ignored", r.Dst)
		r.TrackGroup = ""
	}
	return r, true
}

// Nexthop is an alias kept short for the parser.
type Nexthop = iproute.Nexthop

// nexthops reads "nexthop via A dev D weight W onlink realms R ..." to
// the end of the line.
func (b *builder) nexthops(c *wordCursor, r *iproute.Route, fam *addrFamily) bool {
	for c.more() {
		if c.peek() != "nexthop" {
			return c.errorf("route: %q after the nexthops is not a nexthop option", c.peek())
		}
		c.i++
		var nh Nexthop
	options:
		for c.more() {
			w := c.peek()
			switch w {
			case "via":
				s, ok := c.value(w)
				if !ok {
					return false
				}
				if s == "inet" || s == "inet6" {
					if !fam.join(c, s == "inet6") {
						return false
					}
					if s, ok = c.value(w); !ok {
						return false
					}
				}
				a, ok := parseHost(s)
				if !ok {
					return c.errorf("nexthop via %q is not an IP address", s)
				}
				if !fam.join(c, a.Is6()) {
					return false
				}
				nh.Via = a
			case "dev":
				s, ok := c.value(w)
				if !ok {
					return false
				}
				nh.Dev = s
			case "weight":
				v, ok := c.uint(w, 256)
				if !ok {
					return false
				}
				if v == 0 {
					return c.errorf("nexthop weight 0: must be 1..256")
				}
				nh.Weight = int(v)
			case "onlink":
				nh.Onlink = true
			case "realms":
				v, ok := c.realms("nexthop realms", fam)
				if !ok {
					return false
				}
				nh.Realms = v
			case "encap", "as":
				c.b.notSupportedAt(c.n.Pos, "nexthop option "+w)
				return false
			default:
				break options
			}
			c.i++
		}
		r.Nexthops = append(r.Nexthops, nh)
	}
	return true
}

func (r *Route) setMetric(name string, v uint32, locked bool) {
	rtax, _ := iproute.MetricByName(name)
	if r.Metrics == nil {
		r.Metrics = map[uint16]uint32{}
	}
	r.Metrics[rtax] = v
	if locked {
		r.Locked |= 1 << rtax
	}
}

// scopeByName reads a scope as keepalived does: a name or a number.
func scopeByName(s string) (uint8, bool) {
	switch s {
	case "global", "universe":
		return unix.RT_SCOPE_UNIVERSE, true
	case "site":
		return unix.RT_SCOPE_SITE, true
	case "link":
		return unix.RT_SCOPE_LINK, true
	case "host":
		return unix.RT_SCOPE_HOST, true
	case "nowhere":
		return unix.RT_SCOPE_NOWHERE, true
	}
	v, err := strconv.ParseUint(s, 0, 8)
	return uint8(v), err == nil
}

// parseRealms reads "TO" or "FROM/TO" (FROM goes in the high 16 bits).
func parseRealms(s string) (uint32, bool) {
	from, to, cut := strings.Cut(s, "/")
	a, ok := rtRealms.lookup(from)
	if !ok {
		return 0, false
	}
	if !cut {
		return a, true
	}
	z, ok := rtRealms.lookup(to)
	return a<<16 | z, ok
}

// rttValue reads an rtt, rttvar or rto_min as keepalived does: a bare
// number is in the kernel's unit (1/unit ms), else a time in s or ms, at
// most 120s either way; the kernel's floor of 200ms is applied.
func rttValue(s string, unit uint32) (uint32, bool) {
	num, scale := s, 0.0 // bare: already in the kernel's unit
	lower := strings.ToLower(s)
	for _, u := range []struct {
		suffix string
		ms     float64
	}{{"ms", 1}, {"secs", 1000}, {"sec", 1000}, {"s", 1000}} {
		if strings.HasSuffix(lower, u.suffix) {
			num, scale = s[:len(s)-len(u.suffix)], u.ms
			break
		}
	}
	if num == "" || strings.ContainsAny(num, "eEsS+-") {
		return 0, false
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, false
	}
	hi := 120000 * float64(unit)
	v := f
	if scale != 0 {
		if f*scale > hi {
			return 0, false
		}
		v = f * scale * float64(unit)
	}
	if v > hi {
		if scale == 0 {
			return 0, false
		}
		v = hi
	}
	return uint32(max(v, 200*float64(unit))), true
}
