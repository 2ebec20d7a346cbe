package nft

import (
	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/vipd/vipd/internal/lvs"
)

// IPsec (AH and ESP) as IPVS balances it. IPVS has no AH or ESP
// services (it refuses them, and keepalived 2.2.7 does not know the
// protocols); its AH/ESP handler never schedules a packet: an AH or ESP
// packet from client C to address V goes where IPVS's connection UDP
// C:500 -> V:500, the client's IKE exchange, went, with that
// connection's method, and keeps that connection alive; without one it
// is left to the host. Such a connection belongs to a UDP service of V
// on port 500, or of all ports (port 0, persistent), not an ops one
// (IPVS does not keep those).
//
// Here, for such a service:
//
//   - NAT: a map "ike_<service>" from client address to NAT real server,
//     learnt after dnat from the packets of the client's IKE connection
//     (ports 500 both ends) and refreshed by those of its AH and ESP
//     ones. In the nat chain, a new AH or ESP connection of a client in
//     the map is DNATed, address only, to its real server (conntrack
//     tracks AH and ESP by address pair), and so is a new IKE connection
//     of that client: conntrack's entry of the old one may have timed
//     out while IPsec kept IPVS's alive.
//   - DR and TUN: an AH or ESP packet whose client's IKE connection is in
//     a real server's flow set (dr.go) is sent there, and refreshes the
//     entry (and the client's persistence).
//
// What differs from IPVS: once DNATed, an AH or ESP connection is
// conntrack's and lasts its generic timeout (nf_conntrack_generic_timeout,
// 600 s) after its last packet, even when the IKE entry has gone; and a
// fwmark service's IKE connections do not draw IPsec. IPv6 is built the
// same way but untested: conntrack takes IPv6's AH for an extension
// header and tracks what it carries.

const (
	portIKE  = 500
	protoESP = unix.IPPROTO_ESP // 50
	protoAH  = unix.IPPROTO_AH  // 51
)

// ipsec says whether the service's IKE connections draw AH and ESP.
func (s *service) ipsec() bool {
	return s.FWMark == 0 && s.Protocol == lvs.UDP && (s.Port == 0 || s.Port == portIKE) && !s.OnePacket
}

// ikeMap names the map of a service's clients whose IKE went to a NAT
// real server.
func (s *service) ikeMap() string { return "ike_" + s.ident }

// ipsecSets names the dynamic maps ipsec adds, for dynamicSets.
func (s *service) ipsecSets() []string {
	if s.ipsec() && s.nat {
		return []string{s.ikeMap()}
	}
	return nil
}

// isIPsec matches AH and ESP (adjacent protocol numbers) in reg.
func isIPsec(reg uint32) *expr.Range {
	return &expr.Range{Op: expr.CmpOpEq, Register: reg, FromData: []byte{protoESP}, ToData: []byte{protoAH}}
}

// matchIPsec is the AH and ESP packets to the service's address.
func matchIPsec(s *service) []expr.Any {
	f := s.fam
	return []expr.Any{
		&expr.Payload{DestRegister: regData, Base: expr.PayloadBaseNetworkHeader, Offset: f.daddr, Len: f.addrLen},
		&expr.Cmp{Op: expr.CmpOpEq, Register: regData, Data: s.Addr.AsSlice()},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: regData},
		isIPsec(regData),
	}
}

// ikePorts matches a UDP packet from port 500 to port 500.
func ikePorts() []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: regData, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: regData, Data: []byte{portIKE >> 8, portIKE & 0xff, portIKE >> 8, portIKE & 0xff}},
	}
}

// ikeFlowKey is, in regKey, the flow key (flowKeyType) of the IKE
// connection of the packet's client: its address, and port 500 for
// every port the key holds.
func ikeFlowKey(s *service) []expr.Any {
	f := s.fam
	// Two bytes: the kernel zeroes the rest of the register, and nft
	// lists the key as a port.
	port := binaryutil.BigEndian.PutUint16(portIKE)
	e := []expr.Any{
		&expr.Payload{DestRegister: regKey, Base: expr.PayloadBaseNetworkHeader, Offset: f.saddr, Len: f.addrLen},
		&expr.Immediate{Register: regKey + f.addrLen/4, Data: port},
	}
	if s.Port == 0 {
		e = append(e, &expr.Immediate{Register: regKey + f.addrLen/4 + 1, Data: port})
	}
	return e
}

// ipsec returns a service's rules for AH and ESP: those of the nat
// chain (before the service's own), of the persist chain, and of the dr
// chain (before the service's own). st holds the DR and TUN real
// servers' sets.
func (b *batch) ipsec(s *service, st *fwdSets) (nat, learn, dr [][]expr.Any, err error) {
	if !s.ipsec() {
		return nil, nil, nil, nil
	}
	for _, r := range s.Reals {
		if r.Method == lvs.NAT || st.flows[r.Addr] == nil {
			continue
		}
		f := st.flows[r.Addr]
		if p := st.persist[r.Addr]; p != nil {
			dr = append(dr, cat(matchIPsec(s), ikeFlowKey(s), has(f, regKey), persistKey(s), has(p, regKey), update(p)))
		}
		dr = append(dr, cat(matchIPsec(s), ikeFlowKey(s), has(f, regKey), update(f), b.send(r)))
	}
	if !s.nat {
		return nil, nil, dr, nil
	}
	// Entries of a real server no longer there are dropped; one of
	// weight 0 keeps its clients' IPsec, as IPVS keeps connections.
	known := map[string]bool{}
	for _, r := range s.Reals {
		if r.Method == lvs.NAT {
			known[string(s.data(r))] = true
		}
	}
	ike := &nftables.Set{Name: s.ikeMap(), IsMap: true, Timeout: s.flowTimeout(b.timeouts),
		KeyType: s.fam.addrType, DataType: s.dataType()}
	if err := b.dynamic(ike, func(e nftables.SetElement) bool { return known[string(e.Val)] }); err != nil {
		return nil, nil, nil, err
	}
	f := s.fam
	client := &expr.Payload{DestRegister: regKey, Base: expr.PayloadBaseNetworkHeader, Offset: f.saddr, Len: f.addrLen}
	// AH and ESP take the address alone: they have no ports.
	addrOnly := &expr.NAT{Type: expr.NATTypeDestNAT, Family: f.nfproto, RegAddrMin: regData}
	nat = [][]expr.Any{
		cat(matchIPsec(s), client, get(ike), addrOnly),
		cat(b.match(s), ikePorts(), client, get(ike), s.dnat()),
	}
	learn = b.learnIKE(s, ike)
	return nat, learn, dr, nil
}

// learnIKE writes, from every packet of a DNATed IKE connection of the
// service, its client and real server into the ike map, and lets every
// packet of a DNATed AH or ESP connection to the service's address
// restart the timeout of its client's entry (and of its persistence).
func (b *batch) learnIKE(s *service, ike *nftables.Set) [][]expr.Any {
	f := s.fam
	ikeConn := cat(
		&expr.Ct{Key: expr.CtKeyPROTOSRC, Direction: dirOriginal, Register: regData},
		&expr.Cmp{Op: expr.CmpOpEq, Register: regData, Data: binaryutil.BigEndian.PutUint16(portIKE)},
		&expr.Ct{Key: expr.CtKeyPROTODST, Direction: dirOriginal, Register: regData},
		&expr.Cmp{Op: expr.CmpOpEq, Register: regData, Data: binaryutil.BigEndian.PutUint16(portIKE)})
	ipsecConn := cat(
		&expr.Ct{Key: expr.CtKeyDST, Direction: dirOriginal, Register: regData},
		&expr.Cmp{Op: expr.CmpOpEq, Register: regData, Data: s.Addr.AsSlice()},
		&expr.Ct{Key: expr.CtKeyPROTOCOL, Register: regData},
		isIPsec(regData),
		dnatted())
	// The data of a refresh is never written (the entry is there):
	// a constant keeps the rule one nft can list.
	var noData []expr.Any
	if s.withPort {
		noData = []expr.Any{&expr.Immediate{Register: regData + f.addrLen/4, Data: make([]byte, 4)}}
	}
	var out [][]expr.Any
	for _, dir := range []struct {
		ct           byte
		client, real uint32
		rport        uint32
	}{
		{dirOriginal, f.saddr, f.daddr, 2},
		{dirReply, f.daddr, f.saddr, 0},
	} {
		isDir := []expr.Any{
			&expr.Ct{Key: expr.CtKeyDIRECTION, Register: regData},
			&expr.Cmp{Op: expr.CmpOpEq, Register: regData, Data: []byte{dir.ct}},
		}
		e := cat(b.matchConn(s), ikeConn, isDir,
			&expr.Payload{DestRegister: regData, Base: expr.PayloadBaseNetworkHeader, Offset: dir.real, Len: f.addrLen})
		if s.withPort {
			e = append(e, &expr.Payload{DestRegister: regData + f.addrLen/4, Base: expr.PayloadBaseTransportHeader,
				Offset: dir.rport, Len: 2})
		}
		e = cat(e, &expr.Payload{DestRegister: regKey, Base: expr.PayloadBaseNetworkHeader, Offset: dir.client, Len: f.addrLen},
			update(ike))
		out = append(out, e)
		refresh := cat(ipsecConn, isDir,
			&expr.Payload{DestRegister: regData, Base: expr.PayloadBaseNetworkHeader, Offset: dir.real, Len: f.addrLen},
			noData,
			&expr.Payload{DestRegister: regKey, Base: expr.PayloadBaseNetworkHeader, Offset: dir.client, Len: f.addrLen})
		out = append(out, cat(refresh, has(ike, regKey), update(ike)))
		if p := b.persist[s.persistMap()]; p != nil && s.Persistence > 0 {
			out = append(out, cat(refresh, mask(s), has(p, regKey), update(p)))
		}
	}
	return out
}
