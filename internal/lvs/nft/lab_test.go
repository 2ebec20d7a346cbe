package nft

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/vipd/vipd/internal/lvs"
	"github.com/vipd/vipd/internal/netlab"
)

// The labs: a client and a director on 198.18.55.0/24, real servers on
// 198.18.56.0/24 routed through the director (NAT replies must come
// back through it), all on one bridge. IPv6 likewise, in /80s of
// fd00:198:18:55::/64. The director holds the virtual addresses, as
// keepalived's VRRP would. A DR lab has everyone on 198.18.55.0/24 and
// the virtual address on the real servers' lo too.

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
	netlab.NeedRoot(t)
	nl, err := netlab.New(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nl.Close() })
	l := &lab{t: t}
	clientPfx := []netip.Prefix{pfx("198.18.55.2/24"), pfx("fd00:198:18:55:1::2/80")}
	for i := 3; i < 10; i++ {
		// More client addresses, for hashing and persistence.
		clientPfx = append(clientPfx, netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, 55, byte(i)}), 24))
	}
	if l.client, err = nl.AddHost("client", clientPfx...); err != nil {
		t.Fatal(err)
	}
	dirPfx := []netip.Prefix{pfx("198.18.55.1/24"), pfx("fd00:198:18:55:1::100/128")}
	if !dr {
		dirPfx = append(dirPfx, pfx("198.18.56.1/24"), pfx("fd00:198:18:55:1::1/80"), pfx("fd00:198:18:55:2::1/80"))
	}
	for i := range 10 {
		dirPfx = append(dirPfx, netip.PrefixFrom(vip(i), 32))
	}
	if l.director, err = nl.AddHost("director", dirPfx...); err != nil {
		t.Fatal(err)
	}
	must(t, l.director.Do(func() error {
		return sysctls(map[string]string{
			"ipv4/ip_forward":               "1",
			"ipv6/conf/all/forwarding":      "1",
			"ipv4/conf/all/send_redirects":  "0",
			"ipv4/conf/eth0/send_redirects": "0",
			"ipv4/conf/all/rp_filter":       "0",
			"ipv4/conf/eth0/rp_filter":      "0",
		})
	}))
	for i := range nreals {
		name := fmt.Sprintf("real%d", i+1)
		var h *netlab.Host
		if dr {
			h, err = nl.AddHost(name, netip.PrefixFrom(drRealAddr(i), 24))
		} else {
			h, err = nl.AddHost(name, netip.PrefixFrom(realAddr(i), 24), netip.PrefixFrom(realAddr6(i), 80))
		}
		if err != nil {
			t.Fatal(err)
		}
		must(t, h.Do(func() error {
			if dr {
				// The real server holds the virtual address but
				// neither answers nor announces it on the link.
				lo, err := netlink.LinkByName("lo")
				if err != nil {
					return err
				}
				if err := netlink.AddrAdd(lo, &netlink.Addr{IPNet: ipnet(netip.PrefixFrom(vip(0), 32))}); err != nil {
					return err
				}
				return sysctls(map[string]string{
					"ipv4/conf/all/arp_ignore":    "1",
					"ipv4/conf/eth0/arp_ignore":   "1",
					"ipv4/conf/all/arp_announce":  "2",
					"ipv4/conf/eth0/arp_announce": "2",
				})
			}
			eth, err := netlink.LinkByName("eth0")
			if err != nil {
				return err
			}
			for _, gw := range []string{"198.18.56.1", "fd00:198:18:55:2::1"} {
				if err := netlink.RouteAdd(&netlink.Route{LinkIndex: eth.Attrs().Index, Gw: net.ParseIP(gw)}); err != nil {
					return fmt.Errorf("default route via %s: %w", gw, err)
				}
			}
			// The director forwards replies out of the interface they
			// came in on and suggests a shortcut past it.
			return sysctls(map[string]string{
				"ipv4/conf/all/accept_redirects":  "0",
				"ipv4/conf/eth0/accept_redirects": "0",
				"ipv6/conf/all/accept_redirects":  "0",
				"ipv6/conf/eth0/accept_redirects": "0",
			})
		}))
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

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func ipnet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// sysctls writes /proc/sys/net/KEY = VALUE in the calling thread's
// namespace.
func sysctls(kv map[string]string) error {
	for k, v := range kv {
		if err := os.WriteFile(filepath.Join("/proc/sys/net", k), []byte(v), 0); err != nil {
			return err
		}
	}
	return nil
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
func (c *conn) ping() error {
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return err
	}
	line, err := c.r.ReadString('\n')
	if err != nil {
		return err
	}
	if line != "ping\n" {
		return fmt.Errorf("echo %q", line)
	}
	return nil
}

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
