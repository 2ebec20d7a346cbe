package nft

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/vipd/vipd/internal/lvs"
	"github.com/vipd/vipd/internal/netlab"
)

// askN sends n datagrams from the client to the service and counts the
// answers by real server; every answer must come from the service's
// address and port.
func (l *lab63) askN(c *udpClient, to netip.AddrPort, n int, payload string) map[string]int {
	l.t.Helper()
	got := map[string]int{}
	for i := range n {
		name, from, err := c.ask(to, fmt.Sprintf("%d %s", i, payload))
		if err != nil {
			l.t.Fatalf("datagram %d to %v: %v", i, to, err)
		}
		if from != to {
			l.t.Fatalf("datagram %d to %v: %s answered from %v", i, to, name, from)
		}
		got[name]++
	}
	return got
}

// ops with NAT: every datagram is scheduled on its own, even all from
// one client port, with weights, both ways rewritten without conntrack
// (checksums too, and none), IPv4 and IPv6, whole when fragmented.
func TestOnePacketNAT(t *testing.T) {
	t.Parallel()
	l := newLab63(t, "vfnfops", 2)
	for _, h := range append([]*netlab.Host{l.client}, l.reals...) {
		must(t, softwareChecksums(h))
	}
	for i, h := range l.reals {
		name := fmt.Sprintf("real%d", i+1)
		serveUDP(t, h, name, 5300, false, nil)
		serveUDP(t, h, name, 5301, true, nil) // answers without checksums
		for _, port := range []int{5302, 5303, 5304} {
			serveUDP(t, h, name, port, false, nil)
		}
	}
	reals := func(port uint16, v6 bool) []lvs.Real {
		a := real64
		if v6 {
			a = real64v6
		}
		return []lvs.Real{{Addr: a(0), Port: port, Weight: 3}, {Addr: a(1), Port: port, Weight: 1}}
	}
	ops := func(vip netip.Addr, port uint16, reals []lvs.Real) lvs.Service {
		return lvs.Service{Addr: vip, Port: port, Protocol: lvs.UDP, Scheduler: "wrr", OnePacket: true, Reals: reals}
	}
	svc := ops(vip63, 53, reals(5300, false))
	noCheck := ops(vip63b, 53, reals(5301, false))
	svc6 := ops(vip63v6, 53, reals(5300, true))
	sticky := ops(vip63, 54, reals(5302, false))
	sticky.Persistence = time.Minute
	// Real servers on different ports.
	ports := ops(vip63b, 54, []lvs.Real{{Addr: real64(0), Port: 5303, Weight: 3}, {Addr: real64(1), Port: 5304, Weight: 1}})
	l.apply(svc, noCheck, svc6, sticky, ports)
	// (nft cannot show the port write of the service whose real servers
	// have different ports: see rewriteDst.)
	if out := l.nftList(); strings.Count(out, "Error") > 1 || !strings.Contains(out, "notrack") {
		t.Errorf("nft lists the rules so:\n%s", out)
	}

	c := newUDPClient(t, l.client, ap(client63, 40000))
	got := l.askN(c, ap(vip63, 53), 200, "")
	t.Logf("200 datagrams from one port, wrr 3:1: %v", got)
	want(t, "ops wrr 3:1 from one port", got, map[string]int{"real1": 150, "real2": 50})

	want(t, "real servers on different ports", l.askN(c, ap(vip63b, 54), 20, ""), map[string]int{"real1": 15, "real2": 5})

	c6 := newUDPClient(t, l.client, ap(client63v6, 40000))
	want(t, "IPv6", l.askN(c6, ap(vip63v6, 53), 40, ""), map[string]int{"real1": 30, "real2": 10})

	// Without UDP checksums: a rewrite must not make one up.
	nc := newUDPClient(t, l.client, ap(client63, 40001))
	must(t, setNoCheck(nc.UDPConn))
	want(t, "no checksums", l.askN(nc, ap(vip63b, 53), 20, ""), map[string]int{"real1": 15, "real2": 5})

	// Datagrams in fragments, both ways: the director reassembles them
	// before rewriting.
	big := strings.Repeat("x", 4000)
	if got := l.askN(c, ap(vip63, 53), 8, big); got["real1"]+got["real2"] != 8 {
		t.Errorf("4000-byte datagrams: %v", got)
	}
	if got := l.askN(c6, ap(vip63v6, 53), 4, big); got["real1"]+got["real2"] != 4 {
		t.Errorf("4000-byte IPv6 datagrams: %v", got)
	}

	// Persistence: every datagram of a client goes where its first went,
	// whatever its source port.
	got = map[string]int{}
	for port := range uint16(6) {
		sc := newUDPClient(t, l.client, ap(client63, 40010+port))
		for name, n := range l.askN(sc, ap(vip63, 54), 4, "") {
			got[name] += n
		}
	}
	if len(got) != 1 {
		t.Errorf("ops with persistence: one client reached %v", got)
	}

	// No connection is tracked for the services.
	for _, fam := range []netlink.InetFamily{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		for _, f := range l.conntrack(fam) {
			if f.Forward.Protocol == 17 && (f.Forward.DstPort == 53 || f.Forward.SrcPort == 5300 || f.Forward.SrcPort == 5301) {
				t.Errorf("conntrack follows %v", f)
			}
		}
	}

	// The director's own traffic to a real server (a health checker's)
	// is not rewritten; a local client is balanced through conntrack,
	// as by a NAT service without ops.
	local := newUDPClient(t, l.director, ap(netip.IPv4Unspecified(), 0))
	if name, from, err := local.ask(ap(real64(0), 5300), "check"); err != nil || from != ap(real64(0), 5300) {
		t.Errorf("health check: %s from %v, %v", name, from, err)
	}
	if name, from, err := local.ask(ap(vip63, 53), "local"); err != nil || from != ap(vip63, 53) {
		t.Errorf("local client: %s from %v, %v", name, from, err)
	}

	// Without ops, conntrack sends every datagram of the flow to its
	// first one's real server; ops again, and the flow's conntrack
	// entry pins nothing.
	svc.OnePacket = false
	l.apply(svc, noCheck, svc6, sticky, ports)
	c2 := newUDPClient(t, l.client, ap(client63, 40002))
	if got := l.askN(c2, ap(vip63, 53), 20, ""); len(got) != 1 {
		t.Errorf("without ops, one flow reached %v", got)
	}
	svc.OnePacket = true
	l.apply(svc, noCheck, svc6, sticky, ports)
	want(t, "ops after a flow", l.askN(c2, ap(vip63, 53), 20, ""), map[string]int{"real1": 15, "real2": 5})
}

// BenchmarkOnePacketNAT times a datagram's round trip through the
// director (client, director, real server and back, one at a time) with
// ops (stateless rewriting) and without (conntrack's NAT).
func BenchmarkOnePacketNAT(b *testing.B) {
	for _, onePacket := range []bool{true, false} {
		name := map[bool]string{true: "ops", false: "conntrack"}[onePacket]
		b.Run(name, func(b *testing.B) {
			l := newLab63(b, "vfnfopsbe", 2)
			for i, h := range l.reals {
				serveUDP(b, h, fmt.Sprintf("real%d", i+1), 5300, false, nil)
			}
			l.apply(lvs.Service{Addr: vip63, Port: 53, Protocol: lvs.UDP, Scheduler: "rr", OnePacket: onePacket,
				Reals: []lvs.Real{{Addr: real64(0), Port: 5300, Weight: 1}, {Addr: real64(1), Port: 5300, Weight: 1}}})
			c := newUDPClient(b, l.client, ap(client63, 40000))
			got := map[string]int{}
			i := 0
			for b.Loop() {
				name, _, err := c.ask(ap(vip63, 53), fmt.Sprint(i))
				if err != nil {
					b.Fatal(err)
				}
				got[name]++
				i++
			}
			b.ReportMetric(float64(got["real1"])/float64(i), "real1-share")
		})
	}
}
