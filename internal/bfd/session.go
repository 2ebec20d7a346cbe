package bfd

import (
	"time"
)

// Config is one session's parameters (a bfd_instance).
type Config struct {
	Name                 string
	MinRx, MinTx, IdleTx time.Duration
	Multiplier           uint8
	Passive              bool
}

// Session is one BFD session's state machine, on a clock it is given: it
// is told what was received and when, and says what to send and when.
type Session struct {
	cfg   Config
	state State
	diag  uint8

	localDisc, remoteDisc uint32
	// What the neighbour last said: its detect multiplier, and the
	// intervals it wants (microseconds).
	remoteMult       uint8
	remoteMinRx      uint32
	remoteMinTx      uint32
	heard            bool // anything received since the session went down
	poll, final      bool // a poll sequence is on; the next packet answers one
	nextTx, detectAt time.Duration
	txNow            bool // send at once (a Final, or a state change)
	rand             func() float64
}

// NewSession starts a session in Down with the local discriminator given
// (non-zero, unique among the sessions); rand gives jitter in [0, 1).
func NewSession(cfg Config, disc uint32, rand func() float64) *Session {
	return &Session{cfg: cfg, state: Down, localDisc: disc, remoteMinRx: 1, rand: rand}
}

// State is the session's state.
func (s *Session) State() State { return s.state }

// Disc is the local discriminator.
func (s *Session) Disc() uint32 { return s.localDisc }

func us(d time.Duration) uint32 { return uint32(d / time.Microsecond) }

// desiredTx is the interval this end wants to send at: min_tx while up,
// else idle_tx (RFC 5880 §6.8.3: at least one second when not up).
func (s *Session) desiredTx() time.Duration {
	if s.state == Up {
		return s.cfg.MinTx
	}
	return max(s.cfg.IdleTx, time.Second)
}

// txInterval is the time between two packets: the slower of what this
// end wants and what the neighbour can take, less 0-25% jitter (RFC 5880
// §6.8.7; 10-25% with a detect multiplier of 1).
func (s *Session) txInterval() time.Duration {
	iv := max(s.desiredTx(), time.Duration(s.remoteMinRx)*time.Microsecond)
	lo := 0.75
	hi := 1.0
	if s.cfg.Multiplier == 1 {
		hi = 0.9
	}
	return time.Duration(float64(iv) * (lo + (hi-lo)*s.rand()))
}

// detectTime is how long the session waits for a packet before it goes
// down: the neighbour's multiplier times the slower of its desired TX
// and this end's required RX.
func (s *Session) detectTime() time.Duration {
	return time.Duration(s.remoteMult) * max(s.cfg.MinRx, time.Duration(s.remoteMinTx)*time.Microsecond)
}

// Receive runs a received packet through the state machine (RFC 5880
// §6.8.6); it reports whether the state changed. A packet for another
// session (your discriminator) must not reach it.
func (s *Session) Receive(now time.Duration, p *Packet) bool {
	was := s.state
	s.remoteDisc, s.remoteMult = p.MyDisc, p.DetectMult
	s.remoteMinRx, s.remoteMinTx = p.RequiredMinRx, p.DesiredMinTx
	s.heard = true
	if p.Final {
		s.poll = false
	}
	if s.state == AdminDown {
		return false
	}
	switch {
	case p.State == AdminDown:
		if s.state != Down {
			s.down(DiagNeighborDown)
		}
	case s.state == Down && p.State == Down:
		s.state = Init
	case s.state == Down && p.State == Init, s.state == Init && (p.State == Init || p.State == Up):
		s.state, s.diag = Up, DiagNone
	case s.state == Up && p.State == Down:
		s.down(DiagNeighborDown)
	}
	if p.Poll {
		s.final, s.txNow = true, true
	}
	if s.state != was {
		s.txNow = true
		if s.state == Up || was == Up {
			// The interval this end wants changes (idle_tx and min_tx):
			// a poll sequence makes the neighbour take it now.
			s.poll = true
		}
	}
	if s.state == Init || s.state == Up {
		s.detectAt = now + s.detectTime()
	}
	return s.state != was
}

func (s *Session) down(diag uint8) {
	s.state, s.diag = Down, diag
	s.remoteDisc, s.heard = 0, false
	s.remoteMinRx = 1
}

// Tick fires what is due at now: the detection timeout (the session goes
// down, reported by changed) and the packet to send, if one is due.
func (s *Session) Tick(now time.Duration) (send *Packet, changed bool) {
	if (s.state == Init || s.state == Up) && now >= s.detectAt {
		s.down(DiagDetectExpired)
		s.txNow, changed = true, true
	}
	// Passive: nothing until the neighbour has spoken. A neighbour that
	// asks for no packets (required min RX 0) gets none but answers.
	mayTx := (!s.cfg.Passive || s.heard) && (s.remoteMinRx != 0 || s.final)
	if mayTx && (s.txNow || now >= s.nextTx) {
		p := s.packet()
		s.txNow, s.final = false, false
		s.nextTx = now + s.txInterval()
		return &p, changed
	}
	return nil, changed
}

// NextDeadline is when Tick has something to do next.
func (s *Session) NextDeadline() time.Duration {
	next := s.nextTx
	if s.txNow {
		next = 0
	}
	if (s.state == Init || s.state == Up) && s.detectAt < next {
		next = s.detectAt
	}
	return next
}

func (s *Session) packet() Packet {
	return Packet{
		Diag: s.diag, State: s.state, Poll: s.poll && !s.final, Final: s.final,
		DetectMult: s.cfg.Multiplier, MyDisc: s.localDisc, YourDisc: s.remoteDisc,
		DesiredMinTx: us(s.desiredTx()), RequiredMinRx: us(s.cfg.MinRx),
	}
}

// AdminDown takes the session administratively down (vipd stopping):
// the packet to send tells the neighbour at once, rather than after its
// detection time.
func (s *Session) AdminDown() Packet {
	s.state, s.diag = AdminDown, DiagAdminDown
	return s.packet()
}
