package config

import (
	"slices"
	"strconv"
	"strings"
)

// Tracked is one line of track_interface ("NAME [weight N [reverse]]"),
// track_script or track_file ("NAME [weight N [reverse|noreverse]]", with
// the definition's own weight and reverse where the line gives none).
// Without a weight the instance is in FAULT while the tracked thing is
// bad (an interface down, a script failing); with one, its priority moves
// by the weight: a positive weight is added while it is good, a negative
// one while it is bad. Reverse swaps good and bad.
type Tracked struct {
	Pos     Pos
	Name    string
	Weight  int // -253..253 (-254..254 for a file); 0: FAULT while bad
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

// trackKind is what a tracking block names, with the rules keepalived
// applies to its lines.
type trackKind struct {
	of, usage string
	maxWeight int  // a weight is -maxWeight..maxWeight
	noreverse bool // "noreverse" is taken after the weight
	clamp254  bool // ±254 is clamped to ±253 with a warning (scripts)
	dedupe    bool // a repeated name is dropped with a warning
	resolved  bool // names are resolved later, with the definition's weight
}

var trackKinds = map[string]trackKind{
	"track_interface": {of: "interface names", usage: "NAME [weight N [reverse]]", maxWeight: 253},
	"track_script": {of: "vrrp_script names", usage: "NAME [weight N [reverse|noreverse]]", maxWeight: 253,
		noreverse: true, clamp254: true, dedupe: true, resolved: true},
	"track_file": {of: "track_file names", usage: "NAME [weight N [reverse|noreverse]]", maxWeight: 254,
		noreverse: true, dedupe: true, resolved: true},
	"track_process": {of: "vrrp_track_process names", usage: "NAME [weight N [reverse|noreverse]]", maxWeight: 254,
		noreverse: true, dedupe: true, resolved: true},
	"track_bfd": {of: "bfd_instance names", usage: "NAME [weight N [reverse|noreverse]]", maxWeight: 253,
		noreverse: true, dedupe: true, resolved: true},
}

// track reads a track_interface, track_script or track_file block:
// "NAME [weight N [reverse]]" per line (see trackKind for each one's
// rules). A script's or file's name is resolved once every definition is
// read (resolveScripts, resolveFiles). A track_interface line's reverse
// needs a weight.
func (b *builder) track(blk *Node, out []Tracked) []Tracked {
	kind := trackKinds[blk.Keyword]
	if !blk.Block || len(blk.Args) > 0 {
		b.errorf(blk.Pos, "%s takes a block of %s", blk.Keyword, kind.of)
		return out
	}
	for _, n := range blk.Children {
		t := Tracked{Pos: n.Pos, Name: n.Keyword}
		args := n.Args
		if len(args) >= 2 && args[0] == "weight" {
			w, err := strconv.Atoi(args[1])
			ok := err == nil && w >= -kind.maxWeight && w <= kind.maxWeight
			if kind.clamp254 && (w == 254 || w == -254) && err == nil {
				w, ok = w/254*253, true
				b.warnf(n.Pos, "%s %s: weight %s is out of -253..253: %d is used, as keepalived does", blk.Keyword, t.Name, args[1], w)
			}
			if !ok {
				b.errorf(n.Pos, "%s %s: weight %q must be a whole number %d..%d", blk.Keyword, t.Name, args[1], -kind.maxWeight, kind.maxWeight)
				continue
			}
			t.Weight, args = w, args[2:]
			if kind.resolved {
				b.weighted[t.Pos] = true
			}
			if len(args) > 0 && (args[0] == "reverse" || kind.noreverse && args[0] == "noreverse") {
				t.Reverse, args = args[0] == "reverse", args[1:]
			}
		}
		if len(args) > 0 {
			b.errorf(n.Pos, "%s %s: want %s, not %q", blk.Keyword, t.Name, kind.usage, strings.Join(n.Args, " "))
			continue
		}
		if blk.Keyword == "track_interface" && t.Reverse && t.Weight == 0 {
			b.errorf(n.Pos, "track_interface %s: reverse needs a weight", t.Name)
			continue
		}
		if i := slices.IndexFunc(out, func(o Tracked) bool { return o.Name == t.Name }); kind.dedupe && i >= 0 {
			b.warnf(n.Pos, "%s %s is already tracked here (%s): this line is ignored, as keepalived ignores it", blk.Keyword, t.Name, out[i].Pos)
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
	return b.resolve(owner, "track_script", "vrrp_script", "", ts, weightOf(b.cfg.Script))
}

// trackable is a definition a tracking line names: its weight and
// reverse are the line's unless the line gives its own.
type trackable interface {
	comparable
	tracking() (weight int, reverse bool)
}

func (s *Script) tracking() (int, bool)       { return s.Weight, s.Reverse }
func (f *TrackFile) tracking() (int, bool)    { return f.Weight, f.Reverse }
func (p *TrackProcess) tracking() (int, bool) { return p.Weight, p.Reverse }
func (f *BFD) tracking() (int, bool)          { return f.Weight, f.Reverse }

// weightOf adapts a lookup by name to resolve's: the weight and reverse
// of the definition, and whether there is one.
func weightOf[T trackable](find func(string) T) func(string) (int, bool, bool) {
	return func(name string) (int, bool, bool) {
		var none T
		d := find(name)
		if d == none {
			return 0, false, false
		}
		w, r := d.tracking()
		return w, r, true
	}
}

// resolve fills in the weight and reverse of each tracked line that
// gives none from its definition (def), and refuses a name with none.
func (b *builder) resolve(owner, keyword, definition, where string, ts []Tracked, def func(name string) (weight int, reverse, ok bool)) []Tracked {
	out := ts[:0]
	for _, t := range ts {
		weight, reverse, ok := def(t.Name)
		if why, off := b.disabled[definition+" "+t.Name]; !ok && off {
			// The definition's own warning already says what is
			// missing; the line goes, as keepalived drops it.
			b.warnf(t.Pos, "%s: %s %s: %s %s is disabled (%s): the line is ignored, as keepalived ignores it", owner, keyword, t.Name, definition, t.Name, why)
			continue
		}
		if !ok {
			b.errorf(t.Pos, "%s: %s %s: no %s %s is defined%s (keepalived would ignore the line)", owner, keyword, t.Name, definition, t.Name, where)
			continue
		}
		if !b.weighted[t.Pos] {
			t.Weight, t.Reverse = weight, reverse
		}
		out = append(out, t)
	}
	return out
}

// disable drops a definition that cannot work (a vrrp_script without a
// script, a track_file without a file, a bfd_instance without a
// neighbour) with a warning, as keepalived drops it; a line tracking it
// is dropped too (resolve), so the file runs as keepalived runs it.
func (b *builder) disable(pos Pos, definition, name, why string) {
	b.warnf(pos, "%s %s is disabled: %s, as keepalived disables it, and whatever tracks it runs without it", definition, name, why)
	b.disabled[definition+" "+name] = why
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
