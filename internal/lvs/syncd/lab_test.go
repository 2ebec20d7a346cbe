package syncd

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/vipd/vipd/internal/lvs"
	"github.com/vipd/vipd/internal/lvs/nft"
	"github.com/vipd/vipd/internal/netlab"
)

// The lab: a client on 198.18.69.0/24, two directors on it and on
// 198.18.70.0/24 where the real servers are, all on one bridge. The
// client reaches the virtual address, and the real servers answer it,
// through whichever director the routes name, as VRRP would move the
// address; both directors balance the same NAT service with the real
// nftables dataplane.

var (
	clientAddr = netip.MustParseAddr("198.18.69.2")
	vipAddr    = netip.MustParseAddr("198.18.69.100")
	dirAddr    = [2][2]netip.Addr{ // [director][client side, real side]
		{netip.MustParseAddr("198.18.69.11"), netip.MustParseAddr("198.18.70.11")},
		{netip.MustParseAddr("198.18.69.12"), netip.MustParseAddr("198.18.70.12")},
	}
	realAddrs = []netip.Addr{netip.MustParseAddr("198.18.70.21"), netip.MustParseAddr("198.18.70.22")}
)

const (
	vipPort = 80
	udpPort = 5353
)

type lab struct {
	t      *testing.T
	client *netlab.Host
	dirs   [2]*netlab.Host
	reals  []*netlab.Host
	svc    lvs.Service // TCP
	udp    lvs.Service
}

func newLab(t *testing.T, name string) *lab {
	t.Helper()
	netlab.NeedRoot(t)
	nl, err := netlab.New(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nl.Close() })
	l := &lab{t: t}
	if l.client, err = nl.AddHost("client", netip.PrefixFrom(clientAddr, 24)); err != nil {
		t.Fatal(err)
	}
	for i := range l.dirs {
		h, err := nl.AddHost(fmt.Sprintf("dir%c", 'a'+i), netip.PrefixFrom(dirAddr[i][0], 24), netip.PrefixFrom(dirAddr[i][1], 24))
		if err != nil {
			t.Fatal(err)
		}
		must(t, h.Do(func() error {
			return netlab.Sysctls(map[string]string{
				"ipv4/ip_forward": "1",
				// Client and real servers share the director's
				// one link: no redirects past it.
				"ipv4/conf/all/send_redirects": "0", "ipv4/conf/eth0/send_redirects": "0",
				"ipv4/conf/all/rp_filter": "0", "ipv4/conf/eth0/rp_filter": "0",
			})
		}))
		l.dirs[i] = h
	}
	l.svc = lvs.Service{Addr: vipAddr, Port: vipPort, Protocol: lvs.TCP, Scheduler: "rr"}
	l.udp = lvs.Service{Addr: vipAddr, Port: udpPort, Protocol: lvs.UDP, Scheduler: "rr"}
	for i, a := range realAddrs {
		h, err := nl.AddHost(fmt.Sprintf("real%d", i+1), netip.PrefixFrom(a, 24))
		if err != nil {
			t.Fatal(err)
		}
		must(t, h.Do(noRedirects))
		serve(t, h, h.Name)
		l.reals = append(l.reals, h)
		l.svc.Reals = append(l.svc.Reals, lvs.Real{Addr: a, Weight: 1})
		l.udp.Reals = append(l.udp.Reals, lvs.Real{Addr: a, Weight: 1})
	}
	must(t, l.client.Do(noRedirects))
	for _, h := range l.dirs {
		var dp *nft.Dataplane
		must(t, h.Do(func() error {
			var err error
			dp, err = nft.New()
			return err
		}))
		t.Cleanup(func() { dp.Close() })
		must(t, dp.Apply([]lvs.Service{l.svc, l.udp}))
	}
	l.via(0)
	return l
}

// via sends the client's traffic to the virtual address, and the real
// servers' replies, through director i.
func (l *lab) via(i int) {
	l.t.Helper()
	must(l.t, route(l.client, netip.PrefixFrom(vipAddr, 32), dirAddr[i][0]))
	for _, h := range l.reals {
		must(l.t, route(h, netip.MustParsePrefix("0.0.0.0/0"), dirAddr[i][1]))
	}
}

// syncd starts a sync daemon on director i.
func (l *lab) syncd(i int, id uint8) *Syncd {
	return l.syncdWith(i, Options{ID: id})
}

// syncdWith starts one with these options, on eth0, flushing every 10
// ms and resyncing every second unless they say.
func (l *lab) syncdWith(i int, o Options) *Syncd {
	l.t.Helper()
	o.Interface, o.FlushDelay = "eth0", 10*time.Millisecond
	if o.ResyncInterval == 0 {
		o.ResyncInterval = time.Second
	}
	var s *Syncd
	must(l.t, l.dirs[i].Do(func() error {
		var err error
		s, err = New(o)
		return err
	}))
	l.t.Cleanup(func() { s.Close() })
	s.SetServices([]lvs.Service{l.svc, l.udp})
	return s
}

// entry is director i's conntrack entry for a connection from the
// client's local address, if any.
func (l *lab) entry(i int, proto uint8, from netip.AddrPort) (flow, bool) {
	l.t.Helper()
	var flows []flow
	must(l.t, l.dirs[i].Do(func() error {
		c, err := dialCT()
		if err != nil {
			return err
		}
		defer c.Close()
		flows, err = (&ct{c}).dump()
		return err
	}))
	for _, f := range flows {
		if f.Proto == proto && f.Orig.Src == from && f.Orig.Dst.Addr() == vipAddr {
			return f, true
		}
	}
	return flow{}, false
}

// waitEntry waits until director i has the TCP connection in state (0:
// has it not at all).
func (l *lab) waitEntry(i int, c *conn, state uint8) flow {
	l.t.Helper()
	return l.waitFor(i, ProtoTCP, c.local(), func(f flow, ok bool) bool { return (state == 0 && !ok) || (ok && f.State == state) })
}

func (l *lab) waitFor(i int, proto uint8, from netip.AddrPort, done func(flow, bool) bool) flow {
	l.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		f, ok := l.entry(i, proto, from)
		if done(f, ok) {
			return f
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("director %d: connection from %v: entry %v %+v", i, from, ok, f)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const tcpEstablished = 3

// TestLabNATFailover: a connection opened through director A keeps its
// real server when the traffic moves to director B, because B installed
// A's conntrack entry; and back, after the roles swap. The same without
// the sync (B on another sync id) breaks the connection: B schedules its
// next packet afresh, to the other real server.
func TestLabNATFailover(t *testing.T) {
	t.Run("synced", func(t *testing.T) {
		l := newLab(t, "vfsync1")
		a, b := l.syncd(0, 7), l.syncd(1, 7)
		a.Master()
		b.Backup()
		c1, c2 := l.openPair()
		fa := l.waitEntry(0, c2, tcpEstablished)
		fb := l.waitEntry(1, c2, tcpEstablished)
		if fb.Reply != fa.Reply || fb.Mark != fa.Mark {
			t.Errorf("B's entry %+v, A's %+v", fb.Entry, fa.Entry)
		}
		// B's entry runs on A's clock (days when established, 300 s
		// while data is unacknowledged), DNATed as A's is.
		if fb.Timeout+5 < fa.Timeout || fb.status&ipsDstNAT == 0 {
			t.Errorf("B's entry has %d s left, status %#x (A's: %d s, %#x)", fb.Timeout, fb.status, fa.Timeout, fa.status)
		}
		l.via(1)
		// c2 first: unsynced, its first packet through B would have
		// been scheduled to c1's real server (see below).
		for _, c := range []*conn{c2, c1} {
			if err := c.ping(); err != nil {
				l.debug()
				t.Fatalf("connection to %s through B: %v", c.name, err)
			}
		}
		// Roles swap: B syncs to A what it has (A's old entries, and
		// new connections).
		b.Master()
		a.Backup()
		c3 := l.open()
		l.waitEntry(0, c3, tcpEstablished)
		l.via(0)
		for _, c := range []*conn{c1, c2, c3} {
			if err := c.ping(); err != nil {
				t.Fatalf("connection to %s back through A: %v", c.name, err)
			}
		}
		// The master's conntrack lets a connection go: so does the
		// backup's.
		f3 := l.waitEntry(1, c3, tcpEstablished)
		must(t, l.dirs[1].Do(func() error {
			cn, err := dialCT()
			if err != nil {
				return err
			}
			defer cn.Close()
			return (&ct{cn}).remove(&f3.Entry)
		}))
		// Gone from A too. A late segment of c3 through A (its last
		// ACK, on a loaded machine) may make A's conntrack pick the
		// connection up again afterwards: that entry is new, neither
		// assured nor answered, unlike the synced one.
		l.waitFor(0, ProtoTCP, c3.local(), func(f flow, ok bool) bool { return !ok || !f.Assured && !f.SeenReply })
		sa, sb := a.Stats(), b.Stats()
		t.Logf("A: %+v", sa)
		t.Logf("B: %+v", sb)
		if sb.Installed == 0 || sa.Installed == 0 || sa.Deleted == 0 || sb.DroppedID+sa.DroppedID+sa.DroppedMalformed+sb.DroppedMalformed != 0 {
			t.Errorf("counters: A %+v, B %+v", sa, sb)
		}
	})
	t.Run("late backup, UDP", func(t *testing.T) {
		l := newLab(t, "vfsync2")
		// No periodic resync: what B gets, it gets by asking.
		a := l.syncdWith(0, Options{ID: 7, ResyncInterval: time.Hour})
		a.Master()
		waitUntil(t, "A master", func() bool { return a.Stats().Resyncs > 0 })
		c1, c2 := l.openPair()
		u1, u2 := l.udpPair()
		waitUntil(t, "A sending", func() bool { return a.Stats().SentEntries >= 4 })
		// B starts after the connections did: it asks A for them.
		b := l.syncd(1, 7)
		b.Backup()
		l.waitEntry(1, c2, tcpEstablished)
		l.waitFor(1, ProtoUDP, u2.local(), func(_ flow, ok bool) bool { return ok })
		l.via(1)
		for _, u := range []*udpConn{u2, u1} {
			if name, err := u.ask(); err != nil || name != u.name {
				t.Errorf("UDP flow to %s through B: answered by %q, %v", u.name, name, err)
			}
		}
		for _, c := range []*conn{c2, c1} {
			if err := c.ping(); err != nil {
				t.Errorf("connection to %s through B: %v", c.name, err)
			}
		}
		t.Logf("A: %+v", a.Stats())
		t.Logf("B: %+v", b.Stats())
		if st := a.Stats(); st.Requests == 0 {
			t.Errorf("A heard no request: %+v", st)
		}
	})
	t.Run("IPv6 group", func(t *testing.T) {
		l := newLab(t, "vfsync3")
		group := netip.MustParseAddr("ff02::81")
		a, b := l.syncdWith(0, Options{ID: 7, Group: group}), l.syncdWith(1, Options{ID: 7, Group: group})
		a.Master()
		b.Backup()
		_, c2 := l.openPair()
		l.waitEntry(1, c2, tcpEstablished)
		l.via(1)
		if err := c2.ping(); err != nil {
			t.Errorf("connection to %s through B: %v", c2.name, err)
		}
	})
	t.Run("unsynced", func(t *testing.T) {
		l := newLab(t, "vfsync0")
		a, b := l.syncd(0, 7), l.syncd(1, 8)
		a.Master()
		b.Backup()
		_, c2 := l.openPair()
		_, u2 := l.udpPair()
		l.waitEntry(0, c2, tcpEstablished)
		waitUntil(t, "B dropping A's datagrams", func() bool { return b.Stats().DroppedID > 0 && a.Stats().SentEntries > 0 })
		time.Sleep(200 * time.Millisecond)
		if _, ok := l.entry(1, ProtoTCP, c2.local()); ok {
			t.Fatal("B installed an entry of another sync id")
		}
		l.via(1)
		if err := c2.ping(); err == nil {
			t.Errorf("connection to %s survived the move without sync: the synced case proves nothing", c2.name)
		}
		if name, err := u2.ask(); err == nil && name == u2.name {
			t.Errorf("UDP flow to %s stayed there without sync: the synced case proves nothing", u2.name)
		}
	})
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: timed out", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// openPair opens two connections through director A: the scheduler (rr)
// sends the first to one real server, the second to the other. A
// director that picks up the second's packets mid-stream without its
// entry schedules them as its own first connection: to the first's real
// server, which knows nothing of it.
func (l *lab) openPair() (c1, c2 *conn) {
	l.t.Helper()
	c1, c2 = l.open(), l.open()
	if c1.name == c2.name {
		l.t.Fatalf("both connections went to %s", c1.name)
	}
	return c1, c2
}

func (l *lab) open() *conn {
	l.t.Helper()
	c, err := open(l.client, netip.AddrPortFrom(vipAddr, vipPort))
	if err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() { c.Close() })
	if err := c.ping(); err != nil {
		l.t.Fatal(err)
	}
	return c
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func noRedirects() error {
	return netlab.Sysctls(map[string]string{"ipv4/conf/all/accept_redirects": "0", "ipv4/conf/eth0/accept_redirects": "0"})
}

// route points the host's route to dst at gw (replacing it).
func route(h *netlab.Host, dst netip.Prefix, gw netip.Addr) error {
	return h.Do(func() error {
		eth, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		r := &netlink.Route{LinkIndex: eth.Attrs().Index, Gw: gw.AsSlice(),
			Dst: &net.IPNet{IP: dst.Addr().AsSlice(), Mask: net.CIDRMask(dst.Bits(), 32)}}
		if err := netlink.RouteReplace(r); err != nil {
			return fmt.Errorf("route %v via %v: %w", dst, gw, err)
		}
		return nil
	})
}

// serve greets each connection with the host's name, then echoes lines.
func serve(t *testing.T, h *netlab.Host, name string) {
	var ln net.Listener
	must(t, h.Do(func() error {
		var err error
		ln, err = net.Listen("tcp4", fmt.Sprintf(":%d", vipPort))
		return err
	}))
	t.Cleanup(func() { ln.Close() })
	var pc net.PacketConn
	must(t, h.Do(func() error {
		var err error
		pc, err = net.ListenPacket("udp4", fmt.Sprintf(":%d", udpPort))
		return err
	}))
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo([]byte(name), from)
		}
	}()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				fmt.Fprintf(c, "%s\n", name)
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					c.Write([]byte(line))
				}
			}()
		}
	}()
}

type conn struct {
	net.Conn
	r    *bufio.Reader
	name string // the real server's
}

func open(h *netlab.Host, to netip.AddrPort) (*conn, error) {
	var c net.Conn
	err := h.Do(func() error {
		var err error
		c, err = net.DialTimeout("tcp4", to.String(), 2*time.Second)
		return err
	})
	if err != nil {
		return nil, err
	}
	cn := &conn{Conn: c, r: bufio.NewReader(c)}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	line, err := cn.r.ReadString('\n')
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("greeting from %v: %w", to, err)
	}
	cn.name = strings.TrimSpace(line)
	return cn, nil
}

func (c *conn) local() netip.AddrPort {
	a := c.LocalAddr().(*net.TCPAddr).AddrPort()
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// ping checks the connection still carries data both ways.
func (c *conn) ping() error {
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return err
	}
	back, err := c.r.ReadString('\n')
	if err != nil {
		return err
	}
	if back != "ping\n" {
		return fmt.Errorf("echo %q", back)
	}
	return nil
}

func (l *lab) debug() {
	for i := range l.dirs {
		must(l.t, l.dirs[i].Do(func() error {
			c, err := dialCT()
			if err != nil {
				return err
			}
			defer c.Close()
			flows, err := (&ct{c}).dump()
			for _, f := range flows {
				l.t.Logf("dir %d: %v %v state %d status %#x timeout %d", i, f.Orig, f.Reply, f.State, f.status, f.Timeout)
			}
			return err
		}))
	}
}

// udpConn is a UDP flow from the client to the virtual service.
type udpConn struct {
	net.Conn
	name string // the real server that answered first
}

func (u *udpConn) local() netip.AddrPort {
	a := u.LocalAddr().(*net.UDPAddr).AddrPort()
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// ask sends a datagram and returns the name of the real server that
// answered.
func (u *udpConn) ask() (string, error) {
	u.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := u.Write([]byte("who\n")); err != nil {
		return "", err
	}
	buf := make([]byte, 100)
	n, err := u.Read(buf)
	return string(buf[:n]), err
}

// udpPair opens two UDP flows through director A, which rr sends to
// different real servers (see openPair).
func (l *lab) udpPair() (u1, u2 *udpConn) {
	l.t.Helper()
	var us []*udpConn
	for range 2 {
		var c net.Conn
		must(l.t, l.client.Do(func() error {
			var err error
			c, err = net.Dial("udp4", netip.AddrPortFrom(vipAddr, udpPort).String())
			return err
		}))
		l.t.Cleanup(func() { c.Close() })
		u := &udpConn{Conn: c}
		var err error
		if u.name, err = u.ask(); err != nil {
			l.t.Fatal(err)
		}
		us = append(us, u)
	}
	if us[0].name == us[1].name {
		l.t.Fatalf("both UDP flows went to %s", us[0].name)
	}
	return us[0], us[1]
}
