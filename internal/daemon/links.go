package daemon

import (
	"fmt"
	"log/slog"
	"net"
	"slices"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vipd/vipd/internal/config"
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
	var db *debouncer
	if len(d.linkDelays) > 0 {
		// Seeded after subscribing: a change in between comes after.
		db = newDebouncer(d.linkDelays, d.log)
		db.seed()
	}
	go func() {
		defer close(out)
		forward := func(ss []linkState) bool {
			for _, s := range ss {
				select {
				case out <- s:
				case <-done:
					return false
				}
			}
			return true
		}
		if db == nil {
			for u := range updates {
				if !forward([]linkState{stateOf(u)}) {
					return
				}
			}
			return
		}
		timer := time.NewTimer(time.Hour)
		defer timer.Stop()
		for {
			wait := time.Hour
			if at, ok := db.next(); ok {
				wait = max(0, time.Until(at))
			}
			timer.Reset(wait)
			var act []linkState
			select {
			case u, ok := <-updates:
				if !ok {
					return
				}
				act = db.event(time.Now(), stateOf(u))
			case <-timer.C:
				act = db.due(time.Now())
			}
			if !forward(act) {
				return
			}
		}
	}()
	return out, done, nil
}

// stateOf reads a netlink link update.
func stateOf(u netlink.LinkUpdate) linkState {
	up := u.IfInfomsg.Flags&unix.IFF_UP != 0 && u.IfInfomsg.Flags&unix.IFF_RUNNING != 0
	gone := u.Header.Type == unix.RTM_DELLINK
	return linkState{index: int(u.Index), name: u.Attrs().Name, up: up && !gone, gone: gone}
}

// linkDelay is an interface's interface_up_down_delays as they run.
type linkDelay struct{ down, up time.Duration }

// newLinkDelays reads interface_up_down_delays, lowered where keepalived
// lowers them (saying so); nil without any.
func newLinkDelays(cfg *config.Config, log *slog.Logger) map[string]linkDelay {
	var m map[string]linkDelay
	for _, l := range cfg.LinkDelays {
		eff, notes := cfg.EffectiveLinkDelay(l.Interface)
		for _, n := range notes {
			log.Warn(n)
		}
		if eff.Down == 0 && eff.Up == 0 {
			continue
		}
		if _, err := net.InterfaceByName(l.Interface); err != nil && !cfg.Global.DynamicInterfaces {
			log.Warn(fmt.Sprintf("interface_up_down_delays: interface %s not found (%s); its delays apply if it comes", l.Interface, l.Pos))
		}
		if m == nil {
			m = map[string]linkDelay{}
		}
		m[l.Interface] = linkDelay{down: eff.Down, up: eff.Up}
	}
	return m
}

// debouncer holds back an interface's changes between up and down for
// its delays (interface_up_down_delays), as keepalived 2.2.7 does, so that
// everything watching links (instances, track_interface, static routes)
// sees the change late or not at all:
//   - a change is acted on once the interface has stayed so for its delay
//     (the down delay going down, the up delay coming up), its first
//     report counting; one undone meanwhile is never seen;
//   - an interface not seen up yet (down when vipd started, or made
//     again) comes up at once, and a deleted one goes at once.
//
// Reports that change nothing pass at once.
type debouncer struct {
	delays map[string]linkDelay // by name
	links  map[int]*debounced   // by index: the interfaces with delays
	log    *slog.Logger
}

// debounced is one interface as the daemon has been told of it.
type debounced struct {
	up, seenUp bool
	pending    *linkState // the change held back, as last reported
	at         time.Time  // when it is acted on
}

func newDebouncer(delays map[string]linkDelay, log *slog.Logger) *debouncer {
	return &debouncer{delays: delays, links: map[int]*debounced{}, log: log}
}

// seed reads the interfaces with delays as they are: what the daemon
// starts from.
func (b *debouncer) seed() {
	for name := range b.delays {
		if ifi, err := net.InterfaceByName(name); err == nil {
			up := carries(ifi, nil)
			b.links[ifi.Index] = &debounced{up: up, seenUp: up}
		}
	}
}

// event takes a change reported at now and returns what to act on now.
func (b *debouncer) event(now time.Time, s linkState) []linkState {
	st := b.links[s.index]
	dl, delayed := b.delays[s.name]
	if s.gone || !delayed {
		// Gone, or renamed to a name without delays: what was held back
		// no longer applies.
		delete(b.links, s.index)
		return []linkState{s}
	}
	if st == nil {
		st = &debounced{} // new: down until it comes up
		b.links[s.index] = st
	}
	if s.up == st.up {
		if st.pending != nil {
			st.pending = nil
			b.log.Info(fmt.Sprintf("interface %s is %s again within its delay: nothing changes (interface_up_down_delays)", s.name, upDown(s.up)))
		}
		return []linkState{s}
	}
	if st.pending != nil {
		st.pending = &s // the same way: the first report's delay runs on
		return nil
	}
	delay := dl.down
	if s.up {
		delay = dl.up
	}
	if delay > 0 && st.seenUp {
		st.pending, st.at = &s, now.Add(delay)
		b.log.Info(fmt.Sprintf("interface %s is %s: acting on it in %v unless it is %s again by then (interface_up_down_delays)", s.name, upDown(s.up), delay, upDown(!s.up)))
		return nil
	}
	st.apply(s)
	return []linkState{s}
}

func (st *debounced) apply(s linkState) {
	st.up, st.pending = s.up, nil
	st.seenUp = st.seenUp || s.up
}

// due returns the held-back changes whose delay has run out by now, in
// the order they fall due.
func (b *debouncer) due(now time.Time) []linkState {
	var sts []*debounced
	for _, st := range b.links {
		if st.pending != nil && !now.Before(st.at) {
			sts = append(sts, st)
		}
	}
	slices.SortFunc(sts, func(x, y *debounced) int { return x.at.Compare(y.at) })
	out := make([]linkState, 0, len(sts))
	for _, st := range sts {
		s := *st.pending
		st.apply(s)
		out = append(out, s)
	}
	return out
}

// next is when the first held-back change falls due.
func (b *debouncer) next() (time.Time, bool) {
	var at time.Time
	ok := false
	for _, st := range b.links {
		if st.pending != nil && (!ok || st.at.Before(at)) {
			at, ok = st.at, true
		}
	}
	return at, ok
}

func upDown(up bool) string {
	if up {
		return "up"
	}
	return "down"
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
