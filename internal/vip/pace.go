package vip

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// Spacing is the least time between two announcements of one kind on one
// interface, whoever sends them (keepalived's vrrp_garp_interval and
// vrrp_gna_interval): some switches drop or rate-limit bursts.
type Spacing struct {
	ARP, NA time.Duration
}

// Announcer sends announcement bursts. Without spacing a burst goes out
// at once, in the caller's goroutine. With it, each interface has a queue
// that one goroutine works through at the set pace, so the caller (the
// daemon's event loop) never waits; a burst whose context ends is dropped
// unsent, because announcing addresses a router has let go of would pull
// traffic away from the new master.
//
// Interfaces put in a group (keepalived's garp_group) share one queue and
// one pace of their own instead; a VMAC given its parent (Base) takes the
// parent's queue, as its frames leave through the parent's port.
type Announcer struct {
	spacing Spacing
	onError func(dev string, err error) // a paced burst failed
	// send sends one burst; burst unless a test replaces it.
	send func(dev string, addrs []netip.Addr, rounds int, pace pacer) error

	mu     sync.Mutex
	base   map[string]string // VMAC → the interface it sends through
	groups map[string]int    // interface → index in paces
	paces  []Spacing         // the groups' spacing
	queues map[queueKey]chan pacedBurst
	closed bool
	wg     sync.WaitGroup
}

// queueKey names a queue: one interface's, or a group's.
type queueKey struct {
	dev   string
	group int // 1 + index in paces; 0: dev's own
}

type pacedBurst struct {
	ctx    context.Context
	dev    string
	addrs  []netip.Addr
	rounds int
}

// queueLen bounds the bursts waiting on one interface: even a slow pace
// empties a queue long before routers could fill it.
const queueLen = 64

// NewAnnouncer returns an announcer with the given spacing. onError is
// called, from the interface's goroutine, when a paced burst fails.
func NewAnnouncer(s Spacing, onError func(dev string, err error)) *Announcer {
	return &Announcer{spacing: s, onError: onError, send: burst,
		base: map[string]string{}, groups: map[string]int{}, queues: map[queueKey]chan pacedBurst{}}
}

// Group paces the interfaces together at s, in place of the announcer's
// spacing: a kind s leaves at 0 goes out unspaced on them. An interface
// already in a group stays in it. Call it before announcing.
func (a *Announcer) Group(s Spacing, devs ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.paces = append(a.paces, s)
	for _, dev := range devs {
		if _, ok := a.groups[dev]; !ok {
			a.groups[dev] = len(a.paces) - 1
		}
	}
}

// Base makes the announcements on dev (a VMAC or ipvlan) take the pace
// and queue of parent. Call it before announcing.
func (a *Announcer) Base(dev, parent string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.base[dev] = parent
}

// route is the queue dev's announcements go through, and its pace.
func (a *Announcer) route(dev string) (queueKey, Spacing) {
	if parent, ok := a.base[dev]; ok {
		dev = parent
	}
	if g, ok := a.groups[dev]; ok {
		return queueKey{group: g + 1}, a.paces[g]
	}
	return queueKey{dev: dev}, a.spacing
}

// Announce sends rounds of announcements for addrs on dev: at once
// without spacing, else queued behind earlier bursts on dev (or its
// group). ctx ends a queued burst early.
func (a *Announcer) Announce(ctx context.Context, dev string, addrs []netip.Addr, rounds int) error {
	a.mu.Lock()
	key, s := a.route(dev)
	if s == (Spacing{}) {
		a.mu.Unlock()
		return a.send(dev, addrs, rounds, unpaced{})
	}
	defer a.mu.Unlock()
	if a.closed {
		return errors.New("announcer closed")
	}
	q, ok := a.queues[key]
	if !ok {
		q = make(chan pacedBurst, queueLen)
		a.queues[key] = q
		a.wg.Add(1)
		go a.work(s, q)
	}
	select {
	case q <- pacedBurst{ctx, dev, addrs, rounds}:
		return nil
	default:
		return fmt.Errorf("announce on %s: %d bursts already waiting", dev, queueLen)
	}
}

// work sends the bursts queued for one interface or group, each message
// of a kind at least that kind's spacing after the last one left.
func (a *Announcer) work(s Spacing, q <-chan pacedBurst) {
	defer a.wg.Done()
	p := &queuePacer{gap: [2]time.Duration{garp: s.ARP, gna: s.NA}}
	for b := range q {
		if b.ctx.Err() != nil {
			continue
		}
		p.ctx = b.ctx
		if err := a.send(b.dev, b.addrs, b.rounds, p); err != nil && !errors.Is(err, b.ctx.Err()) {
			a.onError(b.dev, err)
		}
	}
}

// queuePacer paces one queue's messages across its bursts.
type queuePacer struct {
	ctx  context.Context // the burst being sent: its end drops the rest
	gap  [2]time.Duration
	last [2]time.Time // by kind: when the last one left
}

func (p *queuePacer) wait(k kind) error {
	if wait := time.Until(p.last[k].Add(p.gap[k])); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-p.ctx.Done():
			t.Stop()
		}
	}
	return p.ctx.Err()
}

func (p *queuePacer) sent(k kind) { p.last[k] = time.Now() }

// Close stops the queues' goroutines once they have sent or dropped what
// is queued; callers end the bursts' contexts first to drop them.
func (a *Announcer) Close() {
	a.mu.Lock()
	if !a.closed {
		a.closed = true
		for _, q := range a.queues {
			close(q)
		}
	}
	a.mu.Unlock()
	a.wg.Wait()
}
