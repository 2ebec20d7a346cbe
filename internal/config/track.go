package config

import (
	"slices"
	"strconv"
	"strings"
)

// Tracked is one line of track_interface ("NAME [weight N [reverse]]")
// or of track_script ("NAME [weight N [reverse|noreverse]]", with the
// vrrp_script's own weight and reverse where the line gives none).
// Without a weight the instance is in FAULT while the tracked thing is
// bad (an interface down, a script failing); with one, its priority moves
// by the weight: a positive weight is added while it is good, a negative
// one while it is bad. Reverse swaps good and bad.
type Tracked struct {
	Pos     Pos
	Name    string
	Weight  int // -253..253; 0: FAULT while bad
	Reverse bool
}

// Bad reports whether the tracked thing, good (up, succeeding) or not,
// counts as bad.
func (t Tracked) Bad(good bool) bool { return good == t.Reverse }

// Adjust is what the tracked thing, good or not, adds to the priority.
func (t Tracked) Adjust(good bool) int { return adjust(t.Weight, t.Bad(good)) }

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

// track reads a track_interface or track_script block: "NAME [weight N
// [reverse]]" per line. A track_script line also takes noreverse, has a
// weight of ±254 clamped and a repeated name dropped, with warnings, as
// keepalived does; its name is resolved once every vrrp_script is read
// (resolveScripts). A track_interface line's reverse needs a weight.
func (b *builder) track(blk *Node, out []Tracked) []Tracked {
	script := blk.Keyword == "track_script"
	of, usage := "interface names", "NAME [weight N [reverse]]"
	if script {
		of, usage = "vrrp_script names", "NAME [weight N [reverse|noreverse]]"
	}
	if !blk.Block || len(blk.Args) > 0 {
		b.errorf(blk.Pos, "%s takes a block of %s", blk.Keyword, of)
		return out
	}
	for _, n := range blk.Children {
		t := Tracked{Pos: n.Pos, Name: n.Keyword}
		args := n.Args
		if len(args) >= 2 && args[0] == "weight" {
			w, ok := parseWeight(args[1])
			if script && (args[1] == "254" || args[1] == "-254") {
				w, ok = 253, true
				if args[1][0] == '-' {
					w = -253
				}
				b.warnf(n.Pos, "track_script %s: weight %s is out of -253..253: %d is used, as keepalived does", t.Name, args[1], w)
			}
			if !ok {
				b.errorf(n.Pos, "%s %s: weight %q must be a whole number -253..253", blk.Keyword, t.Name, args[1])
				continue
			}
			t.Weight, args = w, args[2:]
			if script {
				b.weighted[t.Pos] = true
			}
			if len(args) > 0 && (args[0] == "reverse" || script && args[0] == "noreverse") {
				t.Reverse, args = args[0] == "reverse", args[1:]
			}
		}
		if len(args) > 0 {
			b.errorf(n.Pos, "%s %s: want %s, not %q", blk.Keyword, t.Name, usage, strings.Join(n.Args, " "))
			continue
		}
		if !script && t.Reverse && t.Weight == 0 {
			b.errorf(n.Pos, "track_interface %s: reverse needs a weight", t.Name)
			continue
		}
		if i := slices.IndexFunc(out, func(o Tracked) bool { return o.Name == t.Name }); script && i >= 0 {
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
func (b *builder) resolveScripts(owner string, ts []Tracked) []Tracked {
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
