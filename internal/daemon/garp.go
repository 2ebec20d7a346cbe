package daemon

import (
	"log/slog"
	"net"

	"github.com/vipd/vipd/internal/config"
	"github.com/vipd/vipd/internal/vip"
)

// newAnnouncer builds the announcer with global_defs' spacing, the
// garp_groups' own, and each VMAC paced with the interface it sends
// through, as keepalived paces by the underlying interface.
func newAnnouncer(cfg *config.Config, log *slog.Logger) *vip.Announcer {
	a := vip.NewAnnouncer(vip.Spacing{ARP: cfg.Global.GARPInterval, NA: cfg.Global.GNAInterval}, func(dev string, err error) {
		log.Error("sending gratuitous ARP / neighbour advertisements", "interface", dev, "err", err)
	})
	vmacs := map[string]string{} // VMAC → parent
	for _, in := range cfg.Instances {
		if in.UseVMAC || in.IPVLAN {
			vmacs[in.VMACName] = in.VRRP.Interface
		}
		for _, av := range in.AddrVMACs {
			vmacs[av.Name] = av.Parent
		}
	}
	for vmac, parent := range vmacs {
		a.Base(vmac, parent)
	}
	for _, g := range cfg.GARPGroups {
		var s vip.Spacing
		if g.ARP != nil {
			s.ARP = *g.ARP
		}
		if g.NA != nil {
			s.NA = *g.NA
		}
		var devs []string
		for _, name := range g.Interfaces {
			if parent, ok := vmacs[name]; ok {
				// The file check catches the VMACs of instances read
				// before the group; this catches the rest.
				log.Warn("garp_group: ignoring a VMAC, as keepalived does: its announcements take the pace of its interface", "pos", g.Pos.String(), "interface", name, "parent", parent)
				continue
			}
			if _, err := net.InterfaceByName(name); err != nil && !cfg.Global.DynamicInterfaces {
				log.Warn("garp_group: interface not found; its spacing applies if it comes", "pos", g.Pos.String(), "interface", name)
			}
			devs = append(devs, name)
		}
		a.Group(s, devs...)
	}
	return a
}
