package sim

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/vipd/vipd/internal/vrrp"
)

// seedsFlag runs the property tests over more random schedules:
// go test ./internal/vrrp/sim -run Property -sim.seeds=5000
var seedsFlag = flag.Int("sim.seeds", 0, "number of random schedules per property test (0: default)")

func seedCount(normal, short int) uint64 {
	switch {
	case *seedsFlag > 0:
		return uint64(*seedsFlag)
	case testing.Short():
		return uint64(short)
	}
	return uint64(normal)
}

// randomLAN puts 2 to 4 hosts on a LAN, each with the same two virtual
// routers (VRRPv2 VRID 1, VRRPv3 VRID 2) and random priorities and
// preemption settings. At most one host owns each virtual router.
func randomLAN(t *testing.T, rng *rand.Rand, s *Sim) {
	t.Helper()
	n := 2 + rng.IntN(3)
	owner1, owner2 := rng.IntN(4*n), rng.IntN(4*n) // usually nobody
	for i := range n {
		mk := func(name string, vrid, version uint8, owner bool) vrrp.Config {
			c := vrrp.DefaultConfig()
			c.Name, c.VRID, c.Version = name, vrid, version
			c.Priority = uint8(1 + rng.IntN(254))
			if rng.IntN(3) == 0 {
				c.Priority = 100 // equal priorities, broken by address
			}
			if version == 3 {
				c.Interval = []time.Duration{100 * time.Millisecond, 300 * time.Millisecond, time.Second}[rng.IntN(3)]
			}
			switch rng.IntN(6) {
			case 0:
				c.NoPreempt = true
			case 1:
				c.PreemptDelay = time.Duration(1+rng.IntN(10)) * time.Second
			case 2:
				c.WantMaster = true
			}
			if owner {
				c.Priority, c.WantMaster, c.NoPreempt = vrrp.PriorityOwner, true, false
			}
			c.Addrs = []netip.Addr{netip.AddrFrom4([4]byte{198, 18, 1, vrid})}
			return c
		}
		cfgs := []vrrp.Config{mk("VI_1", 1, 2, owner1 == i), mk("VI_2", 2, 3, owner2 == i)}
		a4 := netip.AddrFrom4([4]byte{198, 18, 0, byte(i + 1)})
		a6 := netip.MustParseAddr(fmt.Sprintf("fe80::%d", i+1))
		if _, err := s.AddHost(fmt.Sprintf("h%d", i), a4, a6, cfgs, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// startRandomLAN builds a random LAN from seed (stream picks the test's
// own sequence of choices), records its events and starts every host.
func startRandomLAN(t *testing.T, seed, stream uint64) (*rand.Rand, *Sim, *[]string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, stream))
	s := New(seed)
	log := recordLog(s)
	randomLAN(t, rng, s)
	for _, h := range s.Hosts() {
		if err := h.Start(); err != nil {
			t.Fatal(err)
		}
	}
	return rng, s, log
}

// quietBound is the longest any host needs to settle once the network is
// healed and quiet: the slowest Master_Down_Interval plus one interval.
func quietBound(s *Sim) time.Duration {
	var d time.Duration
	for _, h := range s.Hosts() {
		d = max(d, h.masterDownBound())
	}
	return d
}

// checkOneMaster asserts that each virtual router has exactly one master
// among the running hosts, and that it alone holds the address.
func checkOneMaster(t *testing.T, s *Sim, log []string) {
	t.Helper()
	for _, name := range []string{"VI_1", "VI_2"} {
		var masters, holders []string
		for _, h := range s.Hosts() {
			if !h.Running() {
				continue
			}
			in, _ := h.Router().Instance(name)
			if in.State() == vrrp.Master {
				masters = append(masters, h.Name)
			}
			if h.HoldsInstance(name) {
				holders = append(holders, h.Name)
			}
		}
		if len(masters) != 1 || len(holders) != 1 || masters[0] != holders[0] {
			t.Fatalf("%s at %v: masters %v, address holders %v; last events:\n%s",
				name, s.Now(), masters, holders, tail(log, 40))
		}
	}
}

func anyRunning(s *Sim) bool {
	for _, h := range s.Hosts() {
		if h.Running() {
			return true
		}
	}
	return false
}

// maxPreemptDelay is the longest preempt_delay on the LAN: a backup with
// one may take over from a lower priority that much later.
func maxPreemptDelay(s *Sim) time.Duration {
	var d time.Duration
	for _, h := range s.Hosts() {
		for _, c := range h.cfgs {
			d = max(d, c.PreemptDelay)
		}
	}
	return d
}

func tail(log []string, n int) string {
	out := ""
	for _, l := range log[max(0, len(log)-n):] {
		out += l + "\n"
	}
	return out
}

func recordLog(s *Sim) *[]string {
	var log []string
	s.OnEvent = func(e Event) {
		switch {
		case e.Drop != nil:
		case e.Note != "":
			log = append(log, fmt.Sprintf("%v %s %s", e.At, e.Host, e.Note))
		case e.Action.Kind == vrrp.SendAdvert && e.Action.Reason == vrrp.ReasonTimer:
		default:
			log = append(log, fmt.Sprintf("%v %s %v", e.At, e.Host, e.Action))
		}
	}
	return &log
}

// TestPropertyOneMasterAfterHeal throws random failures at random LANs:
// kills, restarts, graceful stops, partitions, flapping links, priority
// changes, loss, duplication and jitter. Once the network is healed and
// quiet for the slowest Master_Down_Interval, every virtual router must
// have exactly one master, holding the address alone.
func TestPropertyOneMasterAfterHeal(t *testing.T) {
	for seed := range seedCount(300, 50) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng, s, log := startRandomLAN(t, seed, 7)
			chaos(rng, s, 90*time.Second)
			s.Heal()
			s.Net = Impairments{Delay: time.Millisecond, Jitter: 2 * time.Millisecond}
			for _, h := range s.Hosts() {
				h.SetLink(true)
				h.ClearFaults()
			}
			// Let graceful stops in progress finish; then make sure
			// someone is running. Quiet starts after that.
			s.Advance(quietBound(s))
			if !anyRunning(s) {
				if err := s.Hosts()[0].Start(); err != nil {
					t.Fatal(err)
				}
			}
			s.Advance(quietBound(s) + maxPreemptDelay(s))
			checkOneMaster(t, s, *log)
		})
	}
}

// chaos runs the LAN for d with a random failure every 0.1 to 4 seconds.
func chaos(rng *rand.Rand, s *Sim, d time.Duration) {
	end := s.Now() + d
	hosts := s.Hosts()
	for s.Now() < end {
		s.Advance(time.Duration(100+rng.IntN(3900)) * time.Millisecond)
		h := hosts[rng.IntN(len(hosts))]
		switch rng.IntN(9) {
		case 0:
			h.Kill()
		case 1:
			_ = h.Start() // fails harmlessly if running
		case 2:
			_ = h.Stop()
		case 3:
			var a, b []string
			for _, o := range hosts {
				if rng.IntN(2) == 0 {
					a = append(a, o.Name)
				} else {
					b = append(b, o.Name)
				}
			}
			_ = s.Partition(a, b)
		case 4:
			s.Heal()
		case 5:
			h.SetLink(!h.LinkUp())
		case 6:
			_ = h.SetPriority([]string{"VI_1", "VI_2"}[rng.IntN(2)], rng.IntN(300))
		case 7:
			s.Net = Impairments{
				Drop:      rng.Float64() * 0.3,
				Duplicate: rng.Float64() * 0.2,
				Delay:     time.Duration(rng.IntN(20)) * time.Millisecond,
				Jitter:    time.Duration(rng.IntN(50)) * time.Millisecond,
			}
		case 8:
			_ = h.SetFault([]string{"VI_1", "VI_2"}[rng.IntN(2)], rng.IntN(2) == 0)
		}
	}
}

// TestPropertyNoTakeoverWhileHeard: once a LAN has settled, adverts that
// arrive in time (no loss, but delay, jitter up to half an interval and
// duplicates) never make a backup take over: no transition at all happens
// in ten minutes. And when the master then dies, a backup takes over
// within its Master_Down_Interval.
func TestPropertyNoTakeoverWhileHeard(t *testing.T) {
	for seed := range seedCount(100, 20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			_, s, log := startRandomLAN(t, seed, 11)
			s.Advance(2*quietBound(s) + maxPreemptDelay(s))
			checkOneMaster(t, s, *log)

			s.Net = Impairments{Delay: time.Millisecond, Jitter: 50 * time.Millisecond, Duplicate: 0.2}
			transitions := 0
			s.OnEvent = func(e Event) {
				if e.Action.Kind == vrrp.Transition {
					transitions++
					t.Errorf("%v %s: %v", e.At, e.Host, e.Action)
				}
			}
			s.Advance(10 * time.Minute)
			if transitions > 0 {
				t.Fatalf("%d transitions while every advert arrived in time", transitions)
			}

			// Kill the master of VI_1; the best backup must take over
			// within its own Master_Down_Interval (plus the jitter).
			var master *Host
			var limit time.Duration
			for _, h := range s.Hosts() {
				in, _ := h.Router().Instance("VI_1")
				if in.State() == vrrp.Master {
					master = h
				} else {
					limit = max(limit, in.MasterDownInterval())
				}
			}
			took := time.Duration(-1)
			killed := s.Now()
			s.OnEvent = func(e Event) {
				if e.Action.Kind == vrrp.Transition && e.Action.To == vrrp.Master &&
					e.Action.Instance.Name() == "VI_1" && took < 0 {
					took = e.At - killed
				}
			}
			master.Kill()
			s.Advance(limit + time.Second)
			if took < 0 || took > limit+51*time.Millisecond {
				t.Fatalf("after the master died, takeover took %v; Master_Down_Interval is %v", took, limit)
			}
		})
	}
}
