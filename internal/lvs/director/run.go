package director

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/vipd/vipd/internal/lvs"
)

// run is one checker's goroutine: it waits out the warmup, then probes
// on the checker's schedule until ctx ends, and tells the loop when the
// checker changes its mind (or misc_dynamic its weight).
func (d *Director) run(ctx context.Context, vi, ri, ci int, c *Checker) {
	vs := d.vss[vi]
	r := vs.reals[ri]
	log := d.opt.Log
	s := lvs.NewSchedule(c.Timing, c.Alpha)
	what := fmt.Sprintf("%s on service %s of VS %s", c.Kind, r.Name, vs.Name)
	dynamic := -1 // the weight misc_dynamic last set; -1: the configured
	retries := 0  // failed attempts in a row while passing
	t := time.NewTimer(s.First(rand.Float64()))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if d.suspended(vs) {
			t.Reset(c.Timing.DelayLoop)
			continue
		}
		actx, cancel := ctx, context.CancelFunc(func() {})
		if c.Limit > 0 {
			actx, cancel = context.WithTimeout(ctx, c.Limit)
		}
		res := c.Prober.Probe(actx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		wasUp := s.Up()
		changed, next := s.Attempted(res.OK, res.LocalError)
		t.Reset(next)
		v := Verdict{vs: vi, real: ri, checker: ci, up: s.Up()}
		switch {
		case res.LocalError:
			log.Warn(fmt.Sprintf("%s could not be made: %s - rescheduling", what, res.Reason))
			continue
		case res.OK:
			retries = 0
			if changed {
				log.Info(fmt.Sprintf("%s succeeded", what))
			}
			if c.Dynamic {
				w := -1
				if res.HasWeight {
					w = res.Weight
				}
				if w != dynamic {
					dynamic, v.weight, v.hasWeight = w, w, true
				}
			}
		case changed:
			after := ""
			if retries > 0 {
				after = fmt.Sprintf(" after %d retries", retries)
			}
			log.Info(fmt.Sprintf("%s failed%s: %s", what, after, res.Reason))
			retries = 0
		case wasUp:
			retries++
			level := slog.LevelDebug
			if c.LogAllFailures {
				level = slog.LevelInfo
			}
			log.Log(ctx, level, fmt.Sprintf("%s failed: %s - retry %d of %d in %v", what, res.Reason, retries, c.Timing.Retry, next))
		case c.LogAllFailures:
			log.Info(fmt.Sprintf("%s failed: %s", what, res.Reason))
		}
		if !changed && !v.hasWeight {
			continue
		}
		if changed {
			v.mail = fmt.Sprintf("=> %s %s on service <=", checkName(c.Kind), map[bool]string{true: "succeed", false: "failed"}[v.up])
		}
		select {
		case d.verdicts <- v:
		case <-ctx.Done():
			return
		}
	}
}

// checkName is the checker as keepalived's mails name it: "TCP CHECK",
// "HTTP_GET CHECK" and so on.
func checkName(kind string) string {
	return strings.TrimSuffix(strings.TrimSuffix(kind, "_CHECK"), " CHECK") + " CHECK"
}

// suspended reports whether ha_suspend holds the virtual server's
// checkers: none of its addresses is on this host.
func (d *Director) suspended(vs *virtualServer) bool {
	if len(vs.Suspend) == 0 {
		return false
	}
	for _, a := range vs.Suspend {
		if d.opt.Local(a) {
			return false
		}
	}
	return true
}
