package config

import "slices"

// defaultInterface is where an instance or a static address that names
// no interface goes: default_interface, else eth0, as keepalived has it.
func (b *builder) defaultInterface() string {
	if b.defs.iface != "" {
		return b.defs.iface
	}
	return "eth0"
}

// trackGroup reads a track_group block: "track_group NAME { group { VI_1 ... } }".
func (b *builder) trackGroup(blk *Node) {
	if len(blk.Args) != 1 || !blk.Block {
		b.errorf(blk.Pos, "track_group takes a name and a block")
		return
	}
	name := blk.Args[0]
	if slices.ContainsFunc(b.cfg.TrackGroups, func(g *TrackGroup) bool { return g.Name == name }) {
		b.errorf(blk.Pos, "track_group %s is defined twice", name)
		return
	}
	g := &TrackGroup{Pos: blk.Pos, Name: name}
	seenGroup := false
	for _, n := range blk.Children {
		if n.Keyword != "group" {
			b.unknown(schema.lookup("track_group"), n)
			continue
		}
		if seenGroup {
			b.errorf(n.Pos, "track_group %s: group given twice", name)
			continue
		}
		seenGroup = true
		if !b.listBlock(n) {
			continue
		}
		for _, m := range n.Children {
			g.Members = append(g.Members, m.Keyword)
			g.Members = append(g.Members, m.Args...)
		}
	}
	if len(g.Members) == 0 {
		b.warnf(blk.Pos, "track_group %s has no instances: it watches nothing", name)
	}
	b.cfg.TrackGroups = append(b.cfg.TrackGroups, g)
}

// staticTracking settles the static items: an address without dev goes
// on the default interface, and each track_group's instances watch the
// interface of every tracked static item naming the group (down means
// FAULT), as keepalived has them.
func (b *builder) staticTracking() {
	st := &b.cfg.Static
	for i := range st.Addresses {
		if st.Addresses[i].Dev == "" {
			st.Addresses[i].Dev = b.defaultInterface()
		}
	}
	type item struct {
		pos        Pos
		dev, group string
		track      bool
	}
	var items []item
	for _, a := range st.Addresses {
		items = append(items, item{a.Pos, a.Dev, a.TrackGroup, a.Track})
	}
	for _, r := range st.Routes {
		items = append(items, item{r.Pos, r.Dev, r.TrackGroup, r.Track})
	}
	for _, r := range st.Rules {
		items = append(items, item{r.Pos, r.IIF, r.TrackGroup, r.Track})
	}
	for _, it := range items {
		if it.group == "" {
			continue
		}
		gi := slices.IndexFunc(b.cfg.TrackGroups, func(g *TrackGroup) bool { return g.Name == it.group })
		if gi < 0 {
			b.errorf(it.pos, "track_group %s is not defined", it.group)
			continue
		}
		if !it.track {
			b.warnf(it.pos, "track_group %s with no_track: not tracked", it.group)
			continue
		}
		for _, m := range b.cfg.TrackGroups[gi].Members {
			in := b.cfg.Instance(m)
			if in == nil {
				b.warnf(b.cfg.TrackGroups[gi].Pos, "track_group %s: no vrrp_instance %s; ignored, as keepalived ignores it", it.group, m)
				continue
			}
			if !slices.ContainsFunc(in.TrackInterfaces, func(t Tracked) bool { return t.Name == it.dev && t.Weight == 0 }) {
				in.TrackInterfaces = append(in.TrackInterfaces, Tracked{Pos: it.pos, Name: it.dev})
			}
		}
	}
}

// Instance is the vrrp_instance with the name, or nil.
func (c *Config) Instance(name string) *Instance {
	for _, in := range c.Instances {
		if in.VRRP.Name == name {
			return in
		}
	}
	return nil
}
