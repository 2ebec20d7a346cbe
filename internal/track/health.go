// Package track watches what instances track besides interfaces:
// vrrp_script checks run on their interval, their results turned into a
// verdict with rise and fall, each change reported to the event loop.
package track

// Verdict is what a check's results add up to.
type Verdict uint8

// Verdicts. Pending is a check that has not finished its first run.
const (
	Pending Verdict = iota
	Good
	Failed
)

func (v Verdict) String() string {
	switch v {
	case Good:
		return "good"
	case Failed:
		return "failed"
	}
	return "pending"
}

// Health turns a check's results into a verdict with hysteresis, as
// keepalived counts them: a failed check turns good after Rise successes
// in a row, a good one fails after Fall failures in a row, and a pending
// one takes its first result's verdict at once.
type Health struct {
	rise, fall int
	// count runs from 0 (failed for good) to rise+fall-1 (good for
	// good); the verdict is good from rise up.
	count   int
	pending bool
}

// NewHealth starts pending, or failed with initFail (the check counts
// as failed until rise successes). Rise and fall below 1 count as 1.
func NewHealth(rise, fall int, initFail bool) *Health {
	h := &Health{rise: max(rise, 1), fall: max(fall, 1), pending: !initFail}
	if h.pending {
		h.count = h.rise - 1 // one result either way decides
	}
	return h
}

// Resume sets a verdict reached before (Pending changes nothing): a
// good check then fails after fall failures, a failed one recovers
// after rise successes.
func (h *Health) Resume(v Verdict) {
	switch v {
	case Good:
		h.count, h.pending = h.rise+h.fall-1, false
	case Failed:
		h.count, h.pending = 0, false
	}
}

// Verdict is the current verdict.
func (h *Health) Verdict() Verdict {
	switch {
	case h.pending:
		return Pending
	case h.count >= h.rise:
		return Good
	}
	return Failed
}

// Observe takes one result and reports whether the verdict changed.
func (h *Health) Observe(ok bool) (changed bool) {
	was := h.Verdict()
	switch {
	case ok && h.count < h.rise-1:
		h.count++
	case ok:
		h.count = h.rise + h.fall - 1
	case h.count > h.rise:
		h.count--
	default:
		h.count = 0 // failed: rise successes to come back
	}
	h.pending = false
	return h.Verdict() != was
}
