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
type Announcer struct {
	spacing Spacing
	onError func(dev string, err error) // a paced burst failed

	mu     sync.Mutex
	queues map[string]chan pacedBurst
	closed bool
	wg     sync.WaitGroup
}

type pacedBurst struct {
	ctx    context.Context
	addrs  []netip.Addr
	rounds int
}

// queueLen bounds the bursts waiting on one interface: even a slow pace
// empties a queue long before routers could fill it.
const queueLen = 64

// NewAnnouncer returns an announcer with the given spacing. onError is
// called, from the interface's goroutine, when a paced burst fails.
func NewAnnouncer(s Spacing, onError func(dev string, err error)) *Announcer {
	return &Announcer{spacing: s, onError: onError, queues: map[string]chan pacedBurst{}}
}

// Announce sends rounds of announcements for addrs on dev: at once
// without spacing, else queued behind earlier bursts on dev. ctx ends a
// queued burst early.
func (a *Announcer) Announce(ctx context.Context, dev string, addrs []netip.Addr, rounds int) error {
	if a.spacing == (Spacing{}) {
		return Announce(dev, addrs, rounds)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return errors.New("announcer closed")
	}
	q, ok := a.queues[dev]
	if !ok {
		q = make(chan pacedBurst, queueLen)
		a.queues[dev] = q
		a.wg.Add(1)
		go a.work(dev, q)
	}
	select {
	case q <- pacedBurst{ctx, addrs, rounds}:
		return nil
	default:
		return fmt.Errorf("announce on %s: %d bursts already waiting", dev, queueLen)
	}
}

// work sends the bursts queued for one interface, each message of a kind
// at least that kind's spacing after the last one left.
func (a *Announcer) work(dev string, q <-chan pacedBurst) {
	defer a.wg.Done()
	p := &queuePacer{gap: [2]time.Duration{garp: a.spacing.ARP, gna: a.spacing.NA}}
	for b := range q {
		if b.ctx.Err() != nil {
			continue
		}
		p.ctx = b.ctx
		if err := burst(dev, b.addrs, b.rounds, p); err != nil && !errors.Is(err, b.ctx.Err()) {
			a.onError(dev, err)
		}
	}
}

// queuePacer paces one interface's messages across its bursts.
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
