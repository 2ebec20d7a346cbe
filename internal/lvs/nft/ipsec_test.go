package nft

import (
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/vipd/vipd/internal/lvs"
	"github.com/vipd/vipd/internal/netlab"
)

// Which services draw IPsec: UDP on port 500 or all ports, not ops, not
// fwmark; only NAT ones have an ike map to carry over.
func TestPlanIPsec(t *testing.T) {
	v := netip.MustParseAddr("192.0.2.1")
	nat := []lvs.Real{{Addr: netip.MustParseAddr("192.0.2.10"), Weight: 1}}
	dr := []lvs.Real{{Addr: netip.MustParseAddr("192.0.2.11"), Weight: 1, Method: lvs.DR}}
	for _, c := range []struct {
		name string
		svc  lvs.Service
		want bool
		sets string // the ike map among dynamicSets
	}{
		{"UDP 500", lvs.Service{Addr: v, Port: 500, Protocol: lvs.UDP, Reals: nat}, true, "ike_udp_192_0_2_1_500"},
		{"UDP all ports", lvs.Service{Addr: v, Protocol: lvs.UDP, Persistence: time.Minute, Reals: nat}, true, "ike_udp_192_0_2_1_0"},
		{"UDP 500 DR", lvs.Service{Addr: v, Port: 500, Protocol: lvs.UDP, Reals: dr}, true, ""},
		{"UDP 4500", lvs.Service{Addr: v, Port: 4500, Protocol: lvs.UDP, Reals: nat}, false, ""},
		{"TCP 500", lvs.Service{Addr: v, Port: 500, Protocol: lvs.TCP, Reals: nat}, false, ""},
		{"ops", lvs.Service{Addr: v, Port: 500, Protocol: lvs.UDP, OnePacket: true, Reals: nat}, false, ""},
		{"fwmark", lvs.Service{FWMark: 5, Protocol: lvs.UDP, Reals: nat}, false, ""},
	} {
		c.svc.Scheduler = "wrr"
		plans, _, err := plan([]lvs.Service{c.svc})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		s := plans[0]
		if s.ipsec() != c.want {
			t.Errorf("%s: ipsec %v, want %v", c.name, s.ipsec(), c.want)
		}
		var got []string
		for _, n := range s.dynamicSets() {
			if strings.HasPrefix(n, "ike_") {
				got = append(got, n)
			}
		}
		if strings.Join(got, " ") != c.sets {
			t.Errorf("%s: ike maps %v, want %q", c.name, got, c.sets)
		}
	}
}

// The IPsec lab: clients and the director on 198.18.73.0/24, where DR
// real servers hold the DR virtual address too, and NAT real servers on
// 198.18.74.0/24 behind the director, with a TUN real server (which
// answers clients straight over the shared bridge).
var (
	ipsecVIP    = netip.MustParseAddr("198.18.73.100") // NAT
	ipsecVIPDR  = netip.MustParseAddr("198.18.73.101") // DR
	ipsecVIPTUN = netip.MustParseAddr("198.18.73.102") // TUN
	ipsecTUN    = netip.MustParseAddr("198.18.74.21")
	ipsecNoIKE  = netip.MustParseAddr("198.18.73.3") // a client that never does IKE
	ipsecReal   = []netip.Addr{netip.MustParseAddr("198.18.74.11"), netip.MustParseAddr("198.18.74.12")}
	ipsecDRReal = []netip.Addr{netip.MustParseAddr("198.18.73.11"), netip.MustParseAddr("198.18.73.12")}
)

// ipsecClient is the i-th client address.
func ipsecClient(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 18, 73, byte(20 + i)}) }

const ipsecClients = 40

type ipsecLab struct {
	t        testing.TB
	client   *netlab.Host
	director *netlab.Host
	dp       *Dataplane
	// esp receives "REAL CLIENT" for every ESP packet a real server
	// takes.
	esp chan string
}

func newIPsecLab(t *testing.T) *ipsecLab {
	t.Helper()
	netlab.NeedRoot(t)
	nl, err := netlab.New("vfnfipsec")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nl.Close() })
	l := &ipsecLab{t: t, esp: make(chan string, 1024)}
	addrs := []netip.Prefix{pfx("198.18.73.2/24"), netip.PrefixFrom(ipsecNoIKE, 24)}
	for i := range ipsecClients {
		addrs = append(addrs, netip.PrefixFrom(ipsecClient(i), 24))
	}
	if l.client, err = nl.AddHost("client", addrs...); err != nil {
		t.Fatal(err)
	}
	l.director, err = nl.AddHost("director", pfx("198.18.73.1/24"), pfx("198.18.74.1/24"),
		netip.PrefixFrom(ipsecVIP, 32), netip.PrefixFrom(ipsecVIPDR, 32), netip.PrefixFrom(ipsecVIPTUN, 32))
	if err != nil {
		t.Fatal(err)
	}
	must(t, l.director.Do(func() error {
		return netlab.Sysctls(map[string]string{
			"ipv4/ip_forward":               "1",
			"ipv4/conf/all/send_redirects":  "0",
			"ipv4/conf/eth0/send_redirects": "0",
			"ipv4/conf/all/rp_filter":       "0",
			"ipv4/conf/eth0/rp_filter":      "0",
		})
	}))
	for i, a := range ipsecReal {
		name := fmt.Sprintf("nat%d", i+1)
		h, err := nl.AddHost(name, netip.PrefixFrom(a, 24))
		if err != nil {
			t.Fatal(err)
		}
		must(t, h.Do(func() error { return routes("0.0.0.0/0", "198.18.74.1") }))
		l.serve(h, name, a)
	}
	for i, a := range ipsecDRReal {
		name := fmt.Sprintf("dr%d", i+1)
		h, err := nl.AddHost(name, netip.PrefixFrom(a, 24))
		if err != nil {
			t.Fatal(err)
		}
		must(t, h.Do(func() error {
			lo, err := netlink.LinkByName("lo")
			if err != nil {
				return err
			}
			if err := netlink.AddrAdd(lo, &netlink.Addr{IPNet: ipnet(netip.PrefixFrom(ipsecVIPDR, 32))}); err != nil {
				return err
			}
			return netlab.Sysctls(map[string]string{
				"ipv4/conf/all/arp_ignore":    "1",
				"ipv4/conf/eth0/arp_ignore":   "1",
				"ipv4/conf/all/arp_announce":  "2",
				"ipv4/conf/eth0/arp_announce": "2",
			})
		}))
		l.serve(h, name, ipsecVIPDR)
	}
	tun, err := nl.AddHost("tun1", netip.PrefixFrom(ipsecTUN, 24))
	if err != nil {
		t.Fatal(err)
	}
	must(t, tun.Do(func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		if err := netlink.AddrAdd(lo, &netlink.Addr{IPNet: ipnet(netip.PrefixFrom(ipsecVIPTUN, 32))}); err != nil {
			return err
		}
		// It takes tunnelled packets as if from eth0, and must not
		// answer ARP for the virtual address.
		return netlab.Sysctls(map[string]string{"ipv4/conf/all/rp_filter": "0", "ipv4/conf/eth0/rp_filter": "0",
			"ipv4/conf/all/arp_ignore": "1", "ipv4/conf/eth0/arp_ignore": "1",
			"ipv4/conf/all/arp_announce": "2", "ipv4/conf/eth0/arp_announce": "2"})
	}))
	must(t, onLink(tun, "198.18.73.0/24"))
	must(t, decapsulateFamily(tun, ipsecVIPTUN, guePort, 1))
	l.serve(tun, "tun1", ipsecVIPTUN)
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

// serve answers IKE (UDP 500, and 4500) with the real server's name, and
// reports every ESP and AH packet to esp and answers it, with one
// holding its name, from espFrom (where its clients reach it).
func (l *ipsecLab) serve(h *netlab.Host, name string, espFrom netip.Addr) {
	for _, port := range []int{500, 4500} {
		serveUDP(l.t, h, name, port, false, nil)
	}
	for _, proto := range []int{protoESP, protoAH} {
		var c *net.IPConn
		must(l.t, h.Do(func() error {
			var err error
			c, err = net.ListenIP(fmt.Sprintf("ip4:%d", proto), &net.IPAddr{IP: espFrom.AsSlice()})
			return err
		}))
		l.t.Cleanup(func() { c.Close() })
		go func() {
			buf := make([]byte, 2048)
			for {
				n, from, err := c.ReadFrom(buf)
				if err != nil {
					return
				}
				select {
				case l.esp <- name + " " + from.String():
				default:
				}
				// Its first 8 bytes (ESP's SPI and sequence
				// number), then the name.
				c.WriteTo(append(append([]byte(nil), buf[:min(n, 8)]...), name...), from)
			}
		}()
	}
}

// ike sends one IKE datagram from the client address's port 500 (or
// from and to port, for the other UDP ports) and returns the real server
// that answered.
func (l *ipsecLab) ike(c netip.Addr, vip netip.Addr, port uint16) string {
	l.t.Helper()
	u := newUDPClient(l.t, l.client, netip.AddrPortFrom(c, port))
	defer u.Close()
	name, _, err := u.ask(netip.AddrPortFrom(vip, port), fmt.Sprintf("ike %v %d", c, port))
	if err != nil {
		l.t.Fatalf("IKE from %v to %v:%d: %v", c, vip, port, err)
	}
	return name
}

// ipsecConn is a client address's raw socket of the protocol.
func (l *ipsecLab) ipsecConn(c netip.Addr, proto int) *net.IPConn {
	l.t.Helper()
	var conn *net.IPConn
	must(l.t, l.client.Do(func() error {
		var err error
		conn, err = net.ListenIP(fmt.Sprintf("ip4:%d", proto), &net.IPAddr{IP: c.AsSlice()})
		return err
	}))
	l.t.Cleanup(func() { conn.Close() })
	return conn
}

// espTo sends an ESP packet from the client address to the virtual
// address; see send.
func (l *ipsecLab) espTo(c, vip netip.Addr) (took, answered string) {
	l.t.Helper()
	return l.send(c, vip, protoESP)
}

// send sends an ESP or AH packet from the client address to the virtual
// address and returns the real server that took it (as it reports) and
// the one that answered (as the answer says, from vip); "" for none.
func (l *ipsecLab) send(c, vip netip.Addr, proto int) (took, answered string) {
	l.t.Helper()
	conn := l.ipsecConn(c, proto)
	defer conn.Close()
	for len(l.esp) > 0 {
		<-l.esp
	}
	pkt := []byte{0, 0, 0x10, 0x01, 0, 0, 0, 1, 'p', 'i', 'n', 'g'}
	if _, err := conn.WriteTo(pkt, &net.IPAddr{IP: vip.AsSlice()}); err != nil {
		l.t.Fatalf("protocol %d from %v: %v", proto, c, err)
	}
	timeout := time.After(time.Second)
	select {
	case got := <-l.esp:
		name, from, _ := strings.Cut(got, " ")
		if from != c.String() {
			l.t.Errorf("protocol %d from %v reached %s from %s", proto, c, name, from)
		}
		took = name
	case <-timeout:
		return "", ""
	}
	buf := make([]byte, 2048)
	conn.SetReadDeadline(time.Now().Add(time.Second))
	n, from, err := conn.ReadFrom(buf)
	if err != nil {
		l.t.Errorf("protocol %d answer to %v: %v", proto, c, err)
		return took, ""
	}
	if from.String() != vip.String() {
		l.t.Errorf("protocol %d answer to %v came from %v, not %v", proto, c, from, vip)
	}
	if n < 8 {
		return took, ""
	}
	return took, string(buf[8:n])
}

func (l *ipsecLab) nftList() string {
	l.t.Helper()
	out, err := exec.Command("ip", "netns", "exec", l.director.NSName, "nft", "list", "ruleset").CombinedOutput()
	if err != nil {
		l.t.Fatalf("nft list ruleset: %v\n%s", err, out)
	}
	return string(out)
}

// ESP (and AH) follow each client's IKE connection to its real server,
// with NAT (address-only DNAT, replies from the virtual address), DR and
// TUN,
// so they share out per weight as IKE does; a client without IKE is left
// to the director.
func TestIPsecFollowsIKE(t *testing.T) {
	l := newIPsecLab(t)
	natSvc := lvs.Service{Addr: ipsecVIP, Port: 500, Protocol: lvs.UDP, Scheduler: "wrr", Reals: []lvs.Real{
		{Addr: ipsecReal[0], Weight: 3}, {Addr: ipsecReal[1], Weight: 1}}}
	drSvc := lvs.Service{Addr: ipsecVIPDR, Port: 500, Protocol: lvs.UDP, Scheduler: "wrr", Reals: []lvs.Real{
		{Addr: ipsecDRReal[0], Weight: 1, Method: lvs.DR}, {Addr: ipsecDRReal[1], Weight: 1, Method: lvs.DR}}}
	tunSvc := lvs.Service{Addr: ipsecVIPTUN, Port: 500, Protocol: lvs.UDP, Scheduler: "wrr", Reals: []lvs.Real{
		{Addr: ipsecTUN, Weight: 1, Method: lvs.TUN}}}
	svcs := []lvs.Service{natSvc, drSvc, tunSvc}
	if err := l.dp.Apply(svcs); err != nil {
		t.Fatal(err)
	}
	ikeOf := map[netip.Addr]map[netip.Addr]string{} // by virtual address, by client
	for _, c := range []struct {
		vip  netip.Addr
		want map[string]int
	}{
		{ipsecVIP, map[string]int{"nat1": 30, "nat2": 10}},
		{ipsecVIPDR, map[string]int{"dr1": 20, "dr2": 20}},
		{ipsecVIPTUN, map[string]int{"tun1": 40}},
	} {
		got := map[string]int{}
		ikeOf[c.vip] = map[netip.Addr]string{}
		for i := range ipsecClients {
			cl := ipsecClient(i)
			ike := l.ike(cl, c.vip, 500)
			ikeOf[c.vip][cl] = ike
			took, answered := l.espTo(cl, c.vip)
			if took != ike || answered != ike {
				t.Errorf("%v: client %v: IKE went to %s, ESP to %q (answered by %q)", c.vip, cl, ike, took, answered)
			}
			got[took]++
		}
		want(t, fmt.Sprintf("ESP to %v", c.vip), got, c.want)
		if took, _ := l.espTo(ipsecNoIKE, c.vip); took != "" {
			t.Errorf("%v: ESP of a client without IKE reached %s", c.vip, took)
		}
	}
	list := l.nftList()
	for _, w := range []string{"meta l4proto 50-51", "@ike_udp_198_18_73_100_500", "@flows_udp_198_18_73_101_500_198_18_73_11"} {
		if !strings.Contains(list, w) {
			t.Errorf("ruleset lacks %q:\n%s", w, list)
		}
	}
	// An Apply keeps what the clients' IKE learnt: AH, a connection
	// conntrack has not seen (unlike their ESP), still follows it.
	for i := range 4 {
		if err := l.dp.Apply(svcs); err != nil {
			t.Fatal(err)
		}
		cl := ipsecClient(i)
		for _, vip := range []netip.Addr{ipsecVIP, ipsecVIPDR, ipsecVIPTUN} {
			ike := ikeOf[vip][cl]
			if took, answered := l.send(cl, vip, protoAH); took != ike || answered != ike {
				t.Errorf("%v: client %v: after an Apply, IKE to %s, AH to %q (answered by %q)", vip, cl, ike, took, answered)
			}
		}
	}
}

// With persistence on a service of all ports, a client's IKE, its other
// UDP (NAT-T's port 4500) and its ESP all go to one real server, NAT and
// DR alike.
func TestIPsecPersistence(t *testing.T) {
	l := newIPsecLab(t)
	natSvc := lvs.Service{Addr: ipsecVIP, Protocol: lvs.UDP, Scheduler: "rr", Persistence: time.Minute, PersistenceBits: 32,
		Reals: []lvs.Real{{Addr: ipsecReal[0], Weight: 1}, {Addr: ipsecReal[1], Weight: 1}}}
	drSvc := lvs.Service{Addr: ipsecVIPDR, Protocol: lvs.UDP, Scheduler: "rr", Persistence: time.Minute, PersistenceBits: 32,
		Reals: []lvs.Real{{Addr: ipsecDRReal[0], Weight: 1, Method: lvs.DR}, {Addr: ipsecDRReal[1], Weight: 1, Method: lvs.DR}}}
	if err := l.dp.Apply([]lvs.Service{natSvc, drSvc}); err != nil {
		t.Fatal(err)
	}
	for _, vip := range []netip.Addr{ipsecVIP, ipsecVIPDR} {
		got := map[string]int{}
		for i := range 8 {
			cl := ipsecClient(i)
			first := l.ike(cl, vip, 500)
			for range 3 {
				if r := l.ike(cl, vip, 4500); r != first {
					t.Errorf("%v: client %v: IKE to %s, NAT-T to %s", vip, cl, first, r)
				}
				if took, _ := l.espTo(cl, vip); took != first {
					t.Errorf("%v: client %v: IKE to %s, ESP to %q", vip, cl, first, took)
				}
			}
			got[first]++
		}
		// Round robin over the clients, each held to its real server.
		if len(got) != 2 {
			t.Errorf("%v: clients per real server %v", vip, got)
		}
	}
}
