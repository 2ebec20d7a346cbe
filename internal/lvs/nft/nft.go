// Package nft balances virtual services with nftables, for kernels (and
// containers) without IPVS. It is what keepalived's virtual_server and
// real_server blocks program when IPVS is absent.
//
// Every Apply replaces vipd's own tables (table ip vipd_lvs and table ip6
// vipd_lvs, each only while it has services) in one netlink batch, so
// the kernel never runs half a program. What the tables hold:
//
//   - NAT (nat.go): a nat chain at prerouting (external clients) and at
//     output (local clients) DNATs a service's new connections to a real
//     server chosen through a map ("dnat to numgen inc mod 4 map
//     @sched_..." with { 0-2 : A, 3 : B }). Conntrack keeps the binding,
//     so established connections keep their real server whatever a later
//     Apply does, as IPVS keeps them for a real server of weight 0.
//   - DR and TUN (dr.go): a filter chain at prerouting, before dnat,
//     duplicates the packet, unchanged, to the real server as next hop
//     ("dup to REAL"), the way IPVS DR routes it, and drops the original.
//     Timeout sets remember each connection's real server, since nothing
//     else on this path holds state. TUN sends the copy out of a device
//     whose routes put it into a tunnel to the real server (tunnel.go:
//     eBPF lightweight tunnels, which need no ipip, gre or fou module):
//     IP-in-IP, GRE or GUE, as IPVS builds them.
//   - Real servers of one service with different methods: the scheduler
//     picks, through a verdict map, the chosen real server's own chain,
//     which applies its method. A service with a NAT real server is
//     scheduled in the nat chain (DR packets are new to conntrack until
//     dr.go knows their connection); one of DR and TUN real servers alone
//     in the dr chain, without conntrack.
//   - One-packet scheduling (ops.go): NAT datagrams of an ops service
//     skip conntrack in an "ops" chain at raw priority, which rewrites
//     each to the real server the scheduler picks for it, and an
//     "ops_reply" chain at postrouting rewrites the replies back.
//   - lvs_timeouts (timeouts.go): conntrack timeout policies attached to
//     the NAT services' new connections, in a table of their own
//     ("<table>_ct") that an Apply keeps.
//   - IPsec (ipsec.go): AH and ESP to a virtual address follow the
//     client's IKE connection (UDP 500 to 500) of a UDP service of port
//     500 or 0 to its real server, as IPVS sends them; there are no AH
//     or ESP services.
//   - Persistence: a timeout map (NAT) or sets (DR, TUN) from client
//     (address masked to PersistenceBits) to real server, consulted
//     before the scheduler, and refreshed by every packet of the client's
//     connections.
//
// The sets and maps the packet path fills are read before an Apply and
// their entries written into the new tables with the time they had left,
// so an Apply (or a restart of the daemon) keeps clients and DR and TUN
// connections where they were. Connections NATed by a service that no
// longer has a NAT real server last as long as something keeps conntrack
// on (see Close).
//
// Schedulers nftables cannot run are approximated (see Approximates).
// Connection thresholds are ignored. Errors: one-packet scheduling with
// NAT where replies cannot be told apart (ErrOnePacket), tunnel
// checksums and GUE to IPv6 (ErrTunnel).
package nft

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/vipd/vipd/internal/lvs"
)

// DefaultTable names vipd's tables unless WithTable says otherwise.
const DefaultTable = "vipd_lvs"

// Errors for services nftables cannot balance. Apply wraps them with the
// service they concern.
var (
	// ErrTunnel: a TUN encapsulation this dataplane does not build (see
	// tunnel.go for why): checksums (csum, remcsum), GUE to an IPv6
	// real server, or one real server tunnelled to differently by two
	// services.
	ErrTunnel = errors.New("TUN encapsulation unsupported without the kernel's IPVS")
	// ErrOnePacket: one-packet scheduling with NAT rewrites replies
	// without conntrack, knowing them by their source alone (ops.go), so
	// it cannot serve a fwmark service, NAT real servers mixed with DR or
	// TUN ones, a service of all ports sent to one port, nor a real
	// server's address and port that answers UDP for another service.
	ErrOnePacket = errors.New("one-packet scheduling (ops) with NAT unsupported without the kernel's IPVS")
	// ErrMixedPorts: one map carries either address.port or address
	// alone, so a service without a port cannot mix real servers with
	// and without one.
	ErrMixedPorts = errors.New("a virtual service without a port mixes real servers with and without ports")
	ErrScheduler  = errors.New("unknown scheduler")
	ErrService    = errors.New("invalid virtual service")
	ErrDuplicate  = errors.New("duplicate virtual service")
	ErrClosed     = errors.New("nftables dataplane closed")
)

// Dataplane balances virtual services with nftables. Its methods may be
// called from any goroutine.
type Dataplane struct {
	mu     sync.Mutex
	netns  *os.File // the namespace to program; nil: WithNetNS's
	opts   options
	closed bool
	// tunnels: there may be tunnel routing to clean up, left by the
	// last Apply or an earlier run.
	tunnels bool
}

var _ lvs.Dataplane = (*Dataplane)(nil)

type options struct {
	netns    int
	table    string
	timeouts lvs.Timeouts
}

// Option configures New and Available.
type Option func(*options)

// WithNetNS programs the network namespace the file descriptor refers
// to (which must stay open) instead of the caller's.
func WithNetNS(fd int) Option { return func(o *options) { o.netns = fd } }

// WithTable names the tables (DefaultTable otherwise), and after them
// the device and routing table TUN uses.
func WithTable(name string) Option { return func(o *options) { o.table = name } }

func buildOptions(opts []Option) options {
	o := options{table: DefaultTable}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// sockBuf is the netlink socket buffer: one batch holds the whole program
// and the kernel answers every message of it, which the default buffers
// cannot hold for a few hundred services.
const sockBuf = 16 << 20

// dial opens a netlink socket for one Apply (or Close): reads and the
// batch share it, and a batch abandoned half built cannot linger in it.
func dial(o options) (*nftables.Conn, error) {
	opts := []nftables.ConnOption{nftables.AsLasting(), nftables.WithSockOptions(bigBuffers)}
	if o.netns != 0 {
		opts = append(opts, nftables.WithNetNSFd(o.netns))
	}
	conn, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	return conn, nil
}

func bigBuffers(c *netlink.Conn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = raw.Control(func(fd uintptr) {
		for _, opt := range [][2]int{{unix.SO_SNDBUFFORCE, unix.SO_SNDBUF}, {unix.SO_RCVBUFFORCE, unix.SO_RCVBUF}} {
			// The forcing options need CAP_NET_ADMIN, which
			// programming nftables needs anyway; the plain ones
			// are capped by net.core.[wr]mem_max.
			if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, opt[0], sockBuf) != nil {
				serr = errors.Join(serr, unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, opt[1], sockBuf))
			}
		}
	})
	return errors.Join(err, serr)
}

// New opens the dataplane for the caller's network namespace (its
// thread's, to be exact), or WithNetNS's. It programs nothing until
// Apply.
func New(opts ...Option) (*Dataplane, error) {
	d := &Dataplane{opts: buildOptions(opts), tunnels: true}
	if d.opts.netns == 0 {
		ns, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			return nil, fmt.Errorf("nftables: network namespace: %w", err)
		}
		d.netns, d.opts.netns = ns, int(ns.Fd())
	}
	// Fails early where nftables cannot be reached at all.
	conn, err := dial(d.opts)
	if err != nil {
		d.release()
		return nil, err
	}
	conn.CloseLasting()
	return d, nil
}

func (d *Dataplane) release() {
	if d.netns != nil {
		d.netns.Close()
	}
}

func (d *Dataplane) tableOf(f *family) *nftables.Table {
	return &nftables.Table{Name: d.opts.table, Family: f.table}
}

// Apply makes the kernel balance exactly these services. Nothing changes
// if it returns an error, but for tunnel routing it failed to delete
// once unused, which the next Apply deletes.
func (d *Dataplane) Apply(services []lvs.Service) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}
	plans, tuns, err := plan(services)
	if err != nil {
		return err
	}
	var tn *tunnels
	var tunDev int
	if len(tuns) > 0 || d.tunnels {
		if tn, err = openTunnels(d.opts); err != nil {
			return err
		}
		defer tn.close()
		d.tunnels = true
		// The routes go first: until the new program uses them,
		// nothing takes them.
		if len(tuns) > 0 {
			if tunDev, err = tn.setup(tuns); err != nil {
				tn.undo()
				return err
			}
		}
	}
	if err := d.commit(plans, tunDev, len(services)); err != nil {
		if tn != nil {
			tn.undo()
		}
		return err
	}
	if tn != nil {
		if err := tn.prune(); err != nil {
			return err
		}
		d.tunnels = len(tuns) > 0
	}
	return nil
}

// commit replaces the tables in one batch.
func (d *Dataplane) commit(plans []*service, tunDev, n int) error {
	conn, err := dial(d.opts)
	if err != nil {
		return err
	}
	defer conn.CloseLasting()
	b := &batch{conn: conn, tunDev: tunDev, timeouts: d.opts.timeouts}
	policies, err := d.policies()
	if err != nil {
		return err
	}
	for _, f := range families {
		var mine []*service
		for _, s := range plans {
			if s.fam == f {
				mine = append(mine, s)
			}
		}
		t := d.tableOf(f)
		old, err := dynamicEntries(conn, t, mine)
		if err != nil {
			return err
		}
		// Adding first makes the delete succeed when there is no
		// table yet (a first start).
		conn.AddTable(t)
		conn.DelTable(t)
		if len(mine) > 0 {
			conn.AddTable(t)
			if err := b.program(t, mine, old); err != nil {
				return fmt.Errorf("nftables: building table %s %s: %w", f.name, t.Name, err)
			}
		}
		tt := d.timeoutTableOf(f)
		if err := b.timeoutTable(tt, mine, policies); err != nil {
			return fmt.Errorf("nftables: building table %s %s: %w", f.name, tt.Name, err)
		}
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("nftables: applying %d virtual services to tables %s: %w", n, d.opts.table, err)
	}
	return nil
}

// Release lets go of the dataplane without removing what it programmed:
// another one (after a configuration reload) replaces it in one step.
// Later calls, Apply and Close do nothing.
func (d *Dataplane) Release() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.closed {
		d.closed = true
		d.release()
	}
}

// Close deletes the tables, and the tunnel device and routing. New
// connections reach the host itself; lvs_timeouts' policies leave the
// connections that had them.
// Connections already NATed keep their real server while conntrack
// stays on in the namespace, that is while anything else uses it; the
// kernel turns it off with its last user. (IPVS drops the connections
// of a deleted service too.) Apply, as long as it keeps NAT services,
// keeps conntrack on.
func (d *Dataplane) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	defer d.release()
	conn, err := dial(d.opts)
	if err != nil {
		return err
	}
	defer conn.CloseLasting()
	for _, f := range families {
		for _, t := range []*nftables.Table{d.tableOf(f), d.timeoutTableOf(f)} {
			conn.AddTable(t)
			conn.DelTable(t)
		}
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("nftables: deleting tables %s: %w", d.opts.table, err)
	}
	if d.tunnels {
		tn, err := openTunnels(d.opts)
		if err != nil {
			return err
		}
		defer tn.close()
		return tn.prune()
	}
	return nil
}

// Available reports whether nftables can balance here: it builds a
// scratch table with what NAT and persistence need (a nat chain, numgen,
// a map lookup, a timeout map updated from the packet path, dnat) and
// deletes it in the same batch, so nothing is left behind either way.
func Available(opts ...Option) error {
	o := buildOptions(opts)
	conn, err := dial(o)
	if err != nil {
		return err
	}
	defer conn.CloseLasting()
	t := &nftables.Table{Name: o.table + "_probe", Family: nftables.TableFamilyIPv4}
	conn.AddTable(t)
	conn.DelTable(t)
	conn.AddTable(t)
	chain := conn.AddChain(&nftables.Chain{Name: "probe", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest})
	addr := []byte{198, 51, 100, 1}
	real := append(append([]byte{}, addr...), 0, 80, 0, 0)
	dataType := nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetService)
	m := &nftables.Set{Table: t, ID: 1, Name: "__map%d", Anonymous: true, Constant: true, Interval: true,
		IsMap: true, KeyType: nftables.TypeInteger, DataType: dataType}
	p := &nftables.Set{Table: t, ID: 2, Name: "persist", IsMap: true, HasTimeout: true, Dynamic: true,
		KeyType: nftables.TypeIPAddr, DataType: dataType}
	errs := []error{
		conn.AddSet(m, []nftables.SetElement{{Key: be32(0), Val: real}, {Key: be32(1), IntervalEnd: true}}),
		conn.AddSet(p, nil),
	}
	conn.AddRule(&nftables.Rule{Table: t, Chain: chain, Exprs: []expr.Any{
		&expr.Payload{DestRegister: regData, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: regData, Data: addr},
		&expr.Numgen{Register: regData, Modulus: 1, Type: unix.NFT_NG_INCREMENTAL},
		&expr.Byteorder{SourceRegister: regData, DestRegister: regData, Op: expr.ByteorderHton, Len: 4, Size: 4},
		&expr.Lookup{SourceRegister: regData, DestRegister: regData, IsDestRegSet: true, SetName: m.Name, SetID: m.ID},
		&expr.Payload{DestRegister: regKey, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Dynset{SrcRegKey: regKey, SrcRegData: regData, SetName: p.Name, SetID: p.ID,
			Operation: unix.NFT_DYNSET_OP_UPDATE, Timeout: 60e9},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: regData,
			RegProtoMin: regData + 1, Specified: true},
	}})
	conn.DelTable(t)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("nftables cannot balance here (nat chain, numgen, maps, dynset, dnat): %w", err)
	}
	return nil
}
