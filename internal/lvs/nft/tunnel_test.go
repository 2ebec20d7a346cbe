package nft

import (
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vipd/vipd/internal/lvs"
)

func tun(addr netip.Addr, weight int, typ string) lvs.Real {
	r := lvs.Real{Addr: addr, Weight: weight, Method: lvs.TUN, Tunnel: lvs.Tunnel{Type: typ}}
	if typ == tunGUE {
		r.Tunnel.Port = guePort
	}
	return r
}

// tunnelState is what the director has of the tunnels' routing: whether
// the device is there, how many routing rules point to the table, and
// the real servers the table routes to.
type tunnelState struct {
	device bool
	rules  int
	routes map[netip.Addr]bool
}

func (l *lab) tunnelState() tunnelState {
	l.t.Helper()
	dev, table := tunnelIDs(DefaultTable)
	st := tunnelState{routes: map[netip.Addr]bool{}}
	must(l.t, l.director.Do(func() error {
		_, err := netlink.LinkByName(dev)
		st.device = err == nil
		for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
			rules, err := netlink.RuleListFiltered(fam, &netlink.Rule{Table: table}, netlink.RT_FILTER_TABLE)
			if err != nil {
				return err
			}
			st.rules += len(rules)
			routes, err := netlink.RouteListFiltered(fam, &netlink.Route{Table: table}, netlink.RT_FILTER_TABLE)
			if err != nil {
				return err
			}
			for _, r := range routes {
				if a, ok := routeAddr(r); ok {
					st.routes[a] = true
				}
			}
		}
		return nil
	}))
	return st
}

// tooBig counts the director's ICMP "fragmentation needed" and ICMPv6
// "packet too big" (or any destination unreachable, for IPv4).
func (l *lab) tooBig() [2]int {
	l.t.Helper()
	var out [2]int
	must(l.t, l.director.Do(func() error {
		for i, f := range []struct{ file, key string }{
			{"snmp", "OutDestUnreachs"}, {"snmp6", "Icmp6OutPktTooBigs"}} {
			b, err := os.ReadFile("/proc/thread-self/net/" + f.file)
			if err != nil {
				return err
			}
			out[i] = snmpValue(string(b), f.key)
		}
		return nil
	}))
	return out
}

// snmpValue finds a counter in /proc/net/snmp (a line of names, then a
// line of values, per protocol) or snmp6 (name and value per line).
func snmpValue(text, key string) int {
	lines := strings.Split(text, "\n")
	for i, line := range lines {
		f := strings.Fields(line)
		for j, name := range f {
			if name != key {
				continue
			}
			if j == 0 && len(f) == 2 {
				n, _ := strconv.Atoi(f[1])
				return n
			}
			if i+1 < len(lines) {
				if v := strings.Fields(lines[i+1]); j < len(v) {
					n, _ := strconv.Atoi(v[j])
					return n
				}
			}
		}
	}
	return -1
}

// echoBig echoes lines longer than a packet over n connections.
func (l *lab) echoBig(src netip.Addr, to netip.AddrPort, n int) {
	l.t.Helper()
	for range n {
		c, err := open(l.client, src, to)
		if err != nil {
			l.t.Fatal(err)
		}
		err = c.echo(big)
		c.Close()
		if err != nil {
			l.t.Errorf("%v to %v, %s: %v", src, to, c.name, err)
		}
	}
}

// TUN: the real server gets the packet inside an IP-in-IP tunnel, takes
// it out (as its tunl0 would), finds it addressed to the virtual address
// it holds on lo and answers the client directly.
func TestTunnel(t *testing.T) {
	t.Parallel()
	l := newLabOf(t, "vfnftu", tunReal, tunReal)
	svc := nat(vip(0), 80, "rr", tun(tunRealAddr(0), 1, ""), tun(tunRealAddr(1), 1, tunIPIP))
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
		must(t, c.echo(big))
		got[c.name]++
		if c.name == "real2" {
			live = c
		} else {
			c.Close()
		}
	}
	want(t, "TUN rr", got, map[string]int{"real1": 5, "real2": 5})
	if st := l.tunnelState(); !st.device || st.rules != 1 || len(st.routes) != 2 {
		t.Errorf("tunnel routing: %+v", st)
	}

	// Weight 0 keeps real2's connection.
	svc.Reals[1].Weight = 0
	l.apply(svc)
	if err := live.ping(); err != nil {
		t.Fatalf("TUN connection after Apply: %v", err)
	}
	want(t, "TUN weight 0", l.count(clientAddr, ap(vip(0), 80), 4), map[string]int{"real1": 4})

	// Without real2, its route goes too.
	l.apply(nat(vip(0), 80, "rr", tun(tunRealAddr(0), 1, "")))
	want(t, "TUN without real2", l.count(clientAddr, ap(vip(0), 80), 4), map[string]int{"real1": 4})
	if st := l.tunnelState(); !st.device || len(st.routes) != 1 || !st.routes[tunRealAddr(0)] {
		t.Errorf("tunnel routing without real2: %+v", st)
	}

	// The host's own traffic to a real server is not tunnelled (the
	// real servers drop nothing outside a tunnel but the virtual
	// address): health checks see the real server as it is.
	c, err := open(l.director, netip.Addr{}, ap(tunRealAddr(0), 80))
	if err != nil {
		t.Fatalf("health check: %v", err)
	}
	if c.local != ap(tunRealAddr(0), 80) {
		t.Errorf("health check reached %v", c.local)
	}
	c.Close()

	// No TUN real server left: no tunnel routing.
	l.apply(nat(vip(0), 80, "rr", lvs.Real{Addr: tunRealAddr(0), Weight: 1, Method: lvs.DR}))
	if st := l.tunnelState(); st.device || st.rules != 0 || len(st.routes) != 0 {
		t.Errorf("tunnel routing without TUN real servers: %+v", st)
	}
	l.apply(svc)
	must(t, l.dp.Close())
	if st := l.tunnelState(); st.device || st.rules != 0 || len(st.routes) != 0 {
		t.Errorf("tunnel routing after Close: %+v", st)
	}
	if got := l.listTables(); len(got) != 0 {
		t.Errorf("tables after Close: %v", got)
	}
}

// GRE and GUE, with persistence, and IPv6 (IPv6 in IPv6, and GRE).
func TestTunnelTypes(t *testing.T) {
	t.Parallel()
	l := newLabOf(t, "vfnftt", tunReal, tunReal)
	svc := nat(vip(0), 80, "rr", tun(tunRealAddr(0), 1, tunGRE), tun(tunRealAddr(1), 1, tunGUE))
	v6 := lvs.Service{Addr: vip6, Port: 80, Protocol: lvs.TCP, Scheduler: "rr", Reals: []lvs.Real{
		tun(tunRealAddr6(0), 1, tunIPIP), tun(tunRealAddr6(1), 1, tunGRE)}}
	l.apply(svc, v6)
	if st := l.tunnelState(); !st.device || st.rules != 2 || len(st.routes) != 4 {
		t.Errorf("tunnel routing: %+v", st)
	}
	want(t, "GRE and GUE", l.count(clientAddr, ap(vip(0), 80), 6), map[string]int{"real1": 3, "real2": 3})
	got := map[string]int{}
	for range 6 {
		g := l.greet(clientAddr6, ap(vip6, 80))
		if g.local != ap(vip6, 80) {
			t.Errorf("IPv6: %s was reached at %v", g.name, g.local)
		}
		got[g.name]++
	}
	want(t, "IPv6 in IPv6, and GRE", got, map[string]int{"real1": 3, "real2": 3})
	// Full-sized packets do not fit into the tunnel: the client learns
	// a smaller path MTU from the director, as from IPVS.
	tooBig := l.tooBig()
	l.echoBig(clientAddr6, ap(vip6, 80), 2)
	l.echoBig(clientAddr, ap(vip(0), 80), 2)
	if got := l.tooBig(); got[0] <= tooBig[0] || got[1] <= tooBig[1] {
		t.Errorf("the director sent no ICMP fragmentation needed (IPv6: packet too big): before %v, after %v", tooBig, got)
	}

	svc.Persistence = time.Minute
	l.apply(svc, v6)
	first := l.greet(clientAddr, ap(vip(0), 80)).name
	want(t, "TUN persistence", l.count(clientAddr, ap(vip(0), 80), 6), map[string]int{first: 6})
	l.apply(svc, v6)
	want(t, "TUN persistence after Apply", l.count(clientAddr, ap(vip(0), 80), 4), map[string]int{first: 4})
}

// A dataplane that was not closed (its daemon killed) leaves its tunnel
// routing; the next one's first Apply clears what it does not use.
func TestTunnelLeftovers(t *testing.T) {
	t.Parallel()
	l := newLabOf(t, "vfnftl", tunReal)
	l.apply(nat(vip(0), 80, "rr", tun(tunRealAddr(0), 1, "")))
	var next *Dataplane
	must(t, l.director.Do(func() error {
		var err error
		next, err = New()
		return err
	}))
	defer next.Close()
	must(t, next.Apply([]lvs.Service{nat(vip(0), 80, "rr", lvs.Real{Addr: tunRealAddr(0), Weight: 1, Method: lvs.DR})}))
	if st := l.tunnelState(); st.device || st.rules != 0 || len(st.routes) != 0 {
		t.Errorf("tunnel routing after a restart without TUN: %+v", st)
	}
	must(t, next.Apply([]lvs.Service{nat(vip(0), 80, "rr", tun(tunRealAddr(0), 1, ""))}))
	want(t, "TUN after a restart", l.count(clientAddr, ap(vip(0), 80), 2), map[string]int{"real1": 2})
}

// One service, a real server of each method: each serves clients, and
// established connections stay through an Apply that changes weights.
func TestMixedMethods(t *testing.T) {
	t.Parallel()
	l := newLabOf(t, "vfnfmx", natReal, drReal, tunReal)
	reals := func(w ...int) []lvs.Real {
		return []lvs.Real{rs(realAddr(0), w[0]), {Addr: drRealAddr(1), Weight: w[1], Method: lvs.DR},
			tun(tunRealAddr(2), w[2], "")}
	}
	svc := nat(vip(0), 80, "rr", reals(1, 1, 1)...)
	l.apply(svc)
	live := map[string]*conn{}
	got := map[string]int{}
	for range 9 {
		c, err := open(l.client, clientAddr, ap(vip(0), 80))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		wantLocal := map[string]netip.AddrPort{"real1": ap(realAddr(0), 80), "real2": ap(vip(0), 80), "real3": ap(vip(0), 80)}
		if c.local != wantLocal[c.name] {
			t.Errorf("%s was reached at %v, want %v", c.name, c.local, wantLocal[c.name])
		}
		must(t, c.ping())
		got[c.name]++
		if live[c.name] == nil {
			live[c.name] = c
		} else {
			c.Close()
		}
	}
	want(t, "mixed rr", got, map[string]int{"real1": 3, "real2": 3, "real3": 3})

	// Local clients reach the NAT real server alone.
	for range 2 {
		c, err := open(l.director, netip.Addr{}, ap(vip(0), 80))
		if err != nil {
			t.Fatalf("local client: %v", err)
		}
		c.Close()
		if c.name != "real1" {
			t.Errorf("local client reached %s", c.name)
		}
	}

	for _, w := range [][]int{{0, 2, 1}, {1, 0, 0}, {0, 0, 1}} {
		svc.Reals = reals(w...)
		l.apply(svc)
		for name, c := range live {
			if err := c.ping(); err != nil {
				t.Errorf("weights %v: connection to %s: %v", w, name, err)
			}
		}
	}
	want(t, "only TUN", l.count(clientAddr, ap(vip(0), 80), 3), map[string]int{"real3": 3})

	// Persistence, for every method.
	svc.Reals = reals(1, 1, 1)
	svc.Persistence = time.Minute
	l.apply(svc)
	used := map[string]bool{}
	for i := 2; i < 8; i++ {
		src := netip.AddrFrom4([4]byte{198, 18, 55, byte(i)})
		first := l.greet(src, ap(vip(0), 80)).name
		used[first] = true
		want(t, "persistence "+src.String(), l.count(src, ap(vip(0), 80), 3), map[string]int{first: 3})
	}
	if len(used) != 3 {
		t.Errorf("6 persistent clients reached %v", used)
	}
	// Packets of the client's older connections to other real servers
	// must not pin it to them.
	first := l.greet(clientAddr, ap(vip(0), 80)).name
	for name, c := range live {
		if err := c.ping(); err != nil {
			t.Errorf("old connection to %s: %v", name, err)
		}
	}
	want(t, "persistence past old connections", l.count(clientAddr, ap(vip(0), 80), 3), map[string]int{first: 3})
	l.apply(svc)
	for i := 2; i < 8; i++ {
		src := netip.AddrFrom4([4]byte{198, 18, 55, byte(i)})
		if got := l.count(src, ap(vip(0), 80), 2); len(got) != 1 {
			t.Errorf("persistence after Apply: %v reached %v", src, got)
		}
	}

	// A client's NAT connection goes on after the client is remembered
	// for the DR real server (its NAT persistence lapsed while the
	// connection was idle): the DR rules must leave it alone.
	svc.Reals = reals(1, 1, 0)
	svc.Persistence = 300 * time.Millisecond
	l.apply(svc)
	src := netip.MustParseAddr("198.18.55.9")
	var natConn *conn
	for i := 0; natConn == nil; i++ {
		if i == 5 {
			t.Fatal("no connection to the NAT real server")
		}
		c, err := open(l.client, src, ap(vip(0), 80))
		if err != nil {
			t.Fatal(err)
		}
		if c.name == "real1" {
			natConn = c
			t.Cleanup(func() { c.Close() })
		} else {
			c.Close()
		}
		time.Sleep(400 * time.Millisecond)
	}
	for i := 0; l.greet(src, ap(vip(0), 80)).name != "real2"; i++ {
		if i == 5 {
			t.Fatal("no connection to the DR real server")
		}
		time.Sleep(400 * time.Millisecond)
	}
	if err := natConn.ping(); err != nil {
		t.Errorf("NAT connection of a client now remembered for DR: %v", err)
	}
}

// An Apply succeeds with a TUN real server the director has no route to
// (a health checker takes it out); its copies are dropped.
func TestTunnelUnreachable(t *testing.T) {
	t.Parallel()
	l := newLabOf(t, "vfnftn", tunReal)
	l.apply(nat(vip(0), 80, "rr", tun(tunRealAddr(0), 1, ""), tun(netip.MustParseAddr("203.0.113.9"), 0, "")))
	want(t, "with an unreachable real server", l.count(clientAddr, ap(vip(0), 80), 2), map[string]int{"real1": 2})
}
