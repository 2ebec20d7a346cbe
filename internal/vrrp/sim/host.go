package sim

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/vipd/vipd/internal/vrrp"
)

// Host is one simulated machine running one VRRP process. Its process can
// be started, stopped gracefully, killed and started again; its link can
// go down and up.
type Host struct {
	sim          *Sim
	Name         string
	Addr4, Addr6 netip.Addr
	cfgs         []vrrp.Config
	groups       []vrrp.GroupConfig

	router *vrrp.Router // nil while the process is not running
	linkUp bool
	holds  map[string]bool // instance name → its addresses are on the interface
	// tracked: instance name → a tracked resource is down. The router
	// gets one fault per instance: this or the link, as the daemon does.
	tracked map[string]bool
}

// Router is the running process's router, or nil.
func (h *Host) Router() *vrrp.Router { return h.router }

// LinkUp reports whether the host's interface is up.
func (h *Host) LinkUp() bool { return h.linkUp }

func (h *Host) running() bool { return h.router != nil }

// Running reports whether the host's VRRP process is running.
func (h *Host) Running() bool { return h.running() }

// Holds reports whether the host has the virtual address on its interface.
func (h *Host) Holds(vip netip.Addr) bool {
	for _, c := range h.cfgs {
		if h.holds[c.Name] && slices.Contains(c.Addrs, vip) {
			return true
		}
	}
	return false
}

// HoldsInstance reports whether the instance's addresses are on the host.
func (h *Host) HoldsInstance(name string) bool { return h.holds[name] }

// Start starts the host's process: a fresh router, with the link state
// fed in as a fault first, as the daemon does.
func (h *Host) Start() error {
	if h.running() {
		return fmt.Errorf("host %s is already running", h.Name)
	}
	r, err := vrrp.NewRouter(h.cfgs, h.groups)
	if err != nil {
		return err
	}
	h.router = r
	h.sim.emit(Event{Host: h.Name, Note: "process started"})
	h.applyFaults()
	h.carryOut(r.Start(h.sim.now))
	return nil
}

// Kill ends the process at once, as SIGKILL or a crash does. The machine
// goes with it, so its addresses vanish too.
func (h *Host) Kill() {
	h.router = nil
	clear(h.holds)
	h.sim.emit(Event{Host: h.Name, Note: "killed"})
}

// Stop asks the process to stop gracefully; it exits once every instance
// has handed over.
func (h *Host) Stop() error {
	if !h.running() {
		return fmt.Errorf("host %s is not running", h.Name)
	}
	h.carryOut(h.router.Stop(h.sim.now))
	return nil
}

// SetLink takes the host's interface down or up. The process sees it as
// a fault on every instance, as the daemon's link watch reports it.
func (h *Host) SetLink(up bool) {
	if h.linkUp == up {
		return
	}
	h.linkUp = up
	state := "down"
	if up {
		state = "up"
	}
	h.sim.emit(Event{Host: h.Name, Note: "link " + state})
	if h.running() {
		h.applyFaults()
	}
}

// applyFaults tells the router each instance's fault: its link or a
// tracked resource down.
func (h *Host) applyFaults() {
	for _, c := range h.cfgs {
		acts, err := h.router.SetFault(h.sim.now, c.Name, !h.linkUp || h.tracked[c.Name])
		if err != nil {
			panic(err)
		}
		h.carryOut(acts)
	}
}

// SetFault reports a tracked resource of one instance down or up. It
// stays so across restarts of the process, as a real resource would.
func (h *Host) SetFault(instance string, fault bool) error {
	if !slices.ContainsFunc(h.cfgs, func(c vrrp.Config) bool { return c.Name == instance }) {
		return fmt.Errorf("host %s has no instance %s", h.Name, instance)
	}
	h.tracked[instance] = fault
	if h.running() {
		h.applyFaults()
	}
	return nil
}

// ClearFaults brings every tracked resource back.
func (h *Host) ClearFaults() {
	clear(h.tracked)
	if h.running() {
		h.applyFaults()
	}
}

// SetPriority changes an instance's effective priority, as a tracker would.
func (h *Host) SetPriority(instance string, priority int) error {
	if !h.running() {
		return fmt.Errorf("host %s is not running", h.Name)
	}
	acts, err := h.router.SetPriority(h.sim.now, instance, priority)
	h.carryOut(acts)
	return err
}

func (h *Host) tick() {
	h.carryOut(h.router.Tick(h.sim.now))
}

func (h *Host) deliver(d *delivery) {
	if !h.running() || !h.sim.connected(d.from, h.Name) {
		return
	}
	acts, err := h.router.Receive(h.sim.now, &d.pkt)
	if err != nil {
		h.sim.emit(Event{Host: h.Name, Drop: err, Note: "from " + d.from})
	}
	h.carryOut(acts)
}

// carryOut does what the router asked, as the daemon would.
func (h *Host) carryOut(acts []vrrp.Action) {
	s := h.sim
	for _, a := range acts {
		name := a.Instance.Name()
		switch a.Kind {
		case vrrp.SendAdvert:
			if h.linkUp {
				c := a.Instance.Config()
				b, err := a.Instance.AppendAdvert(nil, a.Priority, c.Source, c.Group)
				if err != nil {
					panic(fmt.Sprintf("sim: %s %s: encode: %v", h.Name, name, err))
				}
				s.multicast(h, c.Source, c.Group, b)
			}
		case vrrp.AddAddresses:
			h.holds[name] = true
		case vrrp.RemoveAddresses:
			h.holds[name] = false
		case vrrp.Announce:
			if h.linkUp {
				s.Client.announced(h, a.Instance.Config().Addrs)
			}
		}
		s.emit(Event{Host: h.Name, Instance: name, Action: a})
	}
	if h.running() && h.router.Stopped() {
		h.router = nil
		s.emit(Event{Host: h.Name, Note: "process exited"})
	}
}

// masterDownBound is the longest Master_Down_Interval any of the host's
// instances can have.
func (h *Host) masterDownBound() time.Duration {
	var d time.Duration
	for _, c := range h.cfgs {
		d = max(d, vrrp.MasterDownInterval(c.Version, c.DownTimerAdverts, 1, c.Interval)+c.Interval)
	}
	return d
}
