package daemon

import (
	"fmt"

	"github.com/vipd/vipd/internal/config"
	"github.com/vipd/vipd/internal/track"
)

// processSpecs are the vrrp_track_processes some instance tracks.
func processSpecs(cfg *config.Config) []track.ProcessSpec {
	var out []track.ProcessSpec
	for _, p := range cfg.TrackProcesses {
		tracked := false
		for _, in := range cfg.Instances {
			tracked = tracked || in.TracksProcess(p.Name)
		}
		if !tracked {
			continue
		}
		out = append(out, track.ProcessSpec{Name: p.Name, Process: p.Process, Params: p.Params, Match: track.ParamMatch(p.ParamMatch),
			FullCommand: p.FullCommand, Quorum: p.Quorum, QuorumMax: p.QuorumMax, ForkDelay: p.ForkDelay, TerminateDelay: p.TerminateDelay})
	}
	return out
}

// processChanged follows a tracked process's quorum into every instance
// tracking it.
func (d *Daemon) processChanged(c track.QuorumChange) {
	what := "lost"
	if c.Up {
		what = "gained"
	}
	d.log.Info(fmt.Sprintf("Quorum %s for tracked process %s", what, c.Name), "running", c.Count)
	d.procUp[c.Name] = c.Up
	for _, in := range d.instances {
		if in.cfg.TracksProcess(c.Name) {
			d.applyTracking(in)
		}
	}
}

// processEffect is what a tracked process's quorum does to an instance,
// as keepalived 2.2.7 reckons it: without a weight, FAULT while the
// quorum is lost (held, with reverse); with one, weight (negated by
// reverse) is added while the quorum is held for a positive weight, or
// lost for a negative one.
func processEffect(t config.Tracked, up bool) (fault bool, adjust int) {
	if t.Weight == 0 {
		return up == t.Reverse, 0
	}
	if (t.Weight > 0) != up {
		return false, 0
	}
	if t.Reverse {
		return false, -t.Weight
	}
	return false, t.Weight
}
