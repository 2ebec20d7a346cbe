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
			if u.Header.Type == unix.RTM_DELLINK {
				up = false
			}
			out <- linkState{index: int(u.Index), name: u.Attrs().Name, up: up}
		}
		close(out)
	}()
	return out, done, nil
}

// linkChanged puts the instances on an interface that went down into
// FAULT, and brings them back when it is up again, unless they are told
// not to track it (dont_track_primary).
func (d *Daemon) linkChanged(s linkState) {
	now := d.now()
	for _, in := range d.instances {
		if in.base.Index != s.index || in.cfg.DontTrackPrimary || in.linkIsUp == s.up {
			continue
		}
		in.linkIsUp = s.up
		if s.up {
			d.log.Info(fmt.Sprintf("(%s) interface %s is up", in.vr.Name(), s.name))
		} else {
			d.log.Warn(fmt.Sprintf("(%s) interface %s is down", in.vr.Name(), s.name))
		}
		actions, err := d.router.SetFault(now, in.vr.Name(), !s.up)
		if err != nil {
			d.log.Error("link change", "err", err)
		}
		d.execute(actions)
	}
}
