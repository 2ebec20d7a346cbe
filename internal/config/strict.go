package config

import (
	"github.com/vipd/vipd/internal/vrrp"
)

// strict applies vrrp_strict (or strict_mode) to an instance read in
// full: RFC 5798 as written, without keepalived's extensions. A setting
// the RFC has no room for is reset with a warning, as keepalived does, so
// that a configuration keepalived runs also runs here; what strict mode
// cannot work without at all is an error.
func (b *builder) strict(in *Instance, blk *Node, seen map[string]*Node) {
	c := &in.VRRP
	name := c.Name
	at := func(keyword string) Pos {
		if n := seen[keyword]; n != nil {
			return n.Pos
		}
		return blk.Pos
	}
	if len(in.VIPs) == 0 {
		b.errorf(blk.Pos, "vrrp_instance %s: strict mode needs at least one address in virtual_ipaddress", name)
	}
	if len(in.UnicastPeers) > 0 {
		b.errorf(at("unicast_peer"), "vrrp_instance %s: strict mode allows no unicast_peer (RFC 5798 speaks multicast only): remove the peers or turn strict mode off", name)
	}
	if c.AuthType != vrrp.AuthNone {
		b.warnf(at("authentication"), "vrrp_instance %s: strict mode allows no authentication: ignoring it, as keepalived does", name)
		c.AuthType, c.AuthPass = vrrp.AuthNone, [8]byte{}
	}
	if c.PreemptDelay != 0 {
		b.warnf(at("preempt_delay"), "vrrp_instance %s: strict mode allows no preempt_delay: using 0, as keepalived does", name)
		c.PreemptDelay = 0
	}
	if n := seen["accept"]; n != nil && in.Accept && c.Version == 2 && c.Priority != vrrp.PriorityOwner {
		b.warnf(n.Pos, "vrrp_instance %s: accept is not part of VRRPv2 (RFC 3768) and strict mode turns it off, as keepalived does; use version 3 to keep it", name)
		in.Accept = false
	}
	if owner := c.Priority == vrrp.PriorityOwner; c.WantMaster != owner {
		b.warnf(at("state"), "vrrp_instance %s: in strict mode state MASTER goes with priority 255 (the address owner) and BACKUP with any other: starting as %s, as keepalived does", name, map[bool]string{true: "MASTER", false: "BACKUP"}[owner])
		c.WantMaster = owner
	}
	if n := seen["garp_lower_prio_repeat"]; n != nil && c.GARPLowerPrioRepeat != 0 {
		b.warnf(n.Pos, "vrrp_instance %s: strict mode sends no extra gratuitous ARP on a lower priority advert: ignoring garp_lower_prio_repeat", name)
	}
	if n := seen["garp_lower_prio_delay"]; n != nil && c.GARPLowerPrioDelay != 0 {
		b.warnf(n.Pos, "vrrp_instance %s: strict mode sends no extra gratuitous ARP on a lower priority advert: ignoring garp_lower_prio_delay", name)
	}
	c.GARPLowerPrioRepeat, c.GARPLowerPrioDelay = 0, 0
	if n := seen["lower_prio_no_advert"]; n != nil && !c.LowerPrioNoAdvert {
		b.warnf(n.Pos, "vrrp_instance %s: in strict mode a master does not answer a lower priority advert: ignoring lower_prio_no_advert false", name)
	}
	c.LowerPrioNoAdvert = true
	if c.DownTimerAdverts != vrrp.DefaultDownTimerAdverts {
		b.warnf(at("down_timer_adverts"), "vrrp_instance %s: strict mode keeps Master_Down_Interval at %d adverts: ignoring down_timer_adverts", name, vrrp.DefaultDownTimerAdverts)
		c.DownTimerAdverts = vrrp.DefaultDownTimerAdverts
	}
	if c.IPv6 && len(in.VIPs) > 0 && !in.VIPs[0].Prefix.Addr().IsLinkLocalUnicast() {
		b.warnf(in.VIPs[0].Pos, "vrrp_instance %s: RFC 5798 wants the first IPv6 virtual address to be link-local; routers that check will drop our adverts", name)
	}
}
