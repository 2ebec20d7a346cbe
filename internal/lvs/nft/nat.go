package nft

import (
	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"

	"github.com/vipd/vipd/internal/lvs"
)

// nat returns the rules that schedule a service's new connections in
// the nat chain (which sees only their first packet; conntrack does the
// rest), for a service with NAT real servers, and with persistence the
// rules that learn where its clients went.
//
// A service of NAT real servers alone DNATs to the real server a map
// gives for the scheduler's choice. One that mixes methods picks, with
// a verdict map, the chosen real server's chain "to_<service>_<real>",
// which DNATs or, for a DR or TUN real server, learns the connection and
// sends it as dr.go does: conntrack sees every packet of a DR connection
// as new (none is ever confirmed), so those dr.go does not know yet come
// here. Local clients (the output hook) are balanced over the NAT real
// servers alone, or reach the host itself if none takes new connections:
// a DR or TUN real server would answer a local client at the virtual
// address it holds itself.
//
// Persistence is a map "persist_<service>_m<bits>" from client (source
// address masked to PersistenceBits) to NAT real server. A client in it
// is DNATed there; otherwise the scheduler chooses. After dnat, every
// packet of the service's connections (either way) writes its client and
// real server into the map, or restarts the entry's timeout: a client
// stays put until Persistence after its last packet, as an IPVS
// persistence template outlives its client's last connection.
// Only real servers that take new connections (set "active_<service>")
// are learned, so that an old connection to a real server of weight 0
// does not draw its client's new ones. DR and TUN real servers have sets
// of their own (dr.go).
func (b *batch) nat(s *service, st *fwdSets) (nat, learn [][]expr.Any, err error) {
	m := b.match(s)
	if len(s.slots) == 0 {
		// IPVS answers a service without real servers so. "ct
		// state new" (the only state this chain sees) keeps
		// conntrack on even when no dnat is left: the kernel turns
		// it off with its last user, and the service's established
		// connections would lose their real servers.
		return [][]expr.Any{cat(m,
			&expr.Ct{Key: expr.CtKeySTATE, Register: regData},
			&expr.Bitwise{SourceRegister: regData, DestRegister: regData, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitNEW), Xor: make([]byte, 4)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: regData, Data: make([]byte, 4)},
			&s.fam.reject)}, nil, nil
	}
	var sched [][]expr.Any
	if !s.mixed() {
		pick, err := b.pickData(s, "sched_"+s.ident, s.slots)
		if err != nil {
			return nil, nil, err
		}
		sched = [][]expr.Any{cat(m, pick, s.dnat())}
	} else {
		var natReals []lvs.Real
		for _, r := range s.Reals {
			if r.Method == lvs.NAT {
				natReals = append(natReals, r)
			}
		}
		local := []expr.Any{&expr.Verdict{Kind: expr.VerdictAccept}}
		if sl := slots(s.sched, natReals); len(sl) > 0 {
			pick, err := b.pickData(s, "local_"+s.ident, sl)
			if err != nil {
				return nil, nil, err
			}
			local = cat(pick, s.dnat())
		}
		pick, err := b.schedule(s, st)
		if err != nil {
			return nil, nil, err
		}
		sched = [][]expr.Any{cat(m, isLocal(), local), cat(m, pick)}
	}
	if s.Persistence == 0 {
		return sched, nil, nil
	}
	persist := &nftables.Set{Name: s.persistMap(), IsMap: true, Timeout: s.Persistence,
		KeyType: s.fam.addrType, DataType: s.dataType()}
	err = b.dynamic(persist, func(e nftables.SetElement) bool { return s.active[string(e.Val)] })
	if err != nil {
		return nil, nil, err
	}
	b.persist[persist.Name] = persist
	var elems []nftables.SetElement
	for _, r := range s.Reals {
		if r.Method == lvs.NAT && r.Weight > 0 {
			elems = append(elems, nftables.SetElement{Key: s.data(r)})
		}
	}
	active := &nftables.Set{Table: b.t, ID: b.nextID(), Name: "active_" + s.ident, Constant: true,
		KeyType: s.dataType()}
	if err := b.conn.AddSet(active, elems); err != nil {
		return nil, nil, err
	}
	nat = append([][]expr.Any{cat(m, persistKey(s), get(persist), s.dnat())}, sched...)
	learn = b.learnRules(s, active, persist)
	return nat, learn, nil
}

// pickData puts the scheduler's NAT real server, of those in slots, in
// regData, through a map of that name.
func (b *batch) pickData(s *service, name string, slots []slot) ([]expr.Any, error) {
	if len(slots) == 1 {
		return s.natData(slots[0].real), nil
	}
	val := func(r lvs.Real) nftables.SetElement { return nftables.SetElement{Val: s.data(r)} }
	m, total, err := b.schedMap(s, name, slots, val, s.dataType())
	if err != nil {
		return nil, err
	}
	return cat(index(s, total), &expr.Lookup{SourceRegister: regData, DestRegister: regData, IsDestRegSet: true,
		SetName: m.Name, SetID: m.ID}), nil
}

// natData puts a NAT real server in regData.
func (s *service) natData(r lvs.Real) []expr.Any {
	d := s.data(r)
	e := []expr.Any{&expr.Immediate{Register: regData, Data: d[:s.fam.addrLen]}}
	if s.withPort {
		e = append(e, &expr.Immediate{Register: regData + s.fam.addrLen/4, Data: d[s.fam.addrLen:]})
	}
	return e
}

// isLocal matches packets of local clients: only the output hook has no
// input interface.
func isLocal() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIF, Register: regData},
		&expr.Cmp{Op: expr.CmpOpEq, Register: regData, Data: make([]byte, 4)},
	}
}

// dnat sends to the real server in regData.
func (s *service) dnat() *expr.NAT {
	n := &expr.NAT{Type: expr.NATTypeDestNAT, Family: s.fam.nfproto, RegAddrMin: regData}
	if s.withPort {
		n.RegProtoMin = regData + s.fam.addrLen/4
		n.Specified = true
	}
	return n
}

// matchConn is the packets, either way, of the service's connections
// that were DNATed: the conntrack entry's original tuple is the service.
func (b *batch) matchConn(s *service) []expr.Any {
	var e []expr.Any
	if s.FWMark != 0 {
		// Client to service only: the mark is on those packets.
		e = []expr.Any{
			&expr.Meta{Key: expr.MetaKeyMARK, Register: regData},
			&expr.Cmp{Op: expr.CmpOpEq, Register: regData, Data: binaryutil.NativeEndian.PutUint32(s.FWMark)},
		}
	} else {
		e = []expr.Any{
			&expr.Ct{Key: expr.CtKeyDST, Direction: dirOriginal, Register: regData},
			&expr.Cmp{Op: expr.CmpOpEq, Register: regData, Data: s.Addr.AsSlice()},
			&expr.Ct{Key: expr.CtKeyPROTOCOL, Register: regData},
			&expr.Cmp{Op: expr.CmpOpEq, Register: regData, Data: []byte{s.proto}},
		}
		if s.Port != 0 {
			e = append(e,
				&expr.Ct{Key: expr.CtKeyPROTODST, Direction: dirOriginal, Register: regData},
				&expr.Cmp{Op: expr.CmpOpEq, Register: regData, Data: binaryutil.BigEndian.PutUint16(s.Port)})
		}
	}
	return append(e, dnatted()...)
}

// learnRules write the client and real server of a packet of a DNATed
// connection into the persistence map, from the packet's headers (which
// dnat has rewritten by now): client to real server in the original
// direction, the other way round in the reply direction.
func (b *batch) learnRules(s *service, active, persist *nftables.Set) [][]expr.Any {
	f := s.fam
	var out [][]expr.Any
	for _, dir := range []struct {
		ct                  byte
		client, real, rport uint32
	}{
		{dirOriginal, f.saddr, f.daddr, 2},
		{dirReply, f.daddr, f.saddr, 0},
	} {
		e := cat(b.matchConn(s),
			&expr.Ct{Key: expr.CtKeyDIRECTION, Register: regData},
			&expr.Cmp{Op: expr.CmpOpEq, Register: regData, Data: []byte{dir.ct}},
			&expr.Payload{DestRegister: regData, Base: expr.PayloadBaseNetworkHeader, Offset: dir.real, Len: f.addrLen})
		if s.withPort {
			e = append(e, &expr.Payload{DestRegister: regData + f.addrLen/4, Base: expr.PayloadBaseTransportHeader,
				Offset: dir.rport, Len: 2})
		}
		e = cat(e, has(active, regData),
			&expr.Payload{DestRegister: regKey, Base: expr.PayloadBaseNetworkHeader, Offset: dir.client, Len: f.addrLen},
			mask(s), update(persist))
		out = append(out, e)
	}
	return out
}
