package daemon

import (
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// linkState is one interface's change, as netlink reported it.
type linkState struct {
	index int
	name  string
	up    bool // administratively up and with carrier
	gone  bool // deleted
}

// watchLinks subscribes to the kernel's link changes.
func (d *Daemon) watchLinks() (<-chan linkState, chan struct{}, error) {
	updates := make(chan netlink.LinkUpdate, 16)
	done := make(chan struct{})
	err := netlink.LinkSubscribeWithOptions(updates, done, netlink.LinkSubscribeOptions{
		ErrorCallback: func(err error) {
			select {
			case <-done: // closing the subscription fails its last read
			default:
				d.log.Error("link watch", "err", err)
			}
		},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("watching links: %w", err)
	}
	out := make(chan linkState, 16)
	go func() {
		for u := range updates {
			up := u.IfInfomsg.Flags&unix.IFF_UP != 0 && u.IfInfomsg.Flags&unix.IFF_RUNNING != 0
			gone := u.Header.Type == unix.RTM_DELLINK
			out <- linkState{index: int(u.Index), name: u.Attrs().Name, up: up && !gone, gone: gone}
		}
		close(out)
	}()
	return out, done, nil
}

// linkChanged follows an interface going down or up: the instances on
// it go to FAULT (unless dont_track_primary) and back, and those tracking
// it (track_interface) go to FAULT or change priority.
func (d *Daemon) linkChanged(s linkState) {
	if s.up {
		// The kernel drops routes through an interface that goes down,
		// without a word: the static ones on it come back with it.
		defer d.reinstate(s.name)
	}
	for _, in := range d.instances {
		changed := false
		ours := in.base != nil && in.base.Index == s.index
		if s.name == in.cfg.VRRP.Interface && (in.base == nil && !s.gone || ours && s.gone || in.base != nil && !ours && !s.gone) {
			// The interface came, went, or came back as a new one.
			up := d.reattach(in) && in.linkUp()
			if in.linkIsUp != up {
				in.linkIsUp, changed = up, true
				d.logLink(in, linkState{name: s.name, up: up})
			}
		} else if ours && in.linkIsUp != s.up {
			in.linkIsUp, changed = s.up, true
			if !in.cfg.DontTrackPrimary {
				d.logLink(in, s)
			}
		}
		for i, t := range in.cfg.TrackInterfaces {
			if t.Name == s.name && in.track.up[i] != s.up {
				in.track.up[i], changed = s.up, true
				d.logLink(in, s)
			}
		}
		if changed {
			d.applyTracking(in)
		}
	}
}

func (d *Daemon) logLink(in *instance, s linkState) {
	if s.up {
		d.log.Info(fmt.Sprintf("(%s) interface %s is up", in.vr.Name(), s.name))
	} else {
		d.log.Warn(fmt.Sprintf("(%s) interface %s is down", in.vr.Name(), s.name))
	}
}
