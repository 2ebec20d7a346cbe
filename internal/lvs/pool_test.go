package lvs

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

func realAt(last byte, weight int) Real {
	return Real{Addr: netip.AddrFrom4([4]byte{198, 18, 0, last}), Port: 80, Weight: weight}
}

func show(reals []Real) string {
	var parts []string
	for _, r := range reals {
		parts = append(parts, fmt.Sprintf("%s/%d", r.Addr, r.Weight))
	}
	return strings.Join(parts, " ")
}

func showEvents(evs []Event) string {
	var parts []string
	for _, e := range evs {
		if e.Kind == RealUp || e.Kind == RealDown {
			parts = append(parts, fmt.Sprintf("%d %s", e.Real, e.Kind))
		} else {
			parts = append(parts, fmt.Sprintf("%s %d", e.Kind, e.Weight))
		}
	}
	return strings.Join(parts, ", ")
}

// A real server is alive while every checker passes; inhibit_on_failure
// keeps it at weight 0 instead of removing it.
func TestPoolAliveAndInhibit(t *testing.T) {
	p := NewPool("vs", []PoolReal{
		{Real: realAt(11, 3), Checkers: []bool{true, true}},
		{Real: realAt(12, 1), Checkers: []bool{true}, Inhibit: true},
	}, nil, 1, 0)
	if evs := p.Start(); len(evs) != 0 {
		t.Fatalf("start: %v", showEvents(evs))
	}
	steps := []struct {
		real, checker int
		up            bool
		events, reals string
	}{
		{0, 1, false, "0 down", "198.18.0.12/1"},
		{0, 0, false, "", "198.18.0.12/1"},
		{0, 1, true, "", "198.18.0.12/1"},
		{0, 0, true, "0 up", "198.18.0.11/3 198.18.0.12/1"},
		{1, 0, false, "1 down", "198.18.0.11/3 198.18.0.12/0"},
		{0, 0, false, "0 down, quorum down 0", "198.18.0.12/0"},
	}
	for i, s := range steps {
		evs := p.Check(s.real, s.checker, s.up, nil)
		if got := showEvents(evs); got != s.events {
			t.Errorf("step %d: events %q, want %q", i, got, s.events)
		}
		if got := show(p.Reals()); got != s.reals {
			t.Errorf("step %d: reals %q, want %q", i, got, s.reals)
		}
	}
}

// Losing the quorum hands the traffic to the sorry server alone, with
// hysteresis deciding when it is lost and regained.
func TestPoolQuorumSorry(t *testing.T) {
	sorry := PoolReal{Real: realAt(99, 1)}
	p := NewPool("vs", []PoolReal{
		{Real: realAt(11, 2), Checkers: []bool{true}},
		{Real: realAt(12, 2), Checkers: []bool{true}},
		{Real: realAt(13, 2), Checkers: []bool{true}},
	}, &sorry, 4, 1)
	p.Start()
	steps := []struct {
		real   int
		up     bool
		events string
		reals  string
	}{
		{0, false, "0 down", "198.18.0.12/2 198.18.0.13/2"}, // 4 ≥ 4-1
		{1, false, "1 down, quorum down 2", "198.18.0.99/1"},
		{1, true, "1 up", "198.18.0.99/1"}, // 4 < 4+1
		{0, true, "0 up, quorum up 6", "198.18.0.11/2 198.18.0.12/2 198.18.0.13/2"},
	}
	for i, s := range steps {
		if got := showEvents(p.Check(s.real, 0, s.up, nil)); got != s.events {
			t.Errorf("step %d: events %q, want %q", i, got, s.events)
		}
		if got := show(p.Reals()); got != s.reals {
			t.Errorf("step %d: reals %q, want %q", i, got, s.reals)
		}
	}
}

// alpha starts checkers failed: the pool starts without quorum and each
// real server joins on its first success.
func TestPoolAlpha(t *testing.T) {
	sorry := PoolReal{Real: realAt(99, 1)}
	p := NewPool("vs", []PoolReal{{Real: realAt(11, 1), Checkers: []bool{false}}}, &sorry, 1, 0)
	if got := showEvents(p.Start()); got != "quorum down 0" {
		t.Fatalf("start: %q", got)
	}
	if got := show(p.Reals()); got != "198.18.0.99/1" {
		t.Errorf("reals at start %q", got)
	}
	if got := showEvents(p.Check(0, 0, true, nil)); got != "0 up, quorum up 1" {
		t.Errorf("first success: %q", got)
	}
}

// misc_dynamic moves a real server's weight and so the quorum.
func TestPoolDynamicWeight(t *testing.T) {
	p := NewPool("vs", []PoolReal{{Real: realAt(11, 5), Checkers: []bool{true}}}, nil, 3, 0)
	p.Start()
	w := 2
	if got := showEvents(p.Check(0, 0, true, &w)); got != "quorum down 2" {
		t.Errorf("weight 2: %q", got)
	}
	if got := show(p.Reals()); got != "198.18.0.11/2" {
		t.Errorf("reals %q", got)
	}
	if got := showEvents(p.Check(0, 0, true, &w)); got != "" {
		t.Errorf("same weight again: %q", got)
	}
}

// sorry_server_inhibit keeps the sorry server at weight 0 while the real
// servers have the quorum.
func TestPoolSorryInhibit(t *testing.T) {
	sorry := PoolReal{Real: realAt(99, 1), Inhibit: true}
	p := NewPool("vs", []PoolReal{{Real: realAt(11, 1), Checkers: []bool{true}}}, &sorry, 1, 0)
	p.Start()
	if got := show(p.Reals()); got != "198.18.0.11/1 198.18.0.99/0" {
		t.Errorf("with quorum: %q", got)
	}
	p.Check(0, 0, false, nil)
	if got := show(p.Reals()); got != "198.18.0.99/1" {
		t.Errorf("without quorum: %q", got)
	}
}
