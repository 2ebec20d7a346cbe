package nft

import (
	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/vipd/vipd/internal/lvs"
)

// One-packet scheduling (ops) of NAT real servers. IPVS schedules each
// UDP datagram of such a service on its own and keeps no connection.
// Conntrack's NAT cannot: it binds every later datagram of a flow (same
// addresses and ports) to the first one's real server. So these
// datagrams leave conntrack ("notrack") and are rewritten statelessly:
//
//   - chain "ops" at prerouting, raw priority (before conntrack): a
//     datagram to the service is untracked, given a real server by the
//     scheduler (a counter or hash of its own, "ops_<service>"), and its
//     destination address and port rewritten to it, checksums fixed up
//     as the kernel's dnat would. Routing then forwards it there.
//     With persistence the client's entry in the service's persistence
//     map wins over the scheduler, and every datagram refreshes it.
//   - the same chain untracks datagrams from a real server's address and
//     port that are forwarded (not to this host); chain "ops_reply" at
//     postrouting then gives them the service's address and port as
//     source, where conntrack would undo a dnat. After routing, since a
//     packet from one of this host's own addresses is dropped as a
//     martian before it.
//
// Without conntrack a reply is known by its source alone, so plan
// refuses a real server's address and port that answers UDP for another
// NAT service too, a fwmark service (a reply cannot say which address
// the client asked) and NAT real servers with DR or TUN ones.
//
// Local clients (the output hook) and datagrams to this host, such as a
// health checker's replies, stay tracked: the service's rules in the nat
// chain balance local clients as a flow, the way NAT services are. Those
// nat rules also keep conntrack registered in the namespace, with its
// defragmentation ahead of the raw chain: a datagram in fragments is
// rewritten whole.

// Checksum fix-ups. A rewrite of an address or port must fix the UDP
// checksum (which covers the addresses through its pseudo-header and the
// ports as data), as the kernel's dnat does, leaving alone an IPv4
// datagram sent without one (checksum 0), and the IPv4 header checksum.
// The kernel does the UDP part for a payload write flagged
// NFT_PAYLOAD_L4CSUM_PSEUDOHDR (skipping checksum 0, and a checksum the
// sender's device will finish). google/nftables v0.3.0 sends that flag
// only along with a checksum type, though, and "inet" fixes a 16-bit
// checksum at a given offset: where there is no such checksum to fix
// (an IPv6 address, a port), the offset given is that of the field being
// written itself, whose bytes the write then replaces. (nft writes a port
// with an inet fix-up of the UDP checksum, which turns checksum 0 into a
// wrong one.)
const ipv4CsumOffset = 10

// ops returns the rules// ops returns the rules of the ops chain and of the ops_reply chain for
// an ops service. A service with no real server taking datagrams has
// none: its datagrams stay tracked and the nat chain rejects them.
func (b *batch) ops(s *service) (raw, reply [][]expr.Any, err error) {
	if len(s.slots) > 0 {
		m := cat(b.match(s), &expr.Notrack{})
		persist := b.persist[s.persistMap()]
		if persist != nil {
			raw = append(raw, cat(m, persistKey(s), get(persist), s.rewriteDst(), s.learnDst(persist), accept()))
		}
		pick, err := b.pickData(s, "ops_"+s.ident, s.slots)
		if err != nil {
			return nil, nil, err
		}
		rule := cat(m, pick, s.rewriteDst())
		if persist != nil {
			rule = cat(rule, persistKey(s), s.learnDst(persist))
		}
		raw = append(raw, cat(rule, accept()))
	}
	for _, r := range s.Reals {
		// Every real server, weight 0 too: its replies to datagrams it
		// took before are still on their way.
		from := s.fromReal(r)
		raw = append(raw, cat(from, notLocal(), &expr.Notrack{}))
		reply = append(reply, cat(from, untracked(), s.rewriteSrc()))
	}
	return raw, reply, nil
}

// fromReal matches UDP datagrams from a real server's address, and its
// port unless the service has none (a service of all ports keeps the
// client's).
func (s *service) fromReal(r lvs.Real) []expr.Any {
	f := s.fam
	e := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: regData},
		&expr.Cmp{Op: expr.CmpOpEq, Register: regData, Data: []byte{unix.IPPROTO_UDP}},
		&expr.Payload{DestRegister: regData, Base: expr.PayloadBaseNetworkHeader, Offset: f.saddr, Len: f.addrLen},
		&expr.Cmp{Op: expr.CmpOpEq, Register: regData, Data: r.Addr.AsSlice()},
	}
	if s.withPort {
		e = append(e,
			&expr.Payload{DestRegister: regData, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: regData, Data: binaryutil.BigEndian.PutUint16(s.realPort(r))})
	}
	return e
}

// rewriteDst writes the real server in regData (address, then port) as
// the datagram's destination. When the real servers share one port, it
// is written as a constant: nft can show that, not a write of the second
// half of a map's data (it lists that rule with "payload statement has
// no expression", the port write left out; the kernel runs it whole).
func (s *service) rewriteDst() []expr.Any {
	f := s.fam
	e := []expr.Any{s.fam.writeAddr(f.daddr, regData)}
	if !s.withPort {
		return e
	}
	port := regData + f.addrLen/4
	if p, ok := s.onePort(); ok {
		e = append(e, &expr.Immediate{Register: port, Data: binaryutil.BigEndian.PutUint16(p)})
	}
	return append(e, writePort(2, port))
}

// onePort is the port of the NAT real servers, if they share one.
func (s *service) onePort() (uint16, bool) {
	var port uint16
	for _, r := range s.Reals {
		if r.Method != lvs.NAT {
			continue
		}
		if port != 0 && s.realPort(r) != port {
			return 0, false
		}
		port = s.realPort(r)
	}
	return port, port != 0
}

// rewriteSrc gives a reply the service's address, and port, as source.
func (s *service) rewriteSrc() []expr.Any {
	f := s.fam
	e := []expr.Any{
		&expr.Immediate{Register: regData, Data: s.Addr.AsSlice()},
		f.writeAddr(f.saddr, regData),
	}
	if s.withPort {
		e = append(e,
			&expr.Immediate{Register: regData, Data: binaryutil.BigEndian.PutUint16(s.Port)},
			writePort(0, regData))
	}
	return e
}

// learnDst writes the client (in regKey) and the real server the
// datagram now goes to into the persistence map. The real server is
// read back from the rewritten header rather than from the map lookup
// that chose it, so that nft can list the rule (see rules.go).
func (s *service) learnDst(persist *nftables.Set) []expr.Any {
	f := s.fam
	e := []expr.Any{&expr.Payload{DestRegister: regData, Base: expr.PayloadBaseNetworkHeader, Offset: f.daddr, Len: f.addrLen}}
	if s.withPort {
		e = append(e, &expr.Payload{DestRegister: regData + f.addrLen/4, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2})
	}
	return append(e, update(persist))
}

// writeAddr writes the address in reg at offset in the network header,
// with its checksum fix-ups.
func (f *family) writeAddr(offset, reg uint32) *expr.Payload {
	p := &expr.Payload{OperationType: expr.PayloadWrite, SourceRegister: reg, Base: expr.PayloadBaseNetworkHeader,
		Offset: offset, Len: f.addrLen, CsumType: expr.CsumTypeInet, CsumOffset: offset,
		CsumFlags: unix.NFT_PAYLOAD_L4CSUM_PSEUDOHDR}
	if f == ipv4 {
		p.CsumOffset = ipv4CsumOffset
	}
	return p
}

// writePort writes the port in reg at offset in the UDP header, with its
// checksum fix-up.
func writePort(offset, reg uint32) *expr.Payload {
	return &expr.Payload{OperationType: expr.PayloadWrite, SourceRegister: reg, Base: expr.PayloadBaseTransportHeader,
		Offset: offset, Len: 2, CsumType: expr.CsumTypeInet, CsumOffset: offset,
		CsumFlags: unix.NFT_PAYLOAD_L4CSUM_PSEUDOHDR}
}

// notLocal matches packets routed through this host, not to it.
func notLocal() []expr.Any {
	return []expr.Any{
		&expr.Fib{Register: regData, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: regData, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
	}
}

// untracked matches packets conntrack does not follow.
func untracked() []expr.Any {
	return []expr.Any{
		&expr.Ct{Key: expr.CtKeySTATE, Register: regData},
		&expr.Bitwise{SourceRegister: regData, DestRegister: regData, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitUNTRACKED), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: regData, Data: make([]byte, 4)},
	}
}

func accept() *expr.Verdict { return &expr.Verdict{Kind: expr.VerdictAccept} }
