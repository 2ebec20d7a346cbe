package director

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vipd/vipd/internal/lvs"
	"github.com/vipd/vipd/internal/lvs/check"
)

// fakeProber answers as the test sets it, and counts its attempts.
type fakeProber struct {
	mu       sync.Mutex
	result   check.Result
	attempts atomic.Int32
}

func (f *fakeProber) set(r check.Result) {
	f.mu.Lock()
	f.result = r
	f.mu.Unlock()
}

func (f *fakeProber) Probe(context.Context) check.Result {
	f.attempts.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.result
}

// fakePlane keeps what was last applied.
type fakePlane struct {
	mu      sync.Mutex
	last    []lvs.Service
	applies int
	fail    error
	closed  bool
}

func (p *fakePlane) Apply(s []lvs.Service) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail != nil {
		return p.fail
	}
	p.last, p.applies = s, p.applies+1
	return nil
}

func (p *fakePlane) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	return nil
}

// reals is what the first service balances to: "11/2 12/1" (last octet
// and weight).
func (p *fakePlane) reals() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.last) == 0 {
		return "no service"
	}
	var parts []string
	for _, r := range p.last[0].Reals {
		parts = append(parts, fmt.Sprintf("%d/%d", r.Addr.As4()[3], r.Weight))
	}
	return strings.Join(parts, " ")
}

var fast = lvs.Timing{DelayLoop: 10 * time.Millisecond, DelayBeforeRetry: 5 * time.Millisecond}

func realAt(octet byte, weight int, checkers ...Checker) RealServer {
	a := netip.AddrFrom4([4]byte{198, 18, 0, octet})
	return RealServer{Name: fmt.Sprintf("[%v]:tcp:80", a), Real: lvs.Real{Addr: a, Port: 80, Weight: weight}, Checkers: checkers}
}

func probed(p check.Prober) Checker { return Checker{Kind: "TCP_CHECK", Prober: p, Timing: fast} }

// running starts a director and a loop handing it verdicts, as the
// daemon's loop does; it is stopped at the test's end.
func running(t *testing.T, vs VirtualServer, o Options) (*Director, *fakePlane, func(func())) {
	t.Helper()
	plane := &fakePlane{}
	o.Dataplane = plane
	o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	vs.Name = "[198.18.0.1]:tcp:80"
	vs.Services = []lvs.Service{{Addr: netip.MustParseAddr("198.18.0.1"), Port: 80, Scheduler: "rr"}}
	d := New([]VirtualServer{vs}, o)
	if err := d.Start(map[string]int64{}, map[string]bool{}); err != nil {
		t.Fatal(err)
	}
	calls := make(chan func())
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case v := <-d.Verdicts():
				d.Handle(v)
			case f := <-calls:
				f()
			case <-stop:
				return
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done; d.Stop() })
	// do runs f on the loop, as the daemon calls FileChanged.
	do := func(f func()) {
		ran := make(chan struct{})
		calls <- func() { f(); close(ran) }
		<-ran
	}
	return d, plane, do
}

func waitReals(t *testing.T, p *fakePlane, want string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if got := p.reals(); got == want {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("balancing to %q, want %q", got, want)
		}
	}
}

// A failing checker takes its real server out after its retries, and a
// passing one brings it back.
func TestCheckerFailsAndRecovers(t *testing.T) {
	a, b := &fakeProber{result: check.Result{OK: true}}, &fakeProber{result: check.Result{OK: true}}
	ca := probed(a)
	ca.Timing.Retry = 2
	_, plane, _ := running(t, VirtualServer{Reals: []RealServer{realAt(11, 2, ca), realAt(12, 1, probed(b))}}, Options{})
	waitReals(t, plane, "11/2 12/1")
	before := a.attempts.Load()
	a.set(check.Result{Reason: "refused"})
	waitReals(t, plane, "12/1")
	if n := a.attempts.Load() - before; n < 3 {
		t.Errorf("out after %d failed attempts, want 3 (retry 2)", n)
	}
	a.set(check.Result{OK: true})
	waitReals(t, plane, "11/2 12/1")
}

// A local error (this host could not make the attempt) says nothing
// about the real server.
func TestLocalErrorCountsForNothing(t *testing.T) {
	a := &fakeProber{result: check.Result{Reason: "bind: address not available", LocalError: true}}
	_, plane, _ := running(t, VirtualServer{Reals: []RealServer{realAt(11, 1, probed(a))}}, Options{})
	for a.attempts.Load() < 5 {
		time.Sleep(5 * time.Millisecond)
	}
	if got := plane.reals(); got != "11/1" {
		t.Errorf("balancing to %q after local errors, want 11/1", got)
	}
}

// misc_dynamic: an exit status of 2..255 sets the weight, 0 puts the
// configured one back.
func TestDynamicWeight(t *testing.T) {
	m := &fakeProber{result: check.Result{OK: true}}
	c := probed(m)
	c.Kind, c.Dynamic = "MISC_CHECK", true
	_, plane, _ := running(t, VirtualServer{Reals: []RealServer{realAt(11, 5, c)}}, Options{})
	waitReals(t, plane, "11/5")
	m.set(check.Result{OK: true, Weight: 9, HasWeight: true})
	waitReals(t, plane, "11/9")
	m.set(check.Result{OK: true})
	waitReals(t, plane, "11/5")
}

// FILE_CHECK: the file's value times the weight is added; without a
// weight, a value other than 0 takes the real server out.
func TestFileCheck(t *testing.T) {
	withWeight := Checker{Kind: "FILE_CHECK", File: &FileTrack{Name: "load", Weight: -2}}
	fault := Checker{Kind: "FILE_CHECK", File: &FileTrack{Name: "stop"}}
	d, plane, do := running(t, VirtualServer{Reals: []RealServer{realAt(11, 10, withWeight), realAt(12, 1, fault)}}, Options{})
	waitReals(t, plane, "11/10 12/1")
	do(func() { d.FileChanged("load", 3) })
	waitReals(t, plane, "11/4 12/1")
	do(func() { d.FileChanged("stop", 1) })
	waitReals(t, plane, "11/4")
	do(func() { d.FileChanged("load", 100) }) // the weight stays at 0 or more
	waitReals(t, plane, "11/0")
	do(func() { d.FileChanged("stop", 0) })
	do(func() { d.FileChanged("load", 0) })
	waitReals(t, plane, "11/10 12/1")
}

// BFD_CHECK follows its session.
func TestBFDCheck(t *testing.T) {
	c := Checker{Kind: "BFD_CHECK", BFD: "peer"}
	d, plane, do := running(t, VirtualServer{Reals: []RealServer{realAt(11, 1, c), realAt(12, 1)}}, Options{})
	// Started with the session down (as BFD sessions start).
	waitReals(t, plane, "12/1")
	do(func() { d.BFDChanged("peer", true) })
	waitReals(t, plane, "11/1 12/1")
	do(func() { d.BFDChanged("peer", false) })
	waitReals(t, plane, "12/1")
}

// A BFD_CHECK whose bfd_instance is disabled never hears from it and
// keeps its starting state: up, or down with alpha.
func TestBFDCheckWithoutSession(t *testing.T) {
	up := Checker{Kind: "BFD_CHECK", BFD: "gone", NoSession: true}
	down := up
	down.Alpha = true
	_, plane, _ := running(t, VirtualServer{Reals: []RealServer{realAt(11, 1, up), realAt(12, 1, down)}}, Options{})
	waitReals(t, plane, "11/1")
}

// ha_suspend: no attempts while the virtual address is elsewhere.
func TestHASuspend(t *testing.T) {
	var here atomic.Bool
	a := &fakeProber{result: check.Result{OK: true}}
	vs := VirtualServer{Reals: []RealServer{realAt(11, 1, probed(a))}, Suspend: []netip.Addr{netip.MustParseAddr("198.18.0.1")}}
	running(t, vs, Options{Local: func(netip.Addr) bool { return here.Load() }})
	time.Sleep(100 * time.Millisecond)
	if n := a.attempts.Load(); n != 0 {
		t.Fatalf("%d attempts while the address is not here", n)
	}
	here.Store(true)
	for deadline := time.Now().Add(5 * time.Second); a.attempts.Load() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no attempt once the address is here")
		}
	}
}

// A dataplane that cannot be programmed stops vipd at start.
func TestStartFailsWithDataplane(t *testing.T) {
	plane := &fakePlane{fail: errors.New("no nftables")}
	d := New([]VirtualServer{{Name: "vs", Reals: []RealServer{realAt(11, 1)}}}, Options{Dataplane: plane, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := d.Start(nil, nil); err == nil || !strings.Contains(err.Error(), "no nftables") {
		t.Fatalf("Start: %v", err)
	}
	d.Stop()
	if !plane.closed {
		t.Error("dataplane not closed")
	}
}

// The notify FIFO gets keepalived's lines: RS for a real server's
// change, VS for the quorum's; with rs_init_notifies, the real servers up
// at start say so too.
func TestFIFOLines(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	got := func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(lines, "|")
	}
	fifo := func(l string) { mu.Lock(); lines = append(lines, l); mu.Unlock() }
	for _, init := range []bool{false, true} {
		mu.Lock()
		lines = nil
		mu.Unlock()
		a := &fakeProber{result: check.Result{OK: true}}
		vs := VirtualServer{Reals: []RealServer{realAt(11, 1, probed(a))}, Quorum: 1}
		_, plane, _ := running(t, vs, Options{FIFO: fifo, InitNotifies: init})
		waitReals(t, plane, "11/1")
		start := ""
		if init {
			start = "RS [198.18.0.11]:tcp:80 [198.18.0.1]:tcp:80 UP|"
		}
		if g := got(); g != strings.TrimSuffix(start, "|") {
			t.Errorf("rs_init_notifies %v: at start %q, want %q", init, g, start)
		}
		a.set(check.Result{Reason: "refused"})
		waitReals(t, plane, "")
		want := start + "RS [198.18.0.11]:tcp:80 [198.18.0.1]:tcp:80 DOWN|VS [198.18.0.1]:tcp:80 DOWN"
		for deadline := time.Now().Add(5 * time.Second); got() != want && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		if g := got(); g != want {
			t.Errorf("rs_init_notifies %v: %q, want %q", init, g, want)
		}
	}
}
