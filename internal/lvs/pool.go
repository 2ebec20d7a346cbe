package lvs

import "fmt"

// Pool is one virtual server's real servers and what their checkers last
// said, and decides what the kernel should balance to: keepalived's
// rules for alive real servers, inhibit_on_failure, quorum with
// hysteresis, and the sorry server. It does no I/O: checker results go
// in, events and the real servers to program come out.
type Pool struct {
	name       string
	quorum     int
	hysteresis int
	reals      []*realState
	sorry      *PoolReal
	quorumUp   bool
	started    bool
}

// PoolReal is a real server as the pool starts it.
type PoolReal struct {
	Real
	// Inhibit keeps the real server with weight 0 while it is down
	// instead of removing it (inhibit_on_failure).
	Inhibit bool
	// Checkers holds each checker's starting verdict: true passes,
	// false (alpha) waits for the checker's first success.
	Checkers []bool
}

type realState struct {
	PoolReal
	up     []bool
	weight int // the configured weight, or the last dynamic one
}

// EventKind says what changed in a pool.
type EventKind uint8

// What a pool reports.
const (
	RealUp     EventKind = iota // every checker of a real server passes again
	RealDown                    // a checker of a real server failed
	QuorumUp                    // the alive weight reached the quorum
	QuorumDown                  // the alive weight fell below the quorum
)

func (k EventKind) String() string {
	switch k {
	case RealUp:
		return "up"
	case RealDown:
		return "down"
	case QuorumUp:
		return "quorum up"
	case QuorumDown:
		return "quorum down"
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event is a change the daemon acts on (notify_up/down, quorum_up/down,
// mail, logs). Real is the real server's index for RealUp and RealDown.
type Event struct {
	Kind EventKind
	Real int
	// Weight is the alive weight after the change.
	Weight int
}

// NewPool makes a pool; sorry may be nil (its Checkers are not used: a
// sorry server is not checked; Inhibit keeps it at weight 0 while the
// quorum holds, as sorry_server_inhibit asks).
func NewPool(name string, reals []PoolReal, sorry *PoolReal, quorum, hysteresis int) *Pool {
	p := &Pool{name: name, quorum: quorum, hysteresis: hysteresis, sorry: sorry}
	for _, r := range reals {
		s := &realState{PoolReal: r, up: append([]bool(nil), r.Checkers...), weight: r.Weight}
		p.reals = append(p.reals, s)
	}
	return p
}

// Start settles the quorum from the checkers' starting states; it
// returns QuorumDown if the pool starts without quorum (the sorry server
// takes over then), as keepalived reports it.
func (p *Pool) Start() []Event {
	p.started = true
	w := p.aliveWeight()
	p.quorumUp = w >= p.quorum+p.hysteresis
	if !p.quorumUp {
		return []Event{{Kind: QuorumDown, Weight: w}}
	}
	return nil
}

// Alive reports whether real server i takes traffic on its checkers'
// word: all of them pass.
func (p *Pool) Alive(i int) bool {
	for _, up := range p.reals[i].up {
		if !up {
			return false
		}
	}
	return true
}

func (p *Pool) aliveWeight() int {
	sum := 0
	for i, r := range p.reals {
		if p.Alive(i) {
			sum += r.weight
		}
	}
	return sum
}

// QuorumUp reports whether the pool has its quorum.
func (p *Pool) QuorumUp() bool { return p.quorumUp }

// Check records checker c of real server i passing or failing; weight,
// if not nil, is the real server's new weight (MISC_CHECK misc_dynamic).
func (p *Pool) Check(i, c int, up bool, weight *int) []Event {
	r := p.reals[i]
	was := p.Alive(i)
	oldWeight := r.weight
	r.up[c] = up
	if weight != nil {
		r.weight = *weight
	}
	is := p.Alive(i)
	var evs []Event
	switch {
	case !was && is:
		evs = append(evs, Event{Kind: RealUp, Real: i})
	case was && !is:
		evs = append(evs, Event{Kind: RealDown, Real: i})
	case was == is && oldWeight == r.weight:
		return nil
	}
	w := p.aliveWeight()
	for k := range evs {
		evs[k].Weight = w
	}
	if !p.started {
		return evs
	}
	threshold := p.quorum + p.hysteresis
	if p.quorumUp {
		threshold = p.quorum - p.hysteresis
	}
	switch {
	case !p.quorumUp && w >= threshold:
		p.quorumUp = true
		evs = append(evs, Event{Kind: QuorumUp, Weight: w})
	case p.quorumUp && (w == 0 || w < threshold):
		p.quorumUp = false
		evs = append(evs, Event{Kind: QuorumDown, Weight: w})
	}
	return evs
}

// Reals are the real servers the kernel should balance to now: the
// alive ones with their weights, failed inhibit_on_failure ones with
// weight 0; while the quorum is lost and there is a sorry server, the
// sorry server alone.
func (p *Pool) Reals() []Real {
	if !p.quorumUp && p.started && p.sorry != nil {
		return []Real{p.sorry.Real}
	}
	var out []Real
	for i, r := range p.reals {
		rs := r.Real
		rs.Weight = r.weight
		switch {
		case p.Alive(i):
		case r.Inhibit:
			rs.Weight = 0
		default:
			continue
		}
		out = append(out, rs)
	}
	if p.sorry != nil && p.sorry.Inhibit {
		s := p.sorry.Real
		s.Weight = 0
		out = append(out, s)
	}
	return out
}
