package vip

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// sentLog records, per interface, when each fake gratuitous ARP (or NA)
// left.
type sentLog struct {
	mu sync.Mutex
	at map[string][]time.Time
}

// fakeSend stands in for burst: one message of kind k per address and
// round, paced as the real one is.
func (l *sentLog) fakeSend(k kind) func(dev string, addrs []netip.Addr, rounds int, p pacer) error {
	return func(dev string, addrs []netip.Addr, rounds int, p pacer) error {
		for range rounds {
			for range addrs {
				if err := p.wait(k); err != nil {
					return err
				}
				l.mu.Lock()
				l.at[dev] = append(l.at[dev], time.Now())
				l.mu.Unlock()
				p.sent(k)
			}
		}
		return nil
	}
}

func (l *sentLog) times(dev string) []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Time(nil), l.at[dev]...)
}

func newTestAnnouncer(t *testing.T, s Spacing, k kind) (*Announcer, *sentLog) {
	t.Helper()
	l := &sentLog{at: map[string][]time.Time{}}
	a := NewAnnouncer(s, func(dev string, err error) { t.Errorf("%s: %v", dev, err) })
	a.send = l.fakeSend(k)
	return a, l
}

var addrs3 = []netip.Addr{netip.MustParseAddr("198.18.67.1"), netip.MustParseAddr("198.18.67.2"), netip.MustParseAddr("198.18.67.3")}

// spread is the time from the first message to the last.
func spread(at []time.Time) time.Duration {
	if len(at) < 2 {
		return 0
	}
	return at[len(at)-1].Sub(at[0])
}

// A garp_group's spacing applies on its interfaces, global_defs' on the
// others; its interfaces share one pace (keepalived's aggregation), and a
// VMAC takes its parent's.
func TestAnnouncerGroups(t *testing.T) {
	const global, group = 20 * time.Millisecond, 100 * time.Millisecond
	a, l := newTestAnnouncer(t, Spacing{ARP: global}, garp)
	a.Group(Spacing{ARP: group}, "eth1", "eth2")
	a.Base("vrrp.7", "eth1")
	ctx := context.Background()
	for _, dev := range []string{"eth0", "eth1", "eth2", "vrrp.7"} {
		if err := a.Announce(ctx, dev, addrs3, 1); err != nil {
			t.Fatal(err)
		}
	}
	a.Close()

	if n, s := len(l.times("eth0")), spread(l.times("eth0")); n != 3 || s < 2*global || s >= 2*group {
		t.Errorf("eth0 (global spacing): %d messages over %v, want 3 over at least %v and well under %v", n, s, 2*global, 2*group)
	}
	// eth1, eth2 and the VMAC on eth1: nine messages in one queue, each
	// at least the group's spacing after the one before.
	var all []time.Time
	for _, dev := range []string{"eth1", "eth2", "vrrp.7"} {
		if n := len(l.times(dev)); n != 3 {
			t.Errorf("%s: %d messages, want 3", dev, n)
		}
		all = append(all, l.times(dev)...)
	}
	first, last := all[0], all[0]
	for _, at := range all {
		if at.Before(first) {
			first = at
		}
		if at.After(last) {
			last = at
		}
	}
	if s := last.Sub(first); s < 8*group {
		t.Errorf("the group's nine messages took %v, want at least %v: its interfaces share one pace", s, 8*group)
	}
}

// A kind a group leaves at 0 goes out unspaced on its interfaces even
// where global_defs spaces it, as keepalived sends it; an interface in
// no group keeps global_defs' spacing.
func TestAnnouncerGroupUnspacedKind(t *testing.T) {
	const global = 50 * time.Millisecond
	a, l := newTestAnnouncer(t, Spacing{NA: global}, gna)
	a.Group(Spacing{ARP: time.Second}, "eth1") // spaces ARPs only
	ctx := context.Background()
	for _, dev := range []string{"eth0", "eth1"} {
		if err := a.Announce(ctx, dev, addrs3, 2); err != nil {
			t.Fatal(err)
		}
	}
	a.Close()
	if s := spread(l.times("eth1")); len(l.times("eth1")) != 6 || s > global {
		t.Errorf("eth1: %d NAs over %v, want 6 unspaced", len(l.times("eth1")), s)
	}
	if s := spread(l.times("eth0")); len(l.times("eth0")) != 6 || s < 5*global {
		t.Errorf("eth0: %d NAs over %v, want 6 over at least %v", len(l.times("eth0")), s, 5*global)
	}
}

// An interface in two groups stays in the first (keepalived ignores the
// second); without any spacing a burst goes out at once, in the caller.
func TestAnnouncerFirstGroupWins(t *testing.T) {
	a, l := newTestAnnouncer(t, Spacing{}, garp)
	a.Group(Spacing{}, "eth1")
	a.Group(Spacing{ARP: time.Hour}, "eth1", "eth2")
	if err := a.Announce(context.Background(), "eth1", addrs3, 1); err != nil {
		t.Fatal(err)
	}
	// Unpaced: sent before Announce returned.
	if n := len(l.times("eth1")); n != 3 {
		t.Errorf("eth1: %d messages sent at once, want 3", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := a.Announce(ctx, "eth2", addrs3, 1); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	cancel() // drops the rest of eth2's hour-spaced burst
	a.Close()
	if n := len(l.times("eth2")); n != 1 {
		t.Errorf("eth2: %d messages, want the first only", n)
	}
}
