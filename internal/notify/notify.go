// Package notify runs notify scripts when an instance or sync group
// changes state. keepalived starts them all at once, so a notify_backup
// can overtake the notify_master before it (its issues #996, #1055,
// #2158); vipd runs each instance's or group's scripts one after another
// in the order the states came, so that the last script run is always
// for the state the instance is in. A script that has not finished after
// Patience no longer holds the ones after it.
package notify

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/vipd/vipd/internal/script"
)

// Patience is how long a notify script may run before the next one for
// the same instance or group starts anyway.
const Patience = 30 * time.Second

// Job is one script to run, with the arguments appended to its own.
type Job struct {
	Cmd   script.Cmd
	Extra []string
}

// Runner keeps one ordered queue per instance or group.
type Runner struct {
	log      *slog.Logger
	patience time.Duration
	mu       sync.Mutex
	queues   map[string]chan []Job
	wg       sync.WaitGroup
}

// NewRunner returns a runner that logs to log; patience 0 is Patience.
func NewRunner(log *slog.Logger, patience time.Duration) *Runner {
	if patience <= 0 {
		patience = Patience
	}
	return &Runner{log: log, patience: patience, queues: map[string]chan []Job{}}
}

// queueLen bounds the changes waiting per instance; past it the newest
// change waits for room, holding the event loop only behind scripts that
// each outlast Patience.
const queueLen = 64

// Post queues the jobs of one state change for who ("VI_1", "group G"),
// to run in order after the jobs posted for who before.
func (r *Runner) Post(who string, jobs ...Job) {
	if len(jobs) == 0 {
		return
	}
	r.mu.Lock()
	q, ok := r.queues[who]
	if !ok {
		q = make(chan []Job, queueLen)
		r.queues[who] = q
		r.wg.Add(1)
		go r.drain(who, q)
	}
	r.mu.Unlock()
	q <- jobs
}

// Close waits until every queued script has run, or exceeded patience,
// but no longer than wait: it reports false if it gave up. Scripts still
// running then are sent SIGTERM when vipd exits (keepalived gives its
// notify_stop scripts one second).
func (r *Runner) Close(wait time.Duration) bool {
	r.mu.Lock()
	for who, q := range r.queues {
		close(q)
		delete(r.queues, who)
	}
	r.mu.Unlock()
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		r.log.Warn(fmt.Sprintf("notify scripts still running after %v: not waiting for them", wait))
		return false
	}
}

func (r *Runner) drain(who string, q <-chan []Job) {
	defer r.wg.Done()
	for jobs := range q {
		for _, j := range jobs {
			r.run(who, j)
		}
	}
}

func (r *Runner) run(who string, j Job) {
	line := strings.Join(append(append([]string(nil), j.Cmd.Argv...), j.Extra...), " ")
	p, err := script.Start(j.Cmd, j.Extra...)
	if err != nil {
		r.log.Error(fmt.Sprintf("(%s) cannot run notify script %s", who, line), "err", err)
		return
	}
	t := time.NewTimer(r.patience)
	defer t.Stop()
	select {
	case <-p.Done():
		if err := p.Err(); err != nil {
			r.log.Warn(fmt.Sprintf("(%s) notify script %s %s", who, line, script.Describe(err)))
		}
	case <-t.C:
		r.log.Warn(fmt.Sprintf("(%s) notify script %s still running after %v: running the next notify without waiting for it", who, line, r.patience), "pid", p.Pid())
	}
}
