package config

import (
	"math"
	"slices"
	"strconv"
	"time"
)

// ParamMatch is how a tracked process's parameters are compared.
type ParamMatch int

const (
	ParamsAny     ParamMatch = iota // only the name counts
	ParamsExact                     // exactly the configured parameters
	ParamsPartial                   // the configured ones first, then any
	ParamsInitial                   // as partial, the last configured one a prefix
)

// TrackProcess is a vrrp_track_process block: a quorum of running
// processes that makes an instance tracking it up, as pgrep counts them
// with an exact name.
type TrackProcess struct {
	Pos  Pos
	Name string
	// Process is matched exactly against the process name (/proc/PID/comm),
	// or with FullCommand against the command's first word; Params, with
	// ParamMatch, against the rest of the command line.
	Process     string
	Params      []string
	ParamMatch  ParamMatch
	FullCommand bool
	Weight      int // -254..254, 0 unless given
	Reverse     bool
	// Quorum..QuorumMax running processes is up.
	Quorum, QuorumMax int
	// ForkDelay and TerminateDelay hold a gained or lost quorum this long
	// before it counts (fork_delay, terminate_delay, delay).
	ForkDelay, TerminateDelay time.Duration
}

// maxQuorum is keepalived's quorum_max without one: no upper bound.
const maxQuorum = math.MaxInt32

func (b *builder) trackProcess(blk *Node) {
	if len(blk.Args) != 1 || !blk.Block {
		b.errorf(blk.Pos, "vrrp_track_process takes a name and a block")
		return
	}
	p := &TrackProcess{Pos: blk.Pos, Name: blk.Args[0], Quorum: 1, QuorumMax: maxQuorum}
	weightSet := false
	for _, n := range blk.Children {
		switch n.Keyword {
		case "process":
			if len(n.Args) == 0 {
				b.errorf(n.Pos, "process takes a process name and, if they are to match, its parameters")
				continue
			}
			if p.Process != "" {
				b.errorf(n.Pos, "vrrp_track_process %s: process given twice", p.Name)
				continue
			}
			p.Process, p.Params = n.Args[0], n.Args[1:]
			if len(p.Params) > 0 {
				if p.ParamMatch == ParamsAny {
					p.ParamMatch = ParamsExact
				}
				p.FullCommand = true
			}
		case "param_match":
			if !b.args(n, 0, 1) {
				continue
			}
			m := map[string]ParamMatch{"": ParamsExact, "initial": ParamsInitial, "partial": ParamsPartial}
			arg := ""
			if len(n.Args) == 1 {
				arg = n.Args[0]
			}
			v, ok := m[arg]
			if !ok || arg == "" && len(n.Args) == 1 {
				b.errorf(n.Pos, "param_match %q: want initial or partial, or nothing for an exact match", arg)
				continue
			}
			p.ParamMatch, p.FullCommand = v, true
		case "weight":
			if weightSet {
				b.errorf(n.Pos, "vrrp_track_process %s: weight given twice", p.Name)
				continue
			}
			if len(n.Args) == 2 && n.Args[1] == "noreverse" {
				b.errorf(n.Pos, "vrrp_track_process %s: weight takes reverse, not noreverse", p.Name)
				continue
			}
			if w, rev, ok := b.weight(n, 254); ok {
				p.Weight, p.Reverse, weightSet = w, rev, true
			}
		case "quorum":
			if v, ok := b.int(n, 1, 65535); ok {
				if v > p.QuorumMax {
					b.errorf(n.Pos, "vrrp_track_process %s: quorum %d is more than quorum_max %d", p.Name, v, p.QuorumMax)
					continue
				}
				p.Quorum = v
			}
		case "quorum_max":
			if v, ok := b.int(n, 0, 65535); ok {
				if (v > 0 || p.Quorum > 1) && v < p.Quorum {
					b.errorf(n.Pos, "vrrp_track_process %s: quorum_max %d is less than quorum %d", p.Name, v, p.Quorum)
					continue
				}
				p.QuorumMax = v
				if v == 0 {
					p.Quorum = 0 // up while none runs
				}
			}
		case "delay", "fork_delay", "terminate_delay":
			d, ok := b.seconds(n, 0.000001, 3600)
			if !ok {
				continue
			}
			if n.Keyword != "fork_delay" {
				p.TerminateDelay = d
			}
			if n.Keyword != "terminate_delay" {
				p.ForkDelay = d
			}
		case "full_command":
			p.FullCommand = b.args(n, 0, 0)
		default:
			b.other(schema.lookup("vrrp_track_process"), n)
		}
	}
	if p.Process == "" {
		b.errorf(blk.Pos, "vrrp_track_process %s has no process", p.Name)
		return
	}
	if i := slices.IndexFunc(b.cfg.TrackProcesses, func(o *TrackProcess) bool { return o.Name == p.Name }); i >= 0 {
		b.warnf(blk.Pos, "vrrp_track_process %s is defined twice: the first (%s) is used, as keepalived uses it", p.Name, b.cfg.TrackProcesses[i].Pos)
		return
	}
	b.cfg.TrackProcesses = append(b.cfg.TrackProcesses, p)
}

// resolveProcesses fills in each tracked process's weight from its
// vrrp_track_process, which must come before it, as keepalived reads
// them.
func (b *builder) resolveProcesses(owner string, ts []Tracked) []Tracked {
	return b.resolve(owner, "track_process", "vrrp_track_process", " before this line", ts, weightOf(b.cfg.TrackProcess))
}

// TrackProcess is the vrrp_track_process with the name, or nil.
func (c *Config) TrackProcess(name string) *TrackProcess {
	for _, p := range c.TrackProcesses {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// quorumText writes quorum and quorum_max for the dump.
func quorumText(p *TrackProcess) []string {
	out := []string{"quorum " + strconv.Itoa(p.Quorum)}
	if p.QuorumMax != maxQuorum {
		out = append(out, "quorum_max "+strconv.Itoa(p.QuorumMax))
	}
	return out
}
