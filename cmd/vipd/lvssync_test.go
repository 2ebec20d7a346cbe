package main

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/vipd/vipd/internal/netlab"
)

// The lvs_sync_daemon lab, as a keepalived user builds it: two directors
// A and B, each with eth0 on the client LAN (198.18.71.0/24) and eth1 on
// the real servers' LAN (198.18.72.0/24), two real servers whose default
// gateway is a virtual address on eth1, and a client. Both directors run
// vipd with one configuration (but for state, priority and, in the
// control run, the sync id): a sync group of VI_1 (the service's address
// on eth0) and VI_2 (the gateway on eth1), lvs_sync_daemon on eth1
// following VI_1, and a NAT virtual server over the two real servers.
//
// Each LAN is a netlab lab of its own: the client LAN's lab holds the
// client and the directors, the real LAN's lab the real servers, and
// the directors' eth1 is a veth into the real LAN's switch (closing that
// lab deletes it with the switch).
const (
	lsVIP       = "198.18.71.100"
	lsGateway   = "198.18.72.1"
	lsClient    = "198.18.71.2"
	lsPort      = 7000
	lsTimeout   = 60 * time.Second // the machine is shared and noisy
	lsAnswerFor = 20 * time.Second // a line's answer, retransmissions included
)

var (
	lsDirAddrs = [2][2]string{ // [director][eth0, eth1]
		{"198.18.71.11", "198.18.72.11"},
		{"198.18.71.12", "198.18.72.12"},
	}
	lsReals = []struct{ name, addr string }{{"r1", "198.18.72.21"}, {"r2", "198.18.72.22"}}
)

type lsLab struct {
	t      *testing.T
	client *netlab.Host
	dirs   [2]*netlab.Host
	reals  []*netlab.Host
	vipd   [2]*netlab.Proc
	dir    string
}

// newLSLab builds the two LANs, named name (clients) and name+"r" (real
// servers), and starts the real servers' line servers. Nothing runs on
// the directors yet.
func newLSLab(t *testing.T, name string) *lsLab {
	t.Helper()
	netlab.NeedRoot(t)
	l := &lsLab{t: t, dir: t.TempDir()}
	pfx := netip.MustParsePrefix
	front, err := netlab.New(name)
	must(t, err)
	t.Cleanup(func() { front.Close() })
	back, err := netlab.New(name + "r")
	must(t, err)
	t.Cleanup(func() { back.Close() })

	l.client, err = front.AddHost("client", pfx(lsClient+"/24"))
	must(t, err)
	for i := range l.dirs {
		h, err := front.AddHost(string(rune('a'+i)), pfx(lsDirAddrs[i][0]+"/24"))
		must(t, err)
		lsAttach(t, h, name+"r-sw", fmt.Sprintf("d%c", 'a'+i), pfx(lsDirAddrs[i][1]+"/24"))
		must(t, h.Do(func() error {
			return netlab.Sysctls(map[string]string{
				"ipv4/ip_forward":         "1",
				"ipv4/conf/all/rp_filter": "0", "ipv4/conf/default/rp_filter": "0",
				"ipv4/conf/eth0/rp_filter": "0", "ipv4/conf/eth1/rp_filter": "0",
			})
		}))
		l.dirs[i] = h
	}
	for _, r := range lsReals {
		h, err := back.AddHost(r.name, pfx(r.addr+"/24"))
		must(t, err)
		must(t, h.Do(func() error {
			return netlink.RouteAdd(&netlink.Route{Gw: net.ParseIP(lsGateway)})
		}))
		lsServe(t, h, r.name)
		l.reals = append(l.reals, h)
	}
	return l
}

// lsAttach gives host h an eth1 carrying addr, plugged into the bridge
// of the switch namespace sw under the port name port.
func lsAttach(t *testing.T, h *netlab.Host, sw, port string, addr netip.Prefix) {
	t.Helper()
	swNS, err := netns.GetFromName(sw)
	must(t, err)
	defer swNS.Close()
	must(t, h.Do(func() error {
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth1"}, PeerName: port, PeerNamespace: netlink.NsFd(int(swNS))}
		if err := netlink.LinkAdd(veth); err != nil {
			return fmt.Errorf("eth1: %w", err)
		}
		eth1, err := netlink.LinkByName("eth1")
		if err != nil {
			return err
		}
		if err := netlink.AddrAdd(eth1, &netlink.Addr{IPNet: &net.IPNet{IP: addr.Addr().AsSlice(), Mask: net.CIDRMask(addr.Bits(), 32)}}); err != nil {
			return err
		}
		return netlink.LinkSetUp(eth1)
	}))
	sh, err := netlink.NewHandleAt(swNS)
	must(t, err)
	defer sh.Close()
	p, err := sh.LinkByName(port)
	must(t, err)
	br, err := sh.LinkByName("br0")
	must(t, err)
	must(t, sh.LinkSetMaster(p, br))
	must(t, sh.LinkSetUp(p))
	// A link sends nothing until its carrier is seen (see netlab).
	for deadline := time.Now().Add(lsTimeout); ; time.Sleep(10 * time.Millisecond) {
		var up bool
		must(t, h.Do(func() error {
			l, err := netlink.LinkByName("eth1")
			up = err == nil && l.Attrs().OperState == netlink.OperUp
			return err
		}))
		if up {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: eth1 not up", h.Name)
		}
	}
}

// lsServe answers each line of each connection to port lsPort with the
// real server's name.
func lsServe(t *testing.T, h *netlab.Host, name string) {
	t.Helper()
	var ln net.Listener
	must(t, h.Do(func() error {
		var err error
		ln, err = net.Listen("tcp4", fmt.Sprintf(":%d", lsPort))
		return err
	}))
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			go func() {
				defer func() {
					c.Close()
					mu.Lock()
					delete(conns, c)
					mu.Unlock()
				}()
				r := bufio.NewReader(c)
				for {
					if _, err := r.ReadString('\n'); err != nil {
						return
					}
					if _, err := fmt.Fprintf(c, "%s\n", name); err != nil {
						return
					}
				}
			}()
		}
	}()
}

// config is the keepalived.conf of director i: A starts master, B
// backup; syncID "" leaves lvs_sync_daemon's id to its default (VI_1's
// virtual router id).
func (l *lsLab) config(i int, syncID string) string {
	state, prio := "MASTER", 150
	if i == 1 {
		state, prio = "BACKUP", 100
	}
	id := ""
	if syncID != "" {
		id = " id " + syncID
	}
	reals := ""
	for _, r := range lsReals {
		reals += fmt.Sprintf(`    real_server %s %d {
        weight 1
        TCP_CHECK {
            connect_timeout 2
            retry 2
            delay_before_retry 1
        }
    }
`, r.addr, lsPort)
	}
	instance := func(name, ifname string, vrid int, vip string) string {
		return fmt.Sprintf(`vrrp_instance %s {
    state %s
    interface %s
    virtual_router_id %d
    priority %d
    advert_int 1
    virtual_ipaddress {
        %s/24
    }
}
`, name, state, ifname, vrid, prio, vip)
	}
	return fmt.Sprintf(`global_defs {
    router_id director_%c
    lvs_sync_daemon eth1 VI_1%s
}
vrrp_sync_group G1 {
    group {
        VI_1
        VI_2
    }
}
`, 'a'+i, id) + instance("VI_1", "eth0", 71, lsVIP) + instance("VI_2", "eth1", 72, lsGateway) +
		fmt.Sprintf(`virtual_server %s %d {
    delay_loop 1
    lvs_sched rr
    lvs_method NAT
    protocol TCP
%s}
`, lsVIP, lsPort, reals)
}

// start runs vipd on director i with this configuration.
func (l *lsLab) start(i int, conf string) {
	l.t.Helper()
	path := filepath.Join(l.dir, fmt.Sprintf("keepalived-%c.conf", 'a'+i))
	must(l.t, os.WriteFile(path, []byte(conf), 0o644))
	p, err := l.dirs[i].Start(os.Args[0], "-n", "-l", "-D", "-f", path, "-p", filepath.Join(l.dir, fmt.Sprintf("vipd-%c.pid", 'a'+i)))
	must(l.t, err)
	l.t.Cleanup(func() { p.Stop(10 * time.Second) })
	l.vipd[i] = p
}

// waitLog waits for a line in director i's log.
func (l *lsLab) waitLog(i int, line string) { l.t.Helper(); l.waitLogAfter(i, 0, line) }

// waitLogAfter waits for a line in director i's log past its first from
// bytes.
func (l *lsLab) waitLogAfter(i, from int, line string) {
	l.t.Helper()
	p := l.vipd[i]
	for deadline := time.Now().Add(lsTimeout); !strings.Contains(p.Output()[from:], line); time.Sleep(50 * time.Millisecond) {
		if done, err := p.Exited(); done {
			l.fatalf("vipd on %s ended (%v) before logging %q", l.dirs[i].Name, err, line)
		}
		if time.Now().After(deadline) {
			l.fatalf("vipd on %s did not log %q in %v", l.dirs[i].Name, line, lsTimeout)
		}
	}
}

// fatalf fails the test with both directors' logs and connections.
func (l *lsLab) fatalf(format string, args ...any) {
	l.t.Helper()
	l.dump()
	l.t.Fatalf(format, args...)
}

func (l *lsLab) dump() {
	for i, p := range l.vipd {
		if p == nil {
			continue
		}
		l.t.Logf("vipd on %s:\n%s", l.dirs[i].Name, p.Output())
		flows, err := l.flows(i)
		l.t.Logf("conntrack on %s (%v):", l.dirs[i].Name, err)
		for _, f := range flows {
			l.t.Logf("  %s", f)
		}
	}
}

// up starts both directors, A then B, and waits until A holds both
// addresses and B is backup.
func (l *lsLab) up(syncA, syncB string) {
	l.t.Helper()
	l.start(0, l.config(0, syncA))
	l.waitLog(0, "(VI_1) Entering MASTER STATE")
	l.waitLog(0, "(VI_2) Entering MASTER STATE")
	l.start(1, l.config(1, syncB))
	l.waitLog(1, "(VI_1) Entering BACKUP STATE")
	l.waitLog(1, "(VI_2) Entering BACKUP STATE")
}

func (l *lsLab) flows(i int) ([]*netlink.ConntrackFlow, error) {
	var flows []*netlink.ConntrackFlow
	err := l.dirs[i].Do(func() error {
		var err error
		flows, err = netlink.ConntrackTableList(netlink.ConntrackTable, netlink.FAMILY_V4)
		return err
	})
	return flows, err
}

// realOf is the real server director i's conntrack sends c to ("" when
// it has no entry for c).
func (l *lsLab) realOf(i int, c *lsConn) string {
	l.t.Helper()
	flows, err := l.flows(i)
	must(l.t, err)
	for _, f := range flows {
		fw := f.Forward
		if fw.Protocol == syscall.IPPROTO_TCP && fw.SrcIP.Equal(net.ParseIP(lsClient)) && fw.SrcPort == c.local.Port() &&
			fw.DstIP.Equal(net.ParseIP(lsVIP)) && fw.DstPort == lsPort {
			for _, r := range lsReals {
				if f.Reverse.SrcIP.Equal(net.ParseIP(r.addr)) {
					return r.name
				}
			}
			return "not DNATed: " + f.Reverse.SrcIP.String()
		}
	}
	return ""
}

// waitReal waits until director i's conntrack sends c to its real
// server.
func (l *lsLab) waitReal(i int, c *lsConn) {
	l.t.Helper()
	var got string
	for deadline := time.Now().Add(lsTimeout); ; time.Sleep(50 * time.Millisecond) {
		if got = l.realOf(i, c); got == c.real {
			return
		}
		if time.Now().After(deadline) {
			l.fatalf("%s's conntrack sends the connection from %v to %q, want %s", l.dirs[i].Name, c.local, got, c.real)
		}
	}
}

// lsConn is one long-lived connection from the client to the virtual
// server.
type lsConn struct {
	net.Conn
	r     *bufio.Reader
	local netip.AddrPort
	real  string // the real server that answered its first line
}

// open opens a connection to the virtual server and asks who serves it,
// retrying while the service is not reachable yet. No TCP keepalives: a
// probe sent on its own after the fail-over would be balanced afresh by
// an unsynced director before the test's next line, and could land the
// connection where it was by chance.
func (l *lsLab) open() *lsConn {
	l.t.Helper()
	var last error
	for deadline := time.Now().Add(lsTimeout); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		var nc net.Conn
		last = l.client.Do(func() error {
			var err error
			nc, err = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: -1}).Dial("tcp4", net.JoinHostPort(lsVIP, fmt.Sprint(lsPort)))
			return err
		})
		if last != nil {
			continue
		}
		c := &lsConn{Conn: nc, r: bufio.NewReader(nc), local: nc.LocalAddr().(*net.TCPAddr).AddrPort()}
		c.local = netip.AddrPortFrom(c.local.Addr().Unmap(), c.local.Port())
		if c.real, last = c.ask(5 * time.Second); last != nil {
			nc.Close()
			continue
		}
		l.t.Cleanup(func() { nc.Close() })
		return c
	}
	l.fatalf("no connection to the virtual server in %v: %v", lsTimeout, last)
	return nil
}

// ask sends a line and returns the name of the real server answering.
func (c *lsConn) ask(timeout time.Duration) (string, error) {
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte("who?\n")); err != nil {
		return "", err
	}
	line, err := c.r.ReadString('\n')
	return strings.TrimSpace(line), err
}

// openPair opens two connections: rr gives them different real servers.
func (l *lsLab) openPair() (c1, c2 *lsConn) {
	l.t.Helper()
	c1, c2 = l.open(), l.open()
	if c1.real == c2.real {
		l.fatalf("both connections went to %s: rr should have used both real servers", c1.real)
	}
	l.t.Logf("connection from %v served by %s, from %v by %s", c1.local, c1.real, c2.local, c2.real)
	return c1, c2
}

// failover stops A with sig and waits until B holds both addresses and
// the client and the real servers send to B.
func (l *lsLab) failover(sig syscall.Signal) {
	l.t.Helper()
	from := len(l.vipd[1].Output())
	must(l.t, l.vipd[0].Signal(sig))
	l.waitLogAfter(1, from, "(VI_1) Entering MASTER STATE")
	l.waitLogAfter(1, from, "(VI_2) Entering MASTER STATE")
	if sig == syscall.SIGTERM && !l.vipd[0].Wait(lsTimeout) {
		l.fatalf("vipd on %s did not stop", l.dirs[0].Name)
	}
	if sig == syscall.SIGKILL {
		// A killed keeps its addresses until their lifetime runs out
		// (and its tables): wait for that, so that nothing but B can
		// answer for them.
		for deadline := time.Now().Add(lsTimeout); l.holds(0); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				l.fatalf("%s still holds a virtual address %v after it was killed", l.dirs[0].Name, lsTimeout)
			}
		}
	}
	// B's gratuitous ARPs point the client at B for the service, and
	// the real servers at B for their gateway: the lines after the
	// fail-over go through B, not A.
	macs := [2]net.HardwareAddr{}
	must(l.t, l.dirs[1].Do(func() error {
		for j, ifname := range []string{"eth0", "eth1"} {
			ifi, err := net.InterfaceByName(ifname)
			if err != nil {
				return err
			}
			macs[j] = ifi.HardwareAddr
		}
		return nil
	}))
	type nb struct {
		h    *netlab.Host
		addr string
		mac  net.HardwareAddr
	}
	want := []nb{{l.client, lsVIP, macs[0]}}
	for _, r := range l.reals {
		want = append(want, nb{r, lsGateway, macs[1]})
	}
	for _, w := range want {
		var got net.HardwareAddr
		for deadline := time.Now().Add(lsTimeout); ; time.Sleep(50 * time.Millisecond) {
			var err error
			if got, err = w.h.Neighbour(netip.MustParseAddr(w.addr)); err == nil && got.String() == w.mac.String() {
				break
			}
			if time.Now().After(deadline) {
				l.fatalf("%s: neighbour %s is %v after the fail-over, not B's %v", w.h.Name, w.addr, got, w.mac)
			}
		}
	}
}

// holds reports whether director i has either virtual address.
func (l *lsLab) holds(i int) bool {
	l.t.Helper()
	var held bool
	must(l.t, l.dirs[i].Do(func() error {
		addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
		for _, a := range addrs {
			held = held || a.IP.Equal(net.ParseIP(lsVIP)) || a.IP.Equal(net.ParseIP(lsGateway))
		}
		return err
	}))
	return held
}

// TestLVSSync: two vipd directors with lvs_sync_daemon. Two long-lived
// connections to the virtual server, one to each real server (rr), are
// established through master A; A stops (SIGTERM, which also removes
// its nftables tables; or SIGKILL, which leaves them and the addresses
// until they expire) and B takes both addresses over; each connection's
// next line is answered by the same real server as before, through B,
// which installed A's conntrack entries. The control run, with B on
// another sync id, breaks them.
func TestLVSSync(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, lab string
		sig       syscall.Signal
	}{
		{"SIGTERM", "vflst", syscall.SIGTERM},
		{"SIGKILL", "vflsk", syscall.SIGKILL},
	} {
		t.Run("synced/"+tc.name, func(t *testing.T) {
			t.Parallel()
			l := newLSLab(t, tc.lab)
			// keepalived's everyday form: no id, so VI_1's virtual
			// router id on both.
			l.up("", "")
			c1, c2 := l.openPair()
			for _, c := range []*lsConn{c1, c2} {
				l.waitReal(0, c)
				// B has the entry before A goes: the sync under test,
				// not a race with it.
				l.waitReal(1, c)
			}
			l.failover(tc.sig)
			// c2 first: an unsynced B would send its next packet
			// where rr starts, c1's real server (see the control).
			for _, c := range []*lsConn{c2, c1} {
				got, err := c.ask(lsAnswerFor)
				if err != nil || got != c.real {
					l.fatalf("after the fail-over, the connection from %v (served by %s) got %q, %v", c.local, c.real, got, err)
				}
			}
			// And it goes on: a second line through B.
			for _, c := range []*lsConn{c1, c2} {
				if got, err := c.ask(lsAnswerFor); err != nil || got != c.real {
					l.fatalf("second line through B on the connection from %v (served by %s): %q, %v", c.local, c.real, got, err)
				}
			}
			l.checkRaces()
		})
	}
	// The control: the same with B on another sync id. B drops A's
	// datagrams and has no entry for the connections; after the
	// fail-over it takes each one's next packet for a new connection
	// (conntrack picks up TCP mid-stream) and schedules it with its own
	// rr, which starts where A's started: c2 (A's second) goes to c1's
	// real server, which answers with a reset, and then c1 to c2's. So
	// both break, every time: nothing but B's rr state decides, and
	// nothing reaches B's service before the fail-over (health checks go
	// to the real servers directly; the client has no keepalives).
	t.Run("unsynced", func(t *testing.T) {
		t.Parallel()
		l := newLSLab(t, "vflsu")
		l.up("", "99")
		c1, c2 := l.openPair()
		for _, c := range []*lsConn{c1, c2} {
			l.waitReal(0, c)
		}
		// Give the sync time to show it would have happened: A
		// multicasts within 50 ms of an event, and B asks A for
		// everything when it becomes backup.
		time.Sleep(2 * time.Second)
		for _, c := range []*lsConn{c1, c2} {
			if got := l.realOf(1, c); got != "" {
				l.fatalf("B, on another sync id, has the connection from %v (to %s)", c.local, got)
			}
		}
		l.failover(syscall.SIGTERM)
		broken := 0
		for _, c := range []*lsConn{c2, c1} {
			got, err := c.ask(lsAnswerFor)
			t.Logf("after the fail-over, the connection from %v (served by %s) got %q, %v", c.local, c.real, got, err)
			if err != nil || got != c.real {
				broken++
			}
		}
		if broken == 0 {
			l.fatalf("both connections kept their real server without the sync: the synced runs prove nothing")
		}
		l.checkRaces()
	})
}

// checkRaces fails the test if a vipd (built with -race when the test
// is) reported a data race.
func (l *lsLab) checkRaces() {
	l.t.Helper()
	for i, p := range l.vipd {
		if p != nil && strings.Contains(p.Output(), "DATA RACE") {
			l.fatalf("vipd on %s reported a data race", l.dirs[i].Name)
		}
	}
}
