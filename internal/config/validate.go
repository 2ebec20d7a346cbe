package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// crossCheck finds the mistakes that no single statement shows: names
// and virtual router ids used twice, and one address claimed by virtual
// routers that disagree about it. keepalived lets some of these through
// and a pair of routers then disagree on the wire.
func (b *builder) crossCheck() {
	b.unexpandedInterfaces()
	byName := map[string]*Instance{}
	// Two multicast instances clash when they listen on one interface to
	// one group with one id; unicast ones talk to their own peers, and
	// keepalived lets them share an id, as it does a VMAC and a plain one.
	type vridKey struct {
		iface string
		vmac  bool // a VMAC instance and a plain one do not clash
		group netip.Addr
		vrid  uint8
	}
	byVRID := map[vridKey]*Instance{}
	byAddr := map[netip.Addr]*Instance{}
	for _, in := range b.cfg.Instances {
		if b.broken[in] {
			continue // its own errors are reported; guessing on would mislead
		}
		c := &in.VRRP
		if first, dup := byName[c.Name]; dup {
			b.errorf(in.Pos, "vrrp_instance %s is defined twice (first at %s): give each instance its own name", c.Name, first.Pos)
			continue
		}
		byName[c.Name] = in
		if c.VRID == 0 {
			continue // already reported
		}
		k := vridKey{c.Interface, in.UseVMAC, c.Group, c.VRID}
		if first, dup := byVRID[k]; dup && len(in.UnicastPeers) == 0 && len(first.UnicastPeers) == 0 {
			b.errorf(in.Pos, "vrrp_instance %s uses virtual_router_id %d on %s, as %s does (%s): %s instances on one interface need different ids",
				c.Name, c.VRID, c.Interface, first.VRRP.Name, first.Pos, family(c.IPv6))
			continue
		}
		byVRID[k] = in
		for _, v := range in.VIPs {
			a := v.Prefix.Addr()
			first, dup := byAddr[a]
			if !dup {
				byAddr[a] = in
				continue
			}
			if first == in {
				b.warnf(v.Pos, "virtual address %v is listed twice in vrrp_instance %s", a, c.Name)
				continue
			}
			if first.VRRP.VRID == c.VRID && first.VRRP.Interface == c.Interface && !sameAddrs(first, in) {
				b.errorf(v.Pos, "vrrp_instance %s and %s (%s) share virtual_router_id %d and address %v but list different addresses (%s against %s): routers that disagree on the list cannot agree who is master; give them the same list",
					c.Name, first.VRRP.Name, first.Pos, c.VRID, a, addrList(in), addrList(first))
			} else {
				// keepalived allows it (its own samples do it); the two
				// masters may still both add and remove it.
				b.warnf(v.Pos, "virtual address %v is in vrrp_instance %s and in %s (%s): whichever router lets go of it first removes it for both; keep it in one", a, c.Name, first.VRRP.Name, first.Pos)
			}
		}
	}
}

func sameAddrs(a, b *Instance) bool {
	return slices.Equal(sortedAddrs(a), sortedAddrs(b))
}

func sortedAddrs(in *Instance) []netip.Addr {
	s := slices.Clone(in.VRRP.Addrs)
	slices.SortFunc(s, netip.Addr.Compare)
	return s
}

func addrList(in *Instance) string {
	s := make([]string, len(in.VRRP.Addrs))
	for i, a := range in.VRRP.Addrs {
		s[i] = a.String()
	}
	return fmt.Sprintf("[%s]", strings.Join(s, " "))
}

// ifNameProblem says why no interface can have the name, or "". A name
// that cannot exist on any host is the file's mistake, not the host's:
// keepalived refuses it too, as a missing interface.
func ifNameProblem(name string) string {
	switch {
	case len(name) > 15:
		return "longer than 15 characters, which Linux interface names cannot be"
	case strings.Contains(name, ":"):
		return "a name with ':' is an address label (ip address ... label), not an interface; name the interface the label is on"
	case strings.ContainsAny(name, "/ \t") || name == "." || name == "..":
		return "not a name Linux gives an interface"
	}
	return ""
}

// unexpandedInterfaces reports instance interfaces named by a $NAME that
// no definition matched. Linux allows '$' in a name, so with
// dynamic_interfaces the instance waits for it, as keepalived's does;
// without, keepalived refuses the missing interface, and so does vipd,
// because the name is the file's mistake wherever it runs.
func (b *builder) unexpandedInterfaces() {
	for _, in := range b.cfg.Instances {
		name := in.VRRP.Interface
		if !strings.Contains(name, "$") {
			continue
		}
		const why = "holds a '$' reference that no parameter definition matched (was its $NAME= line left out by an @ line?)"
		if b.cfg.Global.DynamicInterfaces {
			b.warnf(in.Pos, "vrrp_instance %s: interface %s %s; it waits for such an interface (dynamic_interfaces)", in.VRRP.Name, name, why)
		} else {
			b.errorf(in.Pos, "vrrp_instance %s: interface %s %s", in.VRRP.Name, name, why)
		}
	}
}
