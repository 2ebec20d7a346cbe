package vrrp

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Router owns every VRRP instance and sync group of one process. It is the
// whole protocol: the daemon feeds it events with the current time (on any
// monotonic clock) and carries out the Actions it returns, in order. It
// never blocks, reads a clock or does I/O, and is not safe for concurrent
// use: one goroutine owns it.
//
// The slice of Actions a method returns is reused by the next call.
type Router struct {
	instances []*Instance
	byName    map[string]*Instance
	byVRID    map[vridKey]*Instance
	// byID is the one instance with an id on an interface, whatever its
	// group, or nil where several share it (on different groups).
	byID    map[idKey]*Instance
	groups  []*SyncGroup
	started bool
	out     []Action
	stats   RouterStats
}

// vridKey is what identifies a virtual router on the wire: its id on an
// interface, and the multicast group its adverts go to (invalid for
// unicast). Two instances may share an id there on different groups, as
// keepalived lets them.
type vridKey struct {
	idKey
	group netip.Addr
}

type idKey struct {
	iface string
	ipv6  bool
	vrid  uint8
}

// RouterStats count packets dropped before they reach an instance.
type RouterStats struct {
	Malformed    uint64 // too short to carry a VRID
	UnknownVRID  uint64 // no instance for this interface, family and VRID
	NotListening uint64 // the instance is in INIT, FAULT or STOP
}

// NewRouter validates the instances and sync groups and builds a Router
// with every instance in INIT. Call Start to begin.
func NewRouter(cfgs []Config, groups []GroupConfig) (*Router, error) {
	r := &Router{
		byName: make(map[string]*Instance, len(cfgs)),
		byVRID: make(map[vridKey]*Instance, len(cfgs)),
		byID:   make(map[idKey]*Instance, len(cfgs)),
	}
	for _, c := range cfgs {
		if err := c.Validate(); err != nil {
			return nil, err
		}
		if _, dup := r.byName[c.Name]; dup {
			return nil, fmt.Errorf("instance %s is defined twice", c.Name)
		}
		k := vridKey{idKey{c.Interface, c.IPv6, c.VRID}, c.Group}
		if c.Unicast {
			k.group = netip.Addr{}
		}
		if other, dup := r.byVRID[k]; dup {
			return nil, fmt.Errorf("instances %s and %s both use virtual_router_id %d on interface %q (%s)",
				other.cfg.Name, c.Name, c.VRID, c.Interface, family(c.IPv6))
		}
		in := newInstance(r, c)
		r.instances = append(r.instances, in)
		r.byName[c.Name] = in
		r.byVRID[k] = in
		if _, shared := r.byID[k.idKey]; shared {
			r.byID[k.idKey] = nil
		} else {
			r.byID[k.idKey] = in
		}
	}
	for _, gc := range groups {
		g := &SyncGroup{name: gc.Name}
		for _, name := range gc.Members {
			in, ok := r.byName[name]
			switch {
			case !ok:
				return nil, fmt.Errorf("sync group %s: no instance %s", gc.Name, name)
			case in.group != nil:
				return nil, fmt.Errorf("sync group %s: instance %s is already in sync group %s", gc.Name, name, in.group.name)
			}
			in.group = g
			g.members = append(g.members, in)
		}
		if len(g.members) == 0 {
			return nil, fmt.Errorf("sync group %s has no members", gc.Name)
		}
		r.groups = append(r.groups, g)
	}
	r.out = make([]Action, 0, 16)
	return r, nil
}

func family(ipv6 bool) string {
	if ipv6 {
		return "IPv6"
	}
	return "IPv4"
}

// Instances are the router's instances in configuration order.
func (r *Router) Instances() []*Instance { return r.instances }

// Instance finds an instance by name.
func (r *Router) Instance(name string) (*Instance, bool) {
	in, ok := r.byName[name]
	return in, ok
}

// SetSource changes the address an instance sends adverts from, which
// also breaks priority ties: the host found it (again) on an interface
// that came (back) after start.
func (r *Router) SetSource(name string, src netip.Addr) error {
	in, ok := r.byName[name]
	if !ok {
		return fmt.Errorf("no instance %s", name)
	}
	if !src.IsValid() || src.Is4() == in.cfg.IPv6 {
		return fmt.Errorf("vrrp_instance %s: source address %v is not of the instance's family", name, src)
	}
	in.cfg.Source = src
	return nil
}

// Groups are the sync groups in configuration order.
func (r *Router) Groups() []*SyncGroup { return r.groups }

// Stats returns the counters of packets no instance took.
func (r *Router) Stats() RouterStats { return r.stats }

func (r *Router) begin() { r.out = r.out[:0] }

// Resume gives instances the states they had before a configuration
// reload, by name; call it before Start. An instance resumed as MASTER
// (with its whole sync group) goes on as master without waiting, one
// resumed in another state listens as backup; instances not named
// start as new ones. A fault at Start wins over either.
func (r *Router) Resume(states map[string]State) {
	for name, st := range states {
		if in, ok := r.byName[name]; ok && !r.started {
			in.resumed = st
		}
	}
}

// Start takes every instance out of INIT: owners to MASTER, instances
// with a fault to FAULT, everyone else to BACKUP. Call SetFault first for
// resources already known to be down.
func (r *Router) Start(now time.Duration) []Action {
	r.begin()
	if r.started {
		return r.out
	}
	r.started = true
	for _, g := range r.groups {
		g.start(now)
	}
	for _, in := range r.instances {
		if in.group == nil {
			in.start(now, true)
		}
	}
	return r.out
}

// Receive runs one received packet through the instance it is for. The
// error says why the packet was dropped (it has been counted); a nil error
// means the advert was accepted, whatever it changed.
func (r *Router) Receive(now time.Duration, pkt *Packet) ([]Action, error) {
	r.begin()
	ah := pkt
	if pkt.IPHeader != nil {
		inner, err := openAH(pkt)
		if err != nil {
			r.stats.Malformed++
			return r.out, err
		}
		plain := *pkt
		plain.Payload, plain.IPHeader = inner, nil
		pkt = &plain
	} else {
		ah = nil
	}
	if len(pkt.Payload) < 2 {
		r.stats.Malformed++
		return r.out, ErrTooShort
	}
	k := vridKey{idKey{pkt.Interface, pkt.Src.Is6() && !pkt.Src.Is4In6(), pkt.Payload[1]}, netip.Addr{}}
	if pkt.Dst.IsMulticast() {
		k.group = pkt.Dst
	}
	in, ok := r.byVRID[k]
	if !ok {
		// A unicast advert for a multicast instance, or one sent to
		// another group: the instance with that id there, if only one.
		in = r.byID[k.idKey]
		ok = in != nil
	}
	if !ok {
		r.stats.UnknownVRID++
		return r.out, ErrUnknownVRID
	}
	if in.state != Backup && in.state != Master {
		r.stats.NotListening++
		return r.out, ErrNotListening
	}
	if (ah != nil) != (in.cfg.AuthType == AuthAH) {
		// An AH packet for a plain instance or the other way round.
		in.stats.AuthTypeMismatch++
		return r.out, ErrAuthTypeMismatch
	}
	if ah != nil {
		if err := in.checkAH(ah); err != nil {
			in.stats.AuthFailures++
			return r.out, err
		}
	}
	if err := in.check(pkt); err != nil {
		return r.out, err
	}
	return r.out, in.receive(now, pkt.Src)
}

// Tick fires every timer due at now. Call it at NextDeadline.
func (r *Router) Tick(now time.Duration) []Action {
	r.begin()
	for _, in := range r.instances {
		in.tick(now)
	}
	return r.out
}

// NextDeadline is when Tick must next be called; false when no timer runs.
func (r *Router) NextDeadline() (time.Duration, bool) {
	var at time.Duration
	on := false
	for _, in := range r.instances {
		if t, ok := in.deadline(); ok && (!on || t < at) {
			at, on = t, true
		}
	}
	return at, on
}

// ErrNoInstance is returned for an instance name the router does not know.
var ErrNoInstance = errors.New("vrrp: no such instance")

// SetFault reports that a resource the instance depends on (its interface,
// a tracked script in fault mode) went down or came back. Entering FAULT
// releases the addresses at once; leaving it returns to BACKUP.
func (r *Router) SetFault(now time.Duration, name string, fault bool) ([]Action, error) {
	r.begin()
	in, ok := r.byName[name]
	if !ok {
		return r.out, fmt.Errorf("%w: %s", ErrNoInstance, name)
	}
	if in.stopping || in.state == Stop {
		in.fault = fault
		return r.out, nil
	}
	if in.group != nil {
		if r.started {
			in.group.setFault(now, in, fault)
		} else {
			in.fault = fault
		}
		return r.out, nil
	}
	in.fault = fault
	if !r.started {
		return r.out, nil
	}
	switch {
	case fault:
		in.enterFault(now, ReasonFault)
	case in.state == Fault:
		in.leaveFault(now, true)
	}
	return r.out, nil
}

// SetPriority applies a new effective priority computed from the
// instance's base priority and its trackers' weights. It is clamped to
// 1..254; an owner's priority never changes.
func (r *Router) SetPriority(now time.Duration, name string, priority int) ([]Action, error) {
	r.begin()
	in, ok := r.byName[name]
	if !ok {
		return r.out, fmt.Errorf("%w: %s", ErrNoInstance, name)
	}
	in.setPriority(now, uint8(max(1, min(priority, int(PriorityOwner-1)))))
	return r.out, nil
}

// Stop begins a graceful stop of every instance. Masters hand over (see
// Instance.stop); the router is done when Stopped reports true, and Tick
// and Receive must go on being called until then.
func (r *Router) Stop(now time.Duration) []Action {
	r.begin()
	for _, in := range r.instances {
		in.stop(now)
	}
	return r.out
}

// Stopped reports whether every instance has reached STOP.
func (r *Router) Stopped() bool {
	for _, in := range r.instances {
		if in.state != Stop {
			return false
		}
	}
	return true
}

// memberSteppedDown and memberBecameMaster pass a member's move to its
// sync group, if any.
func (r *Router) memberSteppedDown(now time.Duration, in *Instance) {
	if in.group != nil {
		in.group.memberSteppedDown(now, in)
	}
}

func (r *Router) memberBecameMaster(now time.Duration, in *Instance) {
	if in.group != nil {
		in.group.memberBecameMaster(now, in)
	}
}
