package daemon

import (
	"context"
	"fmt"
	"strconv"

	"github.com/vipd/vipd/internal/config"
	"github.com/vipd/vipd/internal/notify"
	"github.com/vipd/vipd/internal/script"
	"github.com/vipd/vipd/internal/track"
	"github.com/vipd/vipd/internal/vrrp"
)

// command resolves who runs a configured script, at start: a user
// missing from the host stops vipd there rather than leaving an instance
// without the check or notify its configuration asks for.
func command(c *config.Command, g *config.Global) (script.Cmd, error) {
	cred, err := script.For(c.User, c.Group, g.ScriptUser, g.ScriptGroup, g.ScriptSecurity)
	if err != nil {
		return script.Cmd{}, fmt.Errorf("%s: %w", c.Pos, err)
	}
	return script.Cmd{Argv: c.Argv, Cred: cred}, nil
}

// notifiers are an instance's or group's notify scripts, ready to run.
type notifiers struct {
	cfg  *config.Notify
	cmds map[*config.Command]script.Cmd
}

func newNotifiers(n *config.Notify, g *config.Global) (notifiers, error) {
	out := notifiers{cfg: n, cmds: map[*config.Command]script.Cmd{}}
	for _, c := range n.Commands() {
		cmd, err := command(c, g)
		if err != nil {
			return out, err
		}
		out.cmds[c] = cmd
	}
	return out, nil
}

// jobs are what a change to state runs: the state's own script, then the
// generic notify with "KIND NAME STATE PRIORITY" appended, as keepalived
// orders and words them.
func (n *notifiers) jobs(kind, name string, state vrrp.State, priority int) []notify.Job {
	return n.jobsFor(n.cfg.ForState(state), kind, name, state.String(), priority)
}

// jobsFor runs own (if set), then the generic notify saying event.
func (n *notifiers) jobsFor(own *config.Command, kind, name, event string, priority int) []notify.Job {
	var jobs []notify.Job
	if own != nil {
		jobs = append(jobs, notify.Job{Cmd: n.cmds[own]})
	}
	if c := n.cfg.Generic; c != nil {
		jobs = append(jobs, notify.Job{Cmd: n.cmds[c], Extra: []string{kind, name, event, strconv.Itoa(priority)}})
	}
	return jobs
}

// checks are the vrrp_scripts some instance tracks, ready to run.
func checks(cfg *config.Config) ([]track.Check, error) {
	var out []track.Check
	for _, sc := range cfg.TrackedScripts() {
		cmd, err := command(&sc.Command, &cfg.Global)
		if err != nil {
			return nil, fmt.Errorf("vrrp_script %s: %w", sc.Name, err)
		}
		out = append(out, track.Check{Name: sc.Name, Cmd: cmd, Interval: sc.Interval, Timeout: sc.Timeout,
			Rise: sc.Rise, Fall: sc.Fall, InitFail: sc.InitFail})
	}
	return out, nil
}

// startChecks runs every check until ctx ends; their verdicts arrive on
// the returned channel.
func (d *Daemon) startChecks(ctx context.Context) <-chan track.Result {
	out := make(chan track.Result, len(d.checks)+1)
	for _, c := range d.checks {
		go c.Run(ctx, out, d.log)
	}
	return out
}

// scriptChanged follows a check's verdict into every instance tracking
// the script.
func (d *Daemon) scriptChanged(r track.Result) {
	for _, in := range d.instances {
		changed := false
		for i, t := range in.cfg.TrackScripts {
			if t.Name == r.Name && in.track.verdicts[i] != r.Verdict {
				in.track.verdicts[i], changed = r.Verdict, true
			}
		}
		if changed {
			d.applyTracking(in)
		}
	}
}
