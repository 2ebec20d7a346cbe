package config

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vipd/vipd/internal/lvs"
)

// VirtualServerGroup is a virtual_server_group: addresses, ranges and
// firewall marks that virtual servers naming the group balance alike.
type VirtualServerGroup struct {
	Pos     Pos
	Name    string
	Ranges  []AddressRange
	FWMarks []GroupFWMark
}

// AddressRange is a virtual_server_group line with addresses: First to
// Last (one address when equal), and a port (0: all ports).
type AddressRange struct {
	Pos         Pos
	First, Last netip.Addr
	Port        uint16
}

// GroupFWMark is a virtual_server_group line "fwmark N [inet|inet6]";
// Family is 0 when not given, else 4 or 6.
type GroupFWMark struct {
	Pos    Pos
	Mark   uint32
	Family int
}

// VirtualServer is a virtual_server block: the traffic it takes (an
// address and port, a firewall mark, or a group's), how the kernel
// balances it, and its real servers with their checkers.
type VirtualServer struct {
	Pos Pos
	// Addr and Port, else FWMark (HasFWMark), else Group.
	Addr      netip.Addr
	Port      uint16
	FWMark    uint32
	HasFWMark bool
	GroupName string
	Group     *VirtualServerGroup
	IPv6      bool // the address family it balances
	Protocol  lvs.Protocol
	// HasProtocol: protocol was given (fwmark services ignore it).
	HasProtocol bool
	Scheduler   string
	// SchedFlags are flag-1..flag-3 as given; HashPort, Fallback and
	// OnePacket the named flags (sh-port/mh-port, sh-fallback/
	// mh-fallback, ops).
	SchedFlags                  [3]bool
	HashPort, Fallback, OnePack bool
	Method                      lvs.Method
	Tunnel                      lvs.Tunnel
	// PersistenceEngine is persistence_engine (IPVS's "sip"); "": none.
	PersistenceEngine string
	Persistence       time.Duration
	PersistenceBits   int
	// PersistenceMask is a non-contiguous IPv4 persistence_granularity;
	// invalid: PersistenceBits says.
	PersistenceMask netip.Addr
	// HASuspend runs the checkers only while the virtual address is on
	// this host (ha_suspend).
	HASuspend bool
	// Alpha starts real servers down until a check passes; Omega runs
	// notify_down for every real server when the virtual server goes.
	Alpha, Omega bool
	// Quorum is the total weight of healthy real servers the service
	// needs; Hysteresis how far it may fall below (or must rise above)
	// before the quorum scripts run.
	Quorum, Hysteresis   int
	QuorumUp, QuorumDown *Command
	// Sorry takes the traffic while the quorum is lost; nil: none.
	Sorry       *RealServer
	Reals       []*RealServer
	VirtualHost string
	SMTPAlert   bool
}

// RealServer is a real_server block, or a virtual server's sorry_server.
type RealServer struct {
	Pos    Pos
	Addr   netip.Addr
	Port   uint16
	Weight int
	Method lvs.Method
	Tunnel lvs.Tunnel
	// UpperThreshold and LowerThreshold bound its connections (0: none).
	UpperThreshold, LowerThreshold uint32
	// Inhibit keeps a failed real server in the table with weight 0
	// (inhibit_on_failure) instead of removing it.
	Inhibit              bool
	Alpha                bool
	NotifyUp, NotifyDown *Command
	SMTPAlert            bool
	VirtualHost          string
	Checkers             []*Checker
}

// Describe names a virtual server as keepalived's logs do.
func (vs *VirtualServer) Describe() string {
	switch {
	case vs.GroupName != "":
		return "[" + vs.GroupName + "]"
	case vs.HasFWMark:
		return fmt.Sprintf("FWM %d", vs.FWMark)
	}
	proto := strings.ToLower(vs.Protocol.String())
	if !vs.HasProtocol {
		proto = "none"
	}
	return fmt.Sprintf("[%s]:%s:%d", vs.Addr, proto, vs.Port)
}

// Describe names a real server as keepalived's logs do.
func (rs *RealServer) Describe() string {
	return netip.AddrPortFrom(rs.Addr, rs.Port).String()
}

// checkerDefaults are the timing settings a virtual server or real
// server passes down to its checkers; nil: not given there.
type checkerDefaults struct {
	retry                               *int
	connectTimeout                      *time.Duration
	delayLoop, warmup, delayBeforeRetry *time.Duration
	alpha, inhibit                      *bool
}

// set takes the timing keywords virtual and real servers share; false
// if n is not one of them.
func (b *builder) checkerDefault(n *Node, d *checkerDefaults, what string) bool {
	switch n.Keyword {
	case "retry":
		// A checker may retry 0 times; a virtual or real server's retry
		// is from 1.
		lo := uint64(1)
		if strings.HasSuffix(what, "CHECK") || strings.HasSuffix(what, "_GET") {
			lo = 0
		}
		if v, ok := b.uintArg(n, lo, math.MaxUint32); ok {
			iv := int(v)
			d.retry = &iv
		}
	case "connect_timeout":
		setTimer(&d.connectTimeout)(b.timer(n, time.Microsecond, math.MaxUint32*time.Microsecond))
	case "delay_loop":
		setTimer(&d.delayLoop)(b.timer(n, time.Microsecond, 0))
	case "warmup":
		setTimer(&d.warmup)(b.timer(n, 0, 0))
	case "delay_before_retry":
		setTimer(&d.delayBeforeRetry)(b.timer(n, 0, 0))
	default:
		return false
	}
	return true
}

func setTimer(dst **time.Duration) func(time.Duration, bool) {
	return func(v time.Duration, ok bool) {
		if ok {
			*dst = &v
		}
	}
}

// timer reads a keepalived timer: seconds with up to six decimals, from
// lo to hi (0: no upper bound).
func (b *builder) timer(n *Node, lo, hi time.Duration) (time.Duration, bool) {
	if !b.args(n, 1, 1) {
		return 0, false
	}
	s := n.Args[0]
	whole, frac, _ := strings.Cut(s, ".")
	bad := whole == "" && frac == "" || len(frac) > 6 || strings.TrimLeft(whole+frac, "0123456789") != ""
	var us uint64
	if !bad {
		frac += strings.Repeat("0", 6-len(frac))
		var err error
		us, err = strconv.ParseUint(whole+frac, 10, 64)
		bad = err != nil || us > math.MaxInt64/1000
	}
	d := time.Duration(us) * time.Microsecond
	if bad || d < lo || hi > 0 && d > hi {
		limit := "no limit"
		if hi > 0 {
			limit = strconv.FormatFloat(hi.Seconds(), 'f', -1, 64)
		}
		b.errorf(n.Pos, "%s %q: must be seconds (up to 6 decimals) from %g to %s", n.Keyword, s, lo.Seconds(), limit)
		return 0, false
	}
	return d, true
}

// uintArg reads a whole number lo..hi.
func (b *builder) uintArg(n *Node, lo, hi uint64) (uint64, bool) {
	if !b.args(n, 1, 1) {
		return 0, false
	}
	v, err := strconv.ParseUint(n.Args[0], 10, 64)
	if err != nil || v < lo || v > hi {
		b.errorf(n.Pos, "%s %q: must be a whole number %d..%d", n.Keyword, n.Args[0], lo, hi)
		return 0, false
	}
	return v, true
}

// optFlag reads "keyword [true|false]" (no value: true).
func (b *builder) optFlag(n *Node) (bool, bool) {
	if !b.args(n, 0, 1) {
		return false, false
	}
	if len(n.Args) == 0 {
		return true, true
	}
	switch n.Args[0] {
	case "true", "on", "yes":
		return true, true
	case "false", "off", "no":
		return false, true
	}
	b.errorf(n.Pos, "%s %q: must be true or false", n.Keyword, n.Args[0])
	return false, false
}

// serverAddr reads "IP [PORT]" of a virtual, real or sorry server; a
// port of 0 or none means no port.
func (b *builder) serverAddr(n *Node, what string, args []string) (netip.Addr, uint16, bool) {
	if len(args) < 1 || len(args) > 2 {
		b.errorf(n.Pos, "%s takes an address and an optional port", what)
		return netip.Addr{}, 0, false
	}
	a, err := netip.ParseAddr(args[0])
	if err != nil || a.Zone() != "" {
		b.errorf(n.Pos, "%s: %q is not an IP address", what, args[0])
		return netip.Addr{}, 0, false
	}
	var port uint64
	if len(args) == 2 {
		if port, err = strconv.ParseUint(args[1], 10, 16); err != nil {
			b.errorf(n.Pos, "%s %s: port %q must be 0..65535", what, args[0], args[1])
			return netip.Addr{}, 0, false
		}
	}
	return a.Unmap(), uint16(port), true
}

var lvsSchedulers = []string{"rr", "wrr", "lc", "wlc", "lblc", "sh", "mh", "dh", "fo", "ovf", "lblcr", "sed", "nq", "twos"}

func (b *builder) virtualServerGroup(blk *Node) {
	if len(blk.Args) != 1 || !blk.Block {
		b.errorf(blk.Pos, "virtual_server_group takes a name and a block")
		return
	}
	g := &VirtualServerGroup{Pos: blk.Pos, Name: blk.Args[0]}
	if b.lvsGroups == nil {
		b.lvsGroups = map[string]*VirtualServerGroup{}
	}
	first := b.lvsGroups[g.Name]
	if first != nil {
		// keepalived keeps both and only ever finds the first; the
		// second is still read, so that its mistakes are reported.
		b.warnf(blk.Pos, "virtual_server_group %s is defined twice (first at %s): this one is ignored, as keepalived ignores it; rename or merge them", g.Name, first.Pos)
	}
	var v4, v6, noFamily bool
	for _, n := range blk.Children {
		words := append([]string{n.Keyword}, n.Args...)
		if n.Block {
			b.errorf(n.Pos, "virtual_server_group %s: %s does not take a block", g.Name, n.Keyword)
			continue
		}
		if words[0] == "fwmark" {
			m, ok := b.groupFWMark(n, g.Name, words)
			if !ok {
				continue
			}
			switch m.Family {
			case 4:
				v4 = true
			case 6:
				v6 = true
			default:
				noFamily = true
			}
			g.FWMarks = append(g.FWMarks, m)
			continue
		}
		r, ok := b.addressRange(n, g.Name, words)
		if !ok {
			continue
		}
		if r.First.Is4() {
			v4 = true
		} else {
			v6 = true
		}
		g.Ranges = append(g.Ranges, r)
	}
	switch {
	case first != nil:
		return
	case len(g.Ranges) == 0 && len(g.FWMarks) == 0:
		// keepalived removes it, and any virtual server naming it.
		b.warnf(blk.Pos, "virtual_server_group %s has no entries: ignored, as keepalived ignores it", g.Name)
		b.lvsGroups[g.Name] = nil // defined, but as nothing
		return
	case v4 && v6 && noFamily:
		b.errorf(blk.Pos, "virtual_server_group %s holds IPv4, IPv6 and a fwmark without a family: give the fwmark inet or inet6", g.Name)
	}
	b.lvsGroups[g.Name] = g
	b.cfg.VirtualServerGroups = append(b.cfg.VirtualServerGroups, g)
}

func (b *builder) groupFWMark(n *Node, group string, words []string) (GroupFWMark, bool) {
	m := GroupFWMark{Pos: n.Pos}
	if len(words) < 2 || len(words) > 3 {
		b.errorf(n.Pos, "virtual_server_group %s: fwmark takes a mark and an optional family", group)
		return m, false
	}
	v, err := strconv.ParseUint(words[1], 10, 32)
	if err != nil {
		b.errorf(n.Pos, "virtual_server_group %s: fwmark %q must be 0..%d", group, words[1], uint32(math.MaxUint32))
		return m, false
	}
	m.Mark = uint32(v)
	if len(words) == 3 {
		switch words[2] {
		case "inet":
			m.Family = 4
		case "inet6":
			m.Family = 6
		default:
			b.errorf(n.Pos, "virtual_server_group %s: fwmark %d: family %q must be inet or inet6", group, m.Mark, words[2])
			return m, false
		}
	}
	return m, true
}

// addressRange reads "ADDR [PORT]" where ADDR is an address, a prefix
// (ADDR/LEN with no host bits), a full range (A-B) or keepalived's short
// range A-N, N replacing the last byte (IPv4) or group of four hex digits
// (IPv6).
func (b *builder) addressRange(n *Node, group string, words []string) (AddressRange, bool) {
	r := AddressRange{Pos: n.Pos}
	if len(words) > 2 {
		b.errorf(n.Pos, "virtual_server_group %s: %s: an address (or range) and an optional port, got %d words", group, words[0], len(words))
		return r, false
	}
	if len(words) == 2 {
		p, err := strconv.ParseUint(words[1], 10, 16)
		if err != nil {
			b.errorf(n.Pos, "virtual_server_group %s: %s: port %q must be 0..65535", group, words[0], words[1])
			return r, false
		}
		r.Port = uint16(p)
	}
	s := words[0]
	bad := func(why string) (AddressRange, bool) {
		b.errorf(n.Pos, "virtual_server_group %s: %q: %s", group, s, why)
		return r, false
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil || p.Bits() == 0 || p.Addr().Zone() != "" {
			return bad("not ADDRESS/LENGTH with a length from 1")
		}
		if p.Masked() != p {
			return bad("the address has bits set beyond the prefix length")
		}
		r.First, r.Last = p.Addr(), lastOf(p)
		return r, true
	}
	first, end, isRange := strings.Cut(s, "-")
	a, err := netip.ParseAddr(first)
	if err != nil || a.Zone() != "" {
		return bad("not an IP address")
	}
	r.First, r.Last = a.Unmap(), a.Unmap()
	if !isRange {
		return r, true
	}
	if last, err := netip.ParseAddr(end); err == nil {
		if last.Is4() != r.First.Is4() {
			return bad("the range's ends are of different families")
		}
		if last.Less(r.First) {
			return bad("the range ends before it starts")
		}
		r.Last = last
		return r, true
	}
	// The short form: the end replaces the last byte or hex group.
	base, max := 10, uint64(255)
	if r.First.Is6() {
		base, max = 16, 0xffff
	}
	v, err := strconv.ParseUint(end, base, 64)
	if err != nil || v > max {
		return bad(fmt.Sprintf("the range end %q must be an address or a number up to %d", end, max))
	}
	bs := r.First.AsSlice()
	if r.First.Is4() {
		if uint64(bs[3]) >= v {
			return bad("the range end is not above its start")
		}
		bs[3] = byte(v)
	} else {
		if uint64(bs[14])<<8|uint64(bs[15]) >= v {
			return bad("the range end is not above its start")
		}
		bs[14], bs[15] = byte(v>>8), byte(v)
	}
	r.Last, _ = netip.AddrFromSlice(bs)
	return r, true
}

// lastOf is a prefix's last address.
func lastOf(p netip.Prefix) netip.Addr {
	bs := p.Addr().AsSlice()
	for i := p.Bits(); i < len(bs)*8; i++ {
		bs[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(bs)
	return a
}

// lvsMethod reads NAT|DR|TUN and, for TUN, its tunnel options.
func (b *builder) lvsMethod(n *Node, m *lvs.Method, t *lvs.Tunnel) {
	if len(n.Args) == 0 || n.Block {
		b.errorf(n.Pos, "%s takes NAT, DR or TUN", n.Keyword)
		return
	}
	var method lvs.Method
	switch n.Args[0] {
	case "NAT":
		method = lvs.NAT
	case "DR":
		method = lvs.DR
	case "TUN":
		method = lvs.TUN
	default:
		if strings.EqualFold(n.Args[0], "NAT") {
			// What was meant is plain, and is what keepalived's
			// default usually gives.
			b.warnf(n.Pos, "%s %q: keepalived knows only NAT, DR and TUN, in capitals, and ignores the line, as vipd does: write NAT", n.Keyword, n.Args[0])
			return
		}
		b.errorf(n.Pos, "%s %q: must be NAT, DR or TUN", n.Keyword, n.Args[0])
		return
	}
	if method != lvs.TUN {
		if len(n.Args) > 1 {
			b.errorf(n.Pos, "%s %s: tunnel options (%s) apply to TUN only", n.Keyword, n.Args[0], strings.Join(n.Args[1:], " "))
			return
		}
		*m, *t = method, lvs.Tunnel{}
		return
	}
	tun := lvs.Tunnel{Type: "ipip", Checksum: "nocsum"}
	if t.Type != "" {
		tun = *t
	}
	rest := n.Args[1:]
	for i := 0; i < len(rest); i++ {
		switch w := rest[i]; w {
		case "type", "port":
			if i+1 == len(rest) {
				b.errorf(n.Pos, "%s: %s needs a value", n.Keyword, w)
				return
			}
			i++
			if w == "type" {
				switch rest[i] {
				case "ipip", "gue", "gre":
					tun.Type = rest[i]
				default:
					b.errorf(n.Pos, "%s: tunnel type %q must be ipip, gue or gre", n.Keyword, rest[i])
					return
				}
				continue
			}
			p, err := strconv.ParseUint(rest[i], 10, 16)
			if err != nil || p == 0 {
				b.errorf(n.Pos, "%s: gue port %q must be 1..65535", n.Keyword, rest[i])
				return
			}
			tun.Port = uint16(p)
		case "nocsum", "csum", "remcsum":
			tun.Checksum = w
		default:
			b.errorf(n.Pos, "%s: unknown tunnel option %q (type, port, nocsum, csum, remcsum)", n.Keyword, w)
			return
		}
	}
	switch {
	case (tun.Type == "gue") != (tun.Port != 0):
		b.errorf(n.Pos, "%s: a gue tunnel needs a port, and only a gue tunnel takes one", n.Keyword)
		return
	case tun.Type == "ipip" && tun.Checksum != "nocsum":
		b.errorf(n.Pos, "%s: ipip tunnels take no checksum option", n.Keyword)
		return
	case tun.Type == "gre" && tun.Checksum == "remcsum":
		b.errorf(n.Pos, "%s: gre tunnels do not take remcsum", n.Keyword)
		return
	}
	*m, *t = method, tun
}

// virtualServer reads a virtual_server block.
func (b *builder) virtualServer(blk *Node) {
	vs := &VirtualServer{Pos: blk.Pos, Quorum: 1, Method: lvs.NAT}
	if !blk.Block {
		b.errorf(blk.Pos, "virtual_server takes a block")
		return
	}
	switch {
	case len(blk.Args) == 2 && blk.Args[0] == "group":
		vs.GroupName = blk.Args[1]
	case len(blk.Args) == 2 && blk.Args[0] == "fwmark":
		v, err := strconv.ParseUint(blk.Args[1], 10, 32)
		if err != nil {
			b.errorf(blk.Pos, "virtual_server fwmark %q must be 0..%d", blk.Args[1], uint32(math.MaxUint32))
			return
		}
		vs.FWMark, vs.HasFWMark = uint32(v), true
	default:
		args := blk.Args
		if len(args) > 2 {
			b.warnf(blk.Pos, "virtual_server %s: %q after the port is ignored, as keepalived ignores it", strings.Join(args[:2], " "), strings.Join(args[2:], " "))
			args = args[:2]
		}
		a, port, ok := b.serverAddr(blk, "virtual_server", args)
		if !ok {
			return
		}
		vs.Addr, vs.Port, vs.IPv6 = a, port, a.Is6()
	}
	family := 0 // 4 or 6 once known
	if vs.Addr.IsValid() {
		family = famOf(vs.Addr)
	}
	var d checkerDefaults
	var methodSet bool
	var weight = 1
	var sorryMethod *Node
	var reals []*Node
	for _, n := range blk.Children {
		if b.checkerDefault(n, &d, "virtual_server") {
			continue
		}
		switch n.Keyword {
		case "ip_family":
			if !b.args(n, 1, 1) {
				continue
			}
			f := map[string]int{"inet": 4, "inet6": 6}[n.Args[0]]
			switch {
			case f == 0:
				b.errorf(n.Pos, "ip_family %q must be inet or inet6", n.Args[0])
			case family != 0 && f != family:
				b.errorf(n.Pos, "ip_family %s conflicts with the virtual server's IPv%d address", n.Args[0], family)
			default:
				family = f
			}
		case "inhibit_on_failure":
			if b.args(n, 0, 0) {
				t := true
				d.inhibit = &t
			}
		case "lvs_sched":
			if !b.args(n, 1, 1) {
				continue
			}
			if !contains(lvsSchedulers, n.Args[0]) {
				b.errorf(n.Pos, "lvs_sched %q: must be one of %s", n.Args[0], strings.Join(lvsSchedulers, ", "))
				continue
			}
			vs.Scheduler = n.Args[0]
		case "hashed":
			b.errorf(n.Pos, "hashed: keepalived 2.2.7 accepts it and sets nothing; remove it")
		case "ops":
			vs.OnePack = true
		case "flag-1", "flag-2", "flag-3":
			vs.SchedFlags[n.Keyword[5]-'1'] = true
		case "sh-port", "sh-fallback", "mh-port", "mh-fallback":
			if vs.Scheduler != n.Keyword[:2] {
				b.errorf(n.Pos, "%s applies to lvs_sched %s only, given after it", n.Keyword, n.Keyword[:2])
				continue
			}
			if strings.HasSuffix(n.Keyword, "-port") {
				vs.HashPort = true
			} else {
				vs.Fallback = true
			}
		case "lvs_method":
			b.lvsMethod(n, &vs.Method, &vs.Tunnel)
			methodSet = true
		case "persistence_engine":
			if b.args(n, 1, 1) {
				vs.PersistenceEngine = n.Args[0]
			}
		case "persistence_timeout":
			if len(n.Args) == 0 {
				vs.Persistence = 360 * time.Second
				continue
			}
			if v, ok := b.uintArg(n, 1, 2678400); ok {
				vs.Persistence = time.Duration(v) * time.Second
			}
		case "persistence_granularity":
			if !b.args(n, 1, 1) {
				continue
			}
			f := family
			if f == 0 {
				f = 6
				if strings.Contains(n.Args[0], ".") {
					f = 4
				}
			}
			if f == 6 {
				v, ok := b.uintArg(n, 1, 128)
				if !ok {
					continue
				}
				vs.PersistenceBits = int(v)
			} else {
				m, err := netip.ParseAddr(n.Args[0])
				if err != nil || !m.Is4() {
					b.errorf(n.Pos, "persistence_granularity %q: an IPv4 netmask such as 255.255.255.0", n.Args[0])
					continue
				}
				ones, ok := maskBits(m)
				if ok && ones > 0 {
					vs.PersistenceBits = ones
				} else {
					// IPVS masks bit by bit, and so does the
					// dataplane; 0.0.0.0 makes every client one.
					vs.PersistenceMask = m
				}
			}
			if family == 0 {
				family = f
			}
			if vs.Persistence == 0 {
				vs.Persistence = 360 * time.Second
			}
		case "protocol":
			if !b.args(n, 1, 1) {
				continue
			}
			switch strings.ToUpper(n.Args[0]) {
			case "TCP":
				vs.Protocol = lvs.TCP
			case "UDP":
				vs.Protocol = lvs.UDP
			case "SCTP":
				vs.Protocol = lvs.SCTP
			case "AH", "ESP":
				// Neither keepalived 2.2.7 ("Unknown protocol") nor IPVS
				// (which refuses the service) has AH or ESP services: the
				// line goes, and IPsec follows the client's IKE flow of a
				// UDP service on port 500 or 0 (the dataplane does that).
				b.warnf(n.Pos, "protocol %s: not a virtual server protocol; ignored, as keepalived ignores it (AH and ESP follow a client's UDP 500 flow to its real server)", strings.ToUpper(n.Args[0]))
				continue
			default:
				b.errorf(n.Pos, "protocol %q must be TCP, UDP or SCTP", n.Args[0])
				continue
			}
			vs.HasProtocol = true
		case "smtp_alert":
			if v, ok := b.optFlag(n); ok {
				vs.SMTPAlert = v
				b.lvsSMTPSet[&vs.SMTPAlert] = true
			}
		case "virtualhost":
			if b.args(n, 1, 1) {
				vs.VirtualHost = n.Args[0]
			}
		case "snmp_name":
			b.warnf(n.Pos, "snmp_name: vipd has no SNMP agent; nothing else changes")
		case "ha_suspend", "alpha", "omega":
			if len(n.Args) > 0 {
				b.warnf(n.Pos, "%s takes no value: %q is ignored and %s is on, as keepalived does", n.Keyword, strings.Join(n.Args, " "), n.Keyword)
			}
			switch n.Keyword {
			case "ha_suspend":
				vs.HASuspend = true
			case "alpha":
				vs.Alpha = true
			default:
				vs.Omega = true
			}
		case "quorum_up":
			b.serverScript(n, &vs.QuorumUp, "virtual_server "+vs.Describe())
		case "quorum_down":
			b.serverScript(n, &vs.QuorumDown, "virtual_server "+vs.Describe())
		case "quorum":
			if v, ok := b.uintArg(n, 1, math.MaxUint32); ok {
				vs.Quorum = int(v)
			}
		case "hysteresis":
			if v, ok := b.uintArg(n, 0, math.MaxUint32); ok {
				vs.Hysteresis = int(v)
			}
		case "weight":
			if v, ok := b.uintArg(n, 1, 65535); ok {
				weight = int(v)
			}
		case "sorry_server":
			if n.Block {
				b.errorf(n.Pos, "sorry_server does not take a block")
				continue
			}
			a, port, ok := b.serverAddr(n, "sorry_server", n.Args)
			if !ok {
				continue
			}
			vs.Sorry = &RealServer{Pos: n.Pos, Addr: a, Port: port, Weight: 1, Method: vs.Method, Tunnel: vs.Tunnel}
		case "sorry_server_inhibit":
			if vs.Sorry == nil {
				b.errorf(n.Pos, "sorry_server_inhibit comes before (or without) sorry_server")
				continue
			}
			vs.Sorry.Inhibit = true
		case "sorry_server_lvs_method":
			sorryMethod = n
			if vs.Sorry == nil {
				b.errorf(n.Pos, "sorry_server_lvs_method comes before (or without) sorry_server")
				continue
			}
			b.lvsMethod(n, &vs.Sorry.Method, &vs.Sorry.Tunnel)
		case "real_server":
			reals = append(reals, n)
		default:
			b.other(schema.keywords["virtual_server"].block, n)
		}
	}
	if vs.Sorry != nil && sorryMethod == nil {
		vs.Sorry.Method, vs.Sorry.Tunnel = vs.Method, vs.Tunnel
	}
	for _, n := range reals {
		if rs, ok := b.realServer(n, vs, &d, weight); ok {
			if rs.Method != lvs.TUN {
				f := famOf(rs.Addr)
				if family == 0 {
					family = f
				} else if f != family {
					b.errorf(n.Pos, "real_server %s: IPv%d, the virtual server is IPv%d (only TUN may mix)", rs.Addr, f, family)
					continue
				}
			}
			vs.Reals = append(vs.Reals, rs)
		}
	}
	if vs.Sorry != nil && vs.Sorry.Method != lvs.TUN {
		if f := famOf(vs.Sorry.Addr); family == 0 {
			family = f
		} else if f != family {
			b.errorf(vs.Sorry.Pos, "sorry_server %s: IPv%d, the virtual server is IPv%d", vs.Sorry.Addr, f, family)
			vs.Sorry = nil
		}
	}
	if family == 0 && vs.GroupName == "" {
		family = 4
		for _, rs := range vs.Reals {
			if rs.Addr.Is6() {
				family = 6
			}
		}
	}
	vs.IPv6 = family == 6
	b.lvsPending = append(b.lvsPending, pendingVS{vs: vs, methodSet: methodSet,
		sorryMethodSet: sorryMethod != nil})
	b.cfg.VirtualServers = append(b.cfg.VirtualServers, vs)
}

// serverScript reads a virtual or real server's script line (quorum_up,
// quorum_down, notify_up, notify_down) into dst, once.
func (b *builder) serverScript(n *Node, dst **Command, owner string) {
	if *dst != nil {
		b.errorf(n.Pos, "%s: %s given twice", owner, n.Keyword)
		return
	}
	if c, ok := b.command(n, owner+" "+n.Keyword, true); ok {
		if b.defs.scriptSecurity {
			b.checkCommand(c, owner+" "+n.Keyword)
		}
		*dst = c
	}
}

// dropVS leaves a virtual server out, as keepalived does.
func (b *builder) dropVS(vs *VirtualServer) {
	for i, v := range b.cfg.VirtualServers {
		if v == vs {
			b.cfg.VirtualServers = append(b.cfg.VirtualServers[:i], b.cfg.VirtualServers[i+1:]...)
			return
		}
	}
}

func famOf(a netip.Addr) int {
	if a.Is4() {
		return 4
	}
	return 6
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// maskBits is the prefix length of a contiguous IPv4 netmask.
func maskBits(m netip.Addr) (int, bool) {
	b4 := m.As4()
	v := uint32(b4[0])<<24 | uint32(b4[1])<<16 | uint32(b4[2])<<8 | uint32(b4[3])
	ones := 0
	for v&0x80000000 != 0 {
		ones++
		v <<= 1
	}
	return ones, v == 0
}

// pendingVS is what the checks after the whole file need to know about a
// virtual server's block.
type pendingVS struct {
	vs                        *VirtualServer
	methodSet, sorryMethodSet bool
}

// realServer reads a real_server block.
func (b *builder) realServer(n *Node, vs *VirtualServer, vsd *checkerDefaults, vsWeight int) (*RealServer, bool) {
	a, port, ok := b.serverAddr(n, "real_server", n.Args)
	if !ok {
		return nil, false
	}
	rs := &RealServer{Pos: n.Pos, Addr: a, Port: port, Weight: vsWeight, Method: vs.Method, Tunnel: vs.Tunnel}
	d := *vsd
	var checkers []*Node
	for _, c := range n.Children {
		if b.checkerDefault(c, &d, "real_server") {
			continue
		}
		switch c.Keyword {
		case "weight":
			if v, ok := b.uintArg(c, 0, 65535); ok {
				rs.Weight = int(v)
			}
		case "lvs_method":
			b.lvsMethod(c, &rs.Method, &rs.Tunnel)
			b.lvsRSMethod[rs] = true
		case "uthreshold", "lthreshold":
			if v, ok := b.uintArg(c, 0, math.MaxUint32); ok {
				if c.Keyword == "uthreshold" {
					rs.UpperThreshold = uint32(v)
				} else {
					rs.LowerThreshold = uint32(v)
				}
			}
		case "inhibit_on_failure", "alpha":
			if v, ok := b.optFlag(c); ok {
				if c.Keyword == "alpha" {
					d.alpha = &v
				} else {
					d.inhibit = &v
				}
			}
		case "notify_up":
			b.serverScript(c, &rs.NotifyUp, "real_server "+rs.Describe())
		case "notify_down":
			b.serverScript(c, &rs.NotifyDown, "real_server "+rs.Describe())
		case "smtp_alert":
			if v, ok := b.optFlag(c); ok {
				rs.SMTPAlert = v
				b.lvsSMTPSet[&rs.SMTPAlert] = true
			}
		case "virtualhost":
			if b.args(c, 1, 1) {
				rs.VirtualHost = c.Args[0]
			}
		case "snmp_name":
			b.warnf(c.Pos, "snmp_name: vipd has no SNMP agent; nothing else changes")
		default:
			if kind := checkerKinds[c.Keyword]; kind != "" {
				checkers = append(checkers, c)
				continue
			}
			b.other(schema.keywords["virtual_server"].block.keywords["real_server"].block, c)
		}
	}
	if d.alpha != nil {
		rs.Alpha = *d.alpha
	} else {
		rs.Alpha = vs.Alpha
	}
	if d.inhibit != nil {
		rs.Inhibit = *d.inhibit
	}
	for _, c := range checkers {
		if ck, ok := b.checker(c, vs, rs, &d); ok {
			if ck.SMTP != nil {
				rs.Checkers = append(rs.Checkers, b.smtpHosts(ck, c, rs)...)
				continue
			}
			rs.Checkers = append(rs.Checkers, ck)
		}
	}
	return rs, true
}

// settleVirtualServers runs keepalived's checks across each virtual
// server once the whole file is read: each of its complaints is an
// error, as it fails keepalived's -t.
func (b *builder) settleVirtualServers() {
	for _, p := range b.lvsPending {
		vs := p.vs
		where := "virtual_server " + vs.Describe()
		if vs.GroupName != "" {
			g, defined := b.lvsGroups[vs.GroupName]
			if defined && g == nil {
				b.warnf(vs.Pos, "%s: virtual_server_group %s has no entries: ignored, as keepalived ignores it", where, vs.GroupName)
				b.dropVS(vs)
				continue
			}
			vs.Group = g
			if vs.Group == nil {
				b.errorf(vs.Pos, "%s: no virtual_server_group %s is defined", where, vs.GroupName)
				continue
			}
			for _, r := range vs.Group.Ranges {
				vs.IPv6 = r.First.Is6()
			}
			for _, m := range vs.Group.FWMarks {
				if m.Family != 0 {
					vs.IPv6 = m.Family == 6
				}
			}
		}
		if len(vs.Reals) == 0 {
			b.warnf(vs.Pos, "%s has no real servers: ignored, as keepalived ignores it", where)
			b.dropVS(vs)
			continue
		}
		fwmarkOnly := vs.HasFWMark || vs.Group != nil && len(vs.Group.Ranges) == 0
		hasFWMarks := vs.HasFWMark || vs.Group != nil && len(vs.Group.FWMarks) > 0
		if vs.HASuspend && hasFWMarks {
			b.warnf(vs.Pos, "%s: ha_suspend does not work with firewall marks: ignored", where)
			vs.HASuspend = false
		}
		if !fwmarkOnly {
			if !vs.HasProtocol {
				b.warnf(vs.Pos, "%s: no protocol: balancing UDP, as keepalived does; say protocol TCP, UDP or SCTP", where)
				vs.Protocol, vs.HasProtocol = lvs.UDP, true
			}
			if vs.OnePack && vs.Protocol != lvs.UDP {
				b.warnf(vs.Pos, "%s: ops (one-packet scheduling) needs protocol UDP: ignored", where)
				vs.OnePack = false
			}
			if vs.Persistence == 0 && vs.GroupName == "" && vs.Port == 0 {
				b.warnf(vs.Pos, "%s: port 0 (all ports) needs persistence: persistence_timeout 360 set, as keepalived does", where)
				vs.Persistence = 360 * time.Second
			}
		}
		if vs.Group != nil && vs.Persistence == 0 {
			for _, r := range vs.Group.Ranges {
				if r.Port == 0 {
					b.warnf(r.Pos, "%s: group %s: an entry without a port needs persistence: persistence_timeout 360 set, as keepalived does", where, vs.GroupName)
					vs.Persistence = 360 * time.Second
					break
				}
			}
		}
		if vs.HasProtocol && fwmarkOnly {
			b.warnf(vs.Pos, "%s: protocol is ignored with a firewall mark", where)
			vs.HasProtocol, vs.Protocol = false, 0
		}
		if vs.Scheduler == "" {
			b.warnf(vs.Pos, "%s: no lvs_sched: using wlc, as keepalived does", where)
			vs.Scheduler = "wlc"
		}
		if !p.methodSet && (vs.Sorry != nil && !p.sorryMethodSet || b.anyDefaultMethod(vs)) {
			b.warnf(vs.Pos, "%s: no lvs_method: using NAT, as keepalived does", where)
		}
		b.settleReals(vs, p)
		b.resolveCheckerRefs(vs)
		b.dataplaneLimits(vs)
		if !balancing {
			b.notSupportedAt(vs.Pos, "virtual_server")
		}
	}
}

// balancing says whether the daemon balances virtual servers; until it
// does, a file with one fails -t after every check above has run.
const balancing = true

// dataplaneLimits refuses what vipd's nftables dataplane cannot do,
// which IPVS would: one-packet scheduling through NAT where a reply
// cannot tell which service it answers (see opsNATLimits), tunnel
// checksums, and GUE to an IPv6 real server.
func (b *builder) dataplaneLimits(vs *VirtualServer) {
	servers := vs.Reals
	if vs.Sorry != nil {
		servers = append(append([]*RealServer(nil), servers...), vs.Sorry)
	}
	b.opsNATLimits(vs, servers)
	for _, rs := range servers {
		if rs.Method != lvs.TUN {
			continue
		}
		if rs.Tunnel.Checksum == "csum" || rs.Tunnel.Checksum == "remcsum" {
			b.notSupportedAt(rs.Pos, "lvs_method TUN "+rs.Tunnel.Checksum)
		}
		if rs.Tunnel.Type == "gue" && rs.Addr.Is6() {
			b.notSupportedAt(rs.Pos, "lvs_method TUN type gue to an IPv6 real_server")
		}
	}
}

// opsNATLimits: ops with NAT rewrites datagrams without conntrack
// (internal/lvs/nft/ops.go), so a reply is known by its source alone,
// the real server's address and port, and must give back the one
// address and port the client asked. Refused: a firewall mark or a group
// of several addresses (which address?), a service of all ports sent to
// one port (which port?), NAT mixed with DR or TUN, and a real server's
// address and port that answers UDP for an earlier virtual server too.
func (b *builder) opsNATLimits(vs *VirtualServer, servers []*RealServer) {
	if !vs.OnePack || !slices.ContainsFunc(servers, func(rs *RealServer) bool { return rs.Method == lvs.NAT }) {
		b.opsNATShared(vs, servers)
		return
	}
	addrs := 1
	if g := vs.Group; g != nil {
		addrs = len(g.FWMarks)
		for _, r := range g.Ranges {
			if r.First == r.Last {
				addrs++
			} else {
				addrs += 2
			}
		}
	}
	first := servers[slices.IndexFunc(servers, func(rs *RealServer) bool { return rs.Method == lvs.NAT })]
	switch {
	case vs.HasFWMark || vs.Group != nil && len(vs.Group.FWMarks) > 0:
		b.notSupportedAt(first.Pos, "ops with lvs_method NAT on a firewall mark")
		return
	case addrs > 1:
		b.notSupportedAt(first.Pos, "ops with lvs_method NAT in a virtual_server_group of more than one address")
		return
	}
	// The sorry server takes traffic alongside the real servers only
	// with sorry_server_inhibit (at weight 0).
	together := vs.Reals
	if vs.Sorry != nil && vs.Sorry.Inhibit {
		together = servers
	}
	nat := slices.ContainsFunc(together, func(rs *RealServer) bool { return rs.Method == lvs.NAT })
	for _, rs := range servers {
		switch {
		case rs.Method != lvs.NAT && nat && slices.Contains(together, rs):
			b.notSupportedAt(rs.Pos, "ops with lvs_method NAT and "+rs.Method.String()+" in one virtual_server")
			return
		case rs.Method == lvs.NAT && rs.Port != 0 && slices.Contains(natPorts(vs, &RealServer{}), 0):
			b.notSupportedAt(rs.Pos, "ops with lvs_method NAT from all ports to one port")
			return
		}
	}
	b.opsNATShared(vs, servers)
}

// opsNATShared refuses a NAT real server of vs whose address and port
// also answer UDP for an earlier virtual server, one of the two with ops.
func (b *builder) opsNATShared(vs *VirtualServer, servers []*RealServer) {
	udp := func(v *VirtualServer) bool {
		return v.Protocol == lvs.UDP || v.HasFWMark || v.Group != nil && len(v.Group.FWMarks) > 0
	}
	if !udp(vs) {
		return
	}
	for _, o := range b.cfg.VirtualServers {
		if o == vs {
			return
		}
		if !udp(o) || !vs.OnePack && !o.OnePack {
			continue
		}
		others := o.Reals
		if o.Sorry != nil {
			others = append(append([]*RealServer(nil), others...), o.Sorry)
		}
		for _, rs := range servers {
			for _, ors := range others {
				if rs.Method == lvs.NAT && ors.Method == lvs.NAT && rs.Addr == ors.Addr && portsMeet(natPorts(vs, rs), natPorts(o, ors)) {
					b.notSupportedAt(rs.Pos, "ops with lvs_method NAT to a real_server that also answers UDP for virtual_server "+o.Describe())
					return
				}
			}
		}
	}
}

// natPorts are the ports a NAT real server answers from (0: any).
func natPorts(vs *VirtualServer, rs *RealServer) []uint16 {
	switch {
	case rs.Port != 0:
		return []uint16{rs.Port}
	case vs.Group != nil:
		var out []uint16
		for _, r := range vs.Group.Ranges {
			out = append(out, r.Port)
		}
		if len(vs.Group.FWMarks) > 0 {
			out = append(out, 0)
		}
		return out
	case vs.HasFWMark:
		return []uint16{0}
	}
	return []uint16{vs.Port}
}

func portsMeet(a, b []uint16) bool {
	for _, p := range a {
		for _, q := range b {
			if p == 0 || q == 0 || p == q {
				return true
			}
		}
	}
	return false
}

// resolveCheckerRefs checks that FILE_CHECK and BFD_CHECK name what is
// defined.
func (b *builder) resolveCheckerRefs(vs *VirtualServer) {
	for _, rs := range vs.Reals {
		for _, ck := range rs.Checkers {
			what := "real_server " + rs.Describe() + " " + ck.Kind
			switch {
			case ck.File != nil:
				if why, off := b.disabled["track_file "+ck.File.Name]; off {
					b.errorf(ck.Pos, "%s: track_file %s is disabled: %s", what, ck.File.Name, why)
				} else if b.cfg.TrackFile(ck.File.Name) == nil {
					b.errorf(ck.Pos, "%s: no track_file %s is defined", what, ck.File.Name)
				}
			case ck.BFD != "":
				if why, off := b.disabled["bfd_instance "+ck.BFD]; off {
					// keepalived keeps the checker, and no BFD event
					// ever reaches it; the director does the same.
					b.warnf(ck.Pos, "%s: bfd_instance %s is disabled (%s): the checker keeps its starting state, as keepalived's does", what, ck.BFD, why)
				} else if b.cfg.BFD(ck.BFD) == nil {
					b.errorf(ck.Pos, "%s: no bfd_instance %s is defined", what, ck.BFD)
				}
			}
		}
	}
}

// anyDefaultMethod: a real server took the virtual server's default
// method because it named none; keepalived complains then.
func (b *builder) anyDefaultMethod(vs *VirtualServer) bool {
	for _, rs := range vs.Reals {
		if !b.rsMethodSet(rs) {
			return true
		}
	}
	return false
}

func (b *builder) rsMethodSet(rs *RealServer) bool { return b.lvsRSMethod[rs] }

func (b *builder) settleReals(vs *VirtualServer, p pendingVS) {
	where := "virtual_server " + vs.Describe()
	sum := 0
	var kept []*RealServer
	for i, rs := range vs.Reals {
		dup := false
		for _, o := range vs.Reals[:i] {
			if o.Addr == rs.Addr && o.Port == rs.Port {
				b.errorf(rs.Pos, "%s: real_server %s is given twice (first at %s)", where, rs.Describe(), o.Pos)
				dup = true
				break
			}
		}
		if dup {
			continue
		}
		if !b.lvsSMTPSet[&rs.SMTPAlert] {
			rs.SMTPAlert = b.checkerSMTPDefault(true)
		}
		sum += rs.Weight
		if s := vs.Sorry; s != nil && s.Addr == rs.Addr && s.Port == rs.Port && s.Inhibit != rs.Inhibit {
			b.warnf(s.Pos, "%s: the sorry_server is real_server %s, whose inhibit_on_failure differs: the sorry server takes the real server's", where, rs.Describe())
			s.Inhibit = rs.Inhibit
		}
		kept = append(kept, rs)
	}
	vs.Reals = kept
	if !b.lvsSMTPSet[&vs.SMTPAlert] {
		vs.SMTPAlert = b.checkerSMTPDefault(false)
	}
	if vs.Quorum > sum {
		b.warnf(vs.Pos, "%s: quorum %d is above the real servers' total weight %d: lowered to %d, as keepalived does", where, vs.Quorum, sum, sum)
		vs.Quorum = sum
	}
	if vs.Hysteresis >= vs.Quorum && vs.Hysteresis > 0 {
		h := max(vs.Quorum-1, 0)
		b.warnf(vs.Pos, "%s: hysteresis %d is not below quorum %d: lowered to %d, as keepalived does", where, vs.Hysteresis, vs.Quorum, h)
		vs.Hysteresis = h
	}
	// Ports: NAT may map to any port; other methods keep the client's.
	check := func(s *RealServer, what string) {
		switch {
		case s.Method == lvs.NAT:
			if !vs.HasFWMark && vs.Group == nil && s.Port == 0 {
				s.Port = vs.Port
			}
		case vs.Group != nil:
			if len(vs.Group.FWMarks) > 0 && s.Port != 0 {
				b.warnf(s.Pos, "%s: %s %s: the port is ignored with a firewall mark unless NAT", where, what, s.Describe())
			}
			for _, r := range vs.Group.Ranges {
				if s.Port != 0 && r.Port != s.Port {
					b.warnf(s.Pos, "%s: %s %s: the port differs from group entry port %d and only NAT changes ports: the client's port is kept", where, what, s.Describe(), r.Port)
					break
				}
			}
		case vs.HasFWMark:
			if s.Port != 0 {
				b.warnf(s.Pos, "%s: %s %s: the port is ignored with a firewall mark unless NAT", where, what, s.Describe())
				s.Port = 0
			}
		default:
			if s.Port == 0 {
				s.Port = vs.Port
			} else if s.Port != vs.Port {
				b.warnf(s.Pos, "%s: %s %s: the port differs from %d and only NAT changes ports: %d is used, as keepalived does", where, what, s.Describe(), vs.Port, vs.Port)
				s.Port = vs.Port
			}
		}
	}
	for _, rs := range vs.Reals {
		check(rs, "real_server")
	}
	if vs.Sorry != nil {
		check(vs.Sorry, "sorry_server")
	}
	// A port set back can make two real servers one.
	kept = vs.Reals[:0]
	for _, rs := range vs.Reals {
		i := slices.IndexFunc(kept, func(o *RealServer) bool { return o.Addr == rs.Addr && o.Port == rs.Port })
		if i >= 0 {
			b.warnf(rs.Pos, "%s: real_server %s: with its port set back it is the real server at %s: ignored", where, rs.Describe(), kept[i].Pos)
			continue
		}
		kept = append(kept, rs)
	}
	vs.Reals = kept
}

// checkerSMTPDefault is the smtp_alert of a virtual or real server that
// gives none: smtp_alert_checker, else smtp_alert, else (for real
// servers, as keepalived keeps it for old configurations) true.
func (b *builder) checkerSMTPDefault(real bool) bool {
	switch {
	case b.smtpAlertChecker != nil:
		return *b.smtpAlertChecker
	case b.smtpAlertPlain != nil:
		return *b.smtpAlertPlain
	}
	return real
}
