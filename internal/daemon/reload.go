package daemon

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"

	"github.com/vipd/vipd/internal/config"
	"github.com/vipd/vipd/internal/notify"
	"github.com/vipd/vipd/internal/track"
	"github.com/vipd/vipd/internal/vip"
	"github.com/vipd/vipd/internal/vrrp"
)

// Loader reads the configuration again for a reload: the file vipd
// started with, with the same options, validated. An error keeps the
// running configuration.
type Loader func() (*config.Config, error)

// SetLoader lets SIGHUP reload the configuration with l; without one,
// SIGHUP is logged and ignored.
func (d *Daemon) SetLoader(l Loader) { d.loader = l }

// carry is what a reload hands from the running daemon to the one built
// from the new configuration, so that nothing the reload does not
// change moves: a master stays master with its addresses, a script's
// verdict and a real server's health are not learned again.
type carry struct {
	cfg    *config.Config // the new configuration
	old    *config.Config // the running one, to fall back on
	states map[string]vrrp.State
	groups map[string]vrrp.State
	// verdicts are the vrrp_scripts' by name; health the real servers'
	// checkers' (director.Director.Health).
	verdicts map[string]track.Verdict
	health   map[string][]bool
	notifier *notify.Runner
	fifos    []*fifo  // nil: the new configuration's FIFOs differ
	static   *statics // nil: the static items differ (or there are none)
	vmacs    []string // VMAC interfaces the new configuration has too
	// writeStates: fifo_write_vrrp_states_on_reload.
	writeStates bool
}

// release lets go of what the carry holds when no daemon takes it: vipd
// stops. The virtual addresses go with their lifetimes.
func (c *carry) release(log *slog.Logger) {
	removeDataplane(log)
	closeFIFOs(c.fifos)
	if c.static != nil {
		if err := c.static.clear(); err != nil {
			log.Error("removing static addresses, routes and rules", "err", err)
		}
	}
	c.notifier.Close(stopNotifyWait)
}

// instanceKey is what makes an instance of the new configuration the
// same virtual router as one running: a renamed instance, or one moved
// to another interface, VRID or family, is another router.
type instanceKey struct {
	name, iface string
	vrid        uint8
	ipv6        bool
	vmac        string
}

func keyOf(ci *config.Instance) instanceKey {
	c := &ci.VRRP
	k := instanceKey{name: c.Name, iface: c.Interface, vrid: c.VRID, ipv6: c.IPv6}
	if ci.UseVMAC || ci.IPVLAN {
		k.vmac = ci.VMACName
	}
	return k
}

// reload reads the configuration again. On an error the running one
// stays, and nil is returned. Otherwise the instances that go (or
// become other virtual routers) are stopped at once, the addresses a
// kept master no longer has are removed, and the carry for the new
// daemon is returned: the caller then closes this daemon with it.
func (d *Daemon) reload() *carry {
	if d.loader == nil {
		d.log.Warn("SIGHUP: vipd was started without a way to read its configuration again; the running configuration stays")
		return nil
	}
	d.log.Info("Reloading the configuration (SIGHUP)")
	cfg, err := d.loader()
	if err != nil {
		d.log.Error("Reload failed: the running configuration stays in effect", "err", err)
		return nil
	}
	if err := hostReady(cfg); err != nil {
		d.log.Error("Reload failed: the running configuration stays in effect", "err", err)
		return nil
	}
	for _, w := range cfg.Warnings {
		d.log.Warn(w.Error())
	}
	c := &carry{cfg: cfg, old: d.cfg, states: map[string]vrrp.State{}, groups: map[string]vrrp.State{},
		verdicts: map[string]track.Verdict{}, notifier: d.notifier, writeStates: cfg.Global.Reload.WriteStates}
	next := map[instanceKey]*config.Instance{}
	for _, ci := range cfg.Instances {
		next[keyOf(ci)] = ci
	}
	// keep is what masters going on as masters hold, by heldKeys: an
	// address moved from a dropped instance (or one handing over) to
	// such a master stays where it is.
	keep := map[string]bool{}
	for _, in := range d.instances {
		for i, t := range in.cfg.TrackScripts {
			if v := in.track.verdicts[i]; v != track.Pending {
				c.verdicts[t.Name] = v
			}
		}
		ci := next[keyOf(in.cfg)]
		if ci == nil {
			continue
		}
		st := in.vr.State()
		c.states[ci.VRRP.Name] = st
		if st == vrrp.Master && in.holding {
			for _, k := range heldKeys(ci) { // as the new file gives them
				keep[k] = true
			}
		}
	}
	for _, in := range d.instances {
		dropped := next[keyOf(in.cfg)] == nil
		if dropped {
			d.log.Info(fmt.Sprintf("(%s) removed by the reload", in.vr.Name()))
			if in.vr.State() == vrrp.Master {
				d.sendAdvert(in, vrrp.PriorityStop, vrrp.ReasonStop)
			}
		}
		if in.holding {
			d.releaseDropped(in, keep)
		}
		if dropped {
			d.tellDeleted(in)
		}
	}
	for _, g := range d.groups {
		c.groups[g.sg.Name()] = g.last
	}
	if d.director != nil {
		c.health = d.director.Health()
	}
	if sameFIFOs(&d.cfg.Global, &cfg.Global) {
		c.fifos, d.fifos = d.fifos, nil
	}
	if d.static != nil && sameStatics(&d.cfg.Static, &cfg.Static) {
		c.static, d.static = d.static, nil
		c.static.cfg = &cfg.Static
	}
	for _, ci := range cfg.Instances {
		c.vmacs = append(c.vmacs, vmacNames(ci)...)
	}
	return c
}

// hostReady refuses a reload the host cannot run yet: an instance on an
// interface that does not exist (without dynamic_interfaces) would stop
// vipd half-way through building the new daemon.
func hostReady(cfg *config.Config) error {
	if cfg.Global.DynamicInterfaces {
		return nil
	}
	for _, ci := range cfg.Instances {
		if _, err := net.InterfaceByName(ci.VRRP.Interface); err != nil {
			return fmt.Errorf("%s: vrrp_instance %s: interface %s does not exist", ci.Pos, ci.VRRP.Name, ci.VRRP.Interface)
		}
	}
	return nil
}

// heldKeys name what a master of ci holds: its addresses (on their
// interfaces), routes and rules.
func heldKeys(ci *config.Instance) []string {
	var out []string
	for _, list := range [][]config.VIP{ci.VIPs, ci.Excluded} {
		for _, v := range list {
			out = append(out, addrKey(v.Prefix, ci.AddressDev(v)))
		}
	}
	for i := range ci.Routes {
		out = append(out, "route "+ci.Routes[i].Route.String())
	}
	for i := range ci.Rules {
		out = append(out, "rule "+ci.Rules[i].Rule.String())
	}
	return out
}

func addrKey(p netip.Prefix, dev string) string { return "address " + p.String() + " dev " + dev }

// releaseDropped takes the addresses, routes and rules an instance holds
// off the host, but for those a master going on as master keeps (keep,
// by heldKeys): a master going on loses only what the new file no longer
// gives it, a dropped instance or one handing over what no such master
// took from it.
func (d *Daemon) releaseDropped(in *instance, keep map[string]bool) {
	name := in.vr.Name()
	var errs []error
	for i := range in.cfg.Rules {
		if r := &in.cfg.Rules[i].Rule; !keep["rule "+r.String()] {
			errs = append(errs, vip.DeleteRule(r))
		}
	}
	for i := range in.cfg.Routes {
		if r := &in.cfg.Routes[i].Route; !keep["route "+r.String()] {
			errs = append(errs, vip.DeleteRoute(r))
		}
	}
	var gone []netip.Addr
	for _, a := range in.addrs {
		if !keep[addrKey(a.Prefix, a.Dev)] {
			d.log.Info(fmt.Sprintf("(%s) removing virtual address %v from %s on the reload", name, a.Prefix, a.Dev))
			errs = append(errs, vip.Remove(a))
			gone = append(gone, a.Prefix.Addr())
		}
	}
	if in.blocked && len(gone) > 0 {
		errs = append(errs, in.fw.Unblock(gone...))
	}
	for _, err := range errs {
		if err != nil {
			d.log.Error(fmt.Sprintf("(%s) removing what the reload took out", name), "err", err)
		}
	}
}

// tellDeleted runs the notify scripts of an instance the reload
// removed: as for FAULT, or for DELETED with notify_deleted (and its
// own script, if it has one), as keepalived does.
func (d *Daemon) tellDeleted(in *instance) {
	name, priority := in.vr.Name(), int(in.vr.Priority())
	n := in.notify.cfg
	own, event := n.Fault, vrrp.Fault.String()
	switch {
	case n.NotifyDeleted:
		own, event = n.Deleted, "DELETED"
	case in.vr.State() == vrrp.Fault:
		return // its FAULT was told already
	}
	d.notifier.Post(name, in.notify.jobsFor(own, "INSTANCE", name, event, priority)...)
	d.fifoLine("INSTANCE", name, event, priority)
}

// vmacNames are the macvlan (or ipvlan) interfaces an instance makes.
func vmacNames(ci *config.Instance) []string {
	var names []string
	if ci.UseVMAC || ci.IPVLAN {
		names = append(names, ci.VMACName)
	}
	for _, av := range ci.AddrVMACs {
		names = append(names, av.Name)
	}
	return names
}

// sameFIFOs reports whether two configurations write the same FIFOs:
// then the open ones, and the scripts reading them, go on.
func sameFIFOs(a, b *config.Global) bool {
	fa, fb := a.FIFOs(), b.FIFOs()
	return slices.EqualFunc(fa, fb, func(x, y *config.FIFO) bool {
		return x.Path == y.Path && (x == a.LVSNotifyFIFO) == (y == b.LVSNotifyFIFO) &&
			(x == a.VRRPNotifyFIFO) == (y == b.VRRPNotifyFIFO) && x.User == y.User && x.Group == y.Group &&
			slices.Equal(scriptArgv(x.Script), scriptArgv(y.Script))
	})
}

func scriptArgv(c *config.Command) []string {
	if c == nil {
		return nil
	}
	return c.Argv
}

// sameStatics reports whether two configurations keep the same static
// addresses, routes and rules: then they stay, and vipd still knows
// which it put in.
func sameStatics(a, b *config.Static) bool {
	return slices.EqualFunc(a.Addresses, b.Addresses, func(x, y config.VIP) bool {
		return x.Address.String() == y.Address.String() && x.Track == y.Track
	}) && slices.EqualFunc(a.Routes, b.Routes, func(x, y config.Route) bool {
		return x.Route.String() == y.Route.String() && x.Track == y.Track
	}) && slices.EqualFunc(a.Rules, b.Rules, func(x, y config.Rule) bool {
		return x.Rule.String() == y.Rule.String() && x.Track == y.Track
	})
}
