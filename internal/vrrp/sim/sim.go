// Package sim runs VRRP routers on a virtual clock and a virtual LAN.
//
// Each simulated host owns a vrrp.Router and carries out its actions the
// way the daemon does, except that adverts travel through an in-memory
// network that can drop, delay, duplicate and partition them, and virtual
// addresses live in a table instead of the kernel. Adverts are really
// encoded and decoded, so the simulation checks the codec too. Given the
// same seed and commands, a run is exactly reproducible.
package sim

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/vipd/vipd/internal/vrrp"
)

// Impairments say how the LAN mistreats packets.
type Impairments struct {
	Drop      float64       // probability that a packet is lost
	Duplicate float64       // probability that a packet arrives twice
	Delay     time.Duration // every packet takes at least this long
	Jitter    time.Duration // plus up to this much, uniformly
}

// Event is one thing that happened, for transcripts and invariants.
type Event struct {
	At       time.Duration
	Host     string
	Instance string
	Action   vrrp.Action // the action the router asked for, if any
	Drop     error       // a received packet that was dropped, if any
	Note     string      // anything else (kill, restart, link down…)
}

// Sim is a LAN of simulated hosts and one client.
type Sim struct {
	now    time.Duration
	rng    *rand.Rand
	Net    Impairments
	hosts  []*Host
	byName map[string]*Host

	queue deliveries
	seq   uint64
	// side maps a host (or "client") to its side of a partition; hosts
	// on different sides cannot hear each other. Empty when healed.
	side map[string]int

	Client *Client
	// OnEvent, if set, sees every event as it happens.
	OnEvent func(Event)
}

// New makes an empty LAN whose random choices come from seed.
func New(seed uint64) *Sim {
	s := &Sim{
		rng:    rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		byName: map[string]*Host{},
		side:   map[string]int{},
	}
	s.Client = newClient(s)
	return s
}

// Now is the virtual time since the simulation began.
func (s *Sim) Now() time.Duration { return s.now }

// Hosts are the hosts in the order they were added.
func (s *Sim) Hosts() []*Host { return s.hosts }

// Host finds a host by name.
func (s *Sim) Host(name string) (*Host, bool) {
	h, ok := s.byName[name]
	return h, ok
}

// AddHost puts a host on the LAN with the given instances and sync groups.
// Its process is not running until Start.
func (s *Sim) AddHost(name string, addr4, addr6 netip.Addr, cfgs []vrrp.Config, groups []vrrp.GroupConfig) (*Host, error) {
	if _, dup := s.byName[name]; dup || name == clientName {
		return nil, fmt.Errorf("host %s already exists", name)
	}
	for _, o := range s.hosts {
		if o.Addr4 == addr4 || o.Addr6 == addr6 {
			return nil, fmt.Errorf("host %s already has address %v or %v", o.Name, addr4, addr6)
		}
	}
	for i := range cfgs {
		if cfgs[i].IPv6 {
			cfgs[i].Source = addr6
		} else {
			cfgs[i].Source = addr4
		}
		cfgs[i].Interface = "eth0"
	}
	// Build once now so that a bad config is reported when the host is added.
	if _, err := vrrp.NewRouter(cfgs, groups); err != nil {
		return nil, err
	}
	h := &Host{sim: s, Name: name, Addr4: addr4, Addr6: addr6, cfgs: cfgs, groups: groups,
		linkUp: true, holds: map[string]bool{}, tracked: map[string]bool{}}
	s.hosts = append(s.hosts, h)
	s.byName[name] = h
	return h, nil
}

func (s *Sim) emit(e Event) {
	e.At = s.now
	if s.OnEvent != nil {
		s.OnEvent(e)
	}
}

// Partition splits the LAN: hosts in different sides cannot hear each
// other. The client may be named as "client"; hosts and the client not
// named stay on the first side.
func (s *Sim) Partition(sides ...[]string) error {
	side := map[string]int{}
	for i, names := range sides {
		for _, n := range names {
			if _, ok := s.byName[n]; !ok && n != clientName {
				return fmt.Errorf("no host %s", n)
			}
			side[n] = i
		}
	}
	s.side = side
	s.emit(Event{Note: fmt.Sprintf("partition %v", sides)})
	return nil
}

// Heal joins the partition again.
func (s *Sim) Heal() {
	s.side = map[string]int{}
	s.emit(Event{Note: "heal"})
}

// connected reports whether a and b (hosts or the client) can talk now.
func (s *Sim) connected(a, b string) bool {
	return s.side[a] == s.side[b] && s.linkUp(a) && s.linkUp(b)
}

func (s *Sim) linkUp(name string) bool {
	h, ok := s.byName[name]
	return !ok || h.linkUp
}

// multicast sends a packet from h to every other host, through the
// impairments.
func (s *Sim) multicast(from *Host, src, dst netip.Addr, payload []byte) {
	for _, to := range s.hosts {
		if to == from || !s.connected(from.Name, to.Name) || s.rng.Float64() < s.Net.Drop {
			continue
		}
		copies := 1
		if s.rng.Float64() < s.Net.Duplicate {
			copies = 2
		}
		for range copies {
			d := s.Net.Delay
			if s.Net.Jitter > 0 {
				d += time.Duration(s.rng.Int64N(int64(s.Net.Jitter) + 1))
			}
			s.seq++
			heap.Push(&s.queue, &delivery{at: s.now + d, seq: s.seq, from: from.Name, to: to, pkt: vrrp.Packet{
				Interface: "eth0", Src: src, Dst: dst, HopLimit: vrrp.TTL, Payload: payload,
			}})
		}
	}
}

// Inject delivers a crafted packet to a host now, as if from the wire.
func (s *Sim) Inject(to *Host, pkt vrrp.Packet) error {
	if !to.running() {
		return fmt.Errorf("host %s is not running", to.Name)
	}
	acts, err := to.router.Receive(s.now, &pkt)
	if err != nil {
		s.emit(Event{Host: to.Name, Drop: err, Note: "from " + pkt.Src.String()})
	}
	to.carryOut(acts)
	return nil
}

// Advance runs the simulation for d of virtual time.
func (s *Sim) Advance(d time.Duration) { s.RunUntil(s.now + d) }

// RunUntil processes every delivery, timer and probe due up to t, in time
// order, and leaves the clock at t.
func (s *Sim) RunUntil(t time.Duration) {
	spins := 0
	for {
		at, what := s.next()
		if what == nothing || at > t {
			break
		}
		if at == s.now {
			if spins++; spins > 100000 {
				panic(fmt.Sprintf("sim: no progress at %v", s.now))
			}
		} else {
			spins = 0
		}
		s.now = at
		switch what {
		case probe:
			s.Client.probe()
		case packet:
			d := heap.Pop(&s.queue).(*delivery)
			d.to.deliver(d)
		default:
			s.hosts[what-firstHost].tick()
		}
	}
	s.now = t
}

// What comes next: the client's probe, a packet, or host i's timers
// (firstHost+i).
const (
	nothing = iota - 1
	probe
	packet
	firstHost
)

func (s *Sim) next() (time.Duration, int) {
	at, what := time.Duration(0), nothing
	consider := func(t time.Duration, w int) {
		if what == nothing || t < at {
			at, what = t, w
		}
	}
	if s.Client.every > 0 {
		consider(s.Client.nextProbe, probe)
	}
	if len(s.queue) > 0 {
		consider(s.queue[0].at, packet)
	}
	for i, h := range s.hosts {
		if !h.running() {
			continue
		}
		if t, ok := h.router.NextDeadline(); ok {
			consider(max(t, s.now), firstHost+i)
		}
	}
	return at, what
}

// delivery is a packet in flight.
type delivery struct {
	at   time.Duration
	seq  uint64
	from string
	to   *Host
	pkt  vrrp.Packet
}

// deliveries is a min-heap by arrival time, then by sending order.
type deliveries []*delivery

func (q deliveries) Len() int { return len(q) }
func (q deliveries) Less(i, j int) bool {
	return q[i].at < q[j].at || (q[i].at == q[j].at && q[i].seq < q[j].seq)
}
func (q deliveries) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *deliveries) Push(x any)   { *q = append(*q, x.(*delivery)) }
func (q *deliveries) Pop() any {
	old := *q
	d := old[len(old)-1]
	*q = old[:len(old)-1]
	return d
}
