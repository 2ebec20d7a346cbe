package nft

import (
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vipd/vipd/internal/lvs"
	"github.com/vipd/vipd/internal/netlab"
)

// The labs of ops_test.go and timeouts_test.go: a client and the
// director on 198.18.63.0/24 (and fd00:198:18:63::/64), with the
// virtual addresses on the director, and NAT real servers on
// 198.18.64.0/24 (fd00:198:18:64::/64) that route through it.

var (
	client63   = netip.MustParseAddr("198.18.63.2")
	client63v6 = netip.MustParseAddr("fd00:198:18:63::2")
	vip63      = netip.MustParseAddr("198.18.63.100")
	vip63b     = netip.MustParseAddr("198.18.63.101")
	vip63v6    = netip.MustParseAddr("fd00:198:18:63::100")
)

func real64(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 18, 64, byte(11 + i)}) }
func real64v6(i int) netip.Addr {
	return netip.MustParseAddr(fmt.Sprintf("fd00:198:18:64::%x", 0x11+i))
}

type lab63 struct {
	t        testing.TB
	client   *netlab.Host
	director *netlab.Host
	reals    []*netlab.Host
	dp       *Dataplane
}

// newLab63 builds the lab, named name (which must start with "vfnf"),
// with nreals real servers named real1… and a dataplane made with opts
// on the director. Everything goes with the test.
func newLab63(t testing.TB, name string, nreals int, opts ...Option) *lab63 {
	t.Helper()
	netlab.NeedRoot(t)
	nl, err := netlab.New(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nl.Close() })
	l := &lab63{t: t}
	if l.client, err = nl.AddHost("client", pfx("198.18.63.2/24"), pfx("fd00:198:18:63::2/64")); err != nil {
		t.Fatal(err)
	}
	// Through the director to the real servers' own addresses, for
	// traffic that is not balanced.
	must(t, l.client.Do(func() error {
		return routes("198.18.64.0/24", "198.18.63.1", "fd00:198:18:64::/64", "fd00:198:18:63::1")
	}))
	l.director, err = nl.AddHost("director", pfx("198.18.63.1/24"), pfx("fd00:198:18:63::1/64"),
		pfx("198.18.64.1/24"), pfx("fd00:198:18:64::1/64"),
		netip.PrefixFrom(vip63, 32), netip.PrefixFrom(vip63b, 32), netip.PrefixFrom(vip63v6, 128))
	if err != nil {
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
	for i := range nreals {
		h, err := nl.AddHost(fmt.Sprintf("real%d", i+1), netip.PrefixFrom(real64(i), 24), netip.PrefixFrom(real64v6(i), 64))
		if err != nil {
			t.Fatal(err)
		}
		must(t, h.Do(func() error {
			if err := routes("0.0.0.0/0", "198.18.64.1", "::/0", "fd00:198:18:64::1"); err != nil {
				return err
			}
			return netlab.Sysctls(map[string]string{
				"ipv4/conf/all/accept_redirects":  "0",
				"ipv4/conf/eth0/accept_redirects": "0",
				"ipv6/conf/all/accept_redirects":  "0",
				"ipv6/conf/eth0/accept_redirects": "0",
			})
		}))
		l.reals = append(l.reals, h)
	}
	must(t, l.director.Do(func() error {
		var err error
		l.dp, err = New(opts...)
		return err
	}))
	t.Cleanup(func() {
		if err := l.dp.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return l
}

// routes adds routes in the calling thread's namespace: prefix, gateway,
// prefix, gateway…
func routes(pairs ...string) error {
	eth, err := netlink.LinkByName("eth0")
	if err != nil {
		return err
	}
	for i := 0; i < len(pairs); i += 2 {
		r := &netlink.Route{LinkIndex: eth.Attrs().Index, Dst: ipnet(pfx(pairs[i])), Gw: net.ParseIP(pairs[i+1])}
		if err := netlink.RouteAdd(r); err != nil {
			return fmt.Errorf("route %s via %s: %w", pairs[i], pairs[i+1], err)
		}
	}
	return nil
}

// softwareChecksums makes the host's eth0 send complete checksums
// (ethtool -K eth0 tx off). A veth otherwise leaves UDP checksums for a
// device to finish, and no host on the way verifies them: with complete
// ones, the receiving host drops a datagram a rewrite left with a wrong
// checksum.
func softwareChecksums(h *netlab.Host) error {
	return h.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		cmd := &struct{ cmd, data uint32 }{cmd: unix.ETHTOOL_STXCSUM}
		// struct ifreq: the name, then (ifr_data) the command.
		var ifr struct {
			name [unix.IFNAMSIZ]byte
			data unsafe.Pointer
			_    [16]byte
		}
		copy(ifr.name[:], "eth0")
		ifr.data = unsafe.Pointer(cmd)
		if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr))); errno != 0 {
			return fmt.Errorf("ethtool -K eth0 tx off: %w", errno)
		}
		return nil
	})
}

// serveUDP answers every datagram to port on the host with "NAME
// PAYLOAD", from the port it came to, until the test ends. noCheck sends
// the answers without a UDP checksum (IPv4). got receives each payload.
func serveUDP(t testing.TB, h *netlab.Host, name string, port int, noCheck bool, got chan<- string) {
	t.Helper()
	for _, network := range []string{"udp4", "udp6"} {
		var c *net.UDPConn
		must(t, h.Do(func() error {
			var err error
			c, err = net.ListenUDP(network, &net.UDPAddr{Port: port})
			return err
		}))
		if noCheck && network == "udp4" {
			must(t, setNoCheck(c))
		}
		t.Cleanup(func() { c.Close() })
		go func() {
			buf := make([]byte, 65536)
			for {
				n, from, err := c.ReadFromUDPAddrPort(buf)
				if err != nil {
					return
				}
				if got != nil {
					select {
					case got <- string(buf[:n]):
					default:
					}
				}
				c.WriteToUDPAddrPort([]byte(name+" "+string(buf[:n])), from)
			}
		}()
	}
}

// setNoCheck makes an IPv4 UDP socket send without checksums.
func setNoCheck(c *net.UDPConn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = raw.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_NO_CHECK, 1) })
	if err != nil {
		return err
	}
	return serr
}

// udpClient is a UDP socket on a lab host, bound to one address and port.
type udpClient struct {
	*net.UDPConn
}

func newUDPClient(t testing.TB, h *netlab.Host, local netip.AddrPort) *udpClient {
	t.Helper()
	var c *net.UDPConn
	must(t, h.Do(func() error {
		var err error
		c, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(local))
		return err
	}))
	t.Cleanup(func() { c.Close() })
	return &udpClient{c}
}

// ask sends the payload to the address and returns who answered (the
// real server's name), and from where.
func (c *udpClient) ask(to netip.AddrPort, payload string) (name string, from netip.AddrPort, err error) {
	if _, err := c.WriteToUDPAddrPort([]byte(payload), to); err != nil {
		return "", from, err
	}
	buf := make([]byte, 65536)
	for {
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return "", from, fmt.Errorf("answer to %q: %w", short(payload), err)
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		name, rest, _ := strings.Cut(string(buf[:n]), " ")
		if rest != payload {
			continue // a late answer to an earlier question
		}
		return name, from, nil
	}
}

func short(s string) string {
	if len(s) > 20 {
		return fmt.Sprintf("%s… (%d bytes)", s[:20], len(s))
	}
	return s
}

func (l *lab63) apply(svcs ...lvs.Service) {
	l.t.Helper()
	if err := l.dp.Apply(svcs); err != nil {
		l.t.Fatalf("apply: %v", err)
	}
}

// conntrack lists the director's conntrack entries of a family.
func (l *lab63) conntrack(family netlink.InetFamily) []*netlink.ConntrackFlow {
	l.t.Helper()
	var flows []*netlink.ConntrackFlow
	must(l.t, l.director.Do(func() error {
		var err error
		flows, err = netlink.ConntrackTableList(netlink.ConntrackTable, family)
		return err
	}))
	return flows
}

// nftList is the director's ruleset as nft lists it: the rules must be
// ones nft can read back (it aborts on some it cannot).
func (l *lab63) nftList() string {
	l.t.Helper()
	out, err := exec.Command("ip", "netns", "exec", l.director.NSName, "nft", "list", "ruleset").CombinedOutput()
	if err != nil {
		l.t.Fatalf("nft list ruleset: %v\n%s", err, out)
	}
	return string(out)
}
