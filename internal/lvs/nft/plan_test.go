package nft

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vipd/vipd/internal/lvs"
	"github.com/vipd/vipd/internal/netlab"
)

func TestApproximates(t *testing.T) {
	for _, c := range []struct {
		sched, nearest string
		exact          bool
	}{
		{"rr", "rr", true}, {"wrr", "wrr", true}, {"sh", "sh", true}, {"dh", "dh", true}, {"fo", "fo", true},
		{"mh", "sh", false}, {"lc", "wrr", false}, {"wlc", "wrr", false}, {"sed", "wrr", false},
		{"nq", "wrr", false}, {"twos", "wrr", false}, {"", "wrr", false},
		{"lblc", "dh", false}, {"lblcr", "dh", false}, {"ovf", "fo", false},
		{"RR", "", false}, {"fancy", "", false},
	} {
		nearest, exact := Approximates(c.sched)
		if nearest != c.nearest || exact != c.exact {
			t.Errorf("Approximates(%q) = %q, %v; want %q, %v", c.sched, nearest, exact, c.nearest, c.exact)
		}
	}
}

func TestSlots(t *testing.T) {
	a := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}) }
	reals := []lvs.Real{{Addr: a(1), Weight: 300}, {Addr: a(2), Weight: 0}, {Addr: a(3), Weight: 100}, {Addr: a(4), Weight: 300}}
	for _, c := range []struct {
		sched string
		want  []uint32 // keys per real of weight > 0, in order
		addrs []int
	}{
		{"wrr", []uint32{3, 1, 3}, []int{1, 3, 4}}, // weights over their gcd
		{"sh", []uint32{3, 1, 3}, []int{1, 3, 4}},
		{"rr", []uint32{1, 1, 1}, []int{1, 3, 4}},
		{"dh", []uint32{1, 1, 1}, []int{1, 3, 4}},
		{"fo", []uint32{1}, []int{1}}, // the first of the highest weight
	} {
		got := slots(c.sched, reals)
		if len(got) != len(c.want) {
			t.Errorf("%s: %v", c.sched, got)
			continue
		}
		for i := range got {
			if got[i].n != c.want[i] || got[i].real.Addr != a(c.addrs[i]) {
				t.Errorf("%s: slot %d is %v ×%d, want %v ×%d", c.sched, i, got[i].real.Addr, got[i].n, a(c.addrs[i]), c.want[i])
			}
		}
	}
	if got := slots("wrr", []lvs.Real{{Addr: a(1)}}); got != nil {
		t.Errorf("only weight 0: %v", got)
	}
}

func TestPlanErrors(t *testing.T) {
	v4, v6 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	r4 := lvs.Real{Addr: netip.MustParseAddr("192.0.2.10"), Weight: 1}
	ok := lvs.Service{Addr: v4, Port: 80, Scheduler: "rr", Reals: []lvs.Real{r4}}
	with := func(f func(*lvs.Service)) lvs.Service {
		s := ok
		s.Reals = append([]lvs.Real(nil), ok.Reals...)
		f(&s)
		return s
	}
	for _, c := range []struct {
		name string
		svcs []lvs.Service
		err  error
	}{
		{"ok", []lvs.Service{ok}, nil},
		{"TUN", []lvs.Service{with(func(s *lvs.Service) { s.Reals[0].Method = lvs.TUN })}, nil},
		{"mixed methods", []lvs.Service{with(func(s *lvs.Service) {
			s.Reals = append(s.Reals, lvs.Real{Addr: netip.MustParseAddr("192.0.2.11"), Weight: 1, Method: lvs.DR},
				lvs.Real{Addr: netip.MustParseAddr("192.0.2.12"), Weight: 1, Method: lvs.TUN})
		})}, nil},
		{"mixed ops", []lvs.Service{with(func(s *lvs.Service) {
			s.OnePacket, s.Protocol = true, lvs.UDP
			s.Reals = append(s.Reals, lvs.Real{Addr: netip.MustParseAddr("192.0.2.11"), Weight: 1, Method: lvs.DR})
		})}, ErrOnePacket},
		{"ops DR and TUN", []lvs.Service{with(func(s *lvs.Service) {
			s.OnePacket = true
			s.Reals = []lvs.Real{{Addr: r4.Addr, Weight: 1, Method: lvs.DR},
				{Addr: netip.MustParseAddr("192.0.2.11"), Weight: 1, Method: lvs.TUN}}
		})}, nil},
		{"NAT and DR on one address", []lvs.Service{with(func(s *lvs.Service) {
			s.Reals = append(s.Reals, lvs.Real{Addr: r4.Addr, Port: 8080, Weight: 1, Method: lvs.DR})
		})}, ErrService},
		{"DR and NAT on one address", []lvs.Service{with(func(s *lvs.Service) {
			s.Reals = []lvs.Real{{Addr: r4.Addr, Weight: 1, Method: lvs.DR}, {Addr: r4.Addr, Port: 8080, Weight: 1}}
		})}, ErrService},
		{"NAT ports apart", []lvs.Service{with(func(s *lvs.Service) {
			s.Reals = append(s.Reals, lvs.Real{Addr: r4.Addr, Port: 8080, Weight: 1})
		})}, nil},
		{"GRE", []lvs.Service{with(func(s *lvs.Service) {
			s.Reals[0].Method, s.Reals[0].Tunnel = lvs.TUN, lvs.Tunnel{Type: "gre", Checksum: "nocsum"}
		})}, nil},
		{"GUE", []lvs.Service{with(func(s *lvs.Service) {
			s.Reals[0].Method, s.Reals[0].Tunnel = lvs.TUN, lvs.Tunnel{Type: "gue", Port: 6080}
		})}, nil},
		{"GUE without a port", []lvs.Service{with(func(s *lvs.Service) {
			s.Reals[0].Method, s.Reals[0].Tunnel = lvs.TUN, lvs.Tunnel{Type: "gue"}
		})}, ErrService},
		{"GUE over IPv6", []lvs.Service{{Addr: v6, Port: 80, Scheduler: "rr", Reals: []lvs.Real{{
			Addr: netip.MustParseAddr("2001:db8::10"), Weight: 1, Method: lvs.TUN, Tunnel: lvs.Tunnel{Type: "gue", Port: 6080}}}}}, ErrTunnel},
		{"tunnel type", []lvs.Service{with(func(s *lvs.Service) {
			s.Reals[0].Method, s.Reals[0].Tunnel = lvs.TUN, lvs.Tunnel{Type: "vxlan"}
		})}, ErrService},
		{"csum", []lvs.Service{with(func(s *lvs.Service) {
			s.Reals[0].Method, s.Reals[0].Tunnel = lvs.TUN, lvs.Tunnel{Type: "gre", Checksum: "csum"}
		})}, ErrTunnel},
		{"remcsum", []lvs.Service{with(func(s *lvs.Service) {
			s.Reals[0].Method, s.Reals[0].Tunnel = lvs.TUN, lvs.Tunnel{Type: "gue", Port: 6080, Checksum: "remcsum"}
		})}, ErrTunnel},
		{"two tunnels to one real", []lvs.Service{
			with(func(s *lvs.Service) { s.Reals[0].Method = lvs.TUN }),
			with(func(s *lvs.Service) {
				s.Port = 443
				s.Reals[0].Method, s.Reals[0].Tunnel = lvs.TUN, lvs.Tunnel{Type: "gre"}
			})}, ErrTunnel},
		{"one tunnel to one real", []lvs.Service{
			with(func(s *lvs.Service) { s.Reals[0].Method = lvs.TUN }),
			with(func(s *lvs.Service) {
				s.Port = 443
				s.Reals[0].Method, s.Reals[0].Tunnel = lvs.TUN, lvs.Tunnel{Type: "ipip"}
			})}, nil},
		{"mixed ports", []lvs.Service{with(func(s *lvs.Service) {
			s.Port = 0
			s.Reals = append(s.Reals, lvs.Real{Addr: netip.MustParseAddr("192.0.2.11"), Port: 80, Weight: 1})
		})}, ErrMixedPorts},
		{"ops NAT", []lvs.Service{with(func(s *lvs.Service) { s.OnePacket, s.Protocol = true, lvs.UDP })}, nil},
		{"ops NAT, TCP", []lvs.Service{with(func(s *lvs.Service) { s.OnePacket = true })}, nil},
		{"ops NAT, fwmark", []lvs.Service{with(func(s *lvs.Service) {
			s.Addr, s.Port, s.FWMark, s.OnePacket = netip.Addr{}, 0, 3, true
		})}, ErrOnePacket},
		{"ops NAT, all ports to a port", []lvs.Service{with(func(s *lvs.Service) {
			s.Port, s.Protocol, s.OnePacket, s.Reals[0].Port = 0, lvs.UDP, true, 53
		})}, ErrOnePacket},
		{"ops NAT, all ports", []lvs.Service{with(func(s *lvs.Service) {
			s.Port, s.Protocol, s.OnePacket, s.Persistence = 0, lvs.UDP, true, time.Minute
		})}, nil},
		// Replies from 192.0.2.10:80 could be either service's.
		{"ops NAT, shared real", []lvs.Service{
			with(func(s *lvs.Service) { s.OnePacket, s.Protocol = true, lvs.UDP }),
			with(func(s *lvs.Service) { s.Addr, s.Protocol = netip.MustParseAddr("192.0.2.2"), lvs.UDP }),
		}, ErrOnePacket},
		{"ops NAT, shared real of all ports", []lvs.Service{
			with(func(s *lvs.Service) { s.OnePacket, s.Protocol = true, lvs.UDP }),
			with(func(s *lvs.Service) { s.Addr, s.Port, s.Protocol = netip.MustParseAddr("192.0.2.2"), 0, lvs.UDP }),
		}, ErrOnePacket},
		{"ops NAT, shared real of a fwmark", []lvs.Service{
			with(func(s *lvs.Service) { s.OnePacket, s.Protocol = true, lvs.UDP }),
			with(func(s *lvs.Service) { s.Addr, s.Port, s.FWMark = netip.Addr{}, 0, 3 }),
		}, ErrOnePacket},
		{"ops NAT, real shared with TCP", []lvs.Service{
			with(func(s *lvs.Service) { s.OnePacket, s.Protocol = true, lvs.UDP }),
			with(func(s *lvs.Service) { s.Addr = netip.MustParseAddr("192.0.2.2") }),
		}, nil},
		{"ops NAT, real's other port", []lvs.Service{
			with(func(s *lvs.Service) { s.OnePacket, s.Protocol = true, lvs.UDP }),
			with(func(s *lvs.Service) {
				s.Addr, s.Protocol, s.Reals[0].Port = netip.MustParseAddr("192.0.2.2"), lvs.UDP, 81
			}),
		}, nil},
		{"scheduler", []lvs.Service{with(func(s *lvs.Service) { s.Scheduler = "fancy" })}, ErrScheduler},
		{"duplicate", []lvs.Service{ok, ok}, ErrDuplicate},
		{"no address", []lvs.Service{with(func(s *lvs.Service) { s.Addr = netip.Addr{} })}, ErrService},
		{"address and mark", []lvs.Service{with(func(s *lvs.Service) { s.FWMark = 1 })}, ErrService},
		{"family", []lvs.Service{with(func(s *lvs.Service) { s.Addr = v6 })}, ErrService},
		{"granularity", []lvs.Service{with(func(s *lvs.Service) { s.Persistence, s.PersistenceBits = time.Minute, 33 })}, ErrService},
		{"weight", []lvs.Service{with(func(s *lvs.Service) { s.Reals[0].Weight = -1 })}, ErrService},
		{"real twice", []lvs.Service{with(func(s *lvs.Service) { s.Reals = append(s.Reals, r4) })}, ErrService},
		{"protocol", []lvs.Service{with(func(s *lvs.Service) { s.Protocol = 9 })}, ErrService},
		{"fwmark", []lvs.Service{{FWMark: 3, IPv6: true, Scheduler: "rr",
			Reals: []lvs.Real{{Addr: netip.MustParseAddr("2001:db8::10"), Weight: 1}}}}, nil},
		{"SCTP", []lvs.Service{with(func(s *lvs.Service) { s.Protocol = lvs.SCTP })}, nil},
	} {
		_, _, err := plan(c.svcs)
		if !errors.Is(err, c.err) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.err)
		}
	}
}

// plan must not rewrite the caller's services.
func TestPlanKeepsInput(t *testing.T) {
	mapped := netip.MustParseAddr("::ffff:192.0.2.10")
	s := lvs.Service{Addr: netip.MustParseAddr("192.0.2.1"), Port: 80, Scheduler: "rr",
		Reals: []lvs.Real{{Addr: mapped, Weight: 1}}}
	if _, _, err := plan([]lvs.Service{s}); err != nil {
		t.Fatal(err)
	}
	if s.Reals[0].Addr != mapped {
		t.Errorf("plan rewrote the caller's real server to %v", s.Reals[0].Addr)
	}
}

// A service of NAT, DR and TUN real servers: scheduled in the nat chain,
// NAT data (ports) from its NAT real servers alone, sets for the others.
func TestPlanMixed(t *testing.T) {
	a := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}) }
	svc := lvs.Service{Addr: a(1), Port: 80, Scheduler: "wrr", Persistence: time.Minute, Reals: []lvs.Real{
		{Addr: a(10), Port: 8080, Weight: 1},
		{Addr: a(11), Weight: 2, Method: lvs.DR},
		{Addr: a(12), Weight: 0, Method: lvs.TUN, Tunnel: lvs.Tunnel{Type: "gre"}},
		{Addr: a(13), Weight: 1, Method: lvs.TUN},
	}}
	plans, tunnels, err := plan([]lvs.Service{svc})
	if err != nil {
		t.Fatal(err)
	}
	s := plans[0]
	if !s.nat || !s.fwd || !s.mixed() || !s.schedNAT() || !s.withPort {
		t.Errorf("nat %v, fwd %v, mixed %v, scheduled in nat %v, with port %v", s.nat, s.fwd, s.mixed(), s.schedNAT(), s.withPort)
	}
	if len(s.slots) != 3 {
		t.Errorf("slots: %v", s.slots)
	}
	if len(s.active) != 1 || !s.active[string(s.data(svc.Reals[0]))] {
		t.Errorf("active: %v", s.active)
	}
	wantSets := []string{"persist_tcp_192_0_2_1_80_m32",
		"flows_tcp_192_0_2_1_80_192_0_2_11", "persist_tcp_192_0_2_1_80_m32_192_0_2_11",
		"flows_tcp_192_0_2_1_80_192_0_2_12", // weight 0: no clients to remember
		"flows_tcp_192_0_2_1_80_192_0_2_13", "persist_tcp_192_0_2_1_80_m32_192_0_2_13"}
	if got := s.dynamicSets(); strings.Join(got, " ") != strings.Join(wantSets, " ") {
		t.Errorf("dynamic sets:\n%v\nwant\n%v", got, wantSets)
	}
	if got, want := s.realChain(svc.Reals[0]), "to_tcp_192_0_2_1_80_192_0_2_10_8080"; got != want {
		t.Errorf("NAT real server's chain %s, want %s", got, want)
	}
	if got, want := s.realChain(svc.Reals[1]), "to_tcp_192_0_2_1_80_192_0_2_11"; got != want {
		t.Errorf("DR real server's chain %s, want %s", got, want)
	}
	wantTunnels := map[netip.Addr]tunnel{a(12): {typ: "gre"}, a(13): {typ: "ipip"}}
	if len(tunnels) != len(wantTunnels) || tunnels[a(12)] != wantTunnels[a(12)] || tunnels[a(13)] != wantTunnels[a(13)] {
		t.Errorf("tunnels %v, want %v", tunnels, wantTunnels)
	}

	// DR and TUN alone: scheduled before the nat chain.
	svc.Reals = svc.Reals[1:]
	plans, _, err = plan([]lvs.Service{svc})
	if err != nil {
		t.Fatal(err)
	}
	if s := plans[0]; s.nat || s.mixed() || s.schedNAT() {
		t.Errorf("DR and TUN: nat %v, mixed %v, scheduled in nat %v", s.nat, s.mixed(), s.schedNAT())
	}
}

func TestAssemble(t *testing.T) {
	code, err := assemble(movImm(r0, 1), []any{jeqImm(r0, 1, "out"), movImm(r0, 2)}, label("out"), exit())
	if err != nil {
		t.Fatal(err)
	}
	if len(code) != 4*8 {
		t.Fatalf("%d bytes", len(code))
	}
	// The jump skips one instruction; registers share a byte.
	if jmp := code[8:16]; jmp[0] != bpfJMP|bpfJEQ|bpfK || jmp[2] != 1 || jmp[3] != 0 {
		t.Errorf("jump % x", jmp)
	}
	if mov := code[16:24]; mov[1] != r0 || mov[4] != 2 {
		t.Errorf("mov % x", mov)
	}
	if _, err := assemble(ja("nowhere")); err == nil {
		t.Error("a jump to no label assembled")
	}
	if b, _ := assemble(insn{dst: r3, src: r10}); b[1] != 0xa3 {
		t.Errorf("registers: %#x", b[1])
	}
}

// The kernel's verifier takes every encapsulation program.
func TestEncapProgs(t *testing.T) {
	netlab.NeedRoot(t)
	src4, dst4 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	src6, dst6 := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	for _, c := range []struct {
		tun      tunnel
		src, dst netip.Addr
	}{
		{tunnel{typ: tunIPIP}, src4, dst4}, {tunnel{typ: tunGRE}, src4, dst4}, {tunnel{typ: tunGUE, port: 6080}, src4, dst4},
		{tunnel{typ: tunIPIP}, src6, dst6}, {tunnel{typ: tunGRE}, src6, dst6},
		{tunnel{typ: tunIPIP}, netip.Addr{}, dst4},
	} {
		code, err := encapProg(c.tun, c.src, c.dst)
		if err != nil {
			t.Fatal(err)
		}
		fd, err := loadProg(unix.BPF_PROG_TYPE_LWT_XMIT, "vfnf_test", code)
		if err != nil {
			t.Errorf("%v from %v to %v: %v", c.tun, c.src, c.dst, err)
			continue
		}
		unix.Close(fd)
	}
}
