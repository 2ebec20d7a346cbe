package daemon

import (
	"fmt"
	"net"

	"github.com/vipd/vipd/internal/track"
	"github.com/vipd/vipd/internal/vrrp"
)

// tracked is the last seen state of what an instance tracks, in
// configuration order: its interfaces (track_interface) and the verdicts
// of its scripts (track_script).
type tracked struct {
	up       []bool
	verdicts []track.Verdict
	// quietFault: the instance started in FAULT only because a script
	// it depends on (weight 0) had no result yet. keepalived holds it
	// there silently; the notify waits for the script's verdict.
	quietFault bool
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

// initTracking reads the state of the instance's interfaces at start;
// scripts start with their initial verdict (failed with init_fail), or
// after a reload with the one they had.
func (in *instance) initTracking(checks []track.Check) {
	in.linkIsUp = in.linkUp()
	in.track.up = make([]bool, len(in.cfg.TrackInterfaces))
	for i, t := range in.cfg.TrackInterfaces {
		in.track.up[i] = carries(net.InterfaceByName(t.Name))
	}
	in.track.verdicts = make([]track.Verdict, len(in.cfg.TrackScripts))
	for i, t := range in.cfg.TrackScripts {
		for _, c := range checks {
			switch {
			case c.Name != t.Name:
			case c.Resumed != track.Pending:
				in.track.verdicts[i] = c.Resumed // what it was before a reload
			case c.InitFail:
				in.track.verdicts[i] = track.Failed
			}
		}
	}
	in.track.priority = int(in.cfg.VRRP.Priority)
}

// wanted is the fault and priority what it tracks makes: FAULT while its
// own interface (unless dont_track_primary) or an unweighted tracked one
// is down, or an unweighted script fails or has no result yet; the base
// priority moved by the weighted ones. onlyPending: the fault is only
// scripts without a result.
func (in *instance) wanted() (fault, onlyPending bool, priority int) {
	fault = !in.linkIsUp && !in.cfg.DontTrackPrimary
	priority = int(in.cfg.VRRP.Priority)
	for i, t := range in.cfg.TrackInterfaces {
		if t.Weight == 0 {
			fault = fault || t.Bad(in.track.up[i])
			continue
		}
		priority += t.Adjust(in.track.up[i])
	}
	for _, t := range in.cfg.TrackFiles {
		f, adj := fileEffect(t, in.files[t.Name])
		fault = fault || f
		priority += adj
	}
	for _, t := range in.cfg.TrackProcesses {
		f, adj := processEffect(t, in.procUp[t.Name])
		fault = fault || f
		priority += adj
	}
	for _, t := range in.cfg.TrackBFDs {
		// keepalived reckons a session's up or down as a process quorum's.
		f, adj := processEffect(t, in.bfdUp[t.Name])
		fault = fault || f
		priority += adj
	}
	pending := false
	for i, t := range in.cfg.TrackScripts {
		switch v := in.track.verdicts[i]; {
		case v == track.Pending && t.Weight == 0:
			pending = true // FAULT until the first result
		case v == track.Pending: // no adjustment before a result
		case t.Weight == 0:
			fault = fault || t.Bad(v == track.Good)
		default:
			priority += t.Adjust(v == track.Good)
		}
	}
	return fault || pending, pending && !fault, priority
}

// applyTracking tells the router what changed; it logs the priority the
// router settles on (it keeps 1..254, and the owner at 255).
func (d *Daemon) applyTracking(in *instance) {
	now := d.now()
	fault, onlyPending, priority := in.wanted()
	if in.track.quietFault && fault && !onlyPending {
		// The first verdict keeps it in FAULT: now say so.
		in.track.quietFault = false
		d.tell(in, vrrp.Fault)
	}
	if !fault {
		in.track.quietFault = false
	}
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
			if in.cfg.NotifyPriorityChanges {
				event := "BACKUP_PRIORITY"
				if in.vr.State() == vrrp.Master {
					event = "MASTER_PRIORITY"
				}
				d.fifoLine("INSTANCE", name, event, int(is))
			}
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
