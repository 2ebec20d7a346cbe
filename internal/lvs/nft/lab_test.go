package nft

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
	"github.com/vipd/vipd/internal/netlab"
)

// The labs: a client and a director on 198.18.55.0/24, all on one
// bridge, and real servers of three kinds: NAT real servers on
// 198.18.56.0/24 routed through the director (NAT replies must come
// back through it); DR real servers on 198.18.55.0/24 with the virtual
// address on their lo too; TUN real servers on 198.18.59.0/24, with the
// virtual address on lo, that take packets out of tunnels and answer
// clients directly. IPv6 likewise, in /80s of fd00:198:18:55::/64. The
// director holds the virtual addresses, as keepalived's VRRP would.

var (
	clientAddr  = netip.MustParseAddr("198.18.55.2")
	clientAddr6 = netip.MustParseAddr("fd00:198:18:55:1::2")
)

// vip is the director's i-th virtual address (0..9).
func vip(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 18, 55, byte(100 + i)}) }

var vip6 = netip.MustParseAddr("fd00:198:18:55:1::100")

func realAddr(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 18, 56, byte(11 + i)}) }
func realAddr6(i int) netip.Addr {
	return netip.MustParseAddr(fmt.Sprintf("fd00:198:18:55:2::%x", 0x11+i))
}
func drRealAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{198, 18, 55, byte(11 + i)})
}
func tunRealAddr(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 18, 59, byte(11 + i)}) }
func tunRealAddr6(i int) netip.Addr {
	return netip.MustParseAddr(fmt.Sprintf("fd00:198:18:55:3::%x", 0x11+i))
}

// guePort is where TUN real servers take GUE.
const guePort = 6080

// Kinds of lab real servers.
type realKind int

const (
	natReal realKind = iota
	drReal
	tunReal
)

// Ports the real servers listen on.
var servedPorts = []int{80, 8080, 7001, 7002}

type lab struct {
	t        testing.TB
	client   *netlab.Host
	director *netlab.Host
	reals    []*netlab.Host
	dp       *Dataplane
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// newLab builds a NAT lab (dr false) or a DR lab, with a dataplane on
// the director. name must start with "vfnf".
func newLab(t testing.TB, name string, nreals int, dr bool) *lab {
	t.Helper()
	kinds := make([]realKind, nreals)
	for i := range kinds {
		if dr {
			kinds[i] = drReal
		}
	}
	return newLabOf(t, name, kinds...)
}

// newLabOf builds a lab with real servers of these kinds, the i-th
// (from 0) named real<i+1> and at realAddr(i), drRealAddr(i) or
// tunRealAddr(i) (and tunRealAddr6(i)) as its kind says.
func newLabOf(t testing.TB, name string, kinds ...realKind) *lab {
	t.Helper()
	netlab.NeedRoot(t)
	nl, err := netlab.New(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nl.Close() })
	has := map[realKind]bool{}
	for _, k := range kinds {
		has[k] = true
	}
	l := &lab{t: t}
	clientPfx := []netip.Prefix{pfx("198.18.55.2/24"), pfx("fd00:198:18:55:1::2/80")}
	for i := 3; i < 10; i++ {
		// More client addresses, for hashing and persistence.
		clientPfx = append(clientPfx, netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, 55, byte(i)}), 24))
	}
	if l.client, err = nl.AddHost("client", clientPfx...); err != nil {
		t.Fatal(err)
	}
	if has[tunReal] {
		// Neighbour discovery answers TUN real servers at their own
		// address.
		must(t, onLink(l.client, "fd00:198:18:55:3::/80"))
	}
	dirPfx := []netip.Prefix{pfx("198.18.55.1/24"), pfx("fd00:198:18:55:1::100/128")}
	if has[natReal] || has[tunReal] || len(kinds) == 0 {
		// For TUN: the director tells clients of smaller MTUs in the
		// tunnels.
		dirPfx = append(dirPfx, pfx("fd00:198:18:55:1::1/80"))
	}
	if has[natReal] || len(kinds) == 0 {
		dirPfx = append(dirPfx, pfx("198.18.56.1/24"), pfx("fd00:198:18:55:2::1/80"))
	}
	if has[tunReal] {
		dirPfx = append(dirPfx, pfx("198.18.59.1/24"), pfx("fd00:198:18:55:3::1/80"))
	}
	for i := range 10 {
		dirPfx = append(dirPfx, netip.PrefixFrom(vip(i), 32))
	}
	if l.director, err = nl.AddHost("director", dirPfx...); err != nil {
		t.Fatal(err)
	}
	must(t, l.director.Do(func() error {
		return netlab.Sysctls(map[string]string{
			"ipv4/ip_forward":               "1",
			"ipv6/conf/all/forwarding":      "1",
			"ipv4/conf/all/send_redirects":  "0",
			"ipv4/conf/eth0/send_redirects": "0",
			"ipv4/conf/all/rp_filter":       "0",
			"ipv4/conf/eth0/rp_filter":      "0",
		})
	}))
	for i, kind := range kinds {
		name := fmt.Sprintf("real%d", i+1)
		var h *netlab.Host
		switch kind {
		case drReal:
			h, err = nl.AddHost(name, netip.PrefixFrom(drRealAddr(i), 24))
		case tunReal:
			h, err = nl.AddHost(name, netip.PrefixFrom(tunRealAddr(i), 24), netip.PrefixFrom(tunRealAddr6(i), 80))
		default:
			h, err = nl.AddHost(name, netip.PrefixFrom(realAddr(i), 24), netip.PrefixFrom(realAddr6(i), 80))
		}
		if err != nil {
			t.Fatal(err)
		}
		switch kind {
		case drReal, tunReal:
			must(t, h.Do(func() error { return holdVIP(kind == tunReal) }))
		default:
			must(t, h.Do(routeViaDirector))
		}
		if kind == tunReal {
			must(t, onLink(h, "198.18.55.0/24", "fd00:198:18:55:1::/80"))
			must(t, decapsulate(h, vip(0), vip6, guePort))
		}
		serve(t, h, name)
		l.reals = append(l.reals, h)
	}
	must(t, l.director.Do(func() error {
		var err error
		l.dp, err = New()
		return err
	}))
	t.Cleanup(func() {
		if err := l.dp.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return l
}

// holdVIP gives a DR or TUN real server the virtual addresses, which it
// neither answers nor announces on the link. A TUN real server takes
// packets from a tunnel as if from eth0, whose reverse path is not
// theirs.
func holdVIP(tun bool) error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return err
	}
	addrs := []netip.Prefix{netip.PrefixFrom(vip(0), 32), netip.PrefixFrom(vip(1), 32)}
	if tun {
		addrs = append(addrs, netip.PrefixFrom(vip6, 128))
	}
	for _, p := range addrs {
		if err := netlink.AddrAdd(lo, &netlink.Addr{IPNet: ipnet(p)}); err != nil {
			return err
		}
	}
	kv := map[string]string{
		"ipv4/conf/all/arp_ignore":    "1",
		"ipv4/conf/eth0/arp_ignore":   "1",
		"ipv4/conf/all/arp_announce":  "2",
		"ipv4/conf/eth0/arp_announce": "2",
	}
	if tun {
		kv["ipv4/conf/all/rp_filter"] = "0"
		kv["ipv4/conf/eth0/rp_filter"] = "0"
	}
	return netlab.Sysctls(kv)
}

// routeViaDirector makes a NAT real server answer through the director.
func routeViaDirector() error {
	eth, err := netlink.LinkByName("eth0")
	if err != nil {
		return err
	}
	for _, gw := range []string{"198.18.56.1", "fd00:198:18:55:2::1"} {
		if err := netlink.RouteAdd(&netlink.Route{LinkIndex: eth.Attrs().Index, Gw: net.ParseIP(gw)}); err != nil {
			return fmt.Errorf("default route via %s: %w", gw, err)
		}
	}
	// The director forwards replies out of the interface they came in
	// on and suggests a shortcut past it.
	return netlab.Sysctls(map[string]string{
		"ipv4/conf/all/accept_redirects":  "0",
		"ipv4/conf/eth0/accept_redirects": "0",
		"ipv6/conf/all/accept_redirects":  "0",
		"ipv6/conf/eth0/accept_redirects": "0",
	})
}

// onLink routes the prefixes straight out of the host's eth0.
func onLink(h *netlab.Host, prefixes ...string) error {
	return h.Do(func() error {
		eth, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		for _, p := range prefixes {
			r := &netlink.Route{LinkIndex: eth.Attrs().Index, Dst: ipnet(pfx(p)), Scope: netlink.SCOPE_LINK}
			if err := netlink.RouteAdd(r); err != nil {
				return fmt.Errorf("route %s: %w", p, err)
			}
		}
		return nil
	})
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func ipnet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// serve runs a TCP server on servedPorts in the host's namespace. It
// greets each connection with "NAME LOCALADDR" (where the connection
// arrived), then echoes lines.
func serve(t testing.TB, h *netlab.Host, name string) {
	t.Helper()
	for _, port := range servedPorts {
		var ln net.Listener
		must(t, h.Do(func() error {
			var err error
			ln, err = net.Listen("tcp", fmt.Sprintf(":%d", port))
			return err
		}))
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					local := c.LocalAddr().(*net.TCPAddr).AddrPort()
					local = netip.AddrPortFrom(local.Addr().Unmap(), local.Port())
					fmt.Fprintf(c, "%s %s\n", name, local)
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
}

// greeting is what a real server said: its name, and the address the
// connection reached it at.
type greeting struct {
	name  string
	local netip.AddrPort
}

// conn is a connection from a lab host.
type conn struct {
	net.Conn
	r *bufio.Reader
	greeting
}

// open connects from the host (from source address src, if valid) and
// reads the greeting.
func open(h *netlab.Host, src netip.Addr, to netip.AddrPort) (*conn, error) {
	d := net.Dialer{Timeout: 2 * time.Second}
	if src.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: src.AsSlice()}
	}
	var c net.Conn
	err := h.Do(func() error {
		var err error
		c, err = d.Dial("tcp", to.String())
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
	f := strings.Fields(line)
	if len(f) != 2 {
		c.Close()
		return nil, fmt.Errorf("greeting from %v: %q", to, line)
	}
	cn.name = f[0]
	if cn.local, err = netip.ParseAddrPort(f[1]); err != nil {
		c.Close()
		return nil, err
	}
	return cn, nil
}

// ping checks the connection still carries data both ways.
func (c *conn) ping() error { return c.echo("ping\n") }

// echo sends a line and reads it back.
func (c *conn) echo(line string) error {
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte(line)); err != nil {
		return err
	}
	back, err := c.r.ReadString('\n')
	if err != nil {
		return err
	}
	if back != line {
		return fmt.Errorf("echo of %d bytes: %d back", len(line), len(back))
	}
	return nil
}

// big is a line longer than a packet.
var big = strings.Repeat("x", 5000) + "\n"

// greet makes one short connection and returns its greeting.
func (l *lab) greet(src netip.Addr, to netip.AddrPort) greeting {
	l.t.Helper()
	c, err := open(l.client, src, to)
	if err != nil {
		l.t.Fatalf("connecting to %v from %v: %v", to, src, err)
	}
	c.Close()
	return c.greeting
}

// count makes n connections and counts them by real server.
func (l *lab) count(src netip.Addr, to netip.AddrPort, n int) map[string]int {
	l.t.Helper()
	got := map[string]int{}
	for range n {
		got[l.greet(src, to).name]++
	}
	return got
}

func (l *lab) apply(svcs ...lvs.Service) {
	l.t.Helper()
	if err := l.dp.Apply(svcs); err != nil {
		l.t.Fatalf("apply: %v", err)
	}
}

func nat(addr netip.Addr, port uint16, sched string, reals ...lvs.Real) lvs.Service {
	return lvs.Service{Addr: addr, Port: port, Protocol: lvs.TCP, Scheduler: sched, Reals: reals}
}

func rs(addr netip.Addr, weight int) lvs.Real { return lvs.Real{Addr: addr, Weight: weight} }

func ap(a netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(a, port) }
