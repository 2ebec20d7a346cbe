package config

import (
	"math"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/vipd/vipd/internal/iproute"
)

// firstRulePriority is where keepalived starts numbering rules that give
// no preference, downwards, per family.
const firstRulePriority = 16384

// rules reads a virtual_rules or static_rules block.
func (b *builder) rules(blk *Node, static bool, out []Rule) []Rule {
	if !b.listBlock(blk) {
		return out
	}
	for _, n := range blk.Children {
		if r, ok := b.rule(n, static); ok {
			out = append(out, r)
		}
	}
	return out
}

// rule reads one rule line as keepalived 2.2.7 does: ip rule's words,
// plus no_track and (static rules) track_group.
func (b *builder) rule(n *Node, static bool) (Rule, bool) {
	r := Rule{Pos: n.Pos}
	c := newCursor(b, n)
	var fam addrFamily
	var protocol *uint8
	var priority *uint32
	fromZero, toZero := false, false
	noTrack := false
	tableOption := false // realms and suppressors need a table action
	action := func(a uint8) bool {
		if r.Action != unix.FR_ACT_UNSPEC {
			return c.errorf("a rule takes one action: table, goto, nop, blackhole, unreachable, prohibit or l3mdev")
		}
		r.Action = a
		return true
	}
	for c.more() {
		w := c.peek()
		switch w {
		case "inet", "inet6":
			if !fam.inet(c, w) {
				return r, false
			}
		case "from", "to":
			s, ok := c.value(w)
			if !ok {
				return r, false
			}
			p, zero, ok := c.destination(s)
			if !ok {
				return r, c.errorf("rule %s %q is not an address or prefix", w, s)
			}
			if zero && !fam.zero(c, s) || !zero && !fam.join(c, p.Addr().Is6()) {
				return r, false
			}
			if w == "from" {
				r.From, fromZero = p, zero
			} else {
				r.To, toZero = p, zero
			}
		case "table", "lookup":
			v, ok := c.named("rule "+w, rtTables)
			if !ok {
				return r, false
			}
			if v == 0 {
				return r, c.errorf("rule table 0 is not a table")
			}
			r.Table = v
			if !action(unix.FR_ACT_TO_TBL) {
				return r, false
			}
		case "not":
			r.Invert = true
		case "preference", "order", "priority":
			s, ok := c.value(w)
			if !ok {
				return r, false
			}
			v, err := strconv.ParseUint(s, 0, 32)
			if err != nil {
				return r, c.errorf("rule %s %q: must be a number 0..%d", w, s, uint32(math.MaxUint32))
			}
			p := uint32(v)
			priority = &p
		case "tos", "dsfield":
			v, ok := c.named("rule "+w, rtDSFields)
			if !ok {
				return r, false
			}
			r.TOS = uint8(v)
		case "fwmark":
			s, ok := c.value(w)
			if !ok {
				return r, false
			}
			mark, mask, ok := parseFwmark(s)
			if !ok {
				return r, c.errorf("rule fwmark %q: want MARK or MARK/MASK, numbers up to 0xffffffff", s)
			}
			r.Mark, r.Mask = &mark, mask
		case "realms":
			v, ok := c.realms("rule realms", &fam)
			if !ok {
				return r, false
			}
			r.Realms, tableOption = v, true
		case "suppress_prefixlength", "sup_pl":
			v, ok := c.uint(w, math.MaxInt32)
			if !ok {
				return r, false
			}
			l := uint32(v)
			r.SuppressPrefixLen, tableOption = &l, true
		case "suppress_ifgroup", "sup_group":
			v, ok := c.named("rule "+w, rtGroups)
			if !ok {
				return r, false
			}
			r.SuppressGroup, tableOption = &v, true
		case "dev", "iif":
			s, ok := c.value(w)
			if !ok {
				return r, false
			}
			r.IIF = s
		case "oif":
			s, ok := c.value(w)
			if !ok {
				return r, false
			}
			r.OIF = s
		case "tunnel-id":
			s, ok := c.value(w)
			if !ok {
				return r, false
			}
			v, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				return r, c.errorf("rule tunnel-id %q: must be a whole number", s)
			}
			r.TunnelID = v
		case "uidrange":
			s, ok := c.value(w)
			if !ok {
				return r, false
			}
			lo, hi, ok := parseRange(s, math.MaxUint32, false)
			if !ok {
				return r, c.errorf("rule uidrange %q: want FIRST-LAST", s)
			}
			r.UIDRange = &[2]uint32{uint32(lo), uint32(hi)}
		case "l3mdev":
			r.L3mdev = true
			if !action(unix.FR_ACT_TO_TBL) {
				return r, false
			}
		case "protocol":
			v, ok := c.uint(w, 255)
			if !ok {
				return r, false
			}
			p := uint8(v)
			protocol = &p
		case "ipproto":
			s, ok := c.value(w)
			if !ok {
				return r, false
			}
			v, ok := ipProtoByName(s)
			if !ok {
				return r, c.errorf("rule ipproto %q: want tcp, udp, icmp… or a number 0..255", s)
			}
			r.IPProto = &v
		case "sport", "dport":
			s, ok := c.value(w)
			if !ok {
				return r, false
			}
			lo, hi, ok := parseRange(s, math.MaxUint16, true)
			if !ok {
				return r, c.errorf("rule %s %q: want PORT or FIRST-LAST", w, s)
			}
			pr := &[2]uint16{uint16(lo), uint16(hi)}
			if w == "sport" {
				r.SPort = pr
			} else {
				r.DPort = pr
			}
		case "no_track":
			noTrack = true
		case "track_group":
			if !c.trackGroup(static, "rule", &r.TrackGroup) {
				return r, false
			}
		default:
			if w == "type" {
				s, ok := c.value(w)
				if !ok {
					return r, false
				}
				w = s
			}
			var a uint8
			switch t, isType := iproute.TypeByName(w); {
			case w == "goto":
				v, ok := c.uint(w, math.MaxUint32)
				if !ok {
					return r, false
				}
				r.Goto, a = uint32(v), unix.FR_ACT_GOTO
			case w == "nop":
				a = unix.FR_ACT_NOP
			case isType && t == unix.RTN_BLACKHOLE:
				a = unix.FR_ACT_BLACKHOLE
			case isType && t == unix.RTN_UNREACHABLE:
				a = unix.FR_ACT_UNREACHABLE
			case isType && t == unix.RTN_PROHIBIT:
				a = unix.FR_ACT_PROHIBIT
			case isType:
				return r, c.errorf("rule action %q: must be goto, nop, blackhole, unreachable or prohibit", w)
			default:
				return r, c.errorf("rule: %q is not a rule keyword", w)
			}
			if !action(a) {
				return r, false
			}
		}
		c.i++
	}
	switch {
	case r.Action == unix.FR_ACT_GOTO && priority == nil:
		return r, c.errorf("rule goto %d needs a preference lower than its target", r.Goto)
	case r.Action == unix.FR_ACT_GOTO && *priority >= r.Goto:
		return r, c.errorf("rule preference %d must be lower than its goto target %d", *priority, r.Goto)
	case r.Action == unix.FR_ACT_UNSPEC:
		return r, c.errorf("rule %q has no action (table, goto, nop, blackhole, unreachable, prohibit or l3mdev)", strings.Join(c.words, " "))
	case r.Action != unix.FR_ACT_TO_TBL && tableOption:
		return r, c.errorf("rule: realms and suppress_* need a table action")
	case r.L3mdev && r.Table != 0:
		return r, c.errorf("rule: l3mdev picks the table itself; remove the table")
	}
	r.Track = !noTrack
	r.Protocol = iproute.ProtoKeepalived
	if protocol != nil {
		if r.Track && *protocol != iproute.ProtoKeepalived {
			b.warnf(n.Pos, "a tracked rule must have protocol keepalived (%d): protocol %d is replaced; add no_track to keep it", iproute.ProtoKeepalived, *protocol)
		} else {
			r.Protocol = *protocol
		}
	}
	if r.TrackGroup != "" && r.IIF == "" {
		b.warnf(n.Pos, "rule: track_group needs a dev (iif); ignored")
		r.TrackGroup = ""
	}
	r.IPv6 = fam.v6
	if fromZero {
		r.From = zeroPrefix(r.IPv6)
	}
	if toZero {
		r.To = zeroPrefix(r.IPv6)
	}
	if priority != nil {
		r.Priority = *priority
	} else {
		next := &b.nextRulePriority[0]
		if r.IPv6 {
			next = &b.nextRulePriority[1]
		}
		if *next == 0 {
			*next = firstRulePriority
		}
		r.Priority = *next
		*next--
		b.warnf(n.Pos, "rule has no preference: %d is used, as keepalived numbers them; give one so that the order is yours", r.Priority)
	}
	return r, true
}

// parseFwmark reads MARK or MARK/MASK (decimal, 0x hex or 0 octal).
func parseFwmark(s string) (mark uint32, mask *uint32, ok bool) {
	m, k, cut := strings.Cut(s, "/")
	v, err := strconv.ParseUint(m, 0, 32)
	if err != nil || strings.HasPrefix(m, "+") {
		return 0, nil, false
	}
	if !cut {
		return uint32(v), nil, true
	}
	w, err := strconv.ParseUint(k, 0, 32)
	switch {
	case k == "": // keepalived reads a bare "/" as mask 0
		w = 0
	case err != nil || strings.HasPrefix(k, "+"):
		return 0, nil, false
	}
	mk := uint32(w)
	return uint32(v), &mk, true
}

// parseRange reads FIRST-LAST, or with single a lone number for both.
func parseRange(s string, max uint64, single bool) (lo, hi uint64, ok bool) {
	a, z, cut := strings.Cut(s, "-")
	lo, err := strconv.ParseUint(a, 10, 64)
	if err != nil || lo > max {
		return 0, 0, false
	}
	if !cut {
		return lo, lo, single
	}
	hi, err = strconv.ParseUint(z, 10, 64)
	if err != nil || hi > max {
		return 0, 0, false
	}
	return lo, hi, true
}

// ipProtoByName reads an IP protocol by the names /etc/protocols gives
// the common ones, or a number.
func ipProtoByName(s string) (uint8, bool) {
	known := map[string]uint8{"icmp": 1, "igmp": 2, "tcp": 6, "udp": 17, "gre": 47, "esp": 50,
		"ah": 51, "ipv6-icmp": 58, "icmpv6": 58, "sctp": 132, "udplite": 136, "ospf": 89, "vrrp": 112}
	if v, ok := known[strings.ToLower(s)]; ok {
		return v, true
	}
	v, err := strconv.ParseUint(s, 0, 8)
	return uint8(v), err == nil
}
