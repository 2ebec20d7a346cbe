// Package syncd keeps the connections a vipd director balances alive
// across a fail-over, as keepalived's lvs_sync_daemon does with IPVS's
// connection-sync daemon: while the named VRRP instance is master, the
// director multicasts its connections; while backup, it installs the
// master's, so that when the virtual addresses move to it the
// connections established through the old master reach the same real
// servers.
//
// vipd balances with nftables, not IPVS (package nft): a NAT connection
// is a conntrack entry DNATed to its real server. So the master follows
// conntrack's events (new, update, destroy) for the entries whose
// original destination is a virtual service (or, for a fwmark service,
// whose reply comes from one of its real servers), batches them into
// UDP datagrams of at most MaxLen bytes to the group (codec.go: a
// versioned format of vipd's own, IPVS's describes IPVS connections),
// and the backup creates each with the same tuples, the DNAT to the same
// real server, the protocol state and the time the master's had left.
// What the events miss (conntrack has no event when a packet merely
// restarts an entry's timeout, and a full netlink socket loses events)
// a dump of the table every ResyncInterval catches: entries whose
// backup copy has used up half its time are sent again, and the ends of
// those that left without an event. A director that becomes backup asks
// the master for everything at once, and again every ResyncInterval
// until it hears from one.
//
// Not synced: conntrack timeout policies (lvs_timeouts): an installed
// entry runs on the host's sysctls from its remaining time; nftables
// persistence maps (a client's next connection may go elsewhere after a
// fail-over); and the sync id is no authentication (IPVS has none
// either), but a backup installs only connections to its own virtual
// services, DNATed to one of their real servers.
//
// Only NAT is synced. DR and TUN connections live in nftables timeout
// sets, not conntrack: a backup that takes over schedules their next
// packet afresh (persistence maps are not synced either).
package syncd

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"

	"github.com/vipd/vipd/internal/lvs"
)

// Defaults, as IPVS's sync daemon has them.
var DefaultGroup = netip.MustParseAddr("224.0.0.81")

const (
	DefaultPort = 8848
	DefaultTTL  = 1
	// DefaultFlushDelay is how long an entry may wait for others to
	// share its datagram.
	DefaultFlushDelay = 50 * time.Millisecond
	// DefaultResyncInterval is how often the master reads its whole
	// conntrack table for what events do not tell.
	DefaultResyncInterval = 10 * time.Second
)

// ErrMaxLen: a datagram length that cannot hold one entry.
var ErrMaxLen = errors.New("syncd: maxlen too small")

// Options are lvs_sync_daemon's.
type Options struct {
	// Interface sends and receives the datagrams (lvs_sync_daemon
	// INTERFACE).
	Interface string
	// Group and Port: DefaultGroup and DefaultPort unless set. An IPv6
	// group carries the datagrams over IPv6.
	Group netip.Addr
	Port  uint16
	// TTL of the datagrams: DefaultTTL unless set.
	TTL int
	// ID is the sync id: datagrams with another are dropped, so that
	// two clusters can share a LAN. keepalived defaults it to the VRRP
	// instance's virtual router id.
	ID uint8
	// MaxLen is the longest datagram (UDP payload): the interface's
	// MTU less the IP and UDP headers unless set, and never more. At
	// least MinMaxLen.
	MaxLen int
	// FlushDelay, ResyncInterval: DefaultFlushDelay and
	// DefaultResyncInterval unless set.
	FlushDelay, ResyncInterval time.Duration
	Logger                     *slog.Logger
}

// Stats count what the daemon did.
type Stats struct {
	// Master side.
	SentEntries, SentDatagrams, SendErrors, Resyncs, LostEvents uint64
	// Requests: backups that asked for a full resend.
	Requests uint64
	// Backup side.
	Received, Installed, Updated, Deleted, InstallErrors uint64
	// Dropped datagrams: another sync id, undecodable, or received in
	// the wrong role; dropped entries: not of a local virtual service.
	DroppedID, DroppedMalformed, DroppedRole, DroppedForeign uint64
}

type counters struct {
	sentEntries, sentDatagrams, sendErrors, resyncs, lostEvents            atomic.Uint64
	received, installed, updated, deleted, installErrors                   atomic.Uint64
	droppedID, droppedMalformed, droppedRole, droppedForeign, requestsSeen atomic.Uint64
}

// Roles.
const (
	roleNone int32 = iota
	roleMaster
	roleBackup
)

// Syncd is one director's sync daemon. Its methods may be called from
// any goroutine; Master and Backup return at once.
type Syncd struct {
	opts   Options
	log    *slog.Logger
	ifi    *net.Interface
	group  *net.UDPAddr
	maxLen int

	send    net.PacketConn // unbound; multicast interface and TTL set
	recv    *net.UDPConn   // bound to the group
	events  *netlink.Conn  // conntrack event groups, joined while master
	install ct             // backup side's requests
	dumper  ct             // master side's dumps

	role atomic.Int32
	// backupSince, heard: when the daemon last became backup, and
	// last installed a datagram (UnixNano).
	backupSince, heard atomic.Int64
	services           atomic.Pointer[matcher]
	ctl                chan struct{} // wakes the sender: role changed, or a resend asked
	full               atomic.Bool   // a backup asked for everything
	evCh               chan evBatch
	done               chan struct{}
	wg                 sync.WaitGroup
	once               sync.Once
	n                  counters
}

type evBatch struct {
	flows []flow
	lost  bool // the socket overflowed: events are missing
}

// New opens the sockets in the calling thread's network namespace and
// starts the daemon, neither master nor backup until told.
func New(o Options) (*Syncd, error) {
	if !o.Group.IsValid() {
		o.Group = DefaultGroup
	}
	if !o.Group.IsMulticast() {
		return nil, fmt.Errorf("syncd: group %v is not multicast", o.Group)
	}
	if o.Port == 0 {
		o.Port = DefaultPort
	}
	if o.TTL == 0 {
		o.TTL = DefaultTTL
	}
	if o.FlushDelay == 0 {
		o.FlushDelay = DefaultFlushDelay
	}
	if o.ResyncInterval == 0 {
		o.ResyncInterval = DefaultResyncInterval
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	ifi, err := net.InterfaceByName(o.Interface)
	if err != nil {
		return nil, fmt.Errorf("syncd: interface %q: %w", o.Interface, err)
	}
	hdr := 20 + 8
	if o.Group.Is6() {
		hdr = 40 + 8
	}
	maxLen := ifi.MTU - hdr
	if o.MaxLen != 0 && o.MaxLen < maxLen {
		// Longer than the MTU allows would fragment every full
		// datagram: the MTU caps it.
		maxLen = o.MaxLen
	}
	if maxLen < MinMaxLen {
		return nil, fmt.Errorf("%w: %d bytes, %d needed", ErrMaxLen, maxLen, MinMaxLen)
	}
	s := &Syncd{opts: o, log: o.Logger.With("component", "lvs_sync_daemon"), ifi: ifi, maxLen: maxLen,
		group: &net.UDPAddr{IP: o.Group.AsSlice(), Port: int(o.Port)},
		ctl:   make(chan struct{}, 1), evCh: make(chan evBatch, 64), done: make(chan struct{})}
	s.services.Store(&matcher{})
	if err := s.open(); err != nil {
		s.closeSockets()
		return nil, err
	}
	s.wg.Add(3)
	go s.receiver()
	go s.eventReader()
	go s.sender()
	return s, nil
}

func (s *Syncd) open() error {
	network := "udp4"
	if s.opts.Group.Is6() {
		network = "udp6"
	}
	var err error
	if s.recv, err = net.ListenMulticastUDP(network, s.ifi, s.group); err != nil {
		return fmt.Errorf("syncd: listening on %v%%%s: %w", s.group, s.ifi.Name, err)
	}
	// Installing takes a netlink round trip an entry: a full resend
	// must wait in the socket meanwhile.
	if err := s.recv.SetReadBuffer(recvBufferLen); err != nil {
		return fmt.Errorf("syncd: %w", err)
	}
	uc, err := net.ListenUDP(network, nil)
	if err != nil {
		return fmt.Errorf("syncd: %w", err)
	}
	s.send = uc
	if s.opts.Group.Is4() {
		p := ipv4.NewPacketConn(uc)
		err = errors.Join(p.SetMulticastInterface(s.ifi), p.SetMulticastTTL(s.opts.TTL), p.SetMulticastLoopback(false))
	} else {
		p := ipv6.NewPacketConn(uc)
		err = errors.Join(p.SetMulticastInterface(s.ifi), p.SetMulticastHopLimit(s.opts.TTL), p.SetMulticastLoopback(false))
	}
	if err != nil {
		return fmt.Errorf("syncd: sending on %s: %w", s.ifi.Name, err)
	}
	if s.events, err = dialCT(); err != nil {
		return err
	}
	// A burst of new connections must not overflow it; when it does
	// anyway, the sender resyncs from a dump.
	if err := s.events.SetReadBuffer(eventBufferLen); err != nil {
		return fmt.Errorf("ctnetlink: %w", err)
	}
	if s.install.c, err = dialCT(); err != nil {
		return err
	}
	s.dumper.c, err = dialCT()
	return err
}

func (s *Syncd) closeSockets() {
	if s.recv != nil {
		s.recv.Close()
	}
	if s.send != nil {
		s.send.Close()
	}
	for _, c := range []*netlink.Conn{s.events, s.install.c, s.dumper.c} {
		if c != nil {
			c.Close()
		}
	}
}

// SetServices tells which connections are vipd's: those of these
// virtual services' NAT real servers. The master syncs only them, and
// the backup installs only them (so that a datagram cannot plant
// arbitrary NAT on it). Call it with every Apply.
func (s *Syncd) SetServices(svcs []lvs.Service) { s.services.Store(newMatcher(svcs)) }

// Master starts sending (and stops installing): the named VRRP instance
// has become master. Entries installed while backup stay, and are synced
// from now on like the others.
func (s *Syncd) Master() { s.setRole(roleMaster) }

// Backup starts installing the master's entries (and stops sending).
func (s *Syncd) Backup() { s.setRole(roleBackup) }

// Stop does neither (the instance is in fault, or stopping).
func (s *Syncd) Stop() { s.setRole(roleNone) }

func (s *Syncd) setRole(r int32) {
	if s.role.Swap(r) == r {
		return
	}
	if r == roleBackup {
		// The master may have connections we have not heard of.
		s.backupSince.Store(time.Now().UnixNano())
		s.request()
	}
	s.wake()
}

func (s *Syncd) wake() {
	select {
	case s.ctl <- struct{}{}:
	default:
	}
}

// request asks the master for a full resend.
func (s *Syncd) request() {
	b, _ := (&Message{SyncID: s.opts.ID, Flags: FlagRequest}).MarshalBinary()
	if _, err := s.send.WriteTo(b, s.group); err != nil {
		s.n.sendErrors.Add(1)
	}
}

// Stats returns the counters.
func (s *Syncd) Stats() Stats {
	n := &s.n
	return Stats{
		SentEntries: n.sentEntries.Load(), SentDatagrams: n.sentDatagrams.Load(), SendErrors: n.sendErrors.Load(),
		Resyncs: n.resyncs.Load(), LostEvents: n.lostEvents.Load(), Requests: n.requestsSeen.Load(),
		Received: n.received.Load(), Installed: n.installed.Load(), Updated: n.updated.Load(),
		Deleted: n.deleted.Load(), InstallErrors: n.installErrors.Load(),
		DroppedID: n.droppedID.Load(), DroppedMalformed: n.droppedMalformed.Load(),
		DroppedRole: n.droppedRole.Load(), DroppedForeign: n.droppedForeign.Load(),
	}
}

// Close stops the daemon. Installed entries stay in conntrack.
func (s *Syncd) Close() error {
	s.once.Do(func() {
		close(s.done)
		s.closeSockets()
		s.wg.Wait()
	})
	return nil
}

func (s *Syncd) closed() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// receiver reads datagrams: entries to install while backup, requests
// for a full resend while master.
func (s *Syncd) receiver() {
	defer s.wg.Done()
	buf := make([]byte, 1<<16)
	for {
		n, _, err := s.recv.ReadFromUDPAddrPort(buf)
		if err != nil {
			if s.closed() {
				return
			}
			s.log.Warn("reading sync datagram", "err", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		var m Message
		if err := m.UnmarshalBinary(buf[:n]); err != nil {
			s.n.droppedMalformed.Add(1)
			continue
		}
		if m.SyncID != s.opts.ID {
			s.n.droppedID.Add(1)
			continue
		}
		role := s.role.Load()
		if m.Flags&FlagRequest != 0 {
			if role == roleMaster {
				s.n.requestsSeen.Add(1)
				s.full.Store(true)
				s.wake()
			}
			continue
		}
		if role != roleBackup {
			s.n.droppedRole.Add(1)
			continue
		}
		s.n.received.Add(1)
		s.heard.Store(time.Now().UnixNano())
		svcs := s.services.Load()
		for i := range m.Entries {
			e := &m.Entries[i]
			if !svcs.installable(e) {
				s.n.droppedForeign.Add(1)
				continue
			}
			s.apply(e)
		}
	}
}

func (s *Syncd) apply(e *Entry) {
	if e.Op == OpDelete {
		if err := s.install.remove(e); err != nil {
			s.n.installErrors.Add(1)
			s.log.Debug("deleting synced connection", "err", err)
			return
		}
		s.n.deleted.Add(1)
		return
	}
	created, err := s.install.install(e)
	switch {
	case err != nil:
		s.n.installErrors.Add(1)
		s.log.Debug("installing synced connection", "err", err)
	case created:
		s.n.installed.Add(1)
	default:
		s.n.updated.Add(1)
	}
}

// eventReader hands conntrack's events to the sender.
func (s *Syncd) eventReader() {
	defer s.wg.Done()
	for {
		msgs, err := s.events.Receive()
		if err != nil {
			if s.closed() {
				return
			}
			if errors.Is(err, unix.ENOBUFS) {
				s.n.lostEvents.Add(1)
				s.push(evBatch{lost: true})
				continue
			}
			s.log.Warn("reading conntrack events", "err", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if s.role.Load() != roleMaster {
			continue
		}
		var b evBatch
		for _, m := range msgs {
			f, ok, err := parseFlow(m)
			if err == nil && ok && f.status&ipsDstNAT != 0 {
				b.flows = append(b.flows, f)
			}
		}
		if len(b.flows) > 0 {
			s.push(b)
		}
	}
}

func (s *Syncd) push(b evBatch) {
	select {
	case s.evCh <- b:
	case <-s.done:
	}
}

// recvBufferLen is the datagram socket's receive buffer (capped by
// net.core.rmem_max).
const recvBufferLen = 4 << 20

// minFullGap spaces full resends.
const minFullGap = time.Second

// sent is what the backups were last told of a connection.
type sent struct {
	e       Entry
	expires time.Time // when their copy times out
}

type key struct {
	proto    uint8
	src, dst netip.AddrPort
}

func keyOf(e *Entry) key { return key{e.Proto, e.Orig.Src, e.Orig.Dst} }

// sender owns the master side's state: the datagram being filled, and
// what was sent of each connection.
type sender struct {
	s       *Syncd
	pending []Entry
	index   map[key]int
	size    int
	sent    map[key]sent
	last    time.Time // of the last full resend
}

func (s *Syncd) sender() {
	defer s.wg.Done()
	sd := &sender{s: s, index: map[key]int{}, sent: map[key]sent{}}
	flush := time.NewTimer(time.Hour)
	flush.Stop()
	resync := time.NewTicker(s.opts.ResyncInterval)
	defer resync.Stop()
	full := time.NewTimer(time.Hour)
	full.Stop()
	master, joined, armed := false, false, false
	for {
		select {
		case <-s.done:
			return
		case <-s.ctl:
			want := s.role.Load() == roleMaster
			if want != master {
				master = want
				sd.reset()
				if master {
					s.full.Store(false)
					// Joined before the dump, so that nothing
					// falls between the two.
					joined = s.joinEvents(true)
					sd.resync(true)
				} else if joined {
					s.joinEvents(false)
					joined = false
				}
			} else if master && s.full.Load() {
				// Several backups starting together share one
				// resend; a flood of requests costs one a second.
				if wait := time.Until(sd.last.Add(minFullGap)); wait > 0 {
					full.Reset(wait)
				} else {
					s.full.Store(false)
					sd.resync(true)
				}
			}
		case <-full.C:
			if master && s.full.Swap(false) {
				sd.resync(true)
			}
		case b := <-s.evCh:
			if !master {
				continue
			}
			if b.lost {
				sd.resync(false)
			}
			for i := range b.flows {
				sd.event(&b.flows[i])
			}
		case <-resync.C:
			if s.role.Load() == roleBackup && s.heard.Load() < s.backupSince.Load() {
				// The request may have gone before the link
				// was up, or before there was a master.
				s.request()
			}
			if master {
				if !joined {
					joined = s.joinEvents(true)
				}
				sd.resync(false)
			}
		case <-flush.C:
			armed = false
			sd.flush()
		}
		if !master {
			sd.pending = sd.pending[:0]
			continue
		}
		// The first entry queued starts the clock: what joins it
		// before then shares its datagram.
		if len(sd.pending) > 0 && !armed {
			flush.Reset(s.opts.FlushDelay)
			armed = true
		}
	}
}

func (s *Syncd) joinEvents(join bool) bool {
	var errs []error
	for _, g := range []uint32{groupNew, groupUpdate, groupDestroy} {
		if join {
			errs = append(errs, s.events.JoinGroup(g))
		} else {
			errs = append(errs, s.events.LeaveGroup(g))
		}
	}
	if err := errors.Join(errs...); err != nil {
		s.log.Warn("conntrack events", "join", join, "err", err)
		return false
	}
	return true
}

func (sd *sender) reset() {
	sd.pending = sd.pending[:0]
	clear(sd.index)
	clear(sd.sent)
	sd.size = 0
}

// event queues what conntrack tells of a connection.
func (sd *sender) event(f *flow) {
	if !sd.s.services.Load().match(&f.Entry) {
		return
	}
	k := keyOf(&f.Entry)
	if f.Op == OpDelete {
		if _, ok := sd.sent[k]; ok {
			sd.queue(f.Entry)
			delete(sd.sent, k)
		}
		return
	}
	prev, ok := sd.sent[k]
	if !f.hasState || !f.hasTime {
		// An update event carries the protocol state only when it
		// changed: keep the one sent.
		if !ok {
			return
		}
		if !f.hasState {
			f.State, f.HasVTags, f.VTagOrig, f.VTagReply = prev.e.State, prev.e.HasVTags, prev.e.VTagOrig, prev.e.VTagReply
		}
		if !f.hasTime {
			f.Timeout = prev.e.Timeout
		}
	}
	if f.State == 0 && f.Proto != ProtoUDP {
		return
	}
	sd.note(f.Entry)
}

// note queues an update and remembers it.
func (sd *sender) note(e Entry) { sd.noteAt(e, time.Now()) }

func (sd *sender) noteAt(e Entry, now time.Time) {
	sd.sent[keyOf(&e)] = sent{e: e, expires: now.Add(time.Duration(e.Timeout) * time.Second)}
	sd.queue(e)
}

// resync reads the table: with all, every connection is sent; without,
// those whose backup copy has used up half its time, and the ends of
// those that went without an event.
func (sd *sender) resync(all bool) {
	s := sd.s
	s.n.resyncs.Add(1)
	if all {
		sd.last = time.Now()
	}
	flows, err := s.dumper.dump()
	if err != nil {
		s.log.Warn("reading conntrack", "err", err)
		return
	}
	sd.reconcile(flows, time.Now(), all)
	sd.flush()
}

// reconcile queues what the backups must hear of the table read at now.
func (sd *sender) reconcile(flows []flow, now time.Time, all bool) {
	svcs := sd.s.services.Load()
	seen := make(map[key]bool, len(sd.sent))
	for i := range flows {
		f := &flows[i]
		if f.status&ipsDstNAT == 0 || !svcs.match(&f.Entry) || (f.State == 0 && f.Proto != ProtoUDP) {
			continue
		}
		k := keyOf(&f.Entry)
		seen[k] = true
		prev, ok := sd.sent[k]
		left := prev.expires.Sub(now)
		if all || !ok || prev.e.State != f.State || left < time.Duration(f.Timeout)*time.Second/2 {
			sd.noteAt(f.Entry, now)
		}
	}
	for k, p := range sd.sent {
		if !seen[k] {
			e := p.e
			e.Op, e.State, e.Timeout = OpDelete, 0, 0
			sd.queue(e)
			delete(sd.sent, k)
		}
	}
}

// queue adds an entry to the datagram being filled, replacing an older
// one of the same connection; a full datagram leaves first.
func (sd *sender) queue(e Entry) {
	k := keyOf(&e)
	if i, ok := sd.index[k]; ok {
		sd.size += e.size() - sd.pending[i].size()
		sd.pending[i] = e
		if sd.size <= sd.s.maxLen {
			return
		}
		// A longer replacement (SCTP tags) no longer fits: send the
		// others first, then this one.
		sd.pending = append(sd.pending[:i], sd.pending[i+1:]...)
		sd.size -= e.size()
		sd.reindex()
	}
	if headerLen+sd.size+e.size() > sd.s.maxLen {
		sd.flush()
	}
	sd.index[k] = len(sd.pending)
	sd.pending = append(sd.pending, e)
	sd.size += e.size()
}

func (sd *sender) reindex() {
	clear(sd.index)
	for i := range sd.pending {
		sd.index[keyOf(&sd.pending[i])] = i
	}
}

// flush sends the datagram being filled.
func (sd *sender) flush() {
	if len(sd.pending) == 0 {
		return
	}
	s := sd.s
	m := Message{SyncID: s.opts.ID, Entries: sd.pending}
	b, err := m.MarshalBinary()
	if err == nil {
		_, err = s.send.WriteTo(b, s.group)
	}
	if err != nil {
		s.n.sendErrors.Add(1)
		s.log.Warn("sending sync datagram", "err", err)
	} else {
		s.n.sentDatagrams.Add(1)
		s.n.sentEntries.Add(uint64(len(sd.pending)))
	}
	sd.pending = sd.pending[:0]
	clear(sd.index)
	sd.size = 0
}

// matcher tells vipd's connections from the others.
type matcher struct {
	// svcs: address services by protocol, address, port (0: all),
	// to their NAT real servers (port 0: the connection's own).
	svcs map[svcKey]map[netip.AddrPort]bool
	// reals: fwmark services' NAT real servers, by protocol, address
	// and port (0: any).
	reals map[svcKey]bool
}

type svcKey struct {
	proto uint8
	addr  netip.Addr
	port  uint16
}

func protoNum(p lvs.Protocol) uint8 {
	switch p {
	case lvs.UDP:
		return ProtoUDP
	case lvs.SCTP:
		return ProtoSCTP
	}
	return ProtoTCP
}

func newMatcher(svcs []lvs.Service) *matcher {
	m := &matcher{svcs: map[svcKey]map[netip.AddrPort]bool{}, reals: map[svcKey]bool{}}
	for _, s := range svcs {
		p := protoNum(s.Protocol)
		if s.FWMark == 0 {
			k := svcKey{p, s.Addr.Unmap(), s.Port}
			if m.svcs[k] == nil {
				m.svcs[k] = map[netip.AddrPort]bool{}
			}
			for _, r := range s.Reals {
				if r.Method == lvs.NAT {
					m.svcs[k][netip.AddrPortFrom(r.Addr.Unmap(), r.Port)] = true
				}
			}
			continue
		}
		// The mark was on the packet, not on the conntrack entry:
		// its real server is what shows the connection is the
		// service's.
		for _, r := range s.Reals {
			if r.Method == lvs.NAT {
				m.reals[svcKey{p, r.Addr.Unmap(), r.Port}] = true
			}
		}
	}
	return m
}

// match: the connection is to a virtual service (the master syncs it).
func (m *matcher) match(e *Entry) bool {
	d, r := e.Orig.Dst, e.Reply.Src
	return m.svcs[svcKey{e.Proto, d.Addr(), d.Port()}] != nil || m.svcs[svcKey{e.Proto, d.Addr(), 0}] != nil ||
		m.reals[svcKey{e.Proto, r.Addr(), r.Port()}] || m.reals[svcKey{e.Proto, r.Addr(), 0}]
}

// installable: the connection is to a virtual service and DNATed to one
// of its NAT real servers (the backup installs it).
func (m *matcher) installable(e *Entry) bool {
	d, r := e.Orig.Dst, e.Reply.Src
	if r == d {
		return false
	}
	for _, port := range []uint16{d.Port(), 0} {
		if reals := m.svcs[svcKey{e.Proto, d.Addr(), port}]; reals != nil {
			return reals[r] || (r.Port() == d.Port() && reals[netip.AddrPortFrom(r.Addr(), 0)])
		}
	}
	return m.reals[svcKey{e.Proto, r.Addr(), r.Port()}] || m.reals[svcKey{e.Proto, r.Addr(), 0}]
}
