package vrrplab

import (
	"strings"
	"sync"
	"time"
)

// Change is the set of holders from At on.
type Change struct {
	At      time.Time
	Holders []string
}

// Watch records who holds the virtual address over time.
type Watch struct {
	mu      sync.Mutex
	changes []Change
	stop    chan struct{}
	done    chan struct{}
}

// Watch polls the holders every interval until Stop.
func (l *Lab) Watch(every time.Duration) *Watch {
	w := &Watch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		last := "-"
		for {
			h := l.Holders()
			if key := strings.Join(h, ","); key != last {
				last = key
				w.mu.Lock()
				w.changes = append(w.changes, Change{At: time.Now(), Holders: h})
				w.mu.Unlock()
			}
			select {
			case <-w.stop:
				return
			case <-time.After(every):
			}
		}
	}()
	return w
}

// Stop ends the watch.
func (w *Watch) Stop() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
		<-w.done
	}
}

// Changes are the recorded changes so far.
func (w *Watch) Changes() []Change {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Change(nil), w.changes...)
}

// Overlap is how long, between from and to, two or more routers held the
// address together.
func (w *Watch) Overlap(from, to time.Time) time.Duration {
	cs := w.Changes()
	var total time.Duration
	for i, c := range cs {
		end := to
		if i+1 < len(cs) {
			end = cs[i+1].At
		}
		start := c.At
		if start.Before(from) {
			start = from
		}
		if end.After(to) {
			end = to
		}
		if len(c.Holders) > 1 && end.After(start) {
			total += end.Sub(start)
		}
	}
	return total
}
