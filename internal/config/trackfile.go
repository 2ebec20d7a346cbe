package config

import (
	"slices"
	"strconv"
)

// TrackFile is a track_file block (vrrp_track_file is its old name): a
// file holding a number, read whenever it changes. An instance tracking
// it without a weight is in FAULT while the number is not 0; with one,
// its priority moves by number × weight, and at -254 or below it is in
// FAULT. Reverse negates the weight (and, without one, faults on 0).
type TrackFile struct {
	Pos     Pos
	Name    string
	Path    string
	Weight  int // -254..254; 1 unless given
	Reverse bool
	// Init writes InitValue to the file at start if it does not exist,
	// or always with Overwrite (init_file [VALUE] [overwrite]).
	Init      bool
	InitValue int
	Overwrite bool
}

// trackFile reads a track_file block.
func (b *builder) trackFile(blk *Node) {
	if len(blk.Args) != 1 || !blk.Block {
		b.errorf(blk.Pos, "track_file takes a name and a block")
		return
	}
	f := &TrackFile{Pos: blk.Pos, Name: blk.Args[0], Weight: 1}
	weightSet := false
	for _, n := range blk.Children {
		switch n.Keyword {
		case "file":
			if !b.args(n, 1, 1) {
				continue
			}
			if f.Path != "" {
				b.errorf(n.Pos, "track_file %s: file given twice", f.Name)
				continue
			}
			f.Path = n.Args[0]
		case "weight":
			if weightSet {
				b.errorf(n.Pos, "track_file %s: weight given twice", f.Name)
				continue
			}
			if len(n.Args) == 2 && n.Args[1] == "noreverse" {
				b.errorf(n.Pos, "track_file %s: weight takes reverse, not noreverse", f.Name)
				continue
			}
			if w, rev, ok := b.weight(n, 254); ok {
				f.Weight, f.Reverse, weightSet = w, rev, true
			}
		case "init_file":
			f.Init = true
			for _, a := range n.Args {
				if a == "overwrite" {
					f.Overwrite = true
					continue
				}
				v, err := strconv.Atoi(a)
				switch {
				case err != nil:
					b.errorf(n.Pos, "track_file %s: init_file %q: want [VALUE] [overwrite], VALUE a whole number", f.Name, a)
				case v < -254 || v > 254:
					b.errorf(n.Pos, "track_file %s: init_file %d is outside -254..254, where a value means something to an instance", f.Name, v)
				default:
					f.InitValue = v
				}
			}
		default:
			b.other(schema.lookup("track_file"), n)
		}
	}
	if f.Path == "" {
		b.disable(blk.Pos, "track_file", f.Name, "it has no file")
		return
	}
	if i := slices.IndexFunc(b.cfg.TrackFiles, func(o *TrackFile) bool { return o.Name == f.Name }); i >= 0 {
		b.warnf(blk.Pos, "track_file %s is defined twice: the first (%s) is used, as keepalived uses it", f.Name, b.cfg.TrackFiles[i].Pos)
		return
	}
	b.cfg.TrackFiles = append(b.cfg.TrackFiles, f)
}

// resolveFiles fills in each tracked file's weight from its track_file
// block, which must come before it in the file, as keepalived reads
// them: a name not defined yet is an error.
func (b *builder) resolveFiles(owner string, ts []Tracked) []Tracked {
	return b.resolve(owner, "track_file", "track_file", " before this line", ts, weightOf(b.cfg.TrackFile))
}

// unweightFiles applies keepalived's rule for the files tracked by a
// sync-group member without sync_group_tracking_weight, or by an address
// owner: the default weight (1) becomes 0, with a warning; any other
// weight drops the line.
func (b *builder) unweightFiles(in *Instance, why string) {
	in.TrackFiles = slices.DeleteFunc(in.TrackFiles, func(t Tracked) bool {
		switch t.Weight {
		case 0:
			return false
		case 1:
			b.warnf(t.Pos, "vrrp_instance %s: track_file %s: the default weight 1 cannot be used %s: it is tracked with weight 0 (FAULT while not 0), as keepalived does; write weight 0", in.VRRP.Name, t.Name, why)
			return false
		}
		b.warnf(t.Pos, "vrrp_instance %s: track_file %s has weight %d, which cannot be used %s: the line is ignored, as keepalived ignores it", in.VRRP.Name, t.Name, t.Weight, why)
		return true
	})
	for i := range in.TrackFiles {
		if in.TrackFiles[i].Weight == 1 {
			in.TrackFiles[i].Weight = 0
		}
	}
}

// TrackFile is the track_file with the name, or nil.
func (c *Config) TrackFile(name string) *TrackFile {
	for _, f := range c.TrackFiles {
		if f.Name == name {
			return f
		}
	}
	return nil
}
