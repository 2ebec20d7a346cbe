package check

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vipd/vipd/internal/netlab"
)

// bindLab is a checker host c (198.18.54.1 and .3 on eth0, and a veth
// pair vx0-vx1 leading nowhere) and a real server s (198.18.54.2) with a
// TCP listener on port 80 and on [::]:81, and an echo on UDP port 7. In
// c, packets marked 42 are routed by table 154, where 198.18.54.0/24 is
// unreachable.
func bindLab(t *testing.T) (c *netlab.Host, sLinkLocal netip.Addr, accepted *tcpServer) {
	t.Helper()
	netlab.NeedRoot(t)
	lab, err := netlab.New("vfckbind")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lab.Close() })
	c, err = lab.AddHost("c", netip.MustParsePrefix("198.18.54.1/24"), netip.MustParsePrefix("198.18.54.3/24"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := lab.AddHost("s", netip.MustParsePrefix("198.18.54.2/24"))
	if err != nil {
		t.Fatal(err)
	}
	err = c.Do(func() error {
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "vx0"}, PeerName: "vx1"}); err != nil {
			return fmt.Errorf("veth: %w", err)
		}
		for _, name := range []string{"vx0", "vx1"} {
			l, err := netlink.LinkByName(name)
			if err != nil {
				return err
			}
			if err := netlink.LinkSetUp(l); err != nil {
				return err
			}
		}
		_, lan, _ := net.ParseCIDR("198.18.54.0/24")
		if err := netlink.RouteAdd(&netlink.Route{Table: 154, Dst: lan, Type: unix.RTN_UNREACHABLE}); err != nil {
			return fmt.Errorf("route: %w", err)
		}
		rule := netlink.NewRule()
		rule.Family = unix.AF_INET
		rule.Mark = 42
		rule.Table = 154
		rule.Priority = 100
		if err := netlink.RuleAdd(rule); err != nil {
			return fmt.Errorf("rule: %w", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var l4, l6 net.Listener
	var u net.PacketConn
	err = s.Do(func() error {
		var err error
		if l4, err = net.Listen("tcp4", "198.18.54.2:80"); err != nil {
			return err
		}
		if l6, err = net.Listen("tcp6", "[::]:81"); err != nil {
			return err
		}
		if u, err = net.ListenPacket("udp4", "198.18.54.2:7"); err != nil {
			return err
		}
		// The kernel makes eth0's link-local address when it comes up.
		eth, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		for range 100 {
			addrs, err := netlink.AddrList(eth, netlink.FAMILY_V6)
			if err != nil {
				return err
			}
			for _, a := range addrs {
				if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.IsLinkLocalUnicast() {
					sLinkLocal = ip
					return nil
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		return fmt.Errorf("no link-local address on s")
	})
	if err != nil {
		t.Fatal(err)
	}
	accepted = startTCPServer(t, l4, func(s *tcpServer, c net.Conn) { s.record(c.RemoteAddr().String()) })
	startTCPServer(t, l6, func(s *tcpServer, c net.Conn) {})
	go func() {
		buf := make([]byte, 100)
		for {
			n, from, err := u.ReadFrom(buf)
			if err != nil {
				return
			}
			u.WriteTo(buf[:n], from)
		}
	}()
	t.Cleanup(func() { u.Close() })
	// Fresh links can lose the first ARP exchange; wait until c reaches s
	// so that the short timeouts below measure the checkers only.
	ready := &TCP{Dial{Addr: netip.MustParseAddrPort("198.18.54.2:80"), Timeout: 2 * time.Second}}
	var r Result
	for range 3 {
		c.Do(func() error { r = ready.Probe(ctxFor(t, 3*time.Second)); return nil })
		if r.OK {
			break
		}
	}
	if !r.OK {
		t.Fatalf("c cannot reach s: %+v", r)
	}
	return c, sLinkLocal, accepted
}

// bind_if, bindto, bind_port and fwmark take effect, for TCP, UDP and
// ICMP checks; a connect timeout is a failure within connect_timeout.
func TestBindOptions(t *testing.T) {
	t.Parallel()
	c, ll, accepted := bindLab(t)
	server := netip.MustParseAddrPort("198.18.54.2:80")
	nobody := netip.MustParseAddrPort("198.18.54.99:80")
	probe := func(p Prober) Result {
		var r Result
		if err := c.Do(func() error { r = p.Probe(ctxFor(t, 3*time.Second)); return nil }); err != nil {
			t.Fatal(err)
		}
		return r
	}
	const timeout = 500 * time.Millisecond
	tcp := func(d Dial) Prober {
		if !d.Addr.IsValid() {
			d.Addr = server
		}
		d.Timeout = timeout
		return &TCP{d}
	}

	t.Run("plain", func(t *testing.T) { wantOK(t, probe(tcp(Dial{}))) })
	t.Run("bind_if", func(t *testing.T) {
		wantOK(t, probe(tcp(Dial{BindIf: "eth0"})))
		// Through vx0 the kernel takes the server to be on that link,
		// where nobody answers.
		wantFail(t, probe(tcp(Dial{BindIf: "vx0"})), "TCP connection timeout")
		if r := probe(tcp(Dial{BindIf: "nosuch0"})); r.OK || !r.LocalError {
			t.Errorf("missing device: %+v", r)
		}
	})
	t.Run("bind_if for link-local", func(t *testing.T) {
		dst := netip.AddrPortFrom(ll, 81)
		wantOK(t, probe(tcp(Dial{Addr: dst, BindIf: "eth0"})))
		if r := probe(tcp(Dial{Addr: dst})); r.OK || !r.LocalError {
			t.Errorf("link-local without bind_if passed: %+v", r)
		}
	})
	t.Run("bindto and bind_port", func(t *testing.T) {
		wantOK(t, probe(tcp(Dial{BindAddr: netip.MustParseAddr("198.18.54.3"), BindPort: 40154})))
		got := accepted.records()
		deadline := time.Now().Add(time.Second)
		for !strings.Contains(strings.Join(got, " "), "198.18.54.3:40154") && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
			got = accepted.records()
		}
		if !strings.Contains(strings.Join(got, " "), "198.18.54.3:40154") {
			t.Errorf("server saw %q", got)
		}
		if r := probe(tcp(Dial{BindAddr: netip.MustParseAddr("198.18.54.77")})); r.OK || !r.LocalError {
			t.Errorf("bindto an address c lacks: %+v", r)
		}
	})
	t.Run("fwmark", func(t *testing.T) {
		wantFail(t, probe(tcp(Dial{FWMark: 42})), "TCP connection failed (no route to host)")
		wantOK(t, probe(tcp(Dial{FWMark: 43})))
		udp := func(mark uint32) Prober {
			return &UDP{Dial: Dial{Addr: netip.MustParseAddrPort("198.18.54.2:7"), FWMark: mark, Timeout: timeout}, RequireReply: true}
		}
		wantOK(t, probe(udp(0)))
		wantFail(t, probe(udp(42)), "UDP connection failed")
		ping := func(mark uint32) Prober {
			return &Ping{Dial{Addr: netip.AddrPortFrom(server.Addr(), 0), FWMark: mark, Timeout: timeout}}
		}
		wantOK(t, probe(ping(0)))
		wantFail(t, probe(ping(42)), "ICMP send failed")
	})
	t.Run("ping bind options", func(t *testing.T) {
		wantOK(t, probe(&Ping{Dial{Addr: server, BindIf: "eth0", BindAddr: netip.MustParseAddr("198.18.54.3"), Timeout: timeout}}))
		wantFail(t, probe(&Ping{Dial{Addr: server, BindIf: "vx0", Timeout: timeout}}), "ICMP connection timeout")
		wantOK(t, probe(&Ping{Dial{Addr: netip.AddrPortFrom(ll, 0), BindIf: "eth0", Timeout: timeout}}))
	})
	t.Run("timeouts", func(t *testing.T) {
		// Nobody has 198.18.54.99: ARP goes unanswered.
		wantFail(t, took(t, 2*time.Second, func() Result { return probe(tcp(Dial{Addr: nobody})) }), "TCP connection timeout")
		wantFail(t, took(t, 2*time.Second, func() Result {
			return probe(&Ping{Dial{Addr: nobody, Timeout: timeout}})
		}), "ICMP connection timeout")
		wantFail(t, took(t, 2*time.Second, func() Result {
			return probe(&HTTP{Dial: Dial{Addr: nobody, Timeout: timeout}, URLs: []URL{{Path: "/"}}})
		}), "Connection timeout")
	})
}
