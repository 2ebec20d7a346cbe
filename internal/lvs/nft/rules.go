package nft

import (
	"encoding/binary"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/vipd/vipd/internal/lvs"
)

// Rules are built so that nft (1.0.6, Debian 12) can list them: it
// aborts on a set or map update whose key or data came from a map lookup
// or from "ct original saddr" (use "ct original ip saddr", which
// google/nftables cannot send), so what the packet path learns is always
// a packet header or a constant.

// Registers. The chosen real server (address, then port) lives in
// regData, up to 20 bytes for IPv6 address.port; keys are built from
// regKey on, up to the 44 bytes of an IPv6 fwmark flow key. Matching
// uses regData before anything is chosen.
const (
	regData = unix.NFT_REG32_00
	regKey  = unix.NFT_REG32_05
)

// Chain priorities.
var (
	// natPriority is the usual dnat priority, in prerouting and output.
	natPriority = nftables.ChainPriorityNATDest
	// learnPriority comes after dnat, when conntrack's reply tuple
	// names the real server.
	learnPriority = nftables.ChainPriorityRef(*nftables.ChainPriorityNATDest + 10)
	// drPriority comes after mangle, so that fwmarks set there count,
	// and before dnat.
	drPriority = nftables.ChainPriorityRef(*nftables.ChainPriorityMangle + 10)
	// opsPriority is raw's, before conntrack, which must not see ops
	// datagrams; opsReplyPriority is where conntrack would undo a dnat.
	opsPriority      = nftables.ChainPriorityRaw
	opsReplyPriority = nftables.ChainPriorityNATSource
)

// hashSeed is fixed so that sh and dh send a client (or destination) to
// the same real server after every Apply and restart.
const hashSeed = 0x76697064

// Conntrack's IPS_DST_NAT status bit and tuple directions.
const (
	ipsDstNAT   = 1 << 5
	dirOriginal = 0
	dirReply    = 1
)

// dynamicSize caps each set or map the packet path writes to (the
// kernel's default is 65535). When one is full, clients are still
// balanced, without being remembered. The kernel does not allocate for
// the cap up front.
const dynamicSize = 1 << 20

// elemChunk bounds the elements in one netlink message: an attribute
// holds at most 64 KiB.
const elemChunk = 256

// batch builds one netlink batch. Set IDs are ours, not the library's
// package-wide counter, so that concurrent batches cannot race on it.
type batch struct {
	conn *nftables.Conn
	t    *nftables.Table
	id   uint32
	// old holds the entries the table's dynamic maps had, by name.
	old    map[string][]nftables.SetElement
	protos *nftables.Set
	// persist holds the NAT persistence maps made so far, by name.
	persist map[string]*nftables.Set
	// tunDev is the device TUN copies leave by (tunnel.go).
	tunDev int
	// timeouts are lvs_timeouts (timeouts.go).
	timeouts lvs.Timeouts
}

func (b *batch) nextID() uint32 {
	b.id++
	return b.id
}

// program fills table t (just created in the batch) with the services.
func (b *batch) program(t *nftables.Table, svcs []*service, old map[string][]nftables.SetElement) error {
	b.t, b.old, b.protos, b.persist = t, old, nil, map[string]*nftables.Set{}
	var nat, learn, dr, ops, opsReply [][]expr.Any
	for _, s := range svcs {
		if s.FWMark != 0 && b.protos == nil {
			// IPVS balances these protocols only, whatever the mark.
			b.protos = &nftables.Set{Table: t, ID: b.nextID(), Name: "fwmark_protos", Constant: true,
				KeyType: nftables.TypeInetProto}
			err := b.conn.AddSet(b.protos, []nftables.SetElement{
				{Key: []byte{unix.IPPROTO_TCP}}, {Key: []byte{unix.IPPROTO_UDP}}, {Key: []byte{unix.IPPROTO_SCTP}}})
			if err != nil {
				return err
			}
		}
		var st *fwdSets
		var fwd, n, l [][]expr.Any
		if s.fwd {
			var err error
			if st, err = b.addFwdSets(s); err != nil {
				return err
			}
			if fwd, err = b.fwd(s, st); err != nil {
				return err
			}
		}
		if s.schedNAT() {
			var err error
			if n, l, err = b.nat(s, st); err != nil {
				return err
			}
		}
		// After nat, which makes the persistence map IPsec refreshes;
		// before the service's rules, which would schedule IKE anew.
		in, il, id, err := b.ipsec(s, st)
		if err != nil {
			return err
		}
		dr = append(append(dr, id...), fwd...)
		nat = append(append(nat, in...), n...)
		learn = append(append(learn, l...), il...)
		if s.ops {
			o, r, err := b.ops(s)
			if err != nil {
				return err
			}
			ops, opsReply = append(ops, o...), append(opsReply, r...)
		}
	}
	if len(nat) > 0 {
		b.chains("nat", nftables.ChainTypeNAT, natPriority, nat,
			nftables.ChainHookPrerouting, nftables.ChainHookOutput)
	}
	if len(learn) > 0 {
		b.chains("persist", nftables.ChainTypeFilter, learnPriority, learn,
			nftables.ChainHookPrerouting, nftables.ChainHookOutput)
	}
	if len(dr) > 0 {
		// Prerouting only: the copy dup sends passes the output hook,
		// where a DR rule would take it again.
		b.chains("dr", nftables.ChainTypeFilter, drPriority, dr, nftables.ChainHookPrerouting)
	}
	if len(ops) > 0 {
		b.chains("ops", nftables.ChainTypeFilter, opsPriority, ops, nftables.ChainHookPrerouting)
		b.chains("ops_reply", nftables.ChainTypeFilter, opsReplyPriority, opsReply, nftables.ChainHookPostrouting)
	}
	return nil
}

// chains adds a regular chain holding the rules, and a base chain per
// hook that jumps to it (so that prerouting and output share rules, and
// numgen counters).
func (b *batch) chains(name string, typ nftables.ChainType, prio *nftables.ChainPriority,
	rules [][]expr.Any, hooks ...*nftables.ChainHook) {
	body := b.chain(name, rules...)
	for _, h := range hooks {
		hookName := map[nftables.ChainHook]string{
			*nftables.ChainHookPrerouting: "prerouting", *nftables.ChainHookOutput: "output",
			*nftables.ChainHookPostrouting: "postrouting"}[*h]
		c := b.conn.AddChain(&nftables.Chain{Name: name + "_" + hookName, Table: b.t, Type: typ,
			Hooknum: h, Priority: prio})
		b.conn.AddRule(&nftables.Rule{Table: b.t, Chain: c, Exprs: []expr.Any{
			&expr.Verdict{Kind: expr.VerdictJump, Chain: body.Name}}})
	}
}

// chain adds a regular chain with the rules.
func (b *batch) chain(name string, rules ...[]expr.Any) *nftables.Chain {
	c := b.conn.AddChain(&nftables.Chain{Name: name, Table: b.t})
	for _, r := range rules {
		b.conn.AddRule(&nftables.Rule{Table: b.t, Chain: c, Exprs: r})
	}
	return c
}

// dynamic adds a set or map the packet path writes to, with the entries
// of its namesake in the old table that keep returns true for (each
// keeping the time it had left), a chunk per message.
func (b *batch) dynamic(s *nftables.Set, keep func(nftables.SetElement) bool) error {
	s.Table, s.ID, s.HasTimeout, s.Dynamic, s.Size = b.t, b.nextID(), true, true, dynamicSize
	if err := b.conn.AddSet(s, nil); err != nil {
		return err
	}
	var elems []nftables.SetElement
	for _, e := range b.old[s.Name] {
		if len(e.Key) == int(s.KeyType.Bytes) && e.Expires > 0 && keep(e) {
			elems = append(elems, nftables.SetElement{Key: e.Key, Val: e.Val, Timeout: e.Expires})
		}
	}
	for len(elems) > 0 {
		n := min(len(elems), elemChunk)
		if err := b.conn.SetAddElements(s, elems[:n]); err != nil {
			return err
		}
		elems = elems[n:]
	}
	return nil
}

// cat joins expressions and lists of them.
func cat(parts ...any) []expr.Any {
	var out []expr.Any
	for _, p := range parts {
		switch p := p.(type) {
		case []expr.Any:
			out = append(out, p...)
		case expr.Any:
			out = append(out, p)
		}
	}
	return out
}

// match is the packets of a service: destination address, protocol and
// port, or the firewall mark.
func (b *batch) match(s *service) []expr.Any {
	f := s.fam
	if s.FWMark != 0 {
		return []expr.Any{
			&expr.Meta{Key: expr.MetaKeyMARK, Register: regData},
			&expr.Cmp{Op: expr.CmpOpEq, Register: regData, Data: binaryutil.NativeEndian.PutUint32(s.FWMark)},
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: regData},
			has(b.protos, regData),
		}
	}
	e := []expr.Any{
		&expr.Payload{DestRegister: regData, Base: expr.PayloadBaseNetworkHeader, Offset: f.daddr, Len: f.addrLen},
		&expr.Cmp{Op: expr.CmpOpEq, Register: regData, Data: s.Addr.AsSlice()},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: regData},
		&expr.Cmp{Op: expr.CmpOpEq, Register: regData, Data: []byte{s.proto}},
	}
	if s.Port != 0 {
		e = append(e,
			&expr.Payload{DestRegister: regData, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: regData, Data: binaryutil.BigEndian.PutUint16(s.Port)})
	}
	return e
}

// index puts the scheduler's choice in regData as a big-endian key
// (the order the kernel compares interval keys in) in [0, total): a
// counter for rr and wrr, a hash of the client for sh, of the
// destination for dh.
func index(s *service, total uint32) []expr.Any {
	f := s.fam
	var e []expr.Any
	switch s.sched {
	case schedSH:
		n := f.addrLen
		e = append(e, &expr.Payload{DestRegister: regKey, Base: expr.PayloadBaseNetworkHeader, Offset: f.saddr, Len: f.addrLen})
		if s.HashPort {
			e = append(e, &expr.Payload{DestRegister: regKey + f.addrLen/4, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 2})
			n += 4
		}
		e = append(e, &expr.Hash{SourceRegister: regKey, DestRegister: regData, Length: n, Modulus: total,
			Seed: hashSeed, Type: expr.HashTypeJenkins})
	case schedDH:
		e = append(e,
			&expr.Payload{DestRegister: regKey, Base: expr.PayloadBaseNetworkHeader, Offset: f.daddr, Len: f.addrLen},
			&expr.Hash{SourceRegister: regKey, DestRegister: regData, Length: f.addrLen, Modulus: total,
				Seed: hashSeed, Type: expr.HashTypeJenkins})
	default:
		e = append(e, &expr.Numgen{Register: regData, Modulus: total, Type: unix.NFT_NG_INCREMENTAL})
	}
	return append(e, &expr.Byteorder{SourceRegister: regData, DestRegister: regData, Op: expr.ByteorderHton, Len: 4, Size: 4})
}

// schedMap adds a scheduler's map: key ranges sized by weight, so wrr
// 3:1 is { 0-2 : A, 3 : B }. val gives a real server's data or verdict.
// It returns the map and the number of keys.
func (b *batch) schedMap(s *service, name string, slots []slot, val func(lvs.Real) nftables.SetElement,
	dataType nftables.SetDatatype) (*nftables.Set, uint32, error) {
	var total uint32
	var elems []nftables.SetElement
	for _, sl := range slots {
		e := val(sl.real)
		e.Key = be32(total)
		elems = append(elems, e)
		total += sl.n
		// A named interval map wants every interval closed.
		elems = append(elems, nftables.SetElement{Key: be32(total), IntervalEnd: true})
	}
	m := &nftables.Set{Table: b.t, ID: b.nextID(), Name: name, Constant: true,
		Interval: true, IsMap: true, KeyType: nftables.TypeInteger, DataType: dataType}
	if err := b.conn.AddSet(m, elems); err != nil {
		return nil, 0, err
	}
	return m, total, nil
}

// schedule sends a new connection to the scheduler's choice, through a
// verdict map "sched_<service>" to the chosen real server's chain, which
// applies that real server's method: dnat for NAT, learn and send for DR
// and TUN (st holds their sets).
func (b *batch) schedule(s *service, st *fwdSets) ([]expr.Any, error) {
	made := map[string]bool{}
	chain := func(r lvs.Real) *expr.Verdict {
		name := s.realChain(r)
		if !made[name] {
			made[name] = true
			if r.Method == lvs.NAT {
				b.chain(name, cat(s.natData(r), s.dnat()))
			} else if learn := st.learn(s, r); len(learn) > 0 {
				// The second rule sends without learning when a
				// set is full.
				b.chain(name, cat(learn, b.send(r)), b.send(r))
			} else {
				b.chain(name, b.send(r))
			}
		}
		return &expr.Verdict{Kind: expr.VerdictGoto, Chain: name}
	}
	if len(s.slots) == 1 {
		return []expr.Any{chain(s.slots[0].real)}, nil
	}
	val := func(r lvs.Real) nftables.SetElement { return nftables.SetElement{VerdictData: chain(r)} }
	vmap, total, err := b.schedMap(s, "sched_"+s.ident, s.slots, val, nftables.TypeVerdict)
	if err != nil {
		return nil, err
	}
	return cat(index(s, total),
		&expr.Lookup{SourceRegister: regData, DestRegister: 0, IsDestRegSet: true, SetName: vmap.Name, SetID: vmap.ID}), nil
}

// persistKey is the client, its source address masked to the
// persistence granularity, in regKey.
func persistKey(s *service) []expr.Any {
	f := s.fam
	e := []expr.Any{&expr.Payload{DestRegister: regKey, Base: expr.PayloadBaseNetworkHeader, Offset: f.saddr, Len: f.addrLen}}
	return append(e, mask(s)...)
}

func mask(s *service) []expr.Any {
	if s.mask == nil {
		return nil
	}
	return []expr.Any{&expr.Bitwise{SourceRegister: regKey, DestRegister: regKey, Len: s.fam.addrLen,
		Mask: s.mask, Xor: make([]byte, s.fam.addrLen)}}
}

// has finds the value in reg in the set.
func has(set *nftables.Set, reg uint32) *expr.Lookup {
	return &expr.Lookup{SourceRegister: reg, SetName: set.Name, SetID: set.ID}
}

// get loads the map's data for the key in regKey into regData.
func get(set *nftables.Set) *expr.Lookup {
	return &expr.Lookup{SourceRegister: regKey, DestRegister: regData, IsDestRegSet: true,
		SetName: set.Name, SetID: set.ID}
}

// update adds the key in regKey (with the data in regData, for a map)
// or restarts the timeout of the entry already there, keeping its data.
func update(set *nftables.Set) *expr.Dynset {
	d := &expr.Dynset{SrcRegKey: regKey, SetName: set.Name, SetID: set.ID,
		Operation: unix.NFT_DYNSET_OP_UPDATE, Timeout: set.Timeout}
	if set.IsMap {
		d.SrcRegData = regData
	}
	return d
}

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
