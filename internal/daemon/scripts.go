package daemon

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"syscall"

	"github.com/vipd/vipd/internal/config"
	"github.com/vipd/vipd/internal/notify"
	"github.com/vipd/vipd/internal/script"
	"github.com/vipd/vipd/internal/track"
	"github.com/vipd/vipd/internal/vrrp"
)

// scripts resolves who runs each configured script, once, at start: a
// user missing from the host stops vipd there rather than leaving an
// instance without the check or notify its configuration asks for.
type scripts struct {
	global config.Global
	// def is the credential for scripts that name no user; resolved on
	// first use, since a configuration without scripts needs none.
	def     *syscall.Credential
	defErr  error
	defDone bool
}

func (s *scripts) cmd(c *config.Command) (script.Cmd, error) {
	if c.User != "" {
		cred, err := script.Lookup(c.User, c.Group)
		if err != nil {
			return script.Cmd{}, fmt.Errorf("%s: %w", c.Pos, err)
		}
		return script.Cmd{Argv: c.Argv, Cred: cred}, nil
	}
	if !s.defDone {
		s.def, s.defErr = script.Default(s.global.ScriptUser, s.global.ScriptGroup, s.global.ScriptSecurity)
		s.defDone = true
	}
	if s.defErr != nil {
		return script.Cmd{}, fmt.Errorf("%s: %w", c.Pos, s.defErr)
	}
	return script.Cmd{Argv: c.Argv, Cred: s.def}, nil
}

// notifiers are an instance's or group's notify scripts, ready to run.
type notifiers struct {
	byState         map[vrrp.State]script.Cmd
	generic         *script.Cmd
	rxLowerPriority *script.Cmd
}

func (s *scripts) notifiers(n *config.Notify) (notifiers, error) {
	out := notifiers{byState: map[vrrp.State]script.Cmd{}}
	for state, c := range map[vrrp.State]*config.Command{vrrp.Master: n.Master, vrrp.Backup: n.Backup, vrrp.Fault: n.Fault, vrrp.Stop: n.Stop} {
		if c == nil {
			continue
		}
		cmd, err := s.cmd(c)
		if err != nil {
			return out, err
		}
		out.byState[state] = cmd
	}
	for _, p := range []struct {
		c   *config.Command
		dst **script.Cmd
	}{{n.Generic, &out.generic}, {n.MasterRxLowerPri, &out.rxLowerPriority}} {
		if p.c == nil {
			continue
		}
		cmd, err := s.cmd(p.c)
		if err != nil {
			return out, err
		}
		*p.dst = &cmd
	}
	return out, nil
}

// jobs are what a change to state runs: the state's own script, then the
// generic notify with "KIND NAME STATE PRIORITY" appended, as keepalived
// orders and words them.
func (n *notifiers) jobs(kind, name string, state vrrp.State, priority int) []notify.Job {
	var jobs []notify.Job
	if c, ok := n.byState[state]; ok {
		jobs = append(jobs, notify.Job{Cmd: c})
	}
	if n.generic != nil {
		jobs = append(jobs, notify.Job{Cmd: *n.generic, Extra: []string{kind, name, state.String(), strconv.Itoa(priority)}})
	}
	return jobs
}

// checks are the vrrp_scripts some instance tracks, ready to run;
// keepalived runs no other.
func (s *scripts) checks(cfg *config.Config) ([]track.Check, error) {
	var out []track.Check
	for _, sc := range cfg.Scripts {
		if !slices.ContainsFunc(cfg.Instances, func(in *config.Instance) bool {
			return slices.ContainsFunc(in.TrackScripts, func(t config.Tracked) bool { return t.Name == sc.Name })
		}) {
			continue
		}
		cmd, err := s.cmd(&sc.Command)
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
