package daemon

import (
	"fmt"
	"net"
)

// tracked is the last seen state of the interfaces an instance tracks
// (track_interface), in configuration order.
type tracked struct {
	up []bool
	// fault and priority are what the router was last told, so that only
	// a change reaches it.
	fault    bool
	priority int
}

// carries reports whether a looked-up interface exists and carries
// traffic: up and running, as the link watch reads a change.
func carries(ifi *net.Interface, err error) bool {
	return err == nil && ifi.Flags&net.FlagUp != 0 && ifi.Flags&net.FlagRunning != 0
}

// initTracking reads the state of the instance's interfaces at start.
func (in *instance) initTracking() {
	in.linkIsUp = in.linkUp()
	in.track.up = make([]bool, len(in.cfg.TrackInterfaces))
	for i, t := range in.cfg.TrackInterfaces {
		in.track.up[i] = carries(net.InterfaceByName(t.Name))
	}
	in.track.priority = int(in.cfg.VRRP.Priority)
}

// wanted is the fault and priority the interfaces make: FAULT while its
// own interface (unless dont_track_primary) or an unweighted tracked one
// is down; the base priority moved by the weighted ones.
func (in *instance) wanted() (fault bool, priority int) {
	fault = !in.linkIsUp && !in.cfg.DontTrackPrimary
	priority = int(in.cfg.VRRP.Priority)
	for i, t := range in.cfg.TrackInterfaces {
		if t.Weight == 0 {
			fault = fault || t.Down(in.track.up[i])
			continue
		}
		priority += t.Adjust(in.track.up[i])
	}
	return fault, priority
}

// applyTracking tells the router what changed; it logs the priority the
// router settles on (it keeps 1..254, and the owner at 255).
func (d *Daemon) applyTracking(in *instance) {
	now := d.now()
	fault, priority := in.wanted()
	name := in.vr.Name()
	if priority != in.track.priority {
		in.track.priority = priority
		was := in.vr.Priority()
		actions, err := d.router.SetPriority(now, name, priority)
		if err != nil {
			d.log.Error("tracking", "err", err)
		}
		if is := in.vr.Priority(); is != was {
			d.log.Info(fmt.Sprintf("(%s) Changing effective priority from %d to %d", name, was, is))
		}
		d.execute(actions)
	}
	if fault != in.track.fault {
		in.track.fault = fault
		actions, err := d.router.SetFault(now, name, fault)
		if err != nil {
			d.log.Error("tracking", "err", err)
		}
		d.execute(actions)
	}
}
