package bfd

import (
	"testing"
	"time"
)

func TestPacketRoundTrip(t *testing.T) {
	p := Packet{Diag: DiagNeighborDown, State: Up, Poll: true, DetectMult: 5, MyDisc: 7, YourDisc: 9, DesiredMinTx: 10000, RequiredMinRx: 20000}
	b, _ := p.MarshalBinary()
	var q Packet
	if err := q.UnmarshalBinary(b); err != nil || q != p {
		t.Fatalf("%v %+v", err, q)
	}
	for _, c := range []struct {
		name string
		mod  func([]byte)
		want error
	}{
		{"version", func(b []byte) { b[0] = 2<<5 | b[0]&0x1f }, ErrVersion},
		{"length", func(b []byte) { b[3] = 30 }, ErrLength},
		{"mult", func(b []byte) { b[2] = 0 }, ErrDetectMult},
		{"multipoint", func(b []byte) { b[1] |= flagM }, ErrMultipoint},
		{"my disc", func(b []byte) { b[4], b[5], b[6], b[7] = 0, 0, 0, 0 }, ErrMyDisc},
		{"your disc", func(b []byte) { b[8], b[9], b[10], b[11] = 0, 0, 0, 0 }, ErrYourDisc},
		{"auth", func(b []byte) { b[1] |= flagA }, ErrAuth},
		{"poll and final", func(b []byte) { b[1] |= flagFinal }, ErrPollFinal},
	} {
		bb := append([]byte(nil), b...)
		c.mod(bb)
		if err := q.UnmarshalBinary(bb); err != c.want {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if err := q.UnmarshalBinary(b[:20]); err != ErrShort {
		t.Errorf("short: %v", err)
	}
}

// Two sessions on one clock, each packet delivered at once: they come up
// through Init, then one falls silent and the other goes down after its
// detection time; spoken to again, both come back up.
func TestSessionsComeUpAndDetect(t *testing.T) {
	cfg := Config{MinRx: 100 * time.Millisecond, MinTx: 100 * time.Millisecond, IdleTx: time.Second, Multiplier: 3}
	half := func() float64 { return 0.5 }
	a, b := NewSession(cfg, 11, half), NewSession(cfg, 22, half)
	var now time.Duration
	silent := false
	step := func() {
		next := min(a.NextDeadline(), b.NextDeadline())
		now = max(now, next)
		if p, _ := a.Tick(now); p != nil && !silent {
			b.Receive(now, p)
		}
		if p, _ := b.Tick(now); p != nil {
			a.Receive(now, p)
		}
	}
	for i := 0; i < 50 && (a.State() != Up || b.State() != Up); i++ {
		step()
	}
	if a.State() != Up || b.State() != Up {
		t.Fatalf("states %v %v after %v", a.State(), b.State(), now)
	}
	t.Logf("up after %v", now)
	upAt := now
	for now < upAt+2*time.Second {
		step()
	}
	if a.State() != Up || b.State() != Up {
		t.Fatalf("not kept up: %v %v", a.State(), b.State())
	}
	silent = true
	silentAt := now
	for i := 0; i < 200 && b.State() == Up; i++ {
		step()
	}
	if b.State() != Down || b.diag != DiagDetectExpired {
		t.Fatalf("b did not detect a's silence: %v diag %d", b.State(), b.diag)
	}
	if took := now - silentAt; took < 200*time.Millisecond || took > 400*time.Millisecond {
		t.Errorf("detected after %v, want about 3 x 100ms", took)
	}
	silent = false
	for i := 0; i < 100 && (a.State() != Up || b.State() != Up); i++ {
		step()
	}
	if a.State() != Up || b.State() != Up {
		t.Fatalf("not back up: %v %v", a.State(), b.State())
	}
	// AdminDown from one takes the other down at once, as signalled.
	p := a.AdminDown()
	b.Receive(now, &p)
	if b.State() != Down || b.diag != DiagNeighborDown {
		t.Errorf("after the neighbour's AdminDown: %v diag %d", b.State(), b.diag)
	}
}

// A passive session sends nothing until spoken to.
func TestPassive(t *testing.T) {
	s := NewSession(Config{MinRx: time.Second, MinTx: time.Second, IdleTx: time.Second, Multiplier: 3, Passive: true}, 5, func() float64 { return 0 })
	if p, _ := s.Tick(10 * time.Second); p != nil {
		t.Fatalf("passive session sent %v", p)
	}
	s.Receive(10*time.Second, &Packet{State: Down, DetectMult: 3, MyDisc: 9, DesiredMinTx: 1e6, RequiredMinRx: 1e6})
	if p, _ := s.Tick(10 * time.Second); p == nil || p.State != Init || p.YourDisc != 9 {
		t.Fatalf("after a packet: %v", p)
	}
}
