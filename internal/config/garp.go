package config

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// GARPGroup is a garp_group: the spacing of gratuitous ARPs and
// unsolicited neighbour advertisements on its interfaces, in place of
// global_defs' vrrp_garp_interval and vrrp_gna_interval. The interfaces
// share one pace, as keepalived's aggregation groups do: VLANs of one
// port (bond0.2, bond0.3) reach one switch, which counts them together.
type GARPGroup struct {
	Pos Pos
	// ARP and NA are garp_interval and gna_interval; nil: not given. A
	// kind the group does not space goes out unspaced on its interfaces:
	// keepalived gives global_defs' intervals only to interfaces in no
	// group.
	ARP, NA    *time.Duration
	Interfaces []string
}

// LinkDelay is a line of interface_up_down_delays: how long the
// interface must stay down (or up) before anything acts on the change.
// A change undone within its delay is never seen.
type LinkDelay struct {
	Pos       Pos
	Interface string
	Down, Up  time.Duration
}

// schemaGARPGroup is what garp_group accepts, for what garpGroup does
// not build in it.
var schemaGARPGroup = schema.lookup("garp_group")

// maxGARPInterval is keepalived's bound: INT_MAX microseconds.
const maxGARPInterval = math.MaxInt32 * time.Microsecond

// maxLinkDelay is keepalived's bound on an up or down delay.
const maxLinkDelay = 255 * time.Second

// keepalivedSeconds reads a number of seconds as keepalived reads
// decimals (read_decimal_unsigned): digits with an optional fraction,
// in microseconds. More than six decimals round at the sixth; keepalived
// reports it and goes on with the rounded value (rounded is set).
func keepalivedSeconds(s string) (d time.Duration, rounded, ok bool) {
	whole, frac, _ := strings.Cut(s, ".")
	digits := func(x string) bool { return strings.Trim(x, "0123456789") == "" }
	if whole+frac == "" || !digits(whole) || !digits(frac) {
		return 0, false, false
	}
	up := false
	if len(frac) > 6 {
		rounded, up = true, frac[6] >= '5'
		frac = frac[:6]
	}
	us, err := strconv.ParseUint(whole+frac+strings.Repeat("0", 6-len(frac)), 10, 64)
	if err != nil || us > math.MaxInt64/1000-1 {
		return 0, false, false
	}
	if up {
		us++
	}
	return time.Duration(us) * time.Microsecond, rounded, true
}

// seconds6 reads s, a value on n's line, with keepalivedSeconds and
// checks it against 0..hi; what names it in messages.
func (b *builder) seconds6(n *Node, what, s string, hi time.Duration) (time.Duration, bool) {
	d, rounded, ok := keepalivedSeconds(s)
	if !ok || d > hi {
		b.errorf(n.Pos, "%s %q: must be 0..%s seconds, with up to 6 decimals", what, s, secs(hi))
		return 0, false
	}
	if rounded {
		b.warnf(n.Pos, "%s %s: more than 6 decimals; %s s is used, as keepalived rounds it (write that)", what, s, secs(d))
	}
	return d, true
}

// garpGroup reads a garp_group block.
func (b *builder) garpGroup(blk *Node) {
	if !blk.Block {
		b.errorf(blk.Pos, "garp_group takes a block: garp_group { garp_interval SECONDS  interface IF }")
		return
	}
	if len(blk.Args) > 0 {
		b.warnf(blk.Pos, "garp_group takes no name; keepalived ignores %q, and so does vipd", strings.Join(blk.Args, " "))
	}
	g := &GARPGroup{Pos: blk.Pos}
	sawInterval := false
	add := func(n *Node, name string) {
		if why := ifNameProblem(name); why != "" {
			b.errorf(n.Pos, "garp_group: interface %q: %s", name, why)
			return
		}
		if slices.Contains(g.Interfaces, name) {
			b.errorf(n.Pos, "garp_group: interface %s is listed twice in the group, which keepalived reports as an error: list it once", name)
			return
		}
		if in := b.vmacOf(name); in != nil {
			b.errorf(n.Pos, "garp_group: %s is the VMAC of vrrp_instance %s (%s), which keepalived refuses: a VMAC's announcements take the pace of its interface, so name %s", name, in.VRRP.Name, in.Pos, in.VRRP.Interface)
			return
		}
		for _, other := range b.cfg.GARPGroups {
			if slices.Contains(other.Interfaces, name) {
				b.errorf(n.Pos, "garp_group: interface %s is already in the garp_group at %s; keepalived keeps the first and ignores this one: list it in one group", name, other.Pos)
				return
			}
		}
		g.Interfaces = append(g.Interfaces, name)
	}
	for _, n := range blk.Children {
		switch n.Keyword {
		case "garp_interval", "gna_interval":
			sawInterval = true
			if !b.args(n, 1, 1) {
				continue
			}
			d, ok := b.seconds6(n, n.Keyword, n.Args[0], maxGARPInterval)
			if !ok {
				continue
			}
			if d >= time.Second {
				b.warnf(n.Pos, "%s %s: very large (keepalived says so too): the group's interfaces send one message every %s s, so a burst takes that long for each address and round", n.Keyword, n.Args[0], secs(d))
			}
			if n.Keyword == "garp_interval" {
				g.ARP = &d
			} else {
				g.NA = &d
			}
		case "interface":
			if b.args(n, 1, 1) {
				add(n, n.Args[0])
			}
		case "interfaces":
			if !b.listBlock(n) {
				continue
			}
			if len(n.Children) == 0 {
				b.warnf(n.Pos, "garp_group: the interfaces block is empty")
			}
			for _, m := range n.Children {
				for _, name := range append([]string{m.Keyword}, m.Args...) {
					add(m, name)
				}
			}
		default:
			b.other(schemaGARPGroup, n)
		}
	}
	switch {
	case g.ARP == nil && g.NA == nil:
		if !sawInterval {
			b.errorf(blk.Pos, "garp_group gives neither garp_interval nor gna_interval, so keepalived drops it: give one, or remove the block")
		}
		return
	case len(g.Interfaces) == 0:
		b.warnf(blk.Pos, "garp_group names no interface (interface IF, or interfaces { IF ... }): it spaces nothing")
	}
	// An interface in a group takes none of global_defs' spacing: say so
	// where the file may mean otherwise.
	for _, k := range []struct {
		given          *time.Duration
		global         time.Duration
		keyword, kinds string
	}{{g.ARP, b.cfg.Global.GARPInterval, "garp_interval", "gratuitous ARPs"}, {g.NA, b.cfg.Global.GNAInterval, "gna_interval", "unsolicited neighbour advertisements"}} {
		if k.given == nil && k.global > 0 && len(g.Interfaces) > 0 {
			b.warnf(blk.Pos, "garp_group gives no %s: %s on %s go out unspaced, as keepalived sends them, not every %s s (global_defs vrrp_%s); add %s to space them",
				k.keyword, k.kinds, strings.Join(g.Interfaces, ", "), secs(k.global), k.keyword, k.keyword)
		}
	}
	b.cfg.GARPGroups = append(b.cfg.GARPGroups, g)
}

// linkDelays reads interface_up_down_delays: lines "IF DOWN [UP]".
func (b *builder) linkDelays(blk *Node) {
	if !b.listBlock(blk) {
		return
	}
	for _, n := range blk.Children {
		name := n.Keyword
		if why := ifNameProblem(name); why != "" {
			b.errorf(n.Pos, "interface_up_down_delays: interface %q: %s", name, why)
			continue
		}
		if in := b.vmacOf(name); in != nil {
			b.errorf(n.Pos, "interface_up_down_delays: %s is the VMAC of vrrp_instance %s (%s), which keepalived refuses (it is not there when keepalived reads the file): a VMAC takes the delays of its interface, so name %s", name, in.VRRP.Name, in.Pos, in.VRRP.Interface)
			continue
		}
		switch len(n.Args) {
		case 0:
			b.warnf(n.Pos, "interface_up_down_delays: %s has no delays, so keepalived ignores the line: write %s DOWN_SECONDS [UP_SECONDS], or remove it", name, name)
			continue
		case 1, 2:
		default:
			b.warnf(n.Pos, "interface_up_down_delays: %s takes a down and an up delay; keepalived ignores the rest (%s), and so does vipd: remove it", name, strings.Join(n.Args[2:], " "))
		}
		if n.Block {
			b.errorf(n.Pos, "interface_up_down_delays: %s does not take a block", name)
			continue
		}
		down, ok := b.seconds6(n, "interface_up_down_delays: "+name+" down delay", n.Args[0], maxLinkDelay)
		if !ok {
			continue
		}
		var up time.Duration
		if len(n.Args) == 1 {
			// keepalived's manual says the down delay; 2.2.7 runs with 0.
			b.warnf(n.Pos, "interface_up_down_delays: %s gives no up delay: keepalived 2.2.7 acts at once when it comes up (its manual says after the down delay), and so does vipd; write %s %s 0 to say so", name, name, n.Args[0])
		} else if up, ok = b.seconds6(n, "interface_up_down_delays: "+name+" up delay", n.Args[1], maxLinkDelay); !ok {
			continue
		}
		d := LinkDelay{Pos: n.Pos, Interface: name, Down: down, Up: up}
		if i := slices.IndexFunc(b.cfg.LinkDelays, func(l LinkDelay) bool { return l.Interface == name }); i >= 0 {
			b.warnf(n.Pos, "interface_up_down_delays: %s is given twice (first at %s); the last line is used, as keepalived does: keep one", name, b.cfg.LinkDelays[i].Pos)
			b.cfg.LinkDelays[i] = d
			continue
		}
		b.cfg.LinkDelays = append(b.cfg.LinkDelays, d)
	}
}

// vmacOf finds the instance, among those read so far, whose VMAC (or
// ipvlan) has the name: its given name, else the one keepalived gives it
// unless another instance took that name.
func (b *builder) vmacOf(name string) *Instance {
	prefix := cmp.Or(b.cfg.Global.VMACPrefix, "vrrp")
	for _, in := range b.cfg.Instances {
		if !in.UseVMAC && !in.IPVLAN {
			continue
		}
		if in.VMACName == name || in.VMACName == "" && vmacName(prefix, in.VRRP.VRID, in.VRRP.IPv6, nil) == name {
			return in
		}
	}
	return nil
}

// EffectiveLinkDelay is the interface's delays as keepalived 2.2.7 runs
// them: each instance on it (or on a VMAC of it) lowers a delay that is
// not shorter than down_timer_adverts-1 advert intervals to 1/256 of an
// interval below that, so that its backups never take over while it
// still claims to be master; down_timer_adverts 1 leaves no room for a
// delay at all. notes say what was lowered, for the log.
func (c *Config) EffectiveLinkDelay(ifname string) (d LinkDelay, notes []string) {
	i := slices.IndexFunc(c.LinkDelays, func(l LinkDelay) bool { return l.Interface == ifname })
	if i < 0 {
		return LinkDelay{Interface: ifname}, nil
	}
	d = c.LinkDelays[i]
	for _, in := range c.Instances {
		if in.VRRP.Interface != ifname || d.Down == 0 && d.Up == 0 {
			continue
		}
		dta := in.VRRP.DownTimerAdverts
		if dta == 1 {
			d.Down, d.Up = 0, 0
			notes = append(notes, fmt.Sprintf("(%s) down_timer_adverts 1 leaves no time for interface_up_down_delays on %s: acting on its changes at once", in.VRRP.Name, ifname))
			continue
		}
		adv := in.VRRP.Interval.Microseconds()
		limit := time.Duration(int64(dta-1)*adv) * time.Microsecond
		lowered := limit - time.Duration(adv/256)*time.Microsecond
		changed := false
		for _, v := range []*time.Duration{&d.Down, &d.Up} {
			if *v >= limit {
				*v, changed = lowered, true
			}
		}
		if changed {
			notes = append(notes, fmt.Sprintf("(%s) interface_up_down_delays on %s must be below %d advert intervals (%s s): lowered to %s s down, %s s up, as keepalived does",
				in.VRRP.Name, ifname, dta-1, secs(limit), secs(d.Down), secs(d.Up)))
		}
	}
	return d, notes
}
