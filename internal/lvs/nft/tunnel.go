package nft

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/vipd/vipd/internal/lvs"
)

// TUN: how a packet, duplicated unchanged as for DR (dr.go), reaches a
// real server inside a tunnel.
//
// The copy is sent with "dup to REAL device vipdtXXXX". The device is a
// placeholder (an ifb, or a dummy where the kernel has no ifb; nothing
// is ever transmitted on it): a routing rule sends route lookups that
// must leave through it ("oif") to a routing table of vipd's own, where
// each TUN real server has a route through the device carrying an eBPF
// program (a lightweight tunnel, "encap bpf xmit"). The program
// prepends the tunnel's headers (outer IP, and GRE or UDP and GUE) and
// has the kernel route the result anew, to the real server. Only the
// copies take that table: the host's own traffic to the real servers
// (health checks) is routed as before.
//
// Not an ipip, gre or fou device per real server: those need kernel
// modules that small kernels (this package's test kernel among them)
// leave out, and "encap ip" routes need one too, while the program needs
// eBPF alone, which hosts with nftables have. The packets on the wire
// are the same; the real servers' tunl0, gre0 or fou port take them.
//
// Each Apply makes the device, rules and routes it needs, and deletes
// the routes no longer used; the last TUN real server gone (or Close),
// the device and rules go too. The names are fixed by the table's name
// (tunnelIDs), so the first Apply after a restart finds what an earlier
// run left.
//
// The outer source address is the one the host would use to reach the
// real server, looked up at Apply; if it has none then, the real
// server's copies are dropped until an Apply finds one. A route's MTU
// is the path's to the real server less the tunnel's headers, so that
// a packet that would not fit in the tunnel draws its client an ICMP
// "fragmentation needed" (IPv6: "packet too big") from the kernel, as
// IPVS sends it; the outer IPv4 header has no DF then, so that a
// smaller MTU further on fragments the tunnel's packet rather than lose
// it (its ID is random).

// Tunnel types.
const (
	tunIPIP = "ipip"
	tunGRE  = "gre"
	tunGUE  = "gue"
)

// tunnel is how one TUN real server is reached.
type tunnel struct {
	typ  string
	port uint16 // GUE's UDP port
}

// checkTunnel validates a TUN real server's encapsulation.
func checkTunnel(t lvs.Tunnel, v6 bool) (tunnel, error) {
	typ := t.Type
	if typ == "" {
		typ = tunIPIP
	}
	switch {
	case typ != tunIPIP && typ != tunGRE && typ != tunGUE:
		return tunnel{}, fmt.Errorf("%w: type %q", ErrService, t.Type)
	case t.Checksum != "" && t.Checksum != "nocsum" && t.Checksum != "csum" && t.Checksum != "remcsum":
		return tunnel{}, fmt.Errorf("%w: checksum option %q", ErrService, t.Checksum)
	case t.Checksum == "csum" || t.Checksum == "remcsum":
		// The GRE or UDP checksum covers the inner packet, whose own
		// checksum the NIC may not have filled in yet.
		return tunnel{}, fmt.Errorf("%w: %s", ErrTunnel, t.Checksum)
	case typ == tunGUE && t.Port == 0:
		return tunnel{}, fmt.Errorf("%w: gue without a port", ErrService)
	case typ == tunGUE && v6:
		// UDP over IPv6 needs a checksum (RFC 8200), see above.
		return tunnel{}, fmt.Errorf("%w: gue to an IPv6 real server", ErrTunnel)
	}
	out := tunnel{typ: typ}
	if typ == tunGUE {
		out.port = t.Port
	}
	return out, nil
}

// headerLen is the length of the headers the tunnel prepends.
func (t tunnel) headerLen(v6 bool) int {
	n := 20
	if v6 {
		n = 40
	}
	switch t.typ {
	case tunGRE:
		n += 4
	case tunGUE:
		n += 8 + 4
	}
	return n
}

// encapProg is the program that puts a packet from src into the tunnel
// to dst. Without a source it drops.
func encapProg(t tunnel, src, dst netip.Addr) ([]byte, error) {
	if !src.IsValid() {
		return assemble(movImm(r0, bpfDrop), exit())
	}
	v6 := dst.Is6()
	hl := t.headerLen(v6)
	base := -int16((hl + 7) &^ 7) // the header, on the stack
	var p []any
	p = append(p, movReg(r6, r1))
	for i := 0; i < hl; i += 4 {
		p = append(p, st(bpfW, r10, base+int16(i), 0))
	}
	// loadBytes copies n bytes of the packet from off to the stack at
	// base+at.
	loadBytes := func(off int32, at int16, n int32) []any {
		return []any{movReg(r1, r6), movImm(r2, off), movReg(r3, r10), addImm(r3, int32(base+at)),
			movImm(r4, n), call(fnSkbLoadBytes), jneImm(r0, 0, "drop")}
	}
	// length stores the packet's length plus extra, in network order,
	// at base+at.
	length := func(at int16, extra int) []any {
		return []any{ldx(bpfW, r2, r6, skbLenField), addImm(r2, int32(extra)), toBE16(r2), stx(bpfH, r10, base+at, r2)}
	}
	inner, proto := uint16(unix.ETH_P_IP), int32(unix.IPPROTO_IPIP)
	if v6 {
		inner, proto = unix.ETH_P_IPV6, unix.IPPROTO_IPV6
	}
	outerProto := proto
	switch t.typ {
	case tunGRE:
		outerProto = unix.IPPROTO_GRE
	case tunGUE:
		outerProto = unix.IPPROTO_UDP
	}
	var ip int16 // the outer IP header's length
	if v6 {
		ip = 40
		p = append(p,
			// Version, traffic class and flow label as the packet's.
			loadBytes(0, 0, 4),
			length(4, hl-40),
			st(bpfB, r10, base+6, outerProto),
			st(bpfB, r10, base+7, 64),
			stBytes(r10, base+8, src.AsSlice()),
			stBytes(r10, base+24, dst.AsSlice()))
	} else {
		ip = 20
		p = append(p,
			st(bpfB, r10, base, 0x45),
			loadBytes(1, 1, 1), // the packet's TOS
			length(2, hl),
			call(fnGetPrandomU32), stx(bpfH, r10, base+4, r0), // ID; no DF
			st(bpfB, r10, base+8, 64),
			st(bpfB, r10, base+9, outerProto),
			stBytes(r10, base+12, src.AsSlice()),
			stBytes(r10, base+16, dst.AsSlice()))
		// The kernel fills in the header checksum.
	}
	switch t.typ {
	case tunGRE:
		p = append(p, st(bpfH, r10, base+ip+2, be16(inner)))
	case tunGUE:
		p = append(p,
			// The source port spreads the flows (a hash of the
			// packet's, in the ephemeral range), as receivers expect
			// for their own hashing.
			movReg(r1, r6), call(fnGetHashRecalc), andImm(r0, 0x3fff), orImm(r0, 0xc000), toBE16(r0),
			stx(bpfH, r10, base+ip, r0),
			st(bpfH, r10, base+ip+2, be16(t.port)),
			length(ip+4, hl-int(ip)),
			// GUE version 0, no options: the next header is the
			// packet itself.
			st(bpfB, r10, base+ip+8+1, proto))
	}
	// The kernel takes a GSO packet (one a NIC coalesced, say) into
	// IPv4 IP-in-IP only if the protocol reads 0 or 41 when it is
	// pushed (it checks for IPPROTO_IP, not IPPROTO_IPIP): such a
	// packet goes in as 41, which keeps working once that is fixed,
	// and the protocol is set right after.
	fixGSO := t.typ == tunIPIP && !v6
	if fixGSO {
		p = append(p, ldx(bpfW, r7, r6, skbGSOSize), jeqImm(r7, 0, "push"),
			st(bpfB, r10, base+9, unix.IPPROTO_IPV6))
	}
	p = append(p, label("push"),
		movReg(r1, r6), movImm(r2, lwtEncapIP), movReg(r3, r10), addImm(r3, int32(base)), movImm(r4, int32(hl)),
		call(fnLWTPushEncap), jneImm(r0, 0, "drop"))
	if fixGSO {
		p = append(p, jeqImm(r7, 0, "done"),
			st(bpfB, r10, base+9, unix.IPPROTO_IPIP),
			movReg(r1, r6), movImm(r2, 9), movReg(r3, r10), addImm(r3, int32(base+9)), movImm(r4, 1), movImm(r5, 0),
			call(fnSkbStoreBytes), jneImm(r0, 0, "drop"),
			// The checksum word of TTL and protocol.
			movReg(r1, r6), movImm(r2, 10), movImm(r3, be16(64<<8|unix.IPPROTO_IPV6)),
			movImm(r4, be16(64<<8|unix.IPPROTO_IPIP)), movImm(r5, 2),
			call(fnL3CsumReplace), jneImm(r0, 0, "drop"))
	}
	p = append(p, label("done"),
		movImm(r0, lwtReroute), exit(),
		label("drop"), movImm(r0, bpfDrop), exit())
	return assemble(p...)
}

// rulePriority puts vipd's routing rule before the main table's.
const rulePriority = 30320

// tunnelIDs names the device, "vipdtXXXX", and numbers the routing
// table, 0x7670XXXX, after the nftables table (XXXX: 16 bits of its
// FNV-1a hash), so that dataplanes of different tables do not meet.
func tunnelIDs(table string) (dev string, routeTable int) {
	h := fnv.New32a()
	h.Write([]byte(table))
	n := h.Sum32() & 0xffff
	return fmt.Sprintf("vipdt%04x", n), 0x76700000 | int(n)
}

// tunnels programs the routing half of TUN in the dataplane's namespace.
type tunnels struct {
	h          *netlink.Handle
	dev        string
	table      int
	link       netlink.Link
	added      []netlink.Route // by this Apply, for undo
	wantRoutes map[netip.Addr]bool
}

func openTunnels(o options) (*tunnels, error) {
	h, err := netlink.NewHandleAt(netns.NsHandle(o.netns))
	if err != nil {
		return nil, fmt.Errorf("nftables TUN: netlink: %w", err)
	}
	dev, table := tunnelIDs(o.table)
	return &tunnels{h: h, dev: dev, table: table}, nil
}

func (t *tunnels) close() { t.h.Close() }

// setup makes the device, the rules and a route per TUN real server,
// and returns the device's index for dup.
func (t *tunnels) setup(want map[netip.Addr]tunnel) (int, error) {
	if err := t.device(); err != nil {
		return 0, err
	}
	fams := map[int]bool{}
	for real := range want {
		fams[addrFamily(real)] = true
	}
	for fam := range fams {
		if err := t.rule(fam); err != nil {
			return 0, err
		}
	}
	old, err := t.routes()
	if err != nil {
		return 0, err
	}
	have := map[netip.Addr]bool{}
	for _, r := range old {
		if a, ok := routeAddr(r); ok {
			have[a] = true
		}
	}
	t.wantRoutes = map[netip.Addr]bool{}
	for real, tun := range want {
		t.wantRoutes[real] = true
		r, err := t.route(real, tun)
		if err != nil {
			return 0, err
		}
		if !have[real] {
			t.added = append(t.added, r)
		}
	}
	return t.link.Attrs().Index, nil
}

// placeholder says whether a device is of a type the placeholder may
// be: an ifb, or where the kernel has none a dummy.
func placeholder(l netlink.Link) bool { return l.Type() == "ifb" || l.Type() == "dummy" }

func (t *tunnels) device() error {
	l, err := t.h.LinkByName(t.dev)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if !errors.As(err, &nf) {
			return fmt.Errorf("nftables TUN: device %s: %w", t.dev, err)
		}
		attrs := netlink.LinkAttrs{Name: t.dev}
		if err := t.h.LinkAdd(&netlink.Ifb{LinkAttrs: attrs}); err != nil {
			if err2 := t.h.LinkAdd(&netlink.Dummy{LinkAttrs: attrs}); err2 != nil {
				return fmt.Errorf("nftables TUN: creating device %s: ifb: %w; dummy: %w", t.dev, err, err2)
			}
		}
		if l, err = t.h.LinkByName(t.dev); err != nil {
			return fmt.Errorf("nftables TUN: device %s: %w", t.dev, err)
		}
		// No IPv6 link-local address: nothing should speak on it.
		t.h.LinkSetIP6AddrGenMode(l, 1)
	} else if !placeholder(l) {
		return fmt.Errorf("nftables TUN: device %s is a %s, not vipd's", t.dev, l.Type())
	}
	if err := t.h.LinkSetUp(l); err != nil {
		return fmt.Errorf("nftables TUN: device %s up: %w", t.dev, err)
	}
	t.link = l
	return nil
}

func (t *tunnels) rule(family int) error {
	rules, err := t.h.RuleListFiltered(family, &netlink.Rule{Table: t.table}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return fmt.Errorf("nftables TUN: listing routing rules: %w", err)
	}
	for _, r := range rules {
		if r.OifName == t.dev && r.Priority == rulePriority {
			return nil
		}
	}
	r := netlink.NewRule()
	r.Family, r.Table, r.Priority, r.OifName = family, t.table, rulePriority, t.dev
	if err := t.h.RuleAdd(r); err != nil {
		return fmt.Errorf("nftables TUN: routing rule oif %s lookup %d: %w", t.dev, t.table, err)
	}
	return nil
}

// routes lists the routes of the table, both families.
func (t *tunnels) routes() ([]netlink.Route, error) {
	var out []netlink.Route
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		rs, err := t.h.RouteListFiltered(fam, &netlink.Route{Table: t.table}, netlink.RT_FILTER_TABLE)
		if err = noFamily(err); err != nil {
			return nil, fmt.Errorf("nftables TUN: listing routing table %d: %w", t.table, err)
		}
		out = append(out, rs...)
	}
	return out, nil
}

func addrFamily(a netip.Addr) int {
	if a.Is6() {
		return unix.AF_INET6
	}
	return unix.AF_INET
}

// noFamily ignores the error of a kernel without IPv6.
func noFamily(err error) error {
	if errors.Is(err, unix.EAFNOSUPPORT) {
		return nil
	}
	return err
}

func routeAddr(r netlink.Route) (netip.Addr, bool) {
	if r.Dst == nil {
		return netip.Addr{}, false
	}
	a, ok := netip.AddrFromSlice(r.Dst.IP)
	return a.Unmap(), ok
}

// route adds (or replaces) the route that puts copies to the real
// server into its tunnel. Its MTU is the path's to the real server, less
// the tunnel's headers (the program's headroom): a packet that would not
// fit once in the tunnel draws the client an ICMP "fragmentation needed"
// (IPv6: "packet too big") from the kernel, as IPVS sends it, or is
// fragmented before it goes in if it may be.
func (t *tunnels) route(real netip.Addr, tun tunnel) (netlink.Route, error) {
	var src netip.Addr
	mtu := 0
	if rs, err := t.h.RouteGet(real.AsSlice()); err == nil && len(rs) > 0 {
		src, _ = netip.AddrFromSlice(rs[0].Src)
		src = src.Unmap()
		mtu = rs[0].MTU // a path MTU learned
		if l, err := t.h.LinkByIndex(rs[0].LinkIndex); err == nil && (mtu == 0 || l.Attrs().MTU < mtu) {
			mtu = l.Attrs().MTU
		}
	}
	code, err := encapProg(tun, src, real)
	if err != nil {
		return netlink.Route{}, err
	}
	fd, err := loadProg(unix.BPF_PROG_TYPE_LWT_XMIT, "vipd_tun", code)
	if err != nil {
		return netlink.Route{}, fmt.Errorf("nftables TUN: %w", err)
	}
	defer unix.Close(fd) // the route holds the program
	// The kernel shares one route's program with another route whose
	// program has the same name: the name says what the program does.
	name := fmt.Sprintf("vipd_tun_%x", sha256.Sum256(code))[:len("vipd_tun_")+16]
	encap := &xmitProg{fd: fd, name: name, headroom: tun.headerLen(real.Is6())}
	bits := real.BitLen()
	r := netlink.Route{LinkIndex: t.link.Attrs().Index, Table: t.table, Scope: netlink.SCOPE_LINK,
		Dst: &net.IPNet{IP: real.AsSlice(), Mask: net.CIDRMask(bits, bits)}, Encap: encap, MTU: mtu}
	if err := t.h.RouteReplace(&r); err != nil {
		return netlink.Route{}, fmt.Errorf("nftables TUN: route to %v in table %d: %w", real, t.table, err)
	}
	return r, nil
}

// xmitProg is a route's "encap bpf xmit" program, and the room it needs
// for headers. Not netlink.BpfEncap: its Encode writes a variable of its
// package that every other netlink call reads, a data race with the
// rest of the daemon.
type xmitProg struct {
	fd       int
	name     string
	headroom int
}

var _ netlink.Encap = (*xmitProg)(nil)

func (e *xmitProg) Type() int { return nl.LWTUNNEL_ENCAP_BPF }

// Decode is not needed: routes are listed for their destinations.
func (e *xmitProg) Decode([]byte) error { return errors.ErrUnsupported }

func (e *xmitProg) Encode() ([]byte, error) {
	prog := append(rtattr(nl.LWT_BPF_PROG_FD, binary.NativeEndian.AppendUint32(nil, uint32(e.fd))),
		rtattr(nl.LWT_BPF_PROG_NAME, append([]byte(e.name), 0))...)
	return append(rtattr(nl.LWT_BPF_XMIT, prog),
		rtattr(nl.LWT_BPF_XMIT_HEADROOM, binary.NativeEndian.AppendUint32(nil, uint32(e.headroom)))...), nil
}

func (e *xmitProg) String() string { return "bpf xmit " + e.name }

func (e *xmitProg) Equal(x netlink.Encap) bool {
	o, ok := x.(*xmitProg)
	return ok && *o == *e
}

// rtattr is a route attribute: length, type, data, padded to 4 bytes.
func rtattr(typ int, data []byte) []byte {
	b := binary.NativeEndian.AppendUint16(nil, uint16(4+len(data)))
	b = binary.NativeEndian.AppendUint16(b, uint16(typ))
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// delRoute deletes a route of the table by destination: what its
// program is does not matter (and encoding a listed one would be
// netlink.BpfEncap's, see xmitProg).
func (t *tunnels) delRoute(r netlink.Route) error {
	r.Encap = nil
	return t.h.RouteDel(&r)
}

// undo removes the routes this Apply added, after a failed commit.
func (t *tunnels) undo() {
	for _, r := range t.added {
		t.delRoute(r)
	}
}

// prune removes the routes the committed program no longer uses, the
// rule of a family without TUN real servers, and with none left the
// device.
func (t *tunnels) prune() error {
	var errs []error
	fams := map[int]bool{}
	for real := range t.wantRoutes {
		fams[addrFamily(real)] = true
	}
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		if fams[fam] {
			continue
		}
		rules, err := t.h.RuleListFiltered(fam, &netlink.Rule{Table: t.table}, netlink.RT_FILTER_TABLE)
		errs = append(errs, noFamily(err))
		for i := range rules {
			errs = append(errs, t.h.RuleDel(&rules[i]))
		}
	}
	if len(t.wantRoutes) == 0 {
		// The device's routes go with it.
		if l, err := t.h.LinkByName(t.dev); err == nil && placeholder(l) {
			errs = append(errs, t.h.LinkDel(l))
		}
	}
	old, err := t.routes()
	errs = append(errs, err)
	for _, r := range old {
		if a, ok := routeAddr(r); !ok || !t.wantRoutes[a] {
			errs = append(errs, t.delRoute(r))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("nftables TUN: cleaning up: %w", err)
	}
	return nil
}
