package track

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/vipd/vipd/internal/script"
)

// Check is a vrrp_script as the checker runs it.
type Check struct {
	Name              string
	Cmd               script.Cmd
	Interval, Timeout time.Duration
	Rise, Fall        int
	InitFail          bool
	// Resumed is the verdict the check had before a configuration
	// reload (Pending: none); it starts from it, so that a reload
	// moves nothing that tracks it.
	Resumed Verdict
}

// Result is a change of a check's verdict, for the event loop.
type Result struct {
	Name    string
	Verdict Verdict
}

// killGrace is how long a timed-out script has between SIGTERM and
// SIGKILL.
const killGrace = 2 * time.Second

// Run runs the check every Interval until ctx ends, sending each change
// of its verdict to out (never the initial verdict, which NewHealth
// gives). A run that outlasts Timeout is killed and counts as a failure;
// starts that fall while a run is still going are skipped, with a log.
func (c Check) Run(ctx context.Context, out chan<- Result, log *slog.Logger) {
	h := NewHealth(c.Rise, c.Fall, c.InitFail)
	h.Resume(c.Resumed)
	next := time.Now()
	lastStatus := 0
	for {
		if !sleepUntil(ctx, next) {
			return
		}
		started := time.Now()
		ok, status, why := c.runOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if status >= 0 && status != lastStatus {
			log.Info(fmt.Sprintf("Script `%s` now returning %d", c.Name, status))
			lastStatus = status
		}
		if h.Observe(ok) {
			if h.Verdict() == Good {
				log.Info(fmt.Sprintf("VRRP_Script(%s) succeeded", c.Name))
			} else {
				log.Info(fmt.Sprintf("VRRP_Script(%s) %s", c.Name, why))
			}
			select {
			case out <- Result{Name: c.Name, Verdict: h.Verdict()}:
			case <-ctx.Done():
				return
			}
		}
		next = started.Add(c.Interval)
		if now := time.Now(); !next.After(now) {
			// The run took an interval or more: the starts that fell
			// during it are skipped, as keepalived skips them.
			skipped := now.Sub(started) / c.Interval
			next = started.Add((skipped + 1) * c.Interval)
			log.Warn(fmt.Sprintf("Track script %s is already running, expect idle - skipping run", c.Name),
				"runs_skipped", int64(skipped), "took", now.Sub(started).Round(time.Millisecond).String(), "interval", c.Interval.String())
		}
	}
}

// runOnce runs the script and says whether it succeeded, its exit
// status (-1 if it did not exit), and if it failed how, in keepalived's
// words ("failed (exited with status 1)", "timed_out").
func (c Check) runOnce(ctx context.Context) (ok bool, status int, why string) {
	r, err := script.Start(c.Cmd)
	if err != nil {
		// keepalived counts a script it cannot exec as a success; a
		// check that cannot run says nothing is healthy.
		return false, -1, "failed (cannot run it: " + err.Error() + ")"
	}
	stop := context.AfterFunc(ctx, func() { r.KillAfter(0, killGrace) })
	defer stop()
	if r.KillAfter(c.Timeout, killGrace) {
		return false, -1, "timed_out"
	}
	status = script.ExitStatus(r.Err())
	if status != 0 {
		return false, status, "failed (" + script.Describe(r.Err()) + ")"
	}
	return true, 0, ""
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
