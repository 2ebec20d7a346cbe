package nft

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/vipd/vipd/internal/lvs"
)

// family is what differs between the ip and ip6 tables.
type family struct {
	name         string
	table        nftables.TableFamily
	nfproto      uint32
	addrLen      uint32
	saddr, daddr uint32 // offsets in the network header
	addrType     nftables.SetDatatype
	reject       expr.Reject // ICMP port unreachable, as IPVS sends
}

var (
	ipv4 = &family{name: "ip", table: nftables.TableFamilyIPv4, nfproto: unix.NFPROTO_IPV4, addrLen: 4,
		saddr: 12, daddr: 16, addrType: nftables.TypeIPAddr,
		reject: expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: 3}}
	ipv6 = &family{name: "ip6", table: nftables.TableFamilyIPv6, nfproto: unix.NFPROTO_IPV6, addrLen: 16,
		saddr: 8, daddr: 24, addrType: nftables.TypeIP6Addr,
		reject: expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: 4}}
	families = []*family{ipv4, ipv6}
)

// service is a validated lvs.Service with what its rules need.
type service struct {
	lvs.Service
	fam   *family
	name  string // for messages: "TCP 192.0.2.1:80", "fwmark 3 (IPv4)"
	ident string // for map names: "tcp_192_0_2_1_80", "fwmark3"
	proto byte
	sched string // one of the exact ones
	slots []slot
	// nat and fwd: the service has NAT real servers, and DR or TUN
	// ones (which forward the packet unchanged).
	nat, fwd bool
	// withPort: NAT data is address.port, else address alone (a
	// service without ports keeping the client's).
	withPort bool
	// active holds the NAT real servers that take new connections
	// (weight > 0) as map data.
	active map[string]bool
	// mask is the persistence granularity, one bit per address bit;
	// nil: whole addresses. maskName tells masks apart in set names.
	mask     []byte
	maskName string
	// ops: one-packet scheduling of NAT real servers, done without
	// conntrack (ops.go).
	ops bool
}

// mixed: the service's real servers forward in different ways, one of
// them NAT.
func (s *service) mixed() bool { return s.nat && s.fwd }

// schedNAT: new connections are scheduled in the nat chain, where every
// method can be applied; a service that only forwards (DR, TUN) is
// scheduled before it and needs no conntrack.
func (s *service) schedNAT() bool { return !s.fwd || s.nat }

func protoNumber(p lvs.Protocol) (byte, bool) {
	switch p {
	case lvs.TCP:
		return unix.IPPROTO_TCP, true
	case lvs.UDP:
		return unix.IPPROTO_UDP, true
	case lvs.SCTP:
		return unix.IPPROTO_SCTP, true
	}
	return 0, false
}

// plan validates every service before anything is sent, so that a bad
// one leaves the running program alone. It returns the services, and the
// tunnel to each TUN real server.
func plan(services []lvs.Service) ([]*service, map[netip.Addr]tunnel, error) {
	out := make([]*service, 0, len(services))
	seen := map[string]bool{}
	tunnels := map[netip.Addr]tunnel{}
	for i := range services {
		s, err := planOne(services[i])
		if err != nil {
			return nil, nil, err
		}
		key := s.fam.name + " " + s.ident
		if seen[key] {
			return nil, nil, fmt.Errorf("virtual service %s: %w", s.name, ErrDuplicate)
		}
		seen[key] = true
		for _, r := range s.Reals {
			if r.Method != lvs.TUN {
				continue
			}
			t, _ := checkTunnel(r.Tunnel, r.Addr.Is6())
			if old, ok := tunnels[r.Addr]; ok && old != t {
				// One route per real server carries its tunnel.
				return nil, nil, fmt.Errorf("virtual service %s, real server %v: %w: another service tunnels to it differently",
					s.name, r.Addr, ErrTunnel)
			}
			tunnels[r.Addr] = t
		}
		out = append(out, s)
	}
	if err := opsReplies(out); err != nil {
		return nil, nil, err
	}
	return out, tunnels, nil
}

func planOne(in lvs.Service) (*service, error) {
	s := &service{Service: in, fam: ipv4}
	s.Addr = s.Addr.Unmap()
	// Reals is rewritten below: it must not alias the caller's.
	s.Reals = append([]lvs.Real(nil), in.Reals...)
	proto, ok := protoNumber(s.Protocol)
	switch {
	case s.FWMark != 0:
		if s.IPv6 {
			s.fam = ipv6
		}
		s.name = fmt.Sprintf("fwmark %d (%s)", s.FWMark, map[bool]string{false: "IPv4", true: "IPv6"}[s.IPv6])
		s.ident = fmt.Sprintf("fwmark%d", s.FWMark)
	default:
		if s.Addr.Is6() {
			s.fam = ipv6
		}
		s.name = fmt.Sprintf("%v %v", s.Protocol, netip.AddrPortFrom(s.Addr, s.Port))
		s.ident = fmt.Sprintf("%s_%s_%d", strings.ToLower(s.Protocol.String()), addrIdent(s.Addr), s.Port)
	}
	bad := func(format string, args ...any) (*service, error) {
		return nil, fmt.Errorf("virtual service %s: %w: %s", s.name, ErrService, fmt.Sprintf(format, args...))
	}
	switch {
	case s.FWMark != 0 && s.Addr.IsValid():
		return bad("both an address and a fwmark")
	case s.FWMark == 0 && !s.Addr.IsValid():
		return bad("neither an address nor a fwmark")
	case !ok:
		return bad("protocol %v", s.Protocol)
	case s.Persistence < 0 || s.Persistence > math.MaxUint32*time.Millisecond:
		return bad("persistence timeout %v", s.Persistence)
	}
	s.proto = proto
	if s.FWMark == 0 && s.Protocol != lvs.UDP {
		// IPVS schedules only UDP datagrams one by one.
		s.OnePacket = false
	}
	nearest, _ := Approximates(s.Scheduler)
	if nearest == "" {
		return nil, fmt.Errorf("virtual service %s: %w %q", s.name, ErrScheduler, s.Scheduler)
	}
	s.sched = nearest
	full := int(s.fam.addrLen * 8)
	bits := cmp.Or(s.PersistenceBits, full)
	switch m := s.PersistenceMask; {
	case m.IsValid() && m.BitLen() != full:
		return bad("persistence granularity %v", m)
	case m.IsValid():
		s.mask, s.maskName = m.AsSlice(), fmt.Sprintf("%x", m.AsSlice())
	case bits < 0 || bits > full:
		return bad("persistence granularity /%d", s.PersistenceBits)
	default:
		s.maskName = fmt.Sprint(bits)
		if bits < full {
			s.mask = net.CIDRMask(bits, full)
		}
	}
	var total uint64
	seen := map[netip.AddrPort]bool{}
	// The addresses of every real server, and of the DR and TUN ones.
	addrs, fwdAddrs := map[netip.Addr]bool{}, map[netip.Addr]bool{}
	for i, r := range s.Reals {
		r.Addr = r.Addr.Unmap()
		s.Reals[i] = r
		id := netip.AddrPortFrom(r.Addr, r.Port)
		fwd := r.Method == lvs.DR || r.Method == lvs.TUN
		switch {
		case r.Method != lvs.NAT && !fwd:
			return bad("real server %v: method %v", id, r.Method)
		case !r.Addr.IsValid() || r.Addr.Is6() != (s.fam == ipv6):
			return bad("real server %v: not an %s address", id, s.fam.name)
		case r.Weight < 0:
			return bad("real server %v: weight %d", id, r.Weight)
		case seen[id] || fwdAddrs[r.Addr] || fwd && addrs[r.Addr]:
			// DR and TUN send to an address: its port cannot tell
			// two apart.
			return bad("real server %v twice", id)
		}
		if r.Method == lvs.TUN {
			if _, err := checkTunnel(r.Tunnel, r.Addr.Is6()); err != nil {
				return nil, fmt.Errorf("virtual service %s, real server %v: %w", s.name, id, err)
			}
		}
		seen[id], addrs[r.Addr], fwdAddrs[r.Addr] = true, true, fwd
		s.nat, s.fwd = s.nat || !fwd, s.fwd || fwd
		total += uint64(r.Weight)
	}
	if total > math.MaxUint32 {
		return bad("weights add up to %d", total)
	}
	if s.nat {
		switch {
		case !s.OnePacket:
		case s.FWMark != 0:
			return nil, fmt.Errorf("virtual service %s: %w: a fwmark service has no address for the replies to come from", s.name, ErrOnePacket)
		case s.fwd:
			return nil, fmt.Errorf("virtual service %s: %w: NAT real servers with DR or TUN ones", s.name, ErrOnePacket)
		}
		with, without := 0, 0
		for _, r := range s.Reals {
			switch {
			case r.Method != lvs.NAT:
			case s.realPort(r) != 0:
				with++
			default:
				without++
			}
		}
		if with > 0 && without > 0 {
			return nil, fmt.Errorf("virtual service %s: %w", s.name, ErrMixedPorts)
		}
		s.withPort = with > 0
		if s.OnePacket && s.Port == 0 && s.withPort {
			return nil, fmt.Errorf("virtual service %s: %w: a service of all ports with real server ports: replies cannot say which port they answer", s.name, ErrOnePacket)
		}
		s.ops = s.OnePacket
	}
	s.slots = slots(s.sched, s.Reals)
	s.active = map[string]bool{}
	for _, r := range s.Reals {
		if r.Method == lvs.NAT && r.Weight > 0 {
			s.active[string(s.data(r))] = true
		}
	}
	return s, nil
}

// realPort is where NAT sends a real server's connections: its own port,
// else the service's; 0 keeps the client's destination port.
func (s *service) realPort(r lvs.Real) uint16 {
	if r.Port != 0 {
		return r.Port
	}
	return s.Port
}

// data is a NAT real server as map data: its address, and with ports
// the port in a register of its own (concatenations pad to 32 bits).
func (s *service) data(r lvs.Real) []byte {
	b := r.Addr.AsSlice()
	if s.withPort {
		b = binary.BigEndian.AppendUint16(b, s.realPort(r))
		b = append(b, 0, 0)
	}
	return b
}

func (s *service) dataType() nftables.SetDatatype {
	if s.withPort {
		return nftables.MustConcatSetType(s.fam.addrType, nftables.TypeInetService)
	}
	return s.fam.addrType
}

// persistMap names the persistence map of a service's NAT real servers.
// The granularity is in the name: entries masked differently must not be
// carried over.
func (s *service) persistMap() string {
	return fmt.Sprintf("persist_%s_m%s", s.ident, s.maskName)
}

// persistSet names the persistence set of one DR or TUN real server.
func (s *service) persistSet(r lvs.Real) string {
	return fmt.Sprintf("persist_%s_m%s_%s", s.ident, s.maskName, addrIdent(r.Addr))
}

// flowSet names the set of the connections of one DR or TUN real server.
func (s *service) flowSet(r lvs.Real) string {
	return fmt.Sprintf("flows_%s_%s", s.ident, addrIdent(r.Addr))
}

// realChain names the chain that sends a new connection to one real
// server.
func (s *service) realChain(r lvs.Real) string {
	if r.Method == lvs.NAT {
		return fmt.Sprintf("to_%s_%s_%d", s.ident, addrIdent(r.Addr), r.Port)
	}
	return fmt.Sprintf("to_%s_%s", s.ident, addrIdent(r.Addr))
}

// dynamicSets names the sets and maps of the service that the packet
// path fills, whose entries an Apply carries over.
func (s *service) dynamicSets() []string {
	var out []string
	if s.nat && s.Persistence > 0 {
		out = append(out, s.persistMap())
	}
	out = append(out, s.ipsecSets()...)
	for _, r := range s.Reals {
		if r.Method == lvs.NAT {
			continue
		}
		if !s.OnePacket {
			out = append(out, s.flowSet(r))
		}
		if s.Persistence > 0 && r.Weight > 0 {
			out = append(out, s.persistSet(r))
		}
	}
	return out
}

func addrIdent(a netip.Addr) string {
	return strings.NewReplacer(".", "_", ":", "_").Replace(a.String())
}

// flowKeyType is what identifies a connection of the service: the client
// address and port, plus the destination port for a service of all
// ports, plus everything for a fwmark service (which covers any address
// and protocol).
func (s *service) flowKeyType() nftables.SetDatatype {
	a, port := s.fam.addrType, nftables.TypeInetService
	switch {
	case s.FWMark != 0:
		return nftables.MustConcatSetType(nftables.TypeInetProto, a, a, port, port)
	case s.Port == 0:
		return nftables.MustConcatSetType(a, port, port)
	}
	return nftables.MustConcatSetType(a, port)
}

// flowTimeout is how long a DR or TUN connection is remembered after its
// last packet: lvs_timeouts' udp or tcp, else IPVS's default UDP timeout
// or established TCP timeout. (A fwmark service's flows are of any
// protocol; they take the TCP one.) These flows see only the client's
// packets, no TCP state: tcpfin does not apply to them.
func (s *service) flowTimeout(t lvs.Timeouts) time.Duration {
	if s.FWMark == 0 && s.Protocol == lvs.UDP {
		return cmp.Or(t.UDP, 300*time.Second)
	}
	return cmp.Or(t.TCP, 900*time.Second)
}

// opsReplies checks that the replies an ops service rewrites are its
// own: without conntrack they are known by their source alone, the real
// server's address and port (any port for a service of all ports), so
// no other service may have NAT replies of UDP from there.
func opsReplies(svcs []*service) error {
	type from struct {
		s    *service
		port uint16 // 0: any
	}
	// The NAT real servers that may answer UDP, by address.
	udp := map[netip.Addr][]from{}
	for _, s := range svcs {
		if !s.nat || s.FWMark == 0 && s.Protocol != lvs.UDP {
			continue
		}
		for _, r := range s.Reals {
			if r.Method == lvs.NAT {
				udp[r.Addr] = append(udp[r.Addr], from{s, s.realPort(r)})
			}
		}
	}
	for _, s := range svcs {
		if !s.ops {
			continue
		}
		for _, r := range s.Reals {
			port := s.realPort(r)
			for _, o := range udp[r.Addr] {
				if o.s != s && (port == 0 || o.port == 0 || port == o.port) {
					return fmt.Errorf("virtual service %s, real server %v: %w: virtual service %s has NAT replies from there too",
						s.name, netip.AddrPortFrom(r.Addr, port), ErrOnePacket, o.s.name)
				}
			}
		}
	}
	return nil
}
