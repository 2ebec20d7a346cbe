package nft

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"maps"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/vipd/vipd/internal/lvs"
)

// lvs_timeouts. IPVS keeps its connections in a table of its own, with
// one idle timeout for an established TCP connection (tcp), one for a
// TCP connection after a FIN (tcpfin: IPVS's FIN_WAIT state) and one
// for UDP (udp), set for all of IPVS at once. The connections NAT
// balances here are conntrack's, whose timeouts (the
// nf_conntrack_*_timeout sysctls) are the whole namespace's. So they
// get ct timeout policies instead, attached to the balanced connections
// alone, as "ct timeout set" does:
//
//   - tcp is the ESTABLISHED timeout;
//   - tcpfin every state after a FIN: FIN_WAIT, CLOSE_WAIT, LAST_ACK
//     and TIME_WAIT (IPVS has its own CLOSE_WAIT, LAST_ACK and
//     TIME_WAIT, which ipvsadm cannot set; applying tcpfin to them all
//     keeps what the option is for, how long a closing connection
//     lasts);
//   - udp both UDP states, unreplied and replied (IPVS has one);
//   - the other states keep the namespace's sysctls.
//
// DR and TUN connections are not conntrack's: their flow sets (dr.go)
// take tcp and udp as their timeouts.
//
// A policy can only be attached while the connection is new (not yet
// confirmed), so it is attached in a chain after conntrack's hook
// (priority -200) and before dnat. It lives in a table of its own,
// "<table>_ct" (ip and ip6), which an Apply does not delete: deleting a
// policy detaches it from every connection, which would fall back to the
// sysctls' timeouts at each Apply. An Apply rewrites the table's rules
// and keeps its policies, replacing one only when its values change
// (their names carry a hash of the values).

// WithTimeouts sets lvs_timeouts for the connections the dataplane
// balances; zero fields leave the kernel's.
func WithTimeouts(t lvs.Timeouts) Option { return func(o *options) { o.timeouts = t } }

// timeoutPriority is after conntrack, which makes the entry to attach the
// policy to, after mangle, which may set the marks of fwmark services,
// and before dnat.
var timeoutPriority = nftables.ChainPriorityRef(*nftables.ChainPriorityNATDest - 5)

func (d *Dataplane) timeoutTableOf(f *family) *nftables.Table {
	return &nftables.Table{Name: d.opts.table + "_ct", Family: f.table}
}

// ctMu serializes the use of expr.CtTimeout: google/nftables v0.3.0
// builds and parses policies in its package's maps of default values,
// which it writes to. Every policy here gives every state, so what those
// maps held before does not matter.
var ctMu sync.Mutex

// ctPolicy is a ct timeout policy: a protocol and a timeout (seconds)
// for each of its states.
type ctPolicy struct {
	proto  byte
	values map[uint16]uint32
}

// name is "tcp_" or "udp_" and a hash of the values.
func (p ctPolicy) name() string {
	h := fnv.New32a()
	for _, k := range slices.Sorted(maps.Keys(p.values)) {
		binary.Write(h, binary.BigEndian, [2]uint32{uint32(k), p.values[k]})
	}
	return fmt.Sprintf("%s_%08x", map[byte]string{unix.IPPROTO_TCP: "tcp", unix.IPPROTO_UDP: "udp"}[p.proto], h.Sum32())
}

// ctSysctl is a conntrack timeout sysctl (in /proc/sys/net/netfilter,
// after "nf_conntrack_") and Linux's default for it, used when the
// sysctl cannot be read.
type ctSysctl struct {
	state uint16
	name  string
	def   uint32
}

var (
	tcpSysctls = []ctSysctl{
		{expr.CtStateTCPSYNSENT, "tcp_timeout_syn_sent", 120},
		{expr.CtStateTCPSYNRECV, "tcp_timeout_syn_recv", 60},
		{expr.CtStateTCPESTABLISHED, "tcp_timeout_established", 432000},
		{expr.CtStateTCPFINWAIT, "tcp_timeout_fin_wait", 120},
		{expr.CtStateTCPCLOSEWAIT, "tcp_timeout_close_wait", 60},
		{expr.CtStateTCPLASTACK, "tcp_timeout_last_ack", 30},
		{expr.CtStateTCPTIMEWAIT, "tcp_timeout_time_wait", 120},
		{expr.CtStateTCPCLOSE, "tcp_timeout_close", 10},
		// Simultaneous open; the kernel has no sysctl for it and
		// gives it SYN_SENT's default.
		{expr.CtStateTCPSYNSENT2, "", 120},
		{expr.CtStateTCPRETRANS, "tcp_timeout_max_retrans", 300},
		{expr.CtStateTCPUNACK, "tcp_timeout_unacknowledged", 300},
	}
	udpSysctls = []ctSysctl{
		{expr.CtStateUDPUNREPLIED, "udp_timeout", 30},
		{expr.CtStateUDPREPLIED, "udp_timeout_stream", 120},
	}
	tcpFinStates = []uint16{expr.CtStateTCPFINWAIT, expr.CtStateTCPCLOSEWAIT, expr.CtStateTCPLASTACK, expr.CtStateTCPTIMEWAIT}
)

// seconds rounds a timeout up to whole seconds, at least 1.
func seconds(d time.Duration) uint32 {
	return uint32(max(1, (d+time.Second-1)/time.Second))
}

// policies are the ct timeout policies lvs_timeouts asks for, the
// states it does not set taken from the namespace's sysctls; none if it
// sets nothing.
func (d *Dataplane) policies() ([]ctPolicy, error) {
	t := d.opts.timeouts
	if t.TCP <= 0 && t.TCPFin <= 0 && t.UDP <= 0 {
		return nil, nil
	}
	kernel, err := readSysctls(d.opts.netns, append(append([]ctSysctl(nil), tcpSysctls...), udpSysctls...))
	if err != nil {
		return nil, err
	}
	var out []ctPolicy
	if t.TCP > 0 || t.TCPFin > 0 {
		p := ctPolicy{proto: unix.IPPROTO_TCP, values: map[uint16]uint32{}}
		for _, c := range tcpSysctls {
			p.values[c.state] = kernel[c.name]
		}
		if t.TCP > 0 {
			p.values[expr.CtStateTCPESTABLISHED] = seconds(t.TCP)
		}
		if t.TCPFin > 0 {
			for _, s := range tcpFinStates {
				p.values[s] = seconds(t.TCPFin)
			}
		}
		out = append(out, p)
	}
	if t.UDP > 0 {
		out = append(out, ctPolicy{proto: unix.IPPROTO_UDP, values: map[uint16]uint32{
			expr.CtStateUDPUNREPLIED: seconds(t.UDP), expr.CtStateUDPREPLIED: seconds(t.UDP)}})
	}
	return out, nil
}

// readSysctls reads the conntrack timeout sysctls of the namespace,
// by name ("" gets the default). /proc/sys/net shows the namespace of
// the thread that opens it, so the reading is done on a thread of its
// own that enters the namespace and is then thrown away.
func readSysctls(netns int, which []ctSysctl) (map[string]uint32, error) {
	out := map[string]uint32{}
	done := make(chan error, 1)
	go func() {
		// Never unlocked: the thread ends with the goroutine, its
		// namespace with it.
		runtime.LockOSThread()
		if err := unix.Setns(netns, unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("nftables: entering the network namespace to read conntrack timeouts: %w", err)
			return
		}
		for _, c := range which {
			out[c.name] = c.def
			if c.name == "" {
				continue
			}
			// Missing until nf_conntrack is loaded: then the
			// kernel's defaults are what a policy must repeat.
			b, err := os.ReadFile("/proc/sys/net/netfilter/nf_conntrack_" + c.name)
			if err != nil {
				continue
			}
			if v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32); err == nil {
				out[c.name] = uint32(v)
			}
		}
		done <- nil
	}()
	return out, <-done
}

// tableExists says whether the table is there now.
func tableExists(conn *nftables.Conn, t *nftables.Table) (bool, error) {
	tables, err := conn.ListTablesOfFamily(t.Family)
	if err != nil {
		return false, fmt.Errorf("nftables: listing tables: %w", err)
	}
	for _, x := range tables {
		if x.Name == t.Name {
			return true, nil
		}
	}
	return false, nil
}

// ctObjects names the ct timeout policies of the table, if it exists.
func ctObjects(conn *nftables.Conn, t *nftables.Table) (names []string, exists bool, err error) {
	if exists, err = tableExists(conn, t); err != nil || !exists {
		return nil, exists, err
	}
	ctMu.Lock()
	objs, err := conn.GetNamedObjects(t)
	ctMu.Unlock()
	if err != nil {
		return nil, true, fmt.Errorf("nftables: listing the objects of table %s: %w", t.Name, err)
	}
	for _, o := range objs {
		if n, ok := o.(*nftables.NamedObj); ok && n.Type == nftables.ObjTypeCtTimeout {
			names = append(names, n.Name)
		}
	}
	return names, true, nil
}

// timeoutTable adds to the batch what makes the family's timeout table
// attach the policies to the new connections of the NAT services (or
// deletes the table when there is nothing to attach).
func (b *batch) timeoutTable(t *nftables.Table, svcs []*service, policies []ctPolicy) error {
	var nat []*service
	for _, s := range svcs {
		if s.nat {
			nat = append(nat, s)
		}
	}
	have, exists, err := ctObjects(b.conn, t)
	if err != nil {
		return err
	}
	b.conn.AddTable(t)
	if len(nat) == 0 || len(policies) == 0 {
		b.conn.DelTable(t)
		return nil
	}
	if exists {
		// Rules go first: a policy a rule refers to cannot go.
		b.conn.FlushTable(t)
	}
	want := map[string]bool{}
	for _, p := range policies {
		want[p.name()] = true
	}
	for _, name := range have {
		if !want[name] {
			b.conn.DeleteObject(&nftables.NamedObj{Table: t, Name: name, Type: nftables.ObjTypeCtTimeout})
		}
	}
	var refs []expr.Any
	ctMu.Lock()
	for _, p := range policies {
		// Adding one that exists changes nothing (and keeps it
		// attached to its connections).
		b.conn.AddObj(&nftables.NamedObj{Table: t, Name: p.name(), Type: nftables.ObjTypeCtTimeout,
			Obj: &expr.CtTimeout{L3Proto: uint16(nat[0].fam.nfproto), L4Proto: p.proto, Policy: p.values}})
		// The kernel applies a policy only to connections of its
		// protocol, so a rule may name both.
		refs = append(refs, &expr.Objref{Type: unix.NFT_OBJECT_CT_TIMEOUT, Name: p.name()})
	}
	ctMu.Unlock()
	b.t = t
	rules, err := b.timeoutRules(nat, refs)
	if err != nil {
		return err
	}
	b.chains("timeouts", nftables.ChainTypeFilter, timeoutPriority, rules,
		nftables.ChainHookPrerouting, nftables.ChainHookOutput)
	return nil
}

// timeoutRules attach the policies (refs) to the new connections of the
// services: a rule for the services of an address, protocol and port,
// one for those of all ports (address and protocol), each looking the
// packet up in a set of them, and a rule per firewall mark (nft would
// show a mark in a set byte-swapped).
func (b *batch) timeoutRules(svcs []*service, refs []expr.Any) ([][]expr.Any, error) {
	f := svcs[0].fam
	pad := func(b []byte) []byte { return append(b, make([]byte, (4-len(b)%4)%4)...) }
	isNew := []expr.Any{
		&expr.Ct{Key: expr.CtKeySTATE, Register: regData},
		&expr.Bitwise{SourceRegister: regData, DestRegister: regData, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitNEW), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: regData, Data: make([]byte, 4)},
	}
	addr := &expr.Payload{DestRegister: regKey, Base: expr.PayloadBaseNetworkHeader, Offset: f.daddr, Len: f.addrLen}
	proto := &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: regKey + f.addrLen/4}
	kinds := []struct {
		typ  nftables.SetDatatype
		load []expr.Any
		keys map[string]bool
	}{
		{typ: nftables.MustConcatSetType(f.addrType, nftables.TypeInetProto, nftables.TypeInetService),
			load: []expr.Any{addr, proto, &expr.Payload{DestRegister: regKey + f.addrLen/4 + 1,
				Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2}}, keys: map[string]bool{}},
		{typ: nftables.MustConcatSetType(f.addrType, nftables.TypeInetProto), load: []expr.Any{addr, proto},
			keys: map[string]bool{}},
	}
	var rules [][]expr.Any
	marks := map[uint32]bool{}
	for _, s := range svcs {
		switch {
		case s.FWMark != 0:
			if !marks[s.FWMark] {
				marks[s.FWMark] = true
				rules = append(rules, cat(isNew,
					&expr.Meta{Key: expr.MetaKeyMARK, Register: regKey},
					&expr.Cmp{Op: expr.CmpOpEq, Register: regKey, Data: binaryutil.NativeEndian.PutUint32(s.FWMark)},
					refs))
			}
		case s.Port == 0:
			kinds[1].keys[string(append(s.Addr.AsSlice(), pad([]byte{s.proto})...))] = true
		default:
			kinds[0].keys[string(append(append(s.Addr.AsSlice(), pad([]byte{s.proto})...),
				pad(binaryutil.BigEndian.PutUint16(s.Port))...))] = true
		}
	}
	for _, k := range kinds {
		if len(k.keys) == 0 {
			continue
		}
		var elems []nftables.SetElement
		for _, key := range slices.Sorted(maps.Keys(k.keys)) {
			elems = append(elems, nftables.SetElement{Key: []byte(key)})
		}
		set := &nftables.Set{Table: b.t, ID: b.nextID(), Name: "__set%d", Anonymous: true, Constant: true,
			KeyType: k.typ, Concatenation: true}
		if err := b.conn.AddSet(set, elems); err != nil {
			return nil, err
		}
		rules = append(rules, cat(isNew, k.load, has(set, regKey), refs))
	}
	return rules, nil
}
