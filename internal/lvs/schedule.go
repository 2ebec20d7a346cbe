package lvs

import "time"

// Timing is when a checker runs: keepalived's delay_loop, retry,
// delay_before_retry and warmup.
type Timing struct {
	// DelayLoop is the time between checks.
	DelayLoop time.Duration
	// Retry is how many more failures in a row, DelayBeforeRetry apart,
	// a passing checker tolerates before it fails.
	Retry            int
	DelayBeforeRetry time.Duration
	// Warmup bounds the random delay before the first check, so that
	// many checkers do not start at once.
	Warmup time.Duration
}

// Schedule is one checker's state between attempts: whether it passes,
// and how many retries it has left. It does no I/O.
type Schedule struct {
	timing Timing
	up     bool
	left   int
}

// NewSchedule starts a checker passing, or failing with alpha.
func NewSchedule(t Timing, alpha bool) *Schedule {
	return &Schedule{timing: t, up: !alpha, left: t.Retry}
}

// Up reports whether the checker passes.
func (s *Schedule) Up() bool { return s.up }

// First is the delay before the first attempt: random (r in [0,1)) up to
// warmup.
func (s *Schedule) First(r float64) time.Duration {
	return time.Duration(r * float64(s.timing.Warmup))
}

// Attempted records an attempt's outcome; it returns whether the
// checker's state changed and when to try next. A failure of a passing
// checker is retried before it counts; a local error (the host could
// not make the attempt) counts for nothing and waits a delay loop.
func (s *Schedule) Attempted(ok, localError bool) (changed bool, next time.Duration) {
	switch {
	case localError:
		return false, s.timing.DelayLoop
	case ok:
		changed = !s.up
		s.up, s.left = true, s.timing.Retry
		return changed, s.timing.DelayLoop
	case s.up && s.left > 0:
		s.left--
		return false, s.timing.DelayBeforeRetry
	}
	changed = s.up
	s.up, s.left = false, s.timing.Retry
	return changed, s.timing.DelayLoop
}
