package nft

import (
	"errors"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/vipd/vipd/internal/lvs"
	"github.com/vipd/vipd/internal/netlab"
)

// Every test builds its own lab (namespaces, so addresses do not clash)
// and may run in parallel with the others.

func want(t *testing.T, what string, got, want map[string]int) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: got %v, want %v", what, got, want)
		return
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %v, want %v", what, got, want)
			return
		}
	}
}

func TestRoundRobin(t *testing.T) {
	t.Parallel()
	l := newLab(t, "vfnfrr", 2, false)
	l.apply(
		nat(vip(0), 80, "rr", rs(realAddr(0), 1), rs(realAddr(1), 5)),
		nat(vip(1), 80, "wrr", rs(realAddr(0), 3), rs(realAddr(1), 1)),
	)
	want(t, "rr", l.count(clientAddr, ap(vip(0), 80), 20), map[string]int{"real1": 10, "real2": 10})
	want(t, "wrr 3:1", l.count(clientAddr, ap(vip(1), 80), 20), map[string]int{"real1": 15, "real2": 5})

	// A client on the director itself goes through the output hook.
	got := map[string]int{}
	for range 4 {
		c, err := open(l.director, netip.Addr{}, ap(vip(0), 80))
		if err != nil {
			t.Fatalf("local client: %v", err)
		}
		c.Close()
		got[c.name]++
	}
	want(t, "rr, local client", got, map[string]int{"real1": 2, "real2": 2})
}

// A real server of weight 0 takes no new connections, but keeps the ones
// it has, through an Apply that gives it weight 0 and one that removes
// it. IPVS does the same for weight 0 (its connection table holds them
// as conntrack does here).
func TestWeightZero(t *testing.T) {
	t.Parallel()
	l := newLab(t, "vfnfwz", 2, false)
	to := ap(vip(0), 80)
	l.apply(nat(vip(0), 80, "rr", rs(realAddr(0), 1), rs(realAddr(1), 1)))
	var live *conn
	for live == nil || live.name != "real2" {
		c, err := open(l.client, clientAddr, to)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		live = c
	}
	must(t, live.ping())

	l.apply(nat(vip(0), 80, "rr", rs(realAddr(0), 1), rs(realAddr(1), 0)))
	want(t, "weight 0", l.count(clientAddr, to, 10), map[string]int{"real1": 10})
	if err := live.ping(); err != nil {
		t.Fatalf("connection to the real server of weight 0: %v", err)
	}

	l.apply(nat(vip(0), 80, "rr", rs(realAddr(0), 1)))
	want(t, "removed", l.count(clientAddr, to, 4), map[string]int{"real1": 4})
	if err := live.ping(); err != nil {
		t.Fatalf("connection to the removed real server: %v", err)
	}

	// No real server of weight > 0: ICMP port unreachable, as IPVS
	// sends, which a TCP client takes as a refusal.
	l.apply(nat(vip(0), 80, "rr", rs(realAddr(0), 0)))
	if _, err := open(l.client, clientAddr, to); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("service without real servers: got %v, want connection refused", err)
	}
	if err := live.ping(); err != nil {
		t.Fatalf("connection after the service lost its real servers: %v", err)
	}
}

func TestSourceHash(t *testing.T) {
	t.Parallel()
	l := newLab(t, "vfnfsh", 2, false)
	sh := nat(vip(0), 80, "sh", rs(realAddr(0), 1), rs(realAddr(1), 1))
	shPort := nat(vip(1), 80, "sh", rs(realAddr(0), 1), rs(realAddr(1), 1))
	shPort.HashPort = true
	l.apply(sh, shPort)
	used := map[string]bool{}
	for i := 2; i < 10; i++ {
		src := netip.AddrFrom4([4]byte{198, 18, 55, byte(i)})
		got := l.count(src, ap(vip(0), 80), 3)
		if len(got) != 1 {
			t.Errorf("client %v reached %v, want one real server", src, got)
		}
		for name := range got {
			used[name] = true
		}
	}
	if len(used) != 2 {
		t.Errorf("8 clients reached only %v", used)
	}
	// With the port hashed too, one client's connections spread.
	if got := l.count(clientAddr, ap(vip(1), 80), 16); len(got) != 2 {
		t.Errorf("sh-port: one client reached %v, want both real servers", got)
	}
	// The same hash after another Apply (and a restart): the seed is
	// fixed.
	before := l.greet(clientAddr, ap(vip(0), 80)).name
	l.apply(sh, shPort)
	if after := l.greet(clientAddr, ap(vip(0), 80)).name; after != before {
		t.Errorf("sh after Apply: %s, before %s", after, before)
	}
}

func TestPersistence(t *testing.T) {
	t.Parallel()
	l := newLab(t, "vfnfpe", 3, false)
	a, b := clientAddr, netip.MustParseAddr("198.18.55.3")
	svc := nat(vip(0), 80, "rr", rs(realAddr(0), 1), rs(realAddr(1), 1))
	svc.Persistence = 300 * time.Second
	l.apply(svc)
	// Round robin would alternate; persistence keeps each client on
	// the real server its first connection went to.
	want(t, "client a", l.count(a, ap(vip(0), 80), 10), map[string]int{"real1": 10})
	want(t, "client b", l.count(b, ap(vip(0), 80), 10), map[string]int{"real2": 10})

	// A new scheduler map (another real server, other weights) keeps
	// the clients where they were: the entries are carried over.
	svc.Scheduler = "wrr"
	svc.Reals = []lvs.Real{rs(realAddr(2), 5), rs(realAddr(1), 1), rs(realAddr(0), 2)}
	l.apply(svc)
	want(t, "client a after Apply", l.count(a, ap(vip(0), 80), 10), map[string]int{"real1": 10})
	want(t, "client b after Apply", l.count(b, ap(vip(0), 80), 10), map[string]int{"real2": 10})
	// A new client is scheduled by the new map.
	if got := l.greet(netip.MustParseAddr("198.18.55.4"), ap(vip(0), 80)).name; got != "real3" {
		t.Errorf("new client went to %s, want real3", got)
	}

	// Weight 0 ends persistence to the real server for new
	// connections (as IPVS's expire_quiescent_template does).
	svc.Reals = []lvs.Real{rs(realAddr(2), 5), rs(realAddr(1), 1), rs(realAddr(0), 0)}
	l.apply(svc)
	if got := l.greet(a, ap(vip(0), 80)).name; got == "real1" {
		t.Errorf("client a still went to real1 of weight 0")
	}

	// Granularity /24: a and b are one client.
	wide := nat(vip(1), 80, "rr", rs(realAddr(0), 1), rs(realAddr(1), 1))
	wide.Persistence, wide.PersistenceBits = 300*time.Second, 24
	l.apply(svc, wide)
	first := l.greet(a, ap(vip(1), 80)).name
	want(t, "/24", l.count(b, ap(vip(1), 80), 6), map[string]int{first: 6})

	// A non-contiguous granularity, masked bit by bit as IPVS does:
	// with 255.255.255.249, .2 and .4 are one client, .3 another (which
	// round robin sends on; .4 on its own would go to the third).
	odd := nat(vip(2), 80, "rr", rs(realAddr(0), 1), rs(realAddr(1), 1), rs(realAddr(2), 1))
	odd.Persistence, odd.PersistenceMask = 300*time.Second, netip.MustParseAddr("255.255.255.249")
	l.apply(svc, wide, odd)
	first = l.greet(a, ap(vip(2), 80)).name
	if other := l.greet(b, ap(vip(2), 80)).name; other == first {
		t.Errorf("255.255.255.249: %v and %v are one client, both on %s", a, b, first)
	}
	want(t, "255.255.255.249", l.count(netip.MustParseAddr("198.18.55.4"), ap(vip(2), 80), 6), map[string]int{first: 6})
}

// Persistence lasts Persistence after the client's last packet: a
// connection that keeps talking keeps it, and it ends after silence.
func TestPersistenceTimeout(t *testing.T) {
	t.Parallel()
	l := newLab(t, "vfnfpt", 2, false)
	svc := nat(vip(0), 80, "rr", rs(realAddr(0), 1), rs(realAddr(1), 1))
	svc.Persistence = 2 * time.Second
	l.apply(svc)
	c, err := open(l.client, clientAddr, ap(vip(0), 80))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.name != "real1" {
		t.Fatalf("first connection went to %s", c.name)
	}
	for range 7 {
		time.Sleep(500 * time.Millisecond)
		must(t, c.ping())
	}
	// 3.5 s after the connection began, well past 2 s.
	if got := l.greet(clientAddr, ap(vip(0), 80)).name; got != "real1" {
		t.Errorf("new connection while the old one talks went to %s, want real1", got)
	}
	c.Close()
	time.Sleep(2500 * time.Millisecond)
	// Forgotten: round robin goes on from where it was.
	if got := l.greet(clientAddr, ap(vip(0), 80)).name; got != "real2" {
		t.Errorf("connection after silence went to %s, want real2", got)
	}
}

func TestFWMark(t *testing.T) {
	t.Parallel()
	l := newLab(t, "vfnffw", 2, false)
	// The test's own mangle rule marks packets to vip(3):80.
	must(t, l.director.Do(func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		tb := c.AddTable(&nftables.Table{Name: "vfnf_mark", Family: nftables.TableFamilyIPv4})
		ch := c.AddChain(&nftables.Chain{Name: "mark", Table: tb, Type: nftables.ChainTypeFilter,
			Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityMangle})
		c.AddRule(&nftables.Rule{Table: tb, Chain: ch, Exprs: []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: vip(3).AsSlice()},
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(80)},
			&expr.Immediate{Register: 1, Data: binaryutil.NativeEndian.PutUint32(7)},
			&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1},
		}})
		return c.Flush()
	}))
	real := func(i int) lvs.Real { return lvs.Real{Addr: realAddr(i), Port: 8080, Weight: 1} }
	l.apply(lvs.Service{FWMark: 7, Protocol: lvs.TCP, Scheduler: "rr", Reals: []lvs.Real{real(0), real(1)}})
	got := map[string]int{}
	for range 10 {
		g := l.greet(clientAddr, ap(vip(3), 80))
		if g.local.Port() != 8080 {
			t.Errorf("reached %v, want port 8080", g.local)
		}
		got[g.name]++
	}
	want(t, "fwmark", got, map[string]int{"real1": 5, "real2": 5})
	// Unmarked traffic to another port is not the service's.
	if _, err := open(l.client, clientAddr, ap(vip(3), 8080)); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("unmarked connection: got %v, want refused by the director", err)
	}
}

// A service of port 0 takes every port and keeps the client's.
func TestAllPorts(t *testing.T) {
	t.Parallel()
	l := newLab(t, "vfnfap", 2, false)
	l.apply(nat(vip(0), 0, "rr", rs(realAddr(0), 1), rs(realAddr(1), 1)))
	got := map[string]int{}
	for _, port := range []uint16{7001, 7002, 7001, 7002, 80, 80} {
		g := l.greet(clientAddr, ap(vip(0), port))
		if g.local != ap(realAddr(0), port) && g.local != ap(realAddr(1), port) {
			t.Errorf("connection to port %d reached %v", port, g.local)
		}
		got[g.name]++
	}
	want(t, "port 0", got, map[string]int{"real1": 3, "real2": 3})
}

func TestIPv6(t *testing.T) {
	t.Parallel()
	l := newLab(t, "vfnfv6", 2, false)
	l.apply(lvs.Service{Addr: vip6, Port: 80, Protocol: lvs.TCP, Scheduler: "rr", Reals: []lvs.Real{
		{Addr: realAddr6(0), Weight: 1}, {Addr: realAddr6(1), Port: 8080, Weight: 1}}})
	got := map[string]int{}
	for range 10 {
		g := l.greet(clientAddr6, ap(vip6, 80))
		if g.local != ap(realAddr6(0), 80) && g.local != ap(realAddr6(1), 8080) {
			t.Errorf("reached %v", g.local)
		}
		got[g.name]++
	}
	want(t, "IPv6 rr", got, map[string]int{"real1": 5, "real2": 5})
}

// DR: the real server receives the packet still addressed to the
// virtual address (which it holds on lo) and answers the client
// directly. Every packet of a connection must reach the same real
// server, or TCP would not get past its handshake.
func TestDirectRouting(t *testing.T) {
	t.Parallel()
	l := newLab(t, "vfnfdr", 2, true)
	dr := func(i, weight int) lvs.Real { return lvs.Real{Addr: drRealAddr(i), Weight: weight, Method: lvs.DR} }
	svc := lvs.Service{Addr: vip(0), Port: 80, Protocol: lvs.TCP, Scheduler: "rr", Reals: []lvs.Real{dr(0, 1), dr(1, 1)}}
	l.apply(svc)
	got := map[string]int{}
	var live *conn
	for range 10 {
		c, err := open(l.client, clientAddr, ap(vip(0), 80))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if c.local != ap(vip(0), 80) {
			t.Errorf("real server %s was reached at %v, want the virtual address", c.name, c.local)
		}
		must(t, c.ping())
		got[c.name]++
		if c.name == "real2" {
			live = c
		} else {
			c.Close()
		}
	}
	want(t, "DR rr", got, map[string]int{"real1": 5, "real2": 5})

	// The connection table is carried over: real2's connection goes on
	// after an Apply that gives it weight 0; new ones go to real1.
	svc.Reals = []lvs.Real{dr(0, 1), dr(1, 0)}
	l.apply(svc)
	if err := live.ping(); err != nil {
		t.Fatalf("DR connection after Apply: %v", err)
	}
	want(t, "DR weight 0", l.count(clientAddr, ap(vip(0), 80), 4), map[string]int{"real1": 4})

	// Persistence: a client stays on one real server.
	svc.Reals = []lvs.Real{dr(0, 1), dr(1, 1)}
	svc.Persistence = time.Minute
	l.apply(svc)
	first := l.greet(clientAddr, ap(vip(0), 80)).name
	want(t, "DR persistence", l.count(clientAddr, ap(vip(0), 80), 6), map[string]int{first: 6})
}

// listTables lists the director's nftables tables as "family name".
func (l *lab) listTables() map[string]bool { return tablesOn(l.t, l.director) }

// tablesOn lists a host's nftables tables as "family name".
func tablesOn(t testing.TB, h *netlab.Host) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	must(t, h.Do(func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		tables, err := c.ListTables()
		for _, t := range tables {
			out[map[nftables.TableFamily]string{nftables.TableFamilyIPv4: "ip", nftables.TableFamilyIPv6: "ip6"}[t.Family]+" "+t.Name] = true
		}
		return err
	}))
	return out
}

func TestClose(t *testing.T) {
	t.Parallel()
	l := newLab(t, "vfnfcl", 1, false)
	l.apply(nat(vip(0), 80, "rr", rs(realAddr(0), 1)),
		lvs.Service{Addr: vip6, Port: 80, Protocol: lvs.TCP, Scheduler: "rr", Reals: []lvs.Real{rs(realAddr6(0), 1)}})
	if got := l.listTables(); !got["ip vipd_lvs"] || !got["ip6 vipd_lvs"] {
		t.Fatalf("tables after Apply: %v", got)
	}
	// Only what is needed: no IPv6 services, no ip6 table.
	l.apply(nat(vip(0), 80, "rr", rs(realAddr(0), 1)))
	if got := l.listTables(); !got["ip vipd_lvs"] || got["ip6 vipd_lvs"] {
		t.Fatalf("tables after an IPv4-only Apply: %v", got)
	}
	must(t, l.dp.Close())
	if got := l.listTables(); len(got) != 0 {
		t.Errorf("tables after Close: %v", got)
	}
	if _, err := open(l.client, clientAddr, ap(vip(0), 80)); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("after Close: got %v, want the director itself to refuse", err)
	}
	if err := l.dp.Apply(nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Apply after Close: %v", err)
	}
}

// ruleCount counts the rules of a chain of table ip vipd_lvs.
func (l *lab) ruleCount(chain string) int {
	l.t.Helper()
	var n int
	must(l.t, l.director.Do(func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		rules, err := c.GetRules(&nftables.Table{Name: DefaultTable, Family: nftables.TableFamilyIPv4},
			&nftables.Chain{Name: chain})
		n = len(rules)
		return err
	}))
	return n
}

func TestBadApply(t *testing.T) {
	t.Parallel()
	l := newLab(t, "vfnfba", 2, false)
	good := nat(vip(0), 80, "rr", rs(realAddr(0), 1), rs(realAddr(1), 1))
	l.apply(good)
	rules := l.ruleCount("nat")
	tun := nat(vip(1), 80, "rr", lvs.Real{Addr: realAddr(0), Weight: 1, Method: lvs.TUN,
		Tunnel: lvs.Tunnel{Type: "gre", Checksum: "csum"}})
	other := nat(vip(2), 80, "rr", rs(realAddr(0), 1))
	for _, bad := range []struct {
		svcs []lvs.Service
		err  error
	}{
		{[]lvs.Service{other, good, tun}, ErrTunnel},
		{[]lvs.Service{other, nat(vip(1), 80, "fancy", rs(realAddr(0), 1))}, ErrScheduler},
		{[]lvs.Service{other, good, good}, ErrDuplicate},
	} {
		if err := l.dp.Apply(bad.svcs); !errors.Is(err, bad.err) {
			t.Errorf("Apply: got %v, want %v", err, bad.err)
		}
	}
	if got := l.ruleCount("nat"); got != rules {
		t.Errorf("nat chain has %d rules after failed Applies, had %d", got, rules)
	}
	want(t, "after failed Applies", l.count(clientAddr, ap(vip(0), 80), 4), map[string]int{"real1": 2, "real2": 2})
	if _, err := open(l.client, clientAddr, ap(vip(2), 80)); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("service of a failed Apply: got %v, want no such service", err)
	}
}

// A program of thousands of messages fits one batch (the socket buffers
// are raised for it).
func TestLargeApply(t *testing.T) {
	t.Parallel()
	l := newLab(t, "vfnfla", 0, false)
	var svcs []lvs.Service
	for i := range 2000 {
		s := nat(vip(i/1000), uint16(1000+i%1000), "wrr")
		for j := range 10 {
			s.Reals = append(s.Reals, rs(netip.AddrFrom4([4]byte{198, 18, 56, byte(11 + j)}), 1+(i+j)%3))
		}
		svcs = append(svcs, s)
	}
	l.apply(svcs...)
	if got := l.ruleCount("nat"); got != len(svcs) {
		t.Errorf("nat chain has %d rules, want %d", got, len(svcs))
	}
}

func TestAvailable(t *testing.T) {
	t.Parallel()
	l := newLab(t, "vfnfav", 0, false)
	must(t, l.director.Do(func() error { return Available() }))
	if got := l.listTables(); len(got) != 0 {
		t.Errorf("Available left tables: %v", got)
	}
}

// BenchmarkApply times an Apply of 100 services of 10 real servers each
// (each Apply replaces the last): NAT, NAT with persistence, NAT with
// lvs_timeouts, and real servers of every method (a third TUN, through
// three tunnels).
func BenchmarkApply(b *testing.B) {
	for _, name := range []string{"nat", "nat-persistence", "nat-timeouts", "mixed"} {
		b.Run(name, func(b *testing.B) {
			l := newLab(b, "vfnfbe", 0, false)
			if name == "nat-timeouts" {
				must(b, l.dp.Close())
				must(b, l.director.Do(func() error {
					dp, err := New(WithTimeouts(lvs.Timeouts{TCP: time.Hour, TCPFin: time.Minute}))
					l.dp = dp
					return err
				}))
			}
			var svcs []lvs.Service
			for i := range 100 {
				s := nat(vip(0), uint16(1000+i), "wrr")
				for j := range 10 {
					r := rs(netip.AddrFrom4([4]byte{198, 18, 56, byte(11 + j)}), 1+(i+j)%3)
					if name == "mixed" {
						r.Method = []lvs.Method{lvs.NAT, lvs.DR, lvs.TUN}[j%3]
					}
					s.Reals = append(s.Reals, r)
				}
				if name == "nat-persistence" {
					s.Persistence = 5 * time.Minute
				}
				svcs = append(svcs, s)
			}
			start := time.Now()
			for b.Loop() {
				if err := l.dp.Apply(svcs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/1e3/float64(b.N), "ms/apply")
		})
	}
}
