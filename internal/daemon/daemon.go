// Package daemon runs VRRP on a Linux host: one event loop owns the
// protocol core (vrrp.Router) and carries out the actions it returns with
// raw sockets (netio), netlink addresses and announcements (vip). Packets,
// link changes, timers and signals all arrive at that one loop, so the
// protocol state has a single owner and no locks.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"syscall"
	"time"

	"github.com/vipd/vipd/internal/bfd"
	"github.com/vipd/vipd/internal/config"
	"github.com/vipd/vipd/internal/firewall"
	"github.com/vipd/vipd/internal/lvs/director"
	"github.com/vipd/vipd/internal/lvs/syncd"
	"github.com/vipd/vipd/internal/netio"
	"github.com/vipd/vipd/internal/notify"
	"github.com/vipd/vipd/internal/track"
	"github.com/vipd/vipd/internal/vip"
	"github.com/vipd/vipd/internal/vrrp"
)

// Daemon is a running VRRP speaker.
type Daemon struct {
	log    *slog.Logger
	cfg    *config.Config
	loader Loader // reads the configuration again on SIGHUP; nil: no reload
	// resumed is what a reload carried into this daemon; nil at start.
	resumed *carry
	// handoff is set when SIGHUP stopped this daemon for a new one.
	handoff   *carry
	router    *vrrp.Router
	instances []*instance
	byVR      map[*vrrp.Instance]*instance
	conns     map[bool]*netio.Conn // by IPv6
	ahConn    *netio.AHConn        // for auth_type AH instances; nil without any
	ifnames   map[int]string       // interfaces adverts are heard on
	epoch     time.Time
	buf       []byte
	drops     dropLog
	fw        *firewall.Table // nil when every instance accepts
	announcer *vip.Announcer
	// linkDelays are interface_up_down_delays by interface, as they run.
	linkDelays map[string]linkDelay

	startupDelay time.Duration // vrrp_startup_delay
	checks       []track.Check // the tracked vrrp_scripts, run while Run runs
	notifier     *notify.Runner
	groups       []*group
	static       *statics // nil while none are to be kept in place
	// files are the tracked track_files; fileValues what they hold,
	// by name (every instance shares the map).
	files      []*config.TrackFile
	fileValues map[string]int64
	// mailer sends smtp_alert mails; nil when none are to go out.
	mailer       *notify.Mailer
	noMailFaults bool
	promoted     promoted // promote_secondaries, to put back at stop
	fifos        []*fifo  // notify_fifo, vrrp_notify_fifo
	// procs counts the tracked processes (nil without any); procUp is
	// whether each one's quorum holds, by name.
	procs  *track.ProcessWatch
	procUp map[string]bool
	// bfd runs the bfd_instances (nil without any); bfdUp is whether
	// each session is up, by name.
	bfd   *bfd.Runner
	bfdUp map[string]bool
	// director runs the virtual servers; nil without any.
	director *director.Director
	// lvsSync is lvs_sync_daemon's connection sync, following the state
	// of the instance lvsSyncInstance; nil without one.
	lvsSync         *syncd.Syncd
	lvsSyncInstance string
}

// group is a sync group's notify scripts and the state they last ran
// for.
type group struct {
	sg     *vrrp.SyncGroup
	notify notifiers
	last   vrrp.State
	mail   bool       // smtp_alert
	mailed vrrp.State // the state last mailed
}

// New prepares everything the configuration needs on the host (sockets,
// multicast memberships, VMAC interfaces) without starting the protocol.
func New(cfg *config.Config, log *slog.Logger) (*Daemon, error) {
	return newDaemon(cfg, log, nil)
}

// newDaemon builds a daemon for cfg; after a reload, c carries what the
// one before it handed over. On an error it releases what it made and
// hands back to c what it took from it, for building the running
// configuration again.
func newDaemon(cfg *config.Config, log *slog.Logger, c *carry) (_ *Daemon, err error) {
	if len(cfg.Instances) == 0 && len(cfg.VirtualServers) == 0 {
		return nil, errors.New("the configuration has no vrrp_instance and no virtual_server: nothing to do")
	}
	d := &Daemon{
		log:      log,
		cfg:      cfg,
		resumed:  c,
		byVR:     map[*vrrp.Instance]*instance{},
		conns:    map[bool]*netio.Conn{},
		ifnames:  map[int]string{},
		epoch:    time.Now(),
		promoted: promoted{},
	}
	d.announcer = newAnnouncer(cfg, log)
	d.linkDelays = newLinkDelays(cfg, log)
	d.notifier = notify.NewRunner(log, 0)
	var fifos []*fifo
	var static *statics
	if c != nil {
		d.notifier, fifos, static = c.notifier, c.fifos, c.static
		c.fifos, c.static = nil, nil // this daemon's now
	}
	defer func() {
		if err == nil {
			return
		}
		if c != nil {
			c.fifos, c.static = fifos, static
			if fifos != nil {
				d.fifos = nil // not this daemon's to close
			}
		}
		d.close(c)
	}()
	d.mailer, d.noMailFaults = d.newMailer(cfg), cfg.Global.Email.NoFaults
	if d.fifos = fifos; fifos == nil {
		if d.fifos, err = openFIFOs(&cfg.Global); err != nil {
			return nil, err
		}
	}
	d.startupDelay = cfg.Global.StartupDelay
	d.files, d.fileValues = trackedFiles(cfg), map[string]int64{}
	if err := initFiles(d.files); err != nil {
		return nil, err
	}
	for _, f := range d.files {
		d.readFile(f)
	}
	d.procUp, d.bfdUp = map[string]bool{}, map[string]bool{}
	if err := d.startBFD(cfg); err != nil {
		return nil, err
	}
	if specs := processSpecs(cfg); len(specs) > 0 {
		d.procs = track.WatchProcesses(specs, log)
		for i, up := range d.procs.Up() {
			d.procUp[specs[i].Name] = up
		}
	}
	if d.static = static; static == nil {
		if st := &cfg.Static; len(st.Addresses)+len(st.Routes)+len(st.Rules) > 0 {
			d.static = newStatics(st)
		}
	}
	if d.checks, err = checks(cfg); err != nil {
		return nil, err
	}
	if c != nil {
		for i := range d.checks {
			d.checks[i].Resumed = c.verdicts[d.checks[i].Name]
		}
	}
	if err := d.newDirector(cfg); err != nil {
		return nil, err
	}
	cfgs := make([]vrrp.Config, 0, len(cfg.Instances))
	for _, ci := range cfg.Instances {
		nt, err := newNotifiers(&ci.Notify, &cfg.Global)
		if err != nil {
			return nil, fmt.Errorf("vrrp_instance %s: %w", ci.VRRP.Name, err)
		}
		in, err := newInstance(ci, cfg.Global.DynamicInterfaces)
		if err != nil {
			return nil, err
		}
		in.notify = nt
		in.files = d.fileValues
		in.procUp = d.procUp
		in.bfdUp = d.bfdUp
		if ci.PromoteSecondaries && in.base != nil {
			if err := d.promoted.promote(in.base.Name); err != nil {
				return nil, err
			}
		}
		d.instances = append(d.instances, in)
		in.announcer = d.announcer
		if !ci.TakesTraffic() {
			if d.fw == nil {
				if d.fw, err = firewall.Open(firewall.DefaultTable); err != nil {
					return nil, fmt.Errorf("%s: vrrp_instance %s (no_accept or strict mode) needs a firewall table: %w", ci.Pos, ci.VRRP.Name, err)
				}
			}
			in.fw = d.fw
		}
		vc := ci.VRRP
		if ci.UseVMAC || onAddrVMACs(ci) {
			// Both masters of a hand-over share the virtual MAC, so
			// clients need no time to follow; but every frame the old
			// one sends from it pulls the switch's port back to it.
			vc.ReleaseGrace = 0
		}
		cfgs = append(cfgs, vc)
	}
	if d.fw == nil {
		// A run with no_accept that was killed left its table: with
		// none now, nothing may stay blocked.
		switch removed, err := firewall.Remove(firewall.DefaultTable); {
		case err != nil:
			log.Warn("removing the firewall table left by an earlier run", "err", err)
		case removed:
			log.Warn("removed firewall table inet " + firewall.DefaultTable + " left by an earlier run")
		}
	}
	r, err := vrrp.NewRouter(cfgs, cfg.GroupConfigs())
	if err != nil {
		return nil, err
	}
	d.router = r
	if c != nil {
		r.Resume(c.states)
	}
	for i, sg := range r.Groups() {
		nt, err := newNotifiers(&cfg.SyncGroups[i].Notify, &cfg.Global)
		if err != nil {
			return nil, fmt.Errorf("vrrp_sync_group %s: %w", sg.Name(), err)
		}
		g := &group{sg: sg, notify: nt, last: sg.State(), mail: cfg.SyncGroups[i].SMTPAlert}
		if c != nil {
			if st, ok := c.groups[sg.Name()]; ok {
				g.last, g.mailed = st, st
			}
		}
		d.groups = append(d.groups, g)
	}
	for i, vr := range r.Instances() {
		in := d.instances[i]
		in.vr = vr
		d.byVR[vr] = in
		if err := d.listen(in); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// listen opens the instance's family's socket and, once the instance
// has its interface, joins its group there.
func (d *Daemon) listen(in *instance) error {
	c := in.vr.Config()
	conn, ok := d.conns[c.IPv6]
	if !ok {
		var err error
		if conn, err = netio.Listen(c.IPv6); err != nil {
			return err
		}
		d.conns[c.IPv6] = conn
	}
	in.conn = conn
	if c.AuthType == vrrp.AuthAH && d.ahConn == nil {
		var err error
		if d.ahConn, err = netio.ListenAH(); err != nil {
			return err
		}
	}
	if in.base == nil {
		d.log.Warn(fmt.Sprintf("(%s) waiting for its interface, in FAULT until then (dynamic_interfaces): %v", c.Name, in.waiting))
		return nil
	}
	return d.join(in)
}

// join hears the instance's adverts on its interface: the interface
// index names it, and multicast needs the group joined there.
func (d *Daemon) join(in *instance) error {
	c := in.vr.Config()
	d.ifnames[in.base.Index] = in.base.Name
	// A VMAC in private mode takes multicast carrying its own MAC as
	// source, which is every other router's advert: hear it there too,
	// while it is up (takeAddresses joins the group there).
	d.ifnames[in.send.Index] = in.base.Name
	if c.Group.IsMulticast() && len(in.cfg.UnicastPeers) == 0 {
		if err := in.conn.Join(in.base, c.Group); err != nil && !errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("vrrp_instance %s: joining %v on %s: %w", c.Name, c.Group, in.base.Name, err)
		}
		if c.AuthType == vrrp.AuthAH {
			if err := d.ahConn.Join(in.base, c.Group); err != nil && !errors.Is(err, syscall.EADDRINUSE) {
				return fmt.Errorf("vrrp_instance %s: joining %v on %s for AH: %w", c.Name, c.Group, in.base.Name, err)
			}
		}
		if in.cfg.UseVMAC && !in.cfg.VMACXmitBase {
			in.vmacGroup = c.Group
		}
	}
	return nil
}

// reattach follows the instance's interface being deleted, or made
// again (with a new index): it detaches from the old one and attaches to
// the new one, with its source address found again unless configured.
// It reports whether the instance has an interface now.
func (d *Daemon) reattach(in *instance) bool {
	name := in.vr.Name()
	if in.base != nil {
		delete(d.ifnames, in.base.Index)
		delete(d.ifnames, in.send.Index)
	}
	wasWaiting := in.waiting
	if in.waiting = in.attach(); in.waiting != nil {
		if wasWaiting == nil || wasWaiting.Error() != in.waiting.Error() {
			d.log.Warn(fmt.Sprintf("(%s) waiting for its interface, in FAULT until then: %v", name, in.waiting))
		}
		return false
	}
	if !in.fixedSource && in.source != in.vr.Config().Source {
		if err := d.router.SetSource(name, in.source); err != nil {
			d.log.Error(fmt.Sprintf("(%s) source address %v", name, in.source), "err", err)
		}
	}
	if err := d.join(in); err != nil {
		d.log.Error(fmt.Sprintf("(%s) listening on %s", name, in.base.Name), "err", err)
	}
	d.log.Info(fmt.Sprintf("(%s) interface %s (index %d) found, adverts from %v", name, in.base.Name, in.base.Index, in.source))
	return true
}

// stopNotifyWait bounds how long stopping waits for notify scripts.
const stopNotifyWait = 5 * time.Second

// Close releases the sockets, VMAC interfaces and the firewall table. It
// does not touch addresses: Run leaves none behind.
func (d *Daemon) Close() { d.close(nil) }

// close releases what Close does, except, on a reload, what the carry
// hands to the next daemon: the notify runner, the FIFOs, the static
// items, the VMACs the new configuration has too, the firewall table
// (the next daemon's replaces it in one step) and the virtual servers'
// dataplane (the next program replaces it in one step, so no connection
// notices).
func (d *Daemon) close(c *carry) {
	if d.director != nil {
		if c != nil && len(c.cfg.VirtualServers) > 0 {
			d.director.Detach()
		} else {
			d.director.Stop() // its omega scripts go before the notifier stops
		}
	}
	if c == nil {
		d.notifier.Close(stopNotifyWait) // notify_stop scripts finish before vipd goes
	}
	if d.mailer != nil {
		if c != nil {
			go d.mailer.Close(stopNotifyWait) // the queued mails go out meanwhile
		} else {
			d.mailer.Close(stopNotifyWait)
		}
	}
	closeFIFOs(d.fifos)
	if d.procs != nil {
		d.procs.Close()
	}
	if d.bfd != nil {
		d.bfd.Close() // the neighbours hear AdminDown
	}
	for _, c := range d.conns {
		c.Close()
	}
	if d.ahConn != nil {
		d.ahConn.Close()
	}
	d.announcer.Close()
	if err := d.promoted.restore(); err != nil {
		d.log.Warn(err.Error())
	}
	if d.fw != nil && c == nil {
		if err := d.fw.Close(); err != nil {
			d.log.Warn("removing the firewall table", "err", err)
		}
	}
	for _, in := range d.instances {
		for _, name := range vmacNames(in.cfg) {
			if c != nil && slices.Contains(c.vmacs, name) {
				continue
			}
			if err := vip.DeleteVMAC(name); err != nil {
				d.log.Warn("removing VMAC interface", "interface", name, "err", err)
			}
		}
	}
}

func (d *Daemon) now() time.Duration { return time.Since(d.epoch) }

// received is a packet handed from a reader goroutine to the loop.
type received struct {
	netio.Received
	err error
}

// reader is a socket adverts come in on: netio.Conn, or netio.AHConn.
type reader interface {
	Read(buf []byte) (netio.Received, error)
}

// read hands what conn reads to out until a read fails, or until stop
// closes (the loop no longer takes packets: it stopped, or reloaded).
func (d *Daemon) read(conn reader, out chan<- received, stop <-chan struct{}) {
	for {
		buf := make([]byte, 1500)
		r, err := conn.Read(buf)
		select {
		case out <- received{r, err}:
		case <-stop:
			return
		}
		if err != nil {
			return
		}
	}
}

// Run speaks VRRP until the first SIGTERM or SIGINT on signals, then hands
// over gracefully and returns once every instance has stopped. A second
// signal cuts the hand-over short; addresses are released either way.
func (d *Daemon) Run(signals <-chan os.Signal) error {
	for {
		err := d.run(signals)
		c := d.handoff
		if c == nil {
			return err
		}
		next, err := d.successor(c)
		if err != nil {
			return err
		}
		d = next
	}
}

// successor builds the daemon for a reloaded configuration. If the host
// cannot run it after all, the running configuration is built again, with
// what the reload kept.
func (d *Daemon) successor(c *carry) (*Daemon, error) {
	next, err := newDaemon(c.cfg, d.log, c)
	if err == nil {
		d.log.Info("Reload done")
	} else {
		d.log.Error("Reload failed: going back to the running configuration", "err", err)
		c.cfg = c.old // what a failed build's close goes by
		var err2 error
		if next, err2 = newDaemon(c.old, d.log, c); err2 != nil {
			c.release(d.log)
			return nil, fmt.Errorf("reload: %w; and the running configuration cannot be built again: %w", err, err2)
		}
	}
	next.loader = d.loader
	return next, nil
}

// run is Run for one configuration: it returns when vipd stops, or with
// d.handoff set when SIGHUP asks for a reload the new configuration
// allows.
func (d *Daemon) run(signals <-chan os.Signal) error {
	defer func() { d.close(d.handoff) }()
	packets, stopReading := make(chan received, 64), make(chan struct{})
	defer close(stopReading) // before the sockets close
	for _, c := range d.conns {
		go d.read(c, packets, stopReading)
	}
	if d.ahConn != nil {
		go d.read(d.ahConn, packets, stopReading)
	}
	links, stopLinks, err := d.watchLinks()
	if err != nil {
		return err
	}
	defer close(stopLinks)
	losses, stopLosses, err := d.watchLost()
	if err != nil {
		return err
	}
	defer close(stopLosses)
	d.setStatics()
	defer d.clearStatics() // none when a reload carries them on
	fw, err := d.watchFiles()
	if err != nil {
		return err
	}
	var bfdChanges <-chan bfd.Change
	if d.bfd != nil {
		bfdChanges = d.bfd.Changes()
	}
	var procChanges <-chan track.QuorumChange
	if d.procs != nil {
		procChanges = d.procs.Changes()
	}
	var fileChanges <-chan track.FileChange
	if fw != nil {
		defer fw.Close()
		fileChanges = fw.Changes()
	}
	var verdicts <-chan director.Verdict
	if d.director != nil {
		// The virtual servers do not wait for vrrp_startup_delay: a
		// backup director balances too, for whoever sends to it.
		if err := d.director.Start(d.fileValues, d.bfdUp); err != nil {
			return err
		}
		verdicts = d.director.Verdicts()
	}
	if d.resumed == nil && !d.delayStart(packets, signals) {
		return nil
	}
	checking, stopChecks := context.WithCancel(context.Background())
	defer stopChecks()
	results := d.startChecks(checking)

	var scheduled <-chan struct{} // reload_time_file's reloads
	if r := d.cfg.Global.Reload; r.TimeFile != "" {
		stopWatch := make(chan struct{})
		defer close(stopWatch)
		scheduled = watchReloadTime(r.TimeFile, r.Repeat, d.log, stopWatch)
	}
	d.startUp()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	stopping := false
	for !stopping || !d.router.Stopped() {
		timer.Reset(d.untilNext())
		select {
		case p := <-packets:
			if p.err != nil {
				d.releaseAll()
				return fmt.Errorf("reading adverts: %w", p.err)
			}
			d.receive(p.Received)
		case <-timer.C:
			now := d.now()
			d.execute(d.router.Tick(now))
			d.renew(now)
		case u := <-links:
			d.linkChanged(u)
		case l := <-losses:
			d.putBack(l)
		case c := <-procChanges:
			d.processChanged(c)
		case c := <-bfdChanges:
			d.bfdChanged(c)
		case c, ok := <-fileChanges:
			if !ok {
				d.log.Error("watching tracked files failed: their changes are no longer seen")
				fileChanges = nil
				break
			}
			d.fileChanged(c)
		case r := <-results:
			d.scriptChanged(r)
		case v := <-verdicts:
			d.director.Handle(v)
		case <-scheduled:
			if stopping {
				break
			}
			d.log.Info("The time reload_time_file gives has come")
			if d.handoff = d.reload(); d.handoff != nil {
				return nil
			}
		case sig := <-signals:
			if sig == syscall.SIGHUP && stopping {
				d.log.Info("SIGHUP while stopping: ignored")
				break
			}
			if stopping {
				d.log.Info("second signal: stopping at once", "signal", sig.String())
				d.releaseAll()
				return nil
			}
			if sig == syscall.SIGHUP {
				if d.handoff = d.reload(); d.handoff != nil {
					return nil
				}
				break
			}
			d.log.Info("Stopping", "signal", sig.String())
			stopping = true
			d.execute(d.router.Stop(d.now()))
		}
	}
	d.releaseAll() // nothing should be left; make sure
	d.log.Info("Stopped")
	return nil
}

// delayStart holds every instance in INIT for vrrp_startup_delay,
// dropping the adverts heard meanwhile. It reports false if a signal
// asked vipd to stop first.
func (d *Daemon) delayStart(packets <-chan received, signals <-chan os.Signal) bool {
	if d.startupDelay <= 0 {
		return true
	}
	d.log.Info(fmt.Sprintf("Delaying startup for %v (vrrp_startup_delay)", d.startupDelay))
	t := time.NewTimer(d.startupDelay)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return true
		case <-packets:
		case sig := <-signals:
			if sig == syscall.SIGHUP {
				continue
			}
			d.log.Info("Stopping before the startup delay ended", "signal", sig.String())
			return false
		}
	}
}

// startUp starts the protocol. Configured addresses already present are
// someone's leftovers: they go, unless this node starts as master.
func (d *Daemon) startUp() {
	now := d.now()
	for _, in := range d.instances {
		in.initTracking(d.checks)
		_, in.track.quietFault, _ = in.wanted()
		d.applyTracking(in)
	}
	actions := d.router.Start(now)
	startsMaster := map[*instance]bool{}
	for _, a := range actions {
		if a.Kind == vrrp.AddAddresses {
			startsMaster[d.byVR[a.Instance]] = true
		}
	}
	for _, in := range d.instances {
		if startsMaster[in] {
			continue
		}
		routes, err := in.removeStaleRoutes()
		for _, what := range routes {
			d.log.Warn(fmt.Sprintf("(%s) removed virtual %s left by an earlier run", in.vr.Name(), what))
		}
		if err != nil {
			d.log.Error(fmt.Sprintf("(%s) removing stale virtual routes and rules", in.vr.Name()), "err", err)
		}
		removed, err := in.removeStale()
		for _, a := range removed {
			d.log.Warn(fmt.Sprintf("(%s) removed virtual address %v left on %s by an earlier run", in.vr.Name(), a.Prefix, a.Dev))
		}
		if err != nil {
			d.log.Error(fmt.Sprintf("(%s) removing stale virtual addresses", in.vr.Name()), "err", err)
		}
	}
	d.execute(actions)
	if d.resumed != nil && d.resumed.writeStates {
		for _, g := range d.groups {
			if st := g.sg.State(); st == g.last && st != vrrp.Init {
				d.fifoLine("GROUP", g.sg.Name(), st.String(), 0)
			}
		}
	}
}

// untilNext is the wait until the protocol's next timer or the next
// address renewal.
func (d *Daemon) untilNext() time.Duration {
	next, ok := d.router.NextDeadline()
	if !ok {
		next = d.now() + time.Hour
	}
	for _, in := range d.instances {
		if in.holding && in.renewAt < next {
			next = in.renewAt
		}
		if in.reannounceAt > 0 && in.reannounceAt < next {
			next = in.reannounceAt
		}
		if in.holding && len(in.extraDevs) > 0 && in.extraAt < next {
			next = in.extraAt
		}
	}
	return max(0, next-d.now())
}

// vmacReannounce is when a VMAC master announces once more after a
// burst: by then a master handing over to it has let go, and a frame the
// old master sent from the shared MAC meanwhile no longer misleads the
// switch.
const vmacReannounce = 100 * time.Millisecond

func (d *Daemon) renew(now time.Duration) {
	for _, in := range d.instances {
		if in.reannounceAt > 0 && in.reannounceAt <= now {
			in.reannounceAt = 0
			if in.holding {
				if err := in.sendAnnouncements(1); err != nil {
					d.announceFailed(in, err)
				}
			}
		}
		if in.holding && len(in.extraDevs) > 0 && in.extraAt <= now {
			in.extraAt = now + in.cfg.ExtraAnnounce
			if err := in.announceOn(in.extraDevs, 1); err != nil {
				d.announceFailed(in, err)
			}
		}
		if in.holding && in.renewAt <= now {
			if err := in.renewAddresses(now); err != nil {
				d.log.Error(fmt.Sprintf("(%s) renewing virtual addresses", in.vr.Name()), "err", err)
			}
		}
	}
}

func (d *Daemon) announceFailed(in *instance, err error) {
	d.log.Error(fmt.Sprintf("(%s) sending gratuitous ARP / neighbour advertisements", in.vr.Name()), "err", err)
}

func (d *Daemon) releaseAll() {
	for _, in := range d.instances {
		if in.holding {
			if err := in.removeAddresses(); err != nil {
				d.log.Error(fmt.Sprintf("(%s) removing virtual addresses", in.vr.Name()), "err", err)
			}
		}
	}
}

func (d *Daemon) receive(r netio.Received) {
	name, ok := d.ifnames[r.IfIndex]
	if !ok {
		return // an interface no instance uses (or a VMAC's copy)
	}
	pkt := vrrp.Packet{Interface: name, Src: r.Src, Dst: r.Dst, HopLimit: r.HopLimit, Payload: r.Payload, IPHeader: r.IPHeader}
	actions, err := d.router.Receive(d.now(), &pkt)
	if err != nil {
		d.drops.note(d, &pkt, err)
	}
	d.execute(actions)
}

// execute carries out the protocol's actions in order.
func (d *Daemon) execute(actions []vrrp.Action) {
	now := d.now()
	for _, a := range actions {
		in := d.byVR[a.Instance]
		name := a.Instance.Name()
		switch a.Kind {
		case vrrp.SendAdvert:
			d.sendAdvert(in, a.Priority, a.Reason)
		case vrrp.AddAddresses:
			if err := in.takeAddresses(now); err != nil {
				d.log.Error(fmt.Sprintf("(%s) adding virtual addresses", name), "err", err)
			}
		case vrrp.RemoveAddresses:
			if err := in.removeAddresses(); err != nil {
				d.log.Error(fmt.Sprintf("(%s) removing virtual addresses", name), "err", err)
			}
		case vrrp.Announce:
			if err := in.sendAnnouncements(a.Repeat); err != nil {
				d.announceFailed(in, err)
			}
			if len(in.vmacs) > 0 {
				in.reannounceAt = now + vmacReannounce
			}
		case vrrp.Transition:
			if a.To == vrrp.Fault && in.track.quietFault {
				// keepalived says nothing; nor does a notify run
				// until the scripts' first verdict.
				d.log.Info(fmt.Sprintf("(%s) Holding in FAULT until the first results of its track scripts", name))
				break
			}
			d.lvsSyncState(name, a.To)
			if d.resumes(a) {
				d.log.Info(fmt.Sprintf("(%s) Staying in %s STATE after the reload", name, a.To))
				// Nothing changed for the scripts: keepalived runs none.
				if d.resumed.writeStates {
					d.fifoLine("INSTANCE", name, a.To.String(), int(a.Instance.Priority()))
				}
				break
			}
			d.logTransition(a)
			d.tell(in, a.To)
		case vrrp.HeardLowerPriority:
			d.log.Info(fmt.Sprintf("(%s) received lower priority advert from %v, priority %d, ours %d: re-announcing", name, a.Peer, a.Priority, a.Instance.Priority()))
			d.fifoLine("INSTANCE", name, "MASTER_RX_LOWER_PRI", int(a.Instance.Priority()))
			if c := in.notify.cfg.MasterRxLowerPri; c != nil {
				d.notifier.Post(name, notify.Job{Cmd: in.notify.cmds[c]})
			}
		}
	}
	d.notifyGroups()
}

// resumes reports whether a transition takes an instance back to the
// state it had before a reload.
func (d *Daemon) resumes(a vrrp.Action) bool {
	if a.Reason != vrrp.ReasonReload || d.resumed == nil {
		return false
	}
	st, ok := d.resumed.states[a.Instance.Name()]
	return ok && st == a.To
}

// tell runs the instance's notify scripts for a state it entered, and
// mails it with smtp_alert.
func (d *Daemon) tell(in *instance, state vrrp.State) {
	name := in.vr.Name()
	d.notifier.Post(name, in.notify.jobs("INSTANCE", name, state, int(in.vr.Priority()))...)
	d.fifoLine("INSTANCE", name, state.String(), int(in.vr.Priority()))
	if in.cfg.SMTPAlert {
		d.mailState("VRRP Instance "+name, false, state, &in.mailed)
	}
}

// notifyGroups runs the notify scripts of each sync group whose state
// the actions changed.
func (d *Daemon) notifyGroups() {
	for _, g := range d.groups {
		state := g.sg.State()
		if state == g.last || state == vrrp.Init {
			continue
		}
		g.last = state
		name := g.sg.Name()
		d.log.Info(fmt.Sprintf("VRRP_Group(%s) Syncing instances to %s state", name, state))
		// A group has no priority of its own: keepalived passes 0.
		d.notifier.Post("group "+name, g.notify.jobs("GROUP", name, state, 0)...)
		d.fifoLine("GROUP", name, state.String(), 0)
		if g.mail {
			d.mailState("VRRP Group "+name, true, state, &g.mailed)
		}
	}
}

func (d *Daemon) logTransition(a vrrp.Action) {
	name := a.Instance.Name()
	attrs := []any{"from", a.From.String(), "reason", a.Reason.String()}
	if a.Peer.IsValid() {
		attrs = append(attrs, "peer", a.Peer.String())
	}
	switch a.To {
	case vrrp.Stop:
		d.log.Info(fmt.Sprintf("(%s) Stopped", name), attrs...)
	default:
		d.log.Info(fmt.Sprintf("(%s) Entering %s STATE", name, a.To), attrs...)
	}
}

func (d *Daemon) sendAdvert(in *instance, priority uint8, reason vrrp.Reason) {
	c := in.vr.Config()
	conn := d.conns[c.IPv6]
	out := in.send
	if out == nil {
		return // no interface (dynamic_interfaces): nothing can go out
	}
	if in.cfg.VMACXmitBase {
		out = in.base
	}
	if in.cfg.UseVMAC && reason == vrrp.ReasonSteppingDown && priority != vrrp.PriorityStop {
		// A master beaten by a higher priority says its own priority once
		// more after the winner has announced from the virtual MAC we
		// share: from the VMAC, that frame would pull the switch's port
		// for the MAC back to us just as we let go. From the parent the
		// winner still hears it (and re-announces if it had missed us).
		out = in.base
	}
	for _, dst := range in.dsts {
		var err error
		if c.AuthType == vrrp.AuthAH {
			ttl := in.cfg.UnicastTTL
			if dst.IsMulticast() {
				ttl = vrrp.TTL
			}
			d.buf, err = in.vr.AppendAHPacket(d.buf[:0], priority, c.Source, dst, ttl)
			if err == nil {
				err = d.ahConn.Write(d.buf, out)
			}
		} else {
			d.buf, err = in.vr.AppendAdvert(d.buf[:0], priority, c.Source, dst)
			if err == nil {
				err = conn.WriteTTL(d.buf, out, c.Source, dst, in.cfg.UnicastTTL)
			}
		}
		if err != nil {
			d.drops.sendFailed(d, in, dst, err)
		}
	}
}

// linkUp reports whether the instance's interface can carry traffic.
func (in *instance) linkUp() bool {
	return in.base != nil && carries(net.InterfaceByIndex(in.base.Index))
}

// dropLog logs dropped adverts and failed sends, at most once per
// instance, reason and peer every logEvery, with the running count, so
// that a misconfigured peer is visible without flooding the log.
type dropLog struct {
	last map[dropKey]time.Duration
}

type dropKey struct {
	vr   *vrrp.Instance
	why  string
	peer netip.Addr
}

const logEvery = 10 * time.Second

// due reports whether a drop (or failure) of kind k may be logged now,
// and if so counts it logged.
func (l *dropLog) due(now time.Duration, k dropKey) bool {
	if l.last == nil {
		l.last = map[dropKey]time.Duration{}
	}
	if t, ok := l.last[k]; ok && now-t < logEvery {
		return false
	}
	l.last[k] = now
	return true
}

func (l *dropLog) note(d *Daemon, pkt *vrrp.Packet, err error) {
	if errors.Is(err, vrrp.ErrUnknownVRID) || errors.Is(err, vrrp.ErrNotListening) {
		return // other virtual routers on the LAN; an instance in FAULT
	}
	var vr *vrrp.Instance
	for _, in := range d.instances {
		c := in.vr.Config()
		if c.Interface == pkt.Interface && c.IPv6 == pkt.Src.Is6() && len(pkt.Payload) > 1 && c.VRID == pkt.Payload[1] {
			vr = in.vr
		}
	}
	if !d.drops.due(d.now(), dropKey{vr, err.Error(), pkt.Src}) {
		return
	}
	if vr == nil {
		d.log.Warn("dropped advert", "from", pkt.Src.String(), "interface", pkt.Interface, "err", err, "malformed_total", d.router.Stats().Malformed)
		return
	}
	s := vr.Stats()
	d.log.Warn(fmt.Sprintf("(%s) dropped advert from %v: %v", vr.Name(), pkt.Src, err),
		"auth_failure", s.AuthFailures, "authtype_mismatch", s.AuthTypeMismatch, "vers_err", s.VersionErrors,
		"chk_err", s.ChecksumErrors, "ip_ttl_err", s.HopLimitErrors, "advert_interval_err", s.IntervalErrors, "addr_list_err", s.AddressListErrors)
}

func (l *dropLog) sendFailed(d *Daemon, in *instance, dst netip.Addr, err error) {
	if l.due(d.now(), dropKey{in.vr, "send: " + err.Error(), dst}) {
		d.log.Error(fmt.Sprintf("(%s) sending advert to %v", in.vr.Name(), dst), "err", err)
	}
}
