package vrrp

import (
	"net/netip"
	"slices"
	"time"
)

// Instance is one virtual router on this host: the RFC 9568 state machine
// with keepalived's behaviour where the two differ. It is driven through
// its Router, which owns every instance and sync group of the process.
type Instance struct {
	cfg         Config
	router      *Router
	group       *SyncGroup
	sortedAddrs []netip.Addr // cfg.Addrs, sorted for set comparison

	state      State
	priority   uint8 // effective priority: base priority moved by trackers
	fault      bool  // a resource this instance tracks is down
	wantMaster bool  // sync groups: down timer expired, waiting for the others

	masterInterval time.Duration // Master_Adver_Interval, learned in VRRPv3
	masterSrc      netip.Addr    // source of the last advert accepted as the master's

	// holding: the virtual addresses are on the interface. A master that
	// leaves keeps them until it hears the new master (make-before-break);
	// stopping: Stop was called and the instance ends in Stop once released.
	holding  bool
	stopping bool
	// resumed is the state the instance had before a reload (Init: it
	// is new), which it takes up again at Start.
	resumed State

	downTimer      timer // backup: Master_Down_Timer
	advertTimer    timer // master: Adver_Timer
	releaseTimer   timer // handing over: when to give up the addresses
	garpTimer      timer // master: the second announcement burst
	refreshTimer   timer // master: periodic announcement refresh
	lowerGarpTimer timer // master: second burst after hearing a lower priority
	preemptAt      timer // backup: when preempt_delay runs out (a deadline, never fired)

	groupChecksum bool // a unicast peer checksums with the multicast group (old keepalived)
	// auth_type AH: the IP id of the last packet sent, and the AH
	// sequence number sent and received last (shared, as keepalived's),
	// with the one of the advert being handled.
	ipID    uint16
	ahSeq   uint32
	ahRxSeq uint32
	rx      Advert // decode buffer, reused so receiving does not allocate
	stats   Stats
}

// timer is an optional deadline on the core's clock.
type timer struct {
	at time.Duration
	on bool
}

func (t *timer) set(at time.Duration)          { t.at, t.on = at, true }
func (t *timer) stop()                         { t.on = false }
func (t *timer) due(now time.Duration) bool    { return t.on && t.at <= now }
func (t *timer) before(now time.Duration) bool { return t.on && now < t.at }

func newInstance(r *Router, cfg Config) *Instance {
	cfg.Addrs = slices.Clone(cfg.Addrs)
	in := &Instance{
		cfg:            cfg,
		router:         r,
		sortedAddrs:    slices.Clone(cfg.Addrs),
		priority:       cfg.Priority,
		masterInterval: cfg.Interval,
	}
	slices.SortFunc(in.sortedAddrs, netip.Addr.Compare)
	in.rx.Addrs = make([]netip.Addr, 0, len(cfg.Addrs))
	return in
}

// Name is the instance's configured name.
func (in *Instance) Name() string { return in.cfg.Name }

// Config returns the instance's configuration.
func (in *Instance) Config() Config { return in.cfg }

// State is the current protocol state.
func (in *Instance) State() State { return in.state }

// Priority is the effective priority advertised.
func (in *Instance) Priority() uint8 { return in.priority }

// Stats returns the instance's counters.
func (in *Instance) Stats() Stats { return in.stats }

// Group is the sync group the instance belongs to, or nil.
func (in *Instance) Group() *SyncGroup { return in.group }

// HoldsAddresses reports whether the core believes the virtual addresses
// are on the interface: as master, and while handing over to a new master.
func (in *Instance) HoldsAddresses() bool { return in.holding }

// MasterAdverInterval is the advertisement interval learned from the
// current master (VRRPv3), or the configured one.
func (in *Instance) MasterAdverInterval() time.Duration { return in.masterInterval }

// MasterDownInterval is how long this instance, as backup, waits for the
// master's adverts before it takes over.
func (in *Instance) MasterDownInterval() time.Duration {
	return MasterDownInterval(in.cfg.Version, in.cfg.DownTimerAdverts, in.priority, in.masterInterval)
}

// skewTime is this instance's Skew_Time under the current master interval.
func (in *Instance) skewTime() time.Duration {
	return SkewTime(in.cfg.Version, in.priority, in.masterInterval)
}

// holdLimit bounds how long a leaving master keeps its addresses: the
// longest any backup (priority 1) could take to notice it is gone.
func (in *Instance) holdLimit() time.Duration {
	return MasterDownInterval(in.cfg.Version, in.cfg.DownTimerAdverts, 1, in.cfg.Interval)
}

// AppendAdvert appends the advert this instance sends with the given
// priority from src to dst (the multicast group or a unicast peer).
func (in *Instance) AppendAdvert(b []byte, priority uint8, src, dst netip.Addr) ([]byte, error) {
	c := &in.cfg
	a := Advert{
		Version:  c.Version,
		VRID:     c.VRID,
		Priority: priority,
		Interval: c.wireInterval(),
		AuthType: c.AuthType,
		IPv6:     c.IPv6,
		Addrs:    c.Addrs,
	}
	if c.AuthType == AuthPass {
		a.AuthData = c.AuthPass // with AH it is the ICV's key, never sent
	}
	if in.groupChecksum && !dst.IsMulticast() {
		dst = c.Group
	}
	return a.AppendBinary(b, in.pseudoHeader(src, dst))
}

func (in *Instance) emit(a Action) {
	a.Instance = in
	in.router.out = append(in.router.out, a)
}

func (in *Instance) transition(to State, reason Reason, peer netip.Addr) {
	from := in.state
	in.state = to
	in.emit(Action{Kind: Transition, From: from, To: to, Reason: reason, Peer: peer})
}

func (in *Instance) sendAdvert(priority uint8, reason Reason) {
	in.stats.AdvertsSent++
	if priority == PriorityStop {
		in.stats.PriorityZeroSent++
	}
	in.emit(Action{Kind: SendAdvert, Priority: priority, Reason: reason})
}

func (in *Instance) announce(repeat int, reason Reason) {
	if repeat > 0 {
		in.emit(Action{Kind: Announce, Repeat: repeat, Reason: reason})
	}
}

// start leaves INIT: the owner becomes master at once, everyone else
// listens as backup for a full Master_Down_Interval first (keepalived treats
// "state MASTER" below 255 that way too).
//
// After a reload, a master goes on as master and everyone else listens
// again: a reload is no reason for the virtual router to move.
func (in *Instance) start(now time.Duration, canMaster bool) {
	switch {
	case in.fault:
		in.enterFault(now, ReasonStartup)
	case in.resumed == Master && (in.group == nil || in.group.allResumedMaster()):
		in.becomeMaster(now, ReasonReload)
	case canMaster && in.cfg.StartsMaster():
		in.becomeMaster(now, ReasonOwner)
	case in.resumed != Init:
		in.enterBackup(now, ReasonReload, netip.Addr{})
	default:
		in.enterBackup(now, ReasonStartup, netip.Addr{})
	}
}

// becomeMaster takes the addresses, announces them and then advertises,
// so that a master handing over to us hears our advert only once clients
// have been told where the addresses went.
func (in *Instance) becomeMaster(now time.Duration, reason Reason) {
	c := &in.cfg
	in.wantMaster = false
	in.masterInterval = c.Interval
	in.downTimer.stop()
	in.preemptAt.stop()
	in.releaseTimer.stop()
	in.stats.BecameMaster++
	in.transition(Master, reason, netip.Addr{})
	if !in.holding {
		in.holding = true
		in.emit(Action{Kind: AddAddresses, Reason: reason})
	}
	in.announce(c.GARPMasterRepeat, reason)
	in.garpTimer.stop()
	if c.GARPMasterDelay > 0 && c.GARPMasterRepeat > 0 {
		in.garpTimer.set(now + c.GARPMasterDelay)
	}
	in.refreshTimer.stop()
	if c.GARPMasterRefresh > 0 {
		in.refreshTimer.set(now + c.GARPMasterRefresh)
	}
	in.sendAdvert(in.priority, reason)
	in.advertTimer.set(now + c.Interval)
}

// enterBackup starts listening for the master. The addresses stay if a
// hand-over is in progress (releaseTimer decides when they go).
func (in *Instance) enterBackup(now time.Duration, reason Reason, peer netip.Addr) {
	in.stopMasterTimers()
	in.preemptAt.stop()
	in.downTimer.set(now + in.MasterDownInterval())
	in.transition(Backup, reason, peer)
}

func (in *Instance) stopMasterTimers() {
	in.advertTimer.stop()
	in.garpTimer.stop()
	in.refreshTimer.stop()
	in.lowerGarpTimer.stop()
}

// stepDown leaves MASTER for BACKUP without dropping the addresses yet:
// they go when the new master is heard, or after holdLimit.
//
// Beaten by a higher priority, we advertise our own priority once more:
// if the winner had not heard us (one half of a healed split brain), it now
// hears a lower-priority master and re-announces the addresses at once, so
// clients that followed us come back before we let go. Pulled down by the
// sync group, we advertise priority 0 so that our backups take over now.
func (in *Instance) stepDown(now time.Duration, reason Reason, peer netip.Addr) {
	in.stats.ReleasedMaster++
	in.enterBackup(now, reason, peer)
	if reason == ReasonHigherPriority {
		// The new master is heard already; the grace lets its answer to
		// our advert (an announcement) reach clients first.
		in.sendAdvert(in.priority, ReasonSteppingDown)
		in.releaseTimer.set(now + in.cfg.ReleaseGrace)
		return
	}
	in.sendAdvert(PriorityStop, ReasonSteppingDown)
	in.releaseTimer.set(now + in.holdLimit())
}

// releaseAddresses gives up the virtual addresses if we hold them.
func (in *Instance) releaseAddresses(reason Reason) {
	in.releaseTimer.stop()
	if in.holding {
		in.holding = false
		in.emit(Action{Kind: RemoveAddresses, Reason: reason})
	}
}

// newMasterHeard is called while handing over when another router's
// advert shows it has taken over: keep the addresses a little longer so
// its announcements reach clients first, then let go.
func (in *Instance) newMasterHeard(now time.Duration) {
	if in.cfg.ReleaseGrace == 0 {
		in.releaseHeld(now)
		return
	}
	if at := now + in.cfg.ReleaseGrace; !in.releaseTimer.on || at < in.releaseTimer.at {
		in.releaseTimer.set(at)
	}
	in.advertTimer.stop() // a stopping master stops repeating priority 0
}

// releaseHeld ends a hand-over.
func (in *Instance) releaseHeld(now time.Duration) {
	if in.stopping && in.state == Master {
		in.finishStop()
		return
	}
	in.releaseAddresses(ReasonHandover)
}

// enterFault releases everything at once: the service behind the
// addresses is down, so there is nothing to hand over.
func (in *Instance) enterFault(now time.Duration, reason Reason) {
	if in.state == Fault || in.state == Stop {
		return
	}
	if in.stopping {
		// A stopping master has said priority 0 already; nothing to hand over now.
		in.finishStop()
		return
	}
	if in.state == Master {
		in.stats.ReleasedMaster++
		in.sendAdvert(PriorityStop, reason)
	}
	in.releaseAddresses(reason)
	in.stopMasterTimers()
	in.downTimer.stop()
	in.preemptAt.stop()
	in.wantMaster = false
	in.masterInterval = in.cfg.Interval
	in.transition(Fault, reason, netip.Addr{})
}

// leaveFault returns to service: the owner straight to master, everyone
// else to backup for a full Master_Down_Interval.
func (in *Instance) leaveFault(now time.Duration, canMaster bool) {
	if canMaster && in.cfg.StartsMaster() {
		in.becomeMaster(now, ReasonRecovered)
		return
	}
	in.enterBackup(now, ReasonRecovered, netip.Addr{})
}

// stop begins a graceful stop. A master advertises priority 0 so that a
// backup takes over after its Skew_Time, repeats it every interval, and
// keeps the addresses until it hears the new master or holdLimit passes.
func (in *Instance) stop(now time.Duration) {
	if in.stopping || in.state == Stop {
		return
	}
	in.stopping = true
	in.downTimer.stop()
	if in.state != Master {
		in.releaseAddresses(ReasonStop)
		in.stopMasterTimers()
		in.transition(Stop, ReasonStop, netip.Addr{})
		return
	}
	in.stopMasterTimers()
	in.sendAdvert(PriorityStop, ReasonStop)
	in.advertTimer.set(now + in.cfg.Interval)
	in.releaseTimer.set(now + in.holdLimit())
}

func (in *Instance) finishStop() {
	if in.state == Master {
		in.stats.ReleasedMaster++
	}
	in.releaseAddresses(ReasonStop)
	in.stopMasterTimers()
	in.transition(Stop, ReasonStop, netip.Addr{})
}

// receive runs a checked advert (in.rx, from src) through the state machine.
func (in *Instance) receive(now time.Duration, src netip.Addr) error {
	a := &in.rx
	if src == in.cfg.Source && a.Priority == in.priority {
		// Our own advert looped back, or a router misconfigured with our address.
		return ErrOwnAddress
	}
	switch in.state {
	case Master:
		in.receiveAsMaster(now, src)
	case Backup:
		in.receiveAsBackup(now, src)
	}
	return nil
}

func (in *Instance) receiveAsMaster(now time.Duration, src netip.Addr) {
	a, c := &in.rx, &in.cfg
	if in.stopping {
		if a.Priority != PriorityStop {
			in.newMasterHeard(now)
		}
		return
	}
	if a.Priority == PriorityStop {
		// The other master is leaving: make sure the backups hear us.
		in.sendAdvert(in.priority, ReasonPriorityZero)
		in.advertTimer.set(now + c.Interval)
		return
	}
	if a.Priority > in.priority || (a.Priority == in.priority && src.Compare(c.Source) > 0) {
		if c.Version == 3 {
			in.masterInterval = a.IntervalDuration()
		}
		in.masterSrc = src
		in.stepDown(now, ReasonHigherPriority, src)
		in.router.memberSteppedDown(now, in)
		return
	}
	// A lower-priority master: the other half of a healed partition, or a
	// router that missed our adverts. Re-announce now so that clients that
	// followed it come back, and tell it we are here (RFC 9568 §6.4.3).
	if c.AuthType == AuthAH {
		// Send past its sequence number, or it takes ours for replays
		// (keepalived syncs the same way).
		in.ahSeq = in.ahRxSeq + 1
	}
	in.emit(Action{Kind: HeardLowerPriority, Peer: src, Priority: a.Priority})
	in.announce(c.GARPLowerPrioRepeat, ReasonLowerPriority)
	if c.GARPLowerPrioDelay > 0 && c.GARPLowerPrioRepeat > 0 {
		in.lowerGarpTimer.set(now + c.GARPLowerPrioDelay)
	}
	if !c.LowerPrioNoAdvert {
		in.sendAdvert(in.priority, ReasonLowerPriority)
		in.advertTimer.set(now + c.Interval)
	}
}

func (in *Instance) receiveAsBackup(now time.Duration, src netip.Addr) {
	a, c := &in.rx, &in.cfg
	if a.Priority == PriorityStop {
		// The master is leaving: take over after Skew_Time.
		in.downTimer.set(now + in.skewTime())
		return
	}
	if in.holding {
		in.newMasterHeard(now)
	}
	delaying := c.PreemptDelay > 0 && (!in.preemptAt.on || in.preemptAt.before(now))
	if !(c.NoPreempt || a.Priority >= in.priority || delaying) {
		// Lower priority and we may preempt: ignore it, so that the
		// down timer runs out and we take over.
		in.masterSrc = src
		return
	}
	if c.Version == 3 {
		in.masterInterval = a.IntervalDuration()
	}
	in.masterSrc = src
	in.wantMaster = false
	in.downTimer.set(now + in.MasterDownInterval())
	switch {
	case a.Priority >= in.priority:
		in.preemptAt.stop()
	case c.PreemptDelay > 0 && !in.preemptAt.on:
		in.preemptAt.set(now + c.PreemptDelay)
	}
}

// tick fires every timer that is due.
func (in *Instance) tick(now time.Duration) {
	c := &in.cfg
	if in.releaseTimer.due(now) {
		in.releaseHeld(now)
	}
	if in.advertTimer.due(now) {
		if in.stopping {
			in.sendAdvert(PriorityStop, ReasonStop)
		} else {
			in.sendAdvert(in.priority, ReasonTimer)
		}
		in.advertTimer.set(now + c.Interval)
	}
	if in.garpTimer.due(now) {
		in.garpTimer.stop()
		in.announce(c.GARPMasterRepeat, ReasonTimer)
	}
	if in.lowerGarpTimer.due(now) {
		in.lowerGarpTimer.stop()
		in.announce(c.GARPLowerPrioRepeat, ReasonLowerPriority)
	}
	if in.refreshTimer.due(now) {
		in.refreshTimer.set(now + c.GARPMasterRefresh)
		in.announce(c.GARPMasterRefreshRepeat, ReasonTimer)
	}
	if in.downTimer.due(now) {
		in.masterDown(now)
	}
}

// masterDown handles the Master_Down_Timer: take over, unless a sync group
// holds us back until every member has timed out too.
func (in *Instance) masterDown(now time.Duration) {
	if in.group != nil && !in.group.canGoMaster(in) {
		in.wantMaster = true
		in.downTimer.set(now + in.MasterDownInterval())
		return
	}
	in.becomeMaster(now, ReasonMasterDown)
	in.router.memberBecameMaster(now, in)
}

// setPriority applies a tracker's new effective priority, already
// clamped to 1..254 by the Router. An owner's priority never changes. Nothing is sent at once: a master's next advert
// carries it. A backup's deadline moves by the change in its skew.
func (in *Instance) setPriority(now time.Duration, p uint8) {
	if in.cfg.owner() || p == in.priority {
		return
	}
	old := in.MasterDownInterval()
	in.priority = p
	if in.state == Backup && in.downTimer.on {
		in.downTimer.set(max(now, in.downTimer.at+in.MasterDownInterval()-old))
	}
}

// deadline is the earliest timer that will fire.
func (in *Instance) deadline() (time.Duration, bool) {
	var at time.Duration
	on := false
	for _, t := range [...]*timer{&in.downTimer, &in.advertTimer, &in.releaseTimer,
		&in.garpTimer, &in.refreshTimer, &in.lowerGarpTimer} {
		if t.on && (!on || t.at < at) {
			at, on = t.at, true
		}
	}
	return at, on
}
