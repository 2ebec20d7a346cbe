package nft

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vipd/vipd/internal/lvs"
)

// flowTo finds the director's conntrack entry of the connection from
// the client's address and port to the address and port given (original
// direction); nil if none.
func (l *lab63) flowTo(proto uint8, client, to netip.AddrPort) *netlink.ConntrackFlow {
	l.t.Helper()
	fam := netlink.InetFamily(netlink.FAMILY_V4)
	if to.Addr().Is6() {
		fam = netlink.FAMILY_V6
	}
	for _, f := range l.conntrack(fam) {
		src, _ := netip.AddrFromSlice(f.Forward.SrcIP)
		dst, _ := netip.AddrFromSlice(f.Forward.DstIP)
		if f.Forward.Protocol == proto && ap(src.Unmap(), f.Forward.SrcPort) == client && ap(dst.Unmap(), f.Forward.DstPort) == to {
			return f
		}
	}
	return nil
}

// timeoutIn checks that the connection's entry has at most max seconds
// left, and not much less (it was just refreshed).
func (l *lab63) timeoutIn(what string, proto uint8, client, to netip.AddrPort, max uint32) {
	l.t.Helper()
	f := l.flowTo(proto, client, to)
	switch {
	case f == nil:
		l.t.Errorf("%s: no conntrack entry from %v to %v", what, client, to)
	case f.TimeOut > max || f.TimeOut+5 < max:
		l.t.Errorf("%s: conntrack entry times out in %d s, want %d", what, f.TimeOut, max)
	}
}

func localPort(c net.Conn) netip.AddrPort {
	a := c.LocalAddr().(*net.TCPAddr).AddrPort()
	return ap(a.Addr().Unmap(), a.Port())
}

// lvs_timeouts: the connections NAT balances time out as configured
// (an established one, one after its FIN, UDP; IPv4 and IPv6) through
// later Applies, DR flows too, and nothing else does.
func TestTimeouts(t *testing.T) {
	t.Parallel()
	l := newLab63(t, "vfnfcto", 1, WithTimeouts(lvs.Timeouts{TCP: 77 * time.Second, TCPFin: 33 * time.Second, UDP: 55 * time.Second}))
	serve(t, l.reals[0], "real1")
	serveUDP(t, l.reals[0], "real1", 5300, false, nil)
	tcp := func(vip netip.Addr, real netip.Addr, weight int) lvs.Service {
		return lvs.Service{Addr: vip, Port: 80, Protocol: lvs.TCP, Scheduler: "rr", Reals: []lvs.Real{{Addr: real, Weight: weight}}}
	}
	udp := lvs.Service{Addr: vip63, Port: 53, Protocol: lvs.UDP, Scheduler: "rr",
		Reals: []lvs.Real{{Addr: real64(0), Port: 5300, Weight: 1}}}
	dr := lvs.Service{Addr: vip63b, Port: 80, Protocol: lvs.TCP, Scheduler: "rr",
		Reals: []lvs.Real{{Addr: netip.MustParseAddr("198.18.63.50"), Weight: 1, Method: lvs.DR}}}
	// All ports, and a firewall mark (the test's own mangle rule marks
	// TCP to vip63b:8080): the other kinds of services.
	all6 := tcp(vip63v6, real64v6(0), 1)
	all6.Port = 0
	mark := lvs.Service{FWMark: 7, Scheduler: "rr", Reals: []lvs.Real{{Addr: real64(0), Weight: 1}}}
	must(t, l.director.Do(func() error { return markTCP(vip63b, 8080, 7) }))
	l.apply(tcp(vip63, real64(0), 1), all6, udp, dr, mark)
	if out := l.nftList(); strings.Contains(out, "Error") || !strings.Contains(out, "ct timeout set") {
		t.Errorf("nft lists the rules so:\n%s", out)
	}

	c, err := open(l.client, client63, ap(vip63, 80))
	must(t, err)
	defer c.Close()
	must(t, c.ping())
	l.timeoutIn("established", unix.IPPROTO_TCP, localPort(c), ap(vip63, 80), 77)
	c6, err := open(l.client, client63v6, ap(vip63v6, 80))
	must(t, err)
	defer c6.Close()
	l.timeoutIn("IPv6 established, all ports", unix.IPPROTO_TCP, localPort(c6), ap(vip63v6, 80), 77)
	cm, err := open(l.client, client63, ap(vip63b, 8080))
	must(t, err)
	defer cm.Close()
	l.timeoutIn("established, fwmark", unix.IPPROTO_TCP, localPort(cm), ap(vip63b, 8080), 77)
	uc := newUDPClient(t, l.client, ap(client63, 40000))
	if _, _, err := uc.ask(ap(vip63, 53), "x"); err != nil {
		t.Fatal(err)
	}
	l.timeoutIn("UDP", unix.IPPROTO_UDP, ap(client63, 40000), ap(vip63, 53), 55)

	// Not balanced, not touched: the namespace's own timeout (5 days).
	direct, err := open(l.client, client63, ap(real64(0), 8080))
	must(t, err)
	defer direct.Close()
	if f := l.flowTo(unix.IPPROTO_TCP, localPort(direct), ap(real64(0), 8080)); f == nil || f.TimeOut < 1000 {
		t.Errorf("a connection that is not balanced: %v", f)
	}

	// DR flows are remembered for tcp.
	must(t, l.director.Do(func() error {
		conn, err := nftables.New()
		if err != nil {
			return err
		}
		sets, err := conn.GetSets(&nftables.Table{Name: DefaultTable, Family: nftables.TableFamilyIPv4})
		for _, s := range sets {
			if s.Name == "flows_tcp_198_18_63_101_80_198_18_63_50" && s.Timeout != 77*time.Second {
				t.Errorf("DR flows time out after %v", s.Timeout)
			}
		}
		return err
	}))

	// Another Apply keeps the policy attached to the connection: its
	// next packet refreshes it to 77 s again, not to the namespace's
	// 5 days.
	l.apply(tcp(vip63, real64(0), 2), all6, udp, dr, mark)
	// (A deleted policy would be detached a moment after the commit.)
	time.Sleep(100 * time.Millisecond)
	must(t, c.ping())
	l.timeoutIn("established, after an Apply", unix.IPPROTO_TCP, localPort(c), ap(vip63, 80), 77)

	// The client closes; the real server closes too on seeing it.
	client := localPort(c)
	c.Close()
	time.Sleep(200 * time.Millisecond)
	l.timeoutIn("after FIN", unix.IPPROTO_TCP, client, ap(vip63, 80), 33)

	// vipd restarted with other timeouts: the policies are replaced.
	var dp2 *Dataplane
	must(t, l.director.Do(func() error {
		var err error
		dp2, err = New(WithTimeouts(lvs.Timeouts{TCP: 88 * time.Second}))
		return err
	}))
	t.Cleanup(func() { dp2.Close() })
	must(t, dp2.Apply([]lvs.Service{tcp(vip63, real64(0), 1)}))
	c2, err := open(l.client, client63, ap(vip63, 80))
	must(t, err)
	defer c2.Close()
	l.timeoutIn("established, other timeouts", unix.IPPROTO_TCP, localPort(c2), ap(vip63, 80), 88)
	if n := l.objects(); n != 1 {
		t.Errorf("%d ct timeout policies, want 1", n)
	}

	// Without lvs_timeouts, no table of policies.
	var dp3 *Dataplane
	must(t, l.director.Do(func() error {
		var err error
		dp3, err = New()
		return err
	}))
	t.Cleanup(func() { dp3.Close() })
	must(t, dp3.Apply([]lvs.Service{tcp(vip63, real64(0), 1)}))
	if got := tablesOn(l.t, l.director); got["ip vipd_lvs_ct"] || !got["ip vipd_lvs"] {
		t.Errorf("tables without lvs_timeouts: %v", got)
	}
}

// objects counts the ct timeout policies of table ip vipd_lvs_ct.
func (l *lab63) objects() int {
	l.t.Helper()
	var n int
	must(l.t, l.director.Do(func() error {
		conn, err := nftables.New()
		if err != nil {
			return err
		}
		names, _, err := ctObjects(conn, &nftables.Table{Name: DefaultTable + "_ct", Family: nftables.TableFamilyIPv4})
		n = len(names)
		return err
	}))
	return n
}

// markTCP marks TCP packets to addr:port with mark, in a table of the
// test's own (in the calling thread's namespace).
func markTCP(addr netip.Addr, port uint16, mark uint32) error {
	c, err := nftables.New()
	if err != nil {
		return err
	}
	tb := c.AddTable(&nftables.Table{Name: "vfnf_mark", Family: nftables.TableFamilyIPv4})
	ch := c.AddChain(&nftables.Chain{Name: "mark", Table: tb, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityMangle})
	c.AddRule(&nftables.Rule{Table: tb, Chain: ch, Exprs: []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: addr.AsSlice()},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(port)},
		&expr.Immediate{Register: 1, Data: binaryutil.NativeEndian.PutUint32(mark)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1},
	}})
	return c.Flush()
}
