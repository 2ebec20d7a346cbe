// Package director runs keepalived's virtual servers on this host: one
// goroutine per health checker, a pool per virtual server deciding
// which real servers take traffic, and the dataplane that balances to
// them. It is what keepalived's checker process does.
//
// The checkers' goroutines only probe and keep their own retry state;
// every verdict that changes something comes to the owner's event loop
// (Verdicts), which hands it to Handle. Pools, scripts, mails and the
// dataplane are touched from that loop alone, as the VRRP state is.
package director

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/vipd/vipd/internal/lvs"
	"github.com/vipd/vipd/internal/lvs/check"
	"github.com/vipd/vipd/internal/notify"
	"github.com/vipd/vipd/internal/script"
)

// VirtualServer is a virtual_server ready to run.
type VirtualServer struct {
	// Name is how keepalived's logs name it: "[192.0.2.1]:tcp:80",
	// "FWM 3", "[group]:0".
	Name string
	// Services are the traffic it takes (one per address of a group);
	// the director fills in their Reals.
	Services []lvs.Service
	Reals    []RealServer
	// Sorry takes the traffic alone while the quorum is lost; nil: none.
	// SorryInhibit keeps it at weight 0 meanwhile (sorry_server_inhibit).
	// SorryName names it in logs.
	Sorry              *lvs.Real
	SorryInhibit       bool
	SorryName          string
	Quorum, Hysteresis int
	// QuorumUp and QuorumDown run when the quorum is gained or lost.
	QuorumUp, QuorumDown *script.Cmd
	// Omega runs the notify_down and quorum_down scripts that still
	// apply when vipd stops.
	Omega     bool
	SMTPAlert bool
	// Suspend, if not empty, is ha_suspend: the checkers wait while none
	// of these addresses is on this host.
	Suspend []netip.Addr
}

// RealServer is a real_server ready to run.
type RealServer struct {
	// Name is "[192.0.2.2]:tcp:80", as keepalived's logs name it.
	Name string
	Real lvs.Real
	// Inhibit keeps it with weight 0 while down (inhibit_on_failure).
	Inhibit              bool
	NotifyUp, NotifyDown *script.Cmd
	SMTPAlert            bool
	Checkers             []Checker
}

// Checker is one health checker of a real server.
type Checker struct {
	// Kind is the block's keyword: "TCP_CHECK", "HTTP_GET", ...
	Kind string
	// Prober makes the attempts; nil for FILE_CHECK and BFD_CHECK, whose
	// verdicts come from FileChanged and BFDChanged.
	Prober check.Prober
	Timing lvs.Timing
	// Limit bounds one attempt as a whole (each step has its own
	// timeout too); 0: no bound but the steps'.
	Limit time.Duration
	// Alpha starts the checker failed.
	Alpha          bool
	LogAllFailures bool
	// Dynamic is misc_dynamic: the checker's exit status sets the real
	// server's weight.
	Dynamic bool
	File    *FileTrack // FILE_CHECK
	BFD     string     // BFD_CHECK's bfd_instance
	// NoSession: BFD's bfd_instance is disabled (no neighbor_ip), so no
	// event ever comes and the checker keeps its starting state, as
	// keepalived's does.
	NoSession bool
}

// FileTrack is a FILE_CHECK: a track_file whose value, times Weight
// (negated with Reverse), is added to the real server's weight; with
// Weight 0 the real server fails while the value is not 0 (is 0 with
// Reverse).
type FileTrack struct {
	Name    string
	Weight  int
	Reverse bool
}

// Options are what the director needs from its host.
type Options struct {
	Log       *slog.Logger
	Dataplane lvs.Dataplane
	// Notifier runs the notify and quorum scripts.
	Notifier *notify.Runner
	// Mailer sends smtp_alert mails; nil: none go out.
	Mailer *notify.Mailer
	// Local reports whether an address is on this host (ha_suspend);
	// nil: the host's interfaces are asked.
	Local func(netip.Addr) bool
	// FIFO takes keepalived's notify FIFO lines ("RS REAL VS UP", "VS VS
	// DOWN"); nil: none are written.
	FIFO func(line string)
	// InitNotifies runs notify_up (and writes the FIFO line) for the real
	// servers that are up at start (rs_init_notifies); without it only
	// changes notify.
	InitNotifies bool
	// Resumed are the checkers' verdicts before a configuration reload
	// (Health's): a real server kept keeps its health.
	Resumed map[string][]bool
}

// Verdict is a checker's change of mind, sent from its goroutine to the
// owner's loop.
type Verdict struct {
	vs, real, checker int
	up                bool
	// weight is misc_dynamic's: -1 puts the configured weight back;
	// hasWeight says whether it applies.
	weight    int
	hasWeight bool
	// mail is keepalived's mail body for the change.
	mail string
}

// Director runs the virtual servers.
type Director struct {
	opt      Options
	vss      []*virtualServer
	verdicts chan Verdict
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	started  bool
	closed   bool
}

type virtualServer struct {
	VirtualServer
	pool  *lvs.Pool
	reals []*realServer
}

type realServer struct {
	*RealServer
	// dynamic is the last weight misc_dynamic set; -1: the configured.
	dynamic int
	// fileWeight is what each FILE_CHECK adds, by checker index.
	fileWeight map[int]int
	// up is each checker's verdict as the pool has it.
	up []bool
}

// New prepares the virtual servers; Start runs them.
func New(vss []VirtualServer, opt Options) *Director {
	if opt.Local == nil {
		opt.Local = hostHas
	}
	d := &Director{opt: opt, verdicts: make(chan Verdict, 64)}
	for i := range vss {
		v := &virtualServer{VirtualServer: vss[i]}
		for j := range v.VirtualServer.Reals {
			rs := &v.VirtualServer.Reals[j]
			r := &realServer{RealServer: rs, dynamic: -1, fileWeight: map[int]int{}}
			for _, c := range rs.Checkers {
				r.up = append(r.up, !c.Alpha)
			}
			if up, ok := opt.Resumed[healthKey(v.Name, rs.Name)]; ok && len(up) == len(r.up) {
				copy(r.up, up)
			}
			v.reals = append(v.reals, r)
		}
		d.vss = append(d.vss, v)
	}
	return d
}

// Verdicts are the checkers' changes of mind, for Handle.
func (d *Director) Verdicts() <-chan Verdict { return d.verdicts }

// Start settles every pool from the checkers' starting states and the
// tracked files' and BFD sessions' current ones, programs the dataplane
// (an error there stops vipd at start: nothing would be balanced), and
// starts the checkers.
func (d *Director) Start(files map[string]int64, bfdUp map[string]bool) error {
	for _, v := range d.vss {
		for _, r := range v.reals {
			for ci, c := range r.Checkers {
				switch {
				case c.File != nil:
					// The file's value is known at once: no alpha.
					r.up[ci], r.fileWeight[ci] = fileEffect(c.File, files[c.File.Name])
				case c.BFD != "" && !c.Alpha && !c.NoSession:
					r.up[ci] = bfdUp[c.BFD]
				}
			}
		}
		reals := make([]lvs.PoolReal, len(v.reals))
		for i, r := range v.reals {
			real := r.Real
			real.Weight = r.weight()
			reals[i] = lvs.PoolReal{Real: real, Inhibit: r.Inhibit, Checkers: r.up}
		}
		var sorry *lvs.PoolReal
		if v.Sorry != nil {
			sorry = &lvs.PoolReal{Real: *v.Sorry, Inhibit: v.SorryInhibit}
		}
		v.pool = lvs.NewPool(v.Name, reals, sorry, v.Quorum, v.Hysteresis)
		for _, e := range v.pool.Start() {
			d.poolEvent(v, e, true)
		}
		for i, r := range v.reals {
			if v.pool.Alive(i) {
				d.opt.Log.Info(fmt.Sprintf("Adding service %s to VS %s", r.Name, v.Name))
				if d.opt.InitNotifies {
					d.realNotifies(v, r, true)
				}
			}
		}
	}
	if err := d.opt.Dataplane.Apply(d.services()); err != nil {
		return fmt.Errorf("programming the virtual servers: %w", err)
	}
	d.started = true
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	for vi, v := range d.vss {
		for ri, r := range v.reals {
			for ci := range r.Checkers {
				c := &r.Checkers[ci]
				if c.Prober == nil {
					continue
				}
				d.opt.Log.Info(fmt.Sprintf("Activating healthchecker for service %s for VS %s", r.Name, v.Name))
				d.wg.Add(1)
				go func() {
					defer d.wg.Done()
					d.run(ctx, vi, ri, ci, c)
				}()
			}
		}
	}
	return nil
}

// weight is the real server's weight now: the configured one (or the
// one misc_dynamic set) with what FILE_CHECKs add, kept to IPVS's range.
func (r *realServer) weight() int {
	w := r.Real.Weight
	if r.dynamic >= 0 {
		w = r.dynamic
	}
	for _, add := range r.fileWeight {
		w += add
	}
	return max(0, min(maxWeight, w))
}

// maxWeight is IPVS's largest weight.
const maxWeight = 65535

// Handle acts on a checker's verdict: the pool, scripts, mails, logs and
// dataplane follow.
func (d *Director) Handle(v Verdict) {
	vs := d.vss[v.vs]
	r := vs.reals[v.real]
	if v.hasWeight {
		r.dynamic = v.weight
	}
	d.checked(vs, v.real, v.checker, v.up, v.mail)
}

// checked feeds one checker's state (and the real server's weight as it
// stands) into the pool and acts on what changed.
func (d *Director) checked(vs *virtualServer, ri, ci int, up bool, mail string) {
	r := vs.reals[ri]
	checkerChanged := r.up[ci] != up
	r.up[ci] = up
	oldReals := vs.pool.Reals()
	w := r.weight()
	evs := vs.pool.Check(ri, ci, up, &w)
	// keepalived mails every checker's change of mind (unless
	// no_checker_emails), headed with the real server's state.
	if checkerChanged && r.SMTPAlert && mail != "" {
		d.mail(fmt.Sprintf("Realserver %s of virtual server %s - %s", r.Name, vs.Name, upDown(vs.pool.Alive(ri))), mail)
	}
	for _, e := range evs {
		d.poolEvent(vs, e, false)
	}
	if newReals := vs.pool.Reals(); !slices.Equal(oldReals, newReals) {
		d.weightChanges(vs, oldReals, newReals)
		d.apply()
	}
}

// weightChanges logs real servers that stayed but changed weight.
func (d *Director) weightChanges(vs *virtualServer, old, now []lvs.Real) {
	for _, a := range old {
		for _, b := range now {
			if a.Addr == b.Addr && a.Port == b.Port && a.Weight != b.Weight && a.Weight > 0 && b.Weight > 0 {
				d.opt.Log.Info(fmt.Sprintf("Changing weight from %d to %d for service %s of VS %s",
					a.Weight, b.Weight, netip.AddrPortFrom(b.Addr, b.Port), vs.Name))
			}
		}
	}
}

func upDown(up bool) string {
	if up {
		return "UP"
	}
	return "DOWN"
}

// poolEvent logs a pool's event and runs its scripts and mails.
func (d *Director) poolEvent(vs *virtualServer, e lvs.Event, starting bool) {
	log := d.opt.Log
	switch e.Kind {
	case lvs.RealUp, lvs.RealDown:
		r := vs.reals[e.Real]
		up := e.Kind == lvs.RealUp
		verb := map[[2]bool]string{{true, false}: "Adding", {true, true}: "Enabling",
			{false, false}: "Removing", {false, true}: "Disabling"}[[2]bool{up, r.Inhibit}]
		prep := "to"
		if !up {
			prep = "from"
		}
		log.Info(fmt.Sprintf("%s service %s %s VS %s", verb, r.Name, prep, vs.Name))
		d.realNotifies(vs, r, up)
	case lvs.QuorumUp, lvs.QuorumDown:
		up := e.Kind == lvs.QuorumUp
		var line string
		switch {
		case up:
			line = fmt.Sprintf("Gained quorum %d+%d=%d <= %d for VS %s", vs.Quorum, vs.Hysteresis, vs.Quorum+vs.Hysteresis, e.Weight, vs.Name)
		case starting:
			line = fmt.Sprintf("Starting with quorum down %d-%d=%d > %d for VS %s", vs.Quorum, vs.Hysteresis, vs.Quorum-vs.Hysteresis, e.Weight, vs.Name)
		default:
			line = fmt.Sprintf("Lost quorum %d-%d=%d > %d for VS %s", vs.Quorum, vs.Hysteresis, vs.Quorum-vs.Hysteresis, e.Weight, vs.Name)
		}
		log.Info(line)
		if vs.Sorry != nil {
			// An inhibited sorry server stays, at weight 0.
			verbs := map[bool][2]string{false: {"Removing", "Adding"}, true: {"Disabling", "Enabling"}}[vs.SorryInhibit]
			if up {
				log.Info(fmt.Sprintf("%s sorry server %s from VS %s", verbs[0], vs.SorryName, vs.Name))
			} else {
				log.Info(fmt.Sprintf("%s sorry server %s to VS %s", verbs[1], vs.SorryName, vs.Name))
			}
		}
		cmd := vs.QuorumDown
		if up {
			cmd = vs.QuorumUp
		}
		if cmd != nil {
			d.opt.Notifier.Post(vs.Name, notify.Job{Cmd: *cmd})
		}
		d.fifo(fmt.Sprintf("VS %s %s", vs.Name, upDown(up)))
		if vs.SMTPAlert {
			d.mail(fmt.Sprintf("Virtualserver %s - %s", vs.Name, upDown(up)), "=> "+line+" <=")
		}
	}
}

// realNotifies runs a real server's notify_up or notify_down and writes
// its FIFO line.
func (d *Director) realNotifies(vs *virtualServer, r *realServer, up bool) {
	cmd := r.NotifyDown
	if up {
		cmd = r.NotifyUp
	}
	if cmd != nil {
		d.opt.Notifier.Post(r.Name+" of "+vs.Name, notify.Job{Cmd: *cmd})
	}
	d.fifo(fmt.Sprintf("RS %s %s %s", r.Name, vs.Name, upDown(up)))
}

func (d *Director) fifo(line string) {
	if d.opt.FIFO != nil {
		d.opt.FIFO(line)
	}
}

func (d *Director) mail(subject, body string) {
	if d.opt.Mailer != nil {
		d.opt.Mailer.Send(subject, body)
	}
}

// services are every virtual service with the real servers its pool
// gives traffic to now.
func (d *Director) services() []lvs.Service {
	var out []lvs.Service
	for _, v := range d.vss {
		reals := v.pool.Reals()
		for _, s := range v.Services {
			s.Reals = reals
			out = append(out, s)
		}
	}
	return out
}

// apply programs the dataplane; a failure is logged and the next change
// tries again.
func (d *Director) apply() {
	if err := d.opt.Dataplane.Apply(d.services()); err != nil {
		d.opt.Log.Error("programming the virtual servers", "err", err)
	}
}

// FileChanged follows a tracked file's new value into its FILE_CHECKs.
func (d *Director) FileChanged(name string, value int64) {
	if !d.started {
		return
	}
	for _, vs := range d.vss {
		for ri, r := range vs.reals {
			for ci, c := range r.Checkers {
				if c.File == nil || c.File.Name != name {
					continue
				}
				up, add := fileEffect(c.File, value)
				if up != r.up[ci] {
					state := "leaving FAULT state"
					if !up {
						state = "now FAULT state"
					}
					d.opt.Log.Info(fmt.Sprintf("(%s): tracked file %s %s", r.Name, name, state))
				}
				r.fileWeight[ci] = add
				d.checked(vs, ri, ci, up, "=> FILE CHECK "+map[bool]string{true: "succeed", false: "failed"}[up]+" on service <=")
			}
		}
	}
}

// BFDChanged follows a BFD session going up or down into its
// BFD_CHECKs.
func (d *Director) BFDChanged(name string, up bool) {
	if !d.started {
		return
	}
	for _, vs := range d.vss {
		for ri, r := range vs.reals {
			for ci, c := range r.Checkers {
				if c.BFD != name || r.up[ci] == up {
					continue
				}
				d.opt.Log.Info(fmt.Sprintf("BFD_CHECK for %s of VS %s: bfd_instance %s is %s", r.Name, vs.Name, name, upDown(up)))
				d.checked(vs, ri, ci, up, "=> BFD CHECK "+map[bool]string{true: "succeed", false: "failed"}[up]+" on service <=")
			}
		}
	}
}

// fileEffect is a FILE_CHECK's verdict and the weight it adds, as
// keepalived 2.2.7 reckons it: without a weight the value must be 0
// (not 0 with reverse); with one, value × weight (negated by reverse) is
// added, and a sum at or below IPVS's fault weight fails the checker.
func fileEffect(f *FileTrack, value int64) (up bool, add int) {
	if f.Weight == 0 {
		return (value == 0) != f.Reverse, 0
	}
	v := value * int64(f.Weight)
	if f.Reverse {
		v = -v
	}
	if v <= -maxWeight-1 {
		return false, 0
	}
	return true, int(min(v, maxWeight))
}

// healthKey names a real server of a virtual server across reloads.
func healthKey(vs, rs string) string { return vs + " " + rs }

// Health is every real server's checkers' verdicts, for Options.Resumed
// of the director a reload builds.
func (d *Director) Health() map[string][]bool {
	out := map[string][]bool{}
	for _, v := range d.vss {
		for _, r := range v.reals {
			out[healthKey(v.Name, r.Name)] = slices.Clone(r.up)
		}
	}
	return out
}

// Detach ends the checkers for a reload, leaving what the dataplane
// programmed in place for the next director to replace in one step; no
// omega script runs. The dataplane lets go of its other resources if
// it can (Release). Later calls, and Stop, do nothing.
func (d *Director) Detach() {
	if d.closed {
		return
	}
	d.closed = true
	d.stopCheckers()
	if r, ok := d.opt.Dataplane.(interface{ Release() }); ok {
		r.Release()
	}
}

func (d *Director) stopCheckers() {
	if !d.started {
		return
	}
	d.cancel()
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(stopWait):
		d.opt.Log.Warn("health checkers still running at stop")
	}
}

// stopWait bounds how long Stop waits for the checkers' attempts.
const stopWait = 5 * time.Second

// Stop ends the checkers, runs the omega scripts and removes what the
// dataplane programmed (what an earlier run left too, if Start never
// ran). Later calls do nothing.
func (d *Director) Stop() {
	if d.closed {
		return
	}
	d.closed = true
	defer func() {
		if err := d.opt.Dataplane.Close(); err != nil {
			d.opt.Log.Error("removing the virtual servers", "err", err)
		}
	}()
	if !d.started {
		return
	}
	d.stopCheckers()
	for _, vs := range d.vss {
		for i, r := range vs.reals {
			if vs.pool.Alive(i) {
				d.opt.Log.Info(fmt.Sprintf("Shutting down service %s from VS %s", r.Name, vs.Name))
				if vs.Omega {
					d.realNotifies(vs, r, false)
				}
			}
		}
		if vs.Omega && vs.pool.QuorumUp() && vs.QuorumDown != nil {
			d.opt.Notifier.Post(vs.Name, notify.Job{Cmd: *vs.QuorumDown})
		}
	}
}

// hostHas reports whether an address is on one of this host's
// interfaces.
func hostHas(a netip.Addr) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, x := range addrs {
		if n, ok := x.(*net.IPNet); ok {
			if b, ok := netip.AddrFromSlice(n.IP); ok && b.Unmap() == a.Unmap() {
				return true
			}
		}
	}
	return false
}
