package config

import (
	"strings"
	"time"
)

// garpGroupsAndLinkDelays writes the garp_group blocks and
// interface_up_down_delays, with what keepalived makes of them in
// comments: the unspaced kinds, and delays the instances lower.
func (d *dumper) garpGroupsAndLinkDelays(c *Config) {
	for _, g := range c.GARPGroups {
		d.line(0, "garp_group {")
		for _, k := range []struct {
			keyword, kinds string
			every          *time.Duration
		}{{"garp_interval", "gratuitous ARPs", g.ARP}, {"gna_interval", "unsolicited neighbour advertisements", g.NA}} {
			if k.every != nil {
				d.line(1, "%s %s", k.keyword, secs(*k.every))
			} else {
				d.line(1, "# %s: not given: %s on these interfaces are not spaced", k.keyword, k.kinds)
			}
		}
		if len(g.Interfaces) > 0 {
			d.line(1, "interfaces {")
			for _, name := range g.Interfaces {
				d.line(2, "%s", quote(name))
			}
			d.line(1, "}")
		}
		d.line(0, "}")
	}
	if len(c.LinkDelays) == 0 {
		return
	}
	d.line(0, "interface_up_down_delays {")
	for _, l := range c.LinkDelays {
		d.line(1, "%s %s %s", quote(l.Interface), secs(l.Down), secs(l.Up))
		if eff, notes := c.EffectiveLinkDelay(l.Interface); len(notes) > 0 {
			d.line(1, "# %s runs with %s %s: %s", l.Interface, secs(eff.Down), secs(eff.Up), strings.Join(notes, "; "))
		}
	}
	d.line(0, "}")
}
