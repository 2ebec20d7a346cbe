package config

import (
	"slices"
	"strconv"
	"strings"
)

// TrackedInterface is one line of track_interface: "NAME [weight N
// [reverse]]". Without a weight the instance is in FAULT while the
// interface is down; with one, its priority moves by the weight: a
// positive weight is added while the interface is up, a negative one
// while it is down (reverse swaps up and down).
type TrackedInterface struct {
	Pos     Pos
	Name    string
	Weight  int // -253..253; 0: FAULT while down
	Reverse bool
}

// Down reports whether a tracked interface counts as down.
func (t TrackedInterface) Down(up bool) bool { return up == t.Reverse }

// Adjust is what the interface, up or not, adds to the priority.
func (t TrackedInterface) Adjust(up bool) int { return adjust(t.Weight, t.Down(up)) }

// TrackedScript is one line of track_script: "NAME [weight N
// [reverse|noreverse]]", with the vrrp_script's own weight and reverse
// where the line gives none.
type TrackedScript struct {
	Pos     Pos
	Name    string
	Weight  int // -253..253; 0: FAULT while failing
	Reverse bool
}

// Failing reports whether a script with this result counts as failing.
func (t TrackedScript) Failing(ok bool) bool { return ok == t.Reverse }

// Adjust is what the script's result adds to the priority.
func (t TrackedScript) Adjust(ok bool) int { return adjust(t.Weight, t.Failing(ok)) }

// adjust is keepalived's rule for weights: a positive weight counts
// while the tracked thing is good, a negative one while it is bad.
func adjust(weight int, bad bool) int {
	if weight > 0 && !bad || weight < 0 && bad {
		return weight
	}
	return 0
}

func parseWeight(s string) (int, bool) {
	w, err := strconv.Atoi(s)
	return w, err == nil && w >= -253 && w <= 253
}

// trackInterfaces reads a track_interface block: "NAME [weight N
// [reverse]]" per line.
func (b *builder) trackInterfaces(blk *Node, out []TrackedInterface) []TrackedInterface {
	if !blk.Block || len(blk.Args) > 0 {
		b.errorf(blk.Pos, "track_interface takes a block of interface names")
		return out
	}
	for _, n := range blk.Children {
		t := TrackedInterface{Pos: n.Pos, Name: n.Keyword}
		args := n.Args
		if len(args) >= 2 && args[0] == "weight" {
			w, ok := parseWeight(args[1])
			if !ok {
				b.errorf(n.Pos, "track_interface %s: weight %q must be a whole number -253..253", t.Name, args[1])
				continue
			}
			t.Weight, args = w, args[2:]
			if len(args) > 0 && args[0] == "reverse" {
				t.Reverse, args = true, args[1:]
			}
		}
		if len(args) > 0 {
			b.errorf(n.Pos, "track_interface %s: want NAME [weight N [reverse]], not %q", t.Name, strings.Join(n.Args, " "))
			continue
		}
		if t.Reverse && t.Weight == 0 {
			b.errorf(n.Pos, "track_interface %s: reverse needs a weight", t.Name)
			continue
		}
		out = append(out, t)
	}
	return out
}

// trackScripts reads a track_script block: "NAME [weight N
// [reverse|noreverse]]" per line. The names are resolved once every
// vrrp_script is read (resolveScripts).
func (b *builder) trackScripts(blk *Node, out []TrackedScript) []TrackedScript {
	if !blk.Block || len(blk.Args) > 0 {
		b.errorf(blk.Pos, "track_script takes a block of vrrp_script names")
		return out
	}
	for _, n := range blk.Children {
		t := TrackedScript{Pos: n.Pos, Name: n.Keyword}
		args := n.Args
		if len(args) >= 2 && args[0] == "weight" {
			w, ok := parseWeight(args[1])
			if args[1] == "254" || args[1] == "-254" {
				w, ok = 253, true
				if args[1][0] == '-' {
					w = -253
				}
				b.warnf(n.Pos, "track_script %s: weight %s is out of -253..253: %d is used, as keepalived does", t.Name, args[1], w)
			}
			if !ok {
				b.errorf(n.Pos, "track_script %s: weight %q must be a whole number -253..253", t.Name, args[1])
				continue
			}
			t.Weight, args = w, args[2:]
			b.weighted[t.Pos] = true
			if len(args) > 0 && (args[0] == "reverse" || args[0] == "noreverse") {
				t.Reverse, args = args[0] == "reverse", args[1:]
			}
		}
		if len(args) > 0 {
			b.errorf(n.Pos, "track_script %s: want NAME [weight N [reverse|noreverse]], not %q", t.Name, strings.Join(n.Args, " "))
			continue
		}
		if i := slices.IndexFunc(out, func(o TrackedScript) bool { return o.Name == t.Name }); i >= 0 {
			b.warnf(n.Pos, "track_script %s is already tracked here (%s): this line is ignored, as keepalived ignores it", t.Name, out[i].Pos)
			continue
		}
		out = append(out, t)
	}
	return out
}

// resolveScripts fills in each tracked script's weight from its
// vrrp_script, and refuses names no vrrp_script defines: keepalived
// drops such a line with a warning, and the instance runs without the
// check its author meant it to have.
func (b *builder) resolveScripts(owner string, ts []TrackedScript) []TrackedScript {
	out := ts[:0]
	for _, t := range ts {
		s := b.cfg.Script(t.Name)
		if s == nil {
			b.errorf(t.Pos, "%s: track_script %s: no vrrp_script %s is defined (keepalived would ignore the line)", owner, t.Name, t.Name)
			continue
		}
		if !b.weighted[t.Pos] {
			t.Weight, t.Reverse = s.Weight, s.Reverse
		}
		out = append(out, t)
	}
	return out
}

// Script is the vrrp_script with the name, or nil.
func (c *Config) Script(name string) *Script {
	for _, s := range c.Scripts {
		if s.Name == name {
			return s
		}
	}
	return nil
}
