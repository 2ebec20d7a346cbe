package nft

import (
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"

	"github.com/vipd/vipd/internal/lvs"
)

// DR and TUN real servers take the packet unchanged: "dup to REAL" makes
// the kernel route a copy with the real server as next hop (a route with
// a known next hop, as IPVS DR uses), so the copy leaves on whatever
// link the real server is on, to its MAC, still addressed to the virtual
// address; "drop" ends the original. It works after defragmentation, on
// any incoming interface, and follows route changes without an Apply.
// TUN adds "device vipdtXXXX", which puts the copy into a tunnel (see
// tunnel.go).
//
// Nothing else on this path keeps state (the original never reaches
// conntrack's confirmation), so each such real server has a timeout set
// of the connections it took, "flows_<service>_<real>", refreshed by
// every packet, and with persistence a timeout set of its clients,
// "persist_<service>_m<bits>_<real>". Sets per real server, not one map,
// because the real server must be a constant where the packet path
// learns it (see rules.go); the price is a set lookup per real server
// for every packet. New connections are scheduled into a chain per real
// server ("to_<service>_<real>") that learns them.

// fwdSets are the sets of a service's DR and TUN real servers, by
// address.
type fwdSets struct {
	flows, persist map[netip.Addr]*nftables.Set
}

// addFwdSets adds them, with what they held before the Apply.
func (b *batch) addFwdSets(s *service) (*fwdSets, error) {
	st := &fwdSets{flows: map[netip.Addr]*nftables.Set{}, persist: map[netip.Addr]*nftables.Set{}}
	keep := func(nftables.SetElement) bool { return true }
	for _, r := range s.Reals {
		if r.Method == lvs.NAT {
			continue
		}
		if !s.OnePacket {
			f := &nftables.Set{Name: s.flowSet(r), Timeout: s.flowTimeout(b.timeouts), KeyType: s.flowKeyType()}
			if err := b.dynamic(f, keep); err != nil {
				return nil, err
			}
			st.flows[r.Addr] = f
		}
		if s.Persistence > 0 && r.Weight > 0 {
			p := &nftables.Set{Name: s.persistSet(r), Timeout: s.Persistence, KeyType: s.fam.addrType}
			if err := b.dynamic(p, keep); err != nil {
				return nil, err
			}
			st.persist[r.Addr] = p
		}
	}
	return st, nil
}

// fwd returns the rules of the dr chain (prerouting, before dnat) for a
// service with DR or TUN real servers: a connection seen before goes
// where it went, a client seen before too; anything else is new, and
// scheduled here unless the service has NAT real servers too (then in
// the nat chain, see nat.go).
func (b *batch) fwd(s *service, st *fwdSets) ([][]expr.Any, error) {
	m := b.match(s)
	var rules [][]expr.Any
	if s.mixed() {
		// The service's NAT connections pass: their packets still
		// have the virtual address here, and one from a client now
		// remembered for a DR real server must not go there. (The
		// rule also keeps conntrack on, with its NAT connections,
		// when no NAT real server takes new ones and the table has
		// no dnat left.)
		rules = append(rules, cat(m, dnatted(), &expr.Verdict{Kind: expr.VerdictAccept}))
	}
	// A connection seen before goes where it went (even to a real
	// server now of weight 0), and keeps its client's entry alive, if
	// the client is still remembered for that real server: a late
	// packet of an old flow must not pin the client back to where it
	// was (IPVS's template is never rewritten by another connection).
	for _, r := range s.Reals {
		f := st.flows[r.Addr]
		if f == nil {
			continue
		}
		if p := st.persist[r.Addr]; p != nil {
			rules = append(rules, cat(m, flowKey(s), has(f, regKey), persistKey(s), has(p, regKey), update(p)))
		}
		rules = append(rules, cat(m, flowKey(s), has(f, regKey), update(f), b.send(r)))
	}
	for _, r := range s.Reals {
		if p := st.persist[r.Addr]; p != nil {
			rules = append(rules, cat(m, persistKey(s), has(p, regKey), st.learn(s, r), b.send(r)))
		}
	}
	if s.schedNAT() {
		return rules, nil
	}
	if len(s.slots) == 0 {
		return append(rules, cat(m, &s.fam.reject)), nil
	}
	pick, err := b.schedule(s, st)
	if err != nil {
		return nil, err
	}
	return append(rules, cat(m, pick)), nil
}

// learn remembers the packet's connection and client for the DR or TUN
// real server.
func (st *fwdSets) learn(s *service, r lvs.Real) []expr.Any {
	var e []expr.Any
	if p := st.persist[r.Addr]; p != nil {
		e = cat(persistKey(s), update(p))
	}
	if f := st.flows[r.Addr]; f != nil {
		e = cat(e, flowKey(s), update(f))
	}
	return e
}

// send duplicates the packet to the DR or TUN real server and drops the
// original.
func (b *batch) send(r lvs.Real) []expr.Any {
	e := []expr.Any{&expr.Immediate{Register: regData, Data: r.Addr.AsSlice()}}
	dup := &expr.Dup{RegAddr: regData}
	if r.Method == lvs.TUN {
		e = append(e, &expr.Immediate{Register: regKey, Data: binaryutil.NativeEndian.PutUint32(uint32(b.tunDev))})
		dup.RegDev, dup.IsRegDevSet = regKey, true
	}
	return append(e, dup, &expr.Verdict{Kind: expr.VerdictDrop})
}

// dnatted matches the packets of connections conntrack has DNATed.
func dnatted() []expr.Any {
	return []expr.Any{
		&expr.Ct{Key: expr.CtKeySTATUS, Register: regData},
		&expr.Bitwise{SourceRegister: regData, DestRegister: regData, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(ipsDstNAT), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: regData, Data: make([]byte, 4)},
	}
}

// flowKey is a DR or TUN connection in regKey (see flowKeyType).
func flowKey(s *service) []expr.Any {
	f := s.fam
	reg := uint32(regKey)
	var e []expr.Any
	load := func(base expr.PayloadBase, off, n uint32) {
		e = append(e, &expr.Payload{DestRegister: reg, Base: base, Offset: off, Len: n})
		reg += (n + 3) / 4
	}
	if s.FWMark != 0 {
		e = append(e, &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg})
		reg++
	}
	load(expr.PayloadBaseNetworkHeader, f.saddr, f.addrLen)
	if s.FWMark != 0 {
		load(expr.PayloadBaseNetworkHeader, f.daddr, f.addrLen)
	}
	load(expr.PayloadBaseTransportHeader, 0, 2)
	if s.FWMark != 0 || s.Port == 0 {
		load(expr.PayloadBaseTransportHeader, 2, 2)
	}
	return e
}
