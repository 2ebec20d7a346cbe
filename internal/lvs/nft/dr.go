package nft

import (
	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/vipd/vipd/internal/lvs"
)

// dr returns the rules that send a service's packets, unchanged, to its
// real servers: "dup to REAL" makes the kernel route a copy with the real
// server as next hop (a route with a known next hop, as IPVS DR uses),
// so the copy leaves on whatever link the real server is on, to its MAC,
// still addressed to the virtual address; "drop" ends the original. It
// works after defragmentation, on any incoming interface, and follows
// route changes without an Apply.
//
// Nothing else on this path keeps state (the original never reaches
// conntrack's confirmation), so each real server has a timeout set of
// the connections it took, "flows_<service>_<real>", refreshed by every
// packet, and with persistence a timeout set of its clients,
// "persist_<service>_m<bits>_<real>". Sets per real server, not one map,
// because the real server must be a constant where the packet path
// learns it (see rules.go); the price is a set lookup per real server
// for every packet. New connections are scheduled into a chain per real
// server ("dr_<service>_<real>") that learns them.
func (b *batch) dr(s *service) ([][]expr.Any, error) {
	m := b.match(s)
	flows := map[string]*nftables.Set{}
	persist := map[string]*nftables.Set{}
	keep := func(nftables.SetElement) bool { return true }
	for _, r := range s.Reals {
		if !s.OnePacket {
			f := &nftables.Set{Name: s.flowSet(r), Timeout: s.flowTimeout(), KeyType: s.flowKeyType()}
			if err := b.dynamic(f, keep); err != nil {
				return nil, err
			}
			flows[r.Addr.String()] = f
		}
		if s.Persistence > 0 && r.Weight > 0 {
			p := &nftables.Set{Name: s.persistSet(r), Timeout: s.Persistence, KeyType: s.fam.addrType}
			if err := b.dynamic(p, keep); err != nil {
				return nil, err
			}
			persist[r.Addr.String()] = p
		}
	}
	var rules [][]expr.Any
	// A connection seen before goes where it went (even to a real
	// server now of weight 0), and keeps its client's entry alive.
	for _, r := range s.Reals {
		f := flows[r.Addr.String()]
		if f == nil {
			continue
		}
		if p := persist[r.Addr.String()]; p != nil {
			rules = append(rules, cat(m, flowKey(s), has(f, regKey), persistKey(s), update(p)))
		}
		rules = append(rules, cat(m, flowKey(s), has(f, regKey), update(f), send(r)))
	}
	if len(s.slots) == 0 {
		return append(rules, cat(m, &s.fam.reject)), nil
	}
	// A client seen before goes where it went.
	learn := func(r lvs.Real) []expr.Any {
		var e []expr.Any
		if p := persist[r.Addr.String()]; p != nil {
			e = cat(persistKey(s), update(p))
		}
		if f := flows[r.Addr.String()]; f != nil {
			e = cat(e, flowKey(s), update(f))
		}
		return e
	}
	for _, r := range s.Reals {
		if p := persist[r.Addr.String()]; p != nil {
			rules = append(rules, cat(m, persistKey(s), has(p, regKey), learn(r), send(r)))
		}
	}
	if len(flows) == 0 && len(persist) == 0 {
		pick, err := b.pickData(s)
		if err != nil {
			return nil, err
		}
		return append(rules, cat(m, pick, sendData())), nil
	}
	// Anything else is new: the scheduler picks a chain that learns it.
	// Its second rule sends without learning when a set is full.
	chains := map[string]string{}
	for _, sl := range s.slots {
		r := sl.real
		c := b.chain(s.drChain(r), cat(learn(r), send(r)), send(r))
		chains[r.Addr.String()] = c.Name
	}
	if len(s.slots) == 1 {
		return append(rules, cat(m, &expr.Verdict{Kind: expr.VerdictGoto, Chain: chains[s.slots[0].real.Addr.String()]})), nil
	}
	val := func(r lvs.Real) nftables.SetElement {
		return nftables.SetElement{VerdictData: &expr.Verdict{Kind: expr.VerdictGoto, Chain: chains[r.Addr.String()]}}
	}
	vmap, total, err := b.schedMap(s, val, nftables.TypeVerdict)
	if err != nil {
		return nil, err
	}
	return append(rules, cat(m, index(s, total),
		&expr.Lookup{SourceRegister: regData, DestRegister: 0, IsDestRegSet: true, SetName: vmap.Name, SetID: vmap.ID})), nil
}

// send duplicates the packet to the real server and drops the original.
func send(r lvs.Real) []expr.Any {
	return cat(&expr.Immediate{Register: regData, Data: r.Addr.AsSlice()}, sendData())
}

// sendData is send to the real server in regData.
func sendData() []expr.Any {
	return []expr.Any{&expr.Dup{RegAddr: regData}, &expr.Verdict{Kind: expr.VerdictDrop}}
}

// flowKey is a DR connection in regKey (see flowKeyType).
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
