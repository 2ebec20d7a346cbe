package nft

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/vipd/vipd/internal/lvs"
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
		{"TUN", []lvs.Service{with(func(s *lvs.Service) { s.Reals[0].Method = lvs.TUN })}, ErrTUN},
		{"mixed methods", []lvs.Service{with(func(s *lvs.Service) {
			s.Reals = append(s.Reals, lvs.Real{Addr: netip.MustParseAddr("192.0.2.11"), Weight: 1, Method: lvs.DR})
		})}, ErrMixedMethod},
		{"mixed ports", []lvs.Service{with(func(s *lvs.Service) {
			s.Port = 0
			s.Reals = append(s.Reals, lvs.Real{Addr: netip.MustParseAddr("192.0.2.11"), Port: 80, Weight: 1})
		})}, ErrMixedPorts},
		{"ops NAT", []lvs.Service{with(func(s *lvs.Service) { s.OnePacket = true })}, ErrOnePacket},
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
		_, err := plan(c.svcs)
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
	if _, err := plan([]lvs.Service{s}); err != nil {
		t.Fatal(err)
	}
	if s.Reals[0].Addr != mapped {
		t.Errorf("plan rewrote the caller's real server to %v", s.Reals[0].Addr)
	}
}
