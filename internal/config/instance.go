package config

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vipd/vipd/internal/iproute"
	"github.com/vipd/vipd/internal/vrrp"
)

// instance types one vrrp_instance block.
func (b *builder) instance(blk *Node) {
	if len(blk.Args) != 1 || !blk.Block {
		b.errorf(blk.Pos, "vrrp_instance takes a name and a block")
		return
	}
	in := &Instance{Pos: blk.Pos, VRRP: vrrp.DefaultConfig()}
	errsBefore := len(b.errs)
	defer func() {
		if len(b.errs) > errsBefore {
			if b.broken == nil {
				b.broken = map[*Instance]bool{}
			}
			b.broken[in] = true
		}
	}()
	c := &in.VRRP
	c.Name, c.Interface = blk.Args[0], b.defaultInterface()
	b.inherit(c)
	var interval *Node // advert_int is checked once the version is known
	version := b.version
	explicitVersion := false
	// The lower-priority bursts default to global_defs' master bursts,
	// not this instance's (keepalived 2.2.7's dump shows it).
	lowDelay, lowRepeat := c.GARPMasterDelay, c.GARPMasterRepeat // inherited from global_defs so far
	setIf(&lowDelay, b.defs.lowDelay)
	setIf(&lowRepeat, b.defs.lowRepeat)
	strict := b.defs.strict
	extra := b.defs.extraIf
	var acceptNode *Node // the last of accept and no_accept
	checkUnicastSrc := b.defs.checkUnicastSrc
	var mcastDst, ttl, nativeIPv6 *Node
	var vm vmacSettings // use_vmac and use_ipvlan, settled after the block
	// seen is the last statement of each keyword, for the checks that
	// need the whole block read first.
	seen := map[string]*Node{}
	for _, n := range blk.Children {
		seen[n.Keyword] = n
		switch n.Keyword {
		case "state":
			if b.args(n, 1, 1) {
				switch n.Args[0] {
				case "MASTER":
					c.WantMaster = true
				case "BACKUP":
				default:
					b.warnf(n.Pos, "state %q: unknown, taken as BACKUP (MASTER or BACKUP)", n.Args[0])
				}
			}
		case "interface":
			if b.args(n, 1, 1) {
				c.Interface = n.Args[0]
				if why := ifNameProblem(c.Interface); why != "" {
					b.errorf(n.Pos, "interface %s: %s", c.Interface, why)
				}
			}
		case "virtual_router_id":
			if v, ok := b.int(n, 1, 255); ok {
				c.VRID = uint8(v)
			}
		case "priority":
			if v, ok := b.int(n, 1, 255); ok {
				c.Priority = uint8(v)
			}
		case "advert_int":
			interval = n
		case "version":
			if v, ok := b.int(n, 2, 3); ok {
				version, explicitVersion = uint8(v), true
			}
		case "nopreempt":
			c.NoPreempt = b.args(n, 0, 0)
		case "preempt":
			b.args(n, 0, 0) // the default; keepalived keeps the keyword for compatibility
		case "preempt_delay":
			if v, ok := b.seconds(n, 0, 1000); ok {
				c.PreemptDelay = v
			}
		case "authentication":
			b.authentication(n, c)
		case "virtual_ipaddress":
			in.VIPs = b.vips(n, in.VIPs, false)
		case "virtual_ipaddress_excluded":
			in.Excluded = b.vips(n, in.Excluded, false)
		case "virtual_routes":
			in.Routes = b.routes(n, false, in.Routes)
		case "virtual_rules":
			in.Rules = b.rules(n, false, in.Rules)
		case "unicast_src_ip", "mcast_src_ip":
			if b.args(n, 1, 1) {
				arg := n.Args[0]
				if a, length, cut := strings.Cut(arg, "/"); cut {
					b.warnf(n.Pos, "%s %s: the /%s is ignored, as keepalived does", n.Keyword, arg, length)
					arg = a
				}
				if a, ok := b.addr(n, arg); ok {
					c.Source = a
				}
			}
		case "unicast_peer":
			in.UnicastPeers = b.peers(n, in.UnicastPeers)
		case "check_unicast_src":
			checkUnicastSrc = b.args(n, 0, 0)
		case "mcast_dst_ip":
			if b.args(n, 1, 1) {
				mcastDst = n
			}
		case "unicast_ttl":
			if _, ok := b.int(n, 0, 255); ok {
				ttl = n
			}
		case "native_ipv6":
			if b.args(n, 0, 0) {
				nativeIPv6 = n
			}
		case "vmac_xmit_base":
			in.VMACXmitBase = b.args(n, 0, 0)
		case "promote_secondaries":
			in.PromoteSecondaries = b.args(n, 0, 0)
		case "higher_prio_send_advert":
			b.higherPrioSendAdvert(n)
		case "track_interface":
			in.TrackInterfaces = b.track(n, in.TrackInterfaces)
		case "dont_track_primary":
			in.DontTrackPrimary = b.args(n, 0, 0)
		case "accept", "no_accept":
			if b.args(n, 0, 0) {
				acceptNode = n
			}
		case "strict_mode":
			strict = b.flag(n)
		case "skip_check_adv_addr":
			// keepalived 2.2.7 turns it on whatever value follows.
			if b.args(n, 0, 1) {
				c.SkipCheckAdvAddr = true
				if len(n.Args) == 1 && !b.flag(n) {
					b.warnf(n.Pos, "skip_check_adv_addr %s: keepalived 2.2.7 ignores the value and turns the option on, and so does vipd; remove the line to keep the check", n.Args[0])
				}
			}
		case "lower_prio_no_advert":
			c.LowerPrioNoAdvert = b.flag(n)
		case "v3_checksum_as_v2":
			c.ChecksumAsV2 = b.flag(n)
		case "down_timer_adverts":
			if v, ok := b.int(n, 1, 100); ok {
				c.DownTimerAdverts = v
			}
		case "garp_master_delay":
			setIf(&c.GARPMasterDelay, b.optWholeSeconds(n))
		case "garp_master_refresh":
			setIf(&c.GARPMasterRefresh, b.optWholeSeconds(n))
		case "garp_lower_prio_delay":
			setIf(&lowDelay, b.optWholeSeconds(n))
		case "garp_master_repeat":
			setIf(&c.GARPMasterRepeat, b.optInt(n))
		case "garp_master_refresh_repeat":
			setIf(&c.GARPMasterRefreshRepeat, b.optInt(n))
		case "garp_lower_prio_repeat":
			setIf(&lowRepeat, b.optInt(n))
		case "garp_extra_if", "vmac_garp_intvl":
			if v, ok := b.extraIf(n); ok {
				extra = v
			}
		case "use_vmac":
			b.useVMAC(n, in, &vm)
		case "use_ipvlan":
			b.useIPVLAN(n, in, &vm)
		case "use_vmac_addr":
			in.UseVMACAddr = b.args(n, 0, 0)
		case "track_script":
			in.TrackScripts = b.track(n, in.TrackScripts)
		case "track_file":
			in.TrackFiles = b.resolveFiles("vrrp_instance "+c.Name, b.track(n, in.TrackFiles))
		case "track_process":
			in.TrackProcesses = b.resolveProcesses("vrrp_instance "+c.Name, b.track(n, in.TrackProcesses))
		case "track_bfd":
			in.TrackBFDs = b.resolveBFDs("vrrp_instance "+c.Name, b.track(n, in.TrackBFDs))
		case "smtp_alert":
			in.SMTPAlert = b.flag(n)
			b.smtpAlertSet[&in.SMTPAlert] = true
		case "notify_priority_changes":
			in.NotifyPriorityChanges = b.flag(n)
			b.instPriorityChanges[in] = true
		default:
			if !b.notify(n, "vrrp_instance "+c.Name, &in.Notify) {
				b.other(schemaInstance, n)
			}
		}
	}
	c.GARPLowerPrioDelay, c.GARPLowerPrioRepeat = lowDelay, lowRepeat
	// keepalived 2.2.7 (its dump shows it): state MASTER without a
	// priority is the owner, and the owner without a state is MASTER
	// (strict mode says so first, below).
	if c.WantMaster && seen["priority"] == nil {
		c.Priority = vrrp.PriorityOwner
	}
	native := false
	if nativeIPv6 != nil {
		if slices.ContainsFunc(in.VIPs, func(v VIP) bool { return v.Prefix.Addr().Is4() }) {
			b.errorf(nativeIPv6.Pos, "native_ipv6 with IPv4 virtual addresses: an instance is of one family")
		} else {
			native = true
		}
	}
	b.family(in, version, explicitVersion, native)
	if c.Version == 3 && c.AuthType != vrrp.AuthNone {
		// RFC 5798 removed authentication; keepalived drops it too.
		b.warnf(seen["authentication"].Pos, "authentication: VRRPv3 has none, so it is ignored, as keepalived ignores it; remove the block")
		c.AuthType, c.AuthPass = vrrp.AuthNone, [8]byte{}
	}
	b.unicastOptions(in, mcastDst, ttl, checkUnicastSrc)
	if interval != nil {
		b.advertInt(interval, c)
	}
	// keepalived's default: accept, except in strict mode where only the
	// address owner accepts (RFC 5798's Accept_Mode defaults to false).
	in.Accept = !strict || c.Priority == vrrp.PriorityOwner
	if acceptNode != nil {
		in.Accept = acceptNode.Keyword == "accept"
	}
	if strict {
		b.strict(in, blk, seen)
	}
	if c.Priority == vrrp.PriorityOwner && seen["state"] == nil {
		c.WantMaster = true
	}
	if c.AuthType == vrrp.AuthAH && c.WantMaster && c.Priority != vrrp.PriorityOwner {
		// It must hear the master's AH sequence number before it sends.
		b.warnf(seen["state"].Pos, "state MASTER with auth_type AH: started as BACKUP, as keepalived does, so that it learns the AH sequence number first")
		c.WantMaster = false
	}
	in.ExtraAnnounce, in.ExtraAnnounceAll = extra.every, extra.all
	b.settleVMAC(in, &vm, strict, seen["vmac_xmit_base"])
	if c.VRID == 0 {
		b.errorf(blk.Pos, "vrrp_instance %s: virtual_router_id is required", c.Name)
	}
	b.trackOwnInterfaces(in)
	if c.Priority == vrrp.PriorityOwner {
		b.unweightFiles(in, "by the address owner (priority 255)")
	}
	// Settings keepalived clears with a warning, cleared alike.
	if c.NoPreempt && c.Priority == vrrp.PriorityOwner {
		b.warnf(seen["nopreempt"].Pos, "nopreempt does nothing for the address owner (priority 255): dropped, as keepalived does")
		c.NoPreempt = false
	}
	if c.PreemptDelay > 0 && c.WantMaster {
		b.warnf(seen["preempt_delay"].Pos, "preempt_delay does nothing with state MASTER: dropped, as keepalived does; use state BACKUP to delay preemption")
		c.PreemptDelay = 0
	}
	if len(in.VIPs) == 0 && !b.broken[in] {
		// keepalived accepts it (the adverts then carry no address);
		// what the master holds is its excluded addresses, routes and
		// rules, if any.
		if len(in.Excluded)+len(in.Routes)+len(in.Rules) == 0 {
			b.warnf(blk.Pos, "vrrp_instance %s: no virtual_ipaddress: the instance elects a master that holds nothing", c.Name)
		}
	}
	if c.NoPreempt && c.WantMaster {
		// keepalived clears it too (with a warning of its own): both
		// ends of a mixed pair then preempt alike.
		c.NoPreempt = false
		b.warnf(seen["nopreempt"].Pos, "vrrp_instance %s: nopreempt does nothing with state MASTER, and is dropped as keepalived drops it: this router preempts; set state BACKUP on every router of %s for nopreempt to work", c.Name, c.Name)
	}
	b.cfg.Instances = append(b.cfg.Instances, in)
}

// higherPrioSendAdvert reads higher_prio_send_advert [BOOL] (and the
// global vrrp_ one): a master beaten by a higher priority sends one more
// advert before it steps down. vipd always does, so that a master that
// had not heard it re-announces the addresses at once.
func (b *builder) higherPrioSendAdvert(n *Node) {
	if !b.flag(n) && len(n.Args) == 1 {
		b.warnf(n.Pos, "%s %s: vipd always sends one advert when a higher priority beats it (it makes a healed split brain lose no traffic); the setting changes nothing", n.Keyword, n.Args[0])
	}
}

// unicastOptions settles mcast_dst_ip, unicast_ttl, check_unicast_src and
// vmac_xmit_base once the family and the peers are known, as keepalived
// does.
func (b *builder) unicastOptions(in *Instance, mcastDst, ttl *Node, checkSrc bool) {
	c := &in.VRRP
	if mcastDst != nil {
		a, ok := b.addr(mcastDst, mcastDst.Args[0])
		switch {
		case !ok:
		case a.Is6() != c.IPv6:
			b.errorf(mcastDst.Pos, "mcast_dst_ip %v is not of the instance's family", a)
		case !a.IsMulticast() || a.Is6() && !a.IsLinkLocalMulticast():
			b.errorf(mcastDst.Pos, "mcast_dst_ip %v is not a %smulticast address", a, map[bool]string{true: "link-local ", false: ""}[a.Is6()])
		default:
			c.Group = a
		}
	}
	in.UnicastTTL = vrrp.TTL
	if ttl != nil {
		if len(in.UnicastPeers) == 0 {
			b.warnf(ttl.Pos, "unicast_ttl without unicast_peer: adverts are multicast with TTL 255; ignored, as keepalived ignores it")
		} else {
			v, _ := strconv.Atoi(ttl.Args[0])
			in.UnicastTTL = uint8(v)
		}
	}
	c.Unicast = len(in.UnicastPeers) > 0
	if checkSrc && len(in.UnicastPeers) > 0 {
		c.AcceptFrom = in.UnicastPeers
	}
	if !in.UseVMAC {
		in.VMACXmitBase = false // nothing to send from but the interface
	}
	if in.UseVMAC && len(in.UnicastPeers) > 0 && !in.VMACXmitBase {
		b.warnf(in.Pos, "vrrp_instance %s: unicast with use_vmac sends from the base interface (vmac_xmit_base), as keepalived sets it", c.Name)
		in.VMACXmitBase = true
	}
}

// trackOwnInterfaces makes the instance watch the interfaces its tracked
// addresses, routes and rules use, as keepalived does: one going down
// takes the instance to FAULT, since what it holds there is gone. The
// instance's own interface is watched already (or, with
// dont_track_primary, not for its addresses).
func (b *builder) trackOwnInterfaces(in *Instance) {
	var devs []string
	for _, v := range slices.Concat(in.VIPs, in.Excluded) {
		if v.Track && v.Dev != "" && v.Dev != in.VRRP.Interface {
			devs = append(devs, v.Dev)
		}
	}
	for _, r := range in.Routes {
		if r.Track && r.Dev != "" && (r.Dev != in.VRRP.Interface || in.DontTrackPrimary) {
			devs = append(devs, r.Dev)
		}
	}
	for _, r := range in.Rules {
		for _, dev := range []string{r.IIF, r.OIF} {
			if r.Track && dev != "" && (dev != in.VRRP.Interface || in.DontTrackPrimary) {
				devs = append(devs, dev)
			}
		}
	}
	for _, dev := range devs {
		if !slices.ContainsFunc(in.TrackInterfaces, func(t Tracked) bool { return t.Name == dev && t.Weight == 0 }) {
			in.TrackInterfaces = append(in.TrackInterfaces, Tracked{Pos: in.Pos, Name: dev})
		}
	}
}

func setIf[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// inherit applies global_defs to a fresh instance.
func (b *builder) inherit(c *vrrp.Config) {
	d := &b.defs
	if d.group4.IsValid() {
		c.Group = d.group4
	}
	setIf(&c.GARPMasterDelay, d.garpDelay)
	setIf(&c.GARPMasterRefresh, d.garpRefresh)
	setIf(&c.GARPMasterRepeat, d.garpRepeat)
	setIf(&c.GARPMasterRefreshRepeat, d.refreshRepeat)
	c.SkipCheckAdvAddr = d.skipCheckAdvAddr
	c.LowerPrioNoAdvert = d.lowerPrioNoAdvert
	c.ChecksumAsV2 = d.checksumAsV2
}

// family settles IPv4 or IPv6 from the virtual addresses (all of one
// family), or native_ipv6, and the VRRP version: IPv6 is always VRRPv3.
func (b *builder) family(in *Instance, version uint8, explicit, nativeIPv6 bool) {
	c := &in.VRRP
	if n := len(in.VIPs); n > vrrp.MaxAddrs {
		// An advert counts its addresses in one byte.
		b.warnf(in.VIPs[vrrp.MaxAddrs].Pos, "vrrp_instance %s: %d virtual addresses, and an advert carries at most %d: the last %d are added and removed as virtual_ipaddress_excluded, as keepalived does", c.Name, n, vrrp.MaxAddrs, n-vrrp.MaxAddrs)
		in.Excluded = append(in.VIPs[vrrp.MaxAddrs:len(in.VIPs):len(in.VIPs)], in.Excluded...)
		in.VIPs = in.VIPs[:vrrp.MaxAddrs:vrrp.MaxAddrs]
	}
	for i, v := range in.VIPs {
		a := v.Prefix.Addr()
		if i == 0 {
			c.IPv6 = a.Is6()
		} else if a.Is6() != c.IPv6 {
			b.errorf(v.Pos, "virtual_ipaddress %v: all virtual addresses of an instance must be of one family (use virtual_ipaddress_excluded for the other)", a)
		}
		c.Addrs = append(c.Addrs, a)
	}
	c.IPv6 = c.IPv6 || nativeIPv6
	if version == 0 {
		version = 2
	}
	if c.IPv6 {
		if explicit && version == 2 {
			b.errorf(in.Pos, "vrrp_instance %s: IPv6 needs VRRP version 3", c.Name)
		}
		version = 3
		c.Group = vrrp.GroupIPv6
		if b.defs.group6.IsValid() {
			c.Group = b.defs.group6
		}
	}
	c.Version = version
	if c.Source.IsValid() && c.Source.Is6() != c.IPv6 {
		b.errorf(in.Pos, "vrrp_instance %s: source address %v is not of the instance's family", c.Name, c.Source)
	}
	for _, p := range in.UnicastPeers {
		if p.Is6() != c.IPv6 {
			b.errorf(in.Pos, "vrrp_instance %s: unicast peer %v is not of the instance's family", c.Name, p)
		}
	}
}

func (b *builder) advertInt(n *Node, c *vrrp.Config) {
	v, ok := b.seconds(n, 0.01, 255)
	if !ok {
		return
	}
	switch {
	case c.Version == 2 && v%time.Second != 0:
		// keepalived rounds it with a warning: a mixed pair then
		// advertises alike.
		c.Interval = max(v.Round(time.Second), time.Second)
		b.warnf(n.Pos, "advert_int %s: VRRPv2 counts whole seconds; %v is used, as keepalived rounds it (version 3 advertises in 10ms units)", n.Args[0], c.Interval)
	case c.Version == 3 && v > vrrp.MaxIntervalV3*vrrp.Centisecond:
		c.Interval = vrrp.MaxIntervalV3 * vrrp.Centisecond
		b.warnf(n.Pos, "advert_int %s: VRRPv3 allows at most 40.95s; 40.95s is used, as keepalived does", n.Args[0])
	case c.Version == 3 && v%vrrp.Centisecond != 0:
		c.Interval = v.Round(vrrp.Centisecond)
		b.warnf(n.Pos, "advert_int %s: VRRPv3 counts in units of 10ms; %v is used, as keepalived does", n.Args[0], c.Interval)
	default:
		c.Interval = v
	}
}

func (b *builder) authentication(blk *Node, c *vrrp.Config) {
	if !blk.Block || len(blk.Args) > 0 {
		b.errorf(blk.Pos, "authentication takes a block")
		return
	}
	for _, n := range blk.Children {
		switch n.Keyword {
		case "auth_type":
			if !b.args(n, 1, 1) {
				continue
			}
			switch n.Args[0] {
			case "PASS":
				c.AuthType = vrrp.AuthPass
			case "AH":
				c.AuthType = vrrp.AuthAH
			default:
				b.errorf(n.Pos, "auth_type %q: must be PASS or AH", n.Args[0])
			}
		case "auth_pass":
			if !b.args(n, 1, 1) {
				continue
			}
			if len(n.Args[0]) > len(c.AuthPass) {
				b.errorf(n.Pos, "auth_pass is longer than 8 characters: keepalived sends only %q; shorten it to at most 8 on every router", n.Args[0][:8])
				continue
			}
			c.AuthPass = [8]byte{}
			copy(c.AuthPass[:], n.Args[0])
		default:
			b.other(schemaAuth, n)
		}
	}
}

// vips reads a virtual_ipaddress, virtual_ipaddress_excluded or
// static_ipaddress block.
func (b *builder) vips(blk *Node, vips []VIP, static bool) []VIP {
	if !b.listBlock(blk) {
		return vips
	}
	for _, n := range blk.Children {
		if v, ok := b.vip(n, static); ok {
			vips = append(vips, v)
		}
	}
	return vips
}

// vip reads one address line as keepalived 2.2.7 does.
func (b *builder) vip(n *Node, static bool) (VIP, bool) {
	v := VIP{Pos: n.Pos, Track: true}
	p, err := ParsePrefix(n.Keyword)
	if err != nil {
		b.errorf(n.Pos, "virtual address %q: %v", n.Keyword, err)
		return v, false
	}
	v.Prefix = p
	c := newCursor(b, n)
	c.i = 1
	var preferred *uint32
	for ; c.more(); c.i++ {
		w := c.peek()
		switch w {
		case "dev", "scope", "brd", "broadcast", "label", "peer", "preferred_lft":
		case "track_group":
			if !c.trackGroup(static, "address", &v.TrackGroup) {
				return v, false
			}
			continue
		case "home":
			v.Home = true
			continue
		case "-nodad":
			v.DAD = true
			continue
		case "mngtmpaddr":
			v.MngTmpAddr = true
			continue
		case "noprefixroute":
			v.NoPrefixRoute = true
			continue
		case "autojoin":
			v.AutoJoin = true
			continue
		case "no_track":
			v.Track = false
			continue
		case "use_vmac":
			if !static {
				v.UseVMAC = true
				continue
			}
			fallthrough
		default:
			b.warnf(n.Pos, "virtual address %s: unknown option %q is ignored, as keepalived ignores it", n.Keyword, w)
			continue
		}
		val, ok := c.value(w)
		if !ok {
			return v, false
		}
		switch w {
		case "dev":
			if v.Dev != "" {
				return v, c.errorf("virtual address %s: dev given twice", n.Keyword)
			}
			v.Dev = val
		case "scope":
			sc, err := iproute.ParseScope(val)
			if err != nil {
				return v, c.errorf("virtual address %s: %v", n.Keyword, err)
			}
			v.Scope = iproute.ScopeName(sc)
		case "brd", "broadcast":
			if p.Addr().Is6() {
				return v, c.errorf("virtual address %s: an IPv6 address has no broadcast", n.Keyword)
			}
			if _, err := netip.ParseAddr(val); err != nil && val != "+" && val != "-" {
				return v, c.errorf("brd %q: must be an address, + or -", val)
			}
			v.Broadcast = val
		case "label":
			if len(val) >= 16 {
				return v, c.errorf("virtual address %s: label %q is longer than 15 characters", n.Keyword, val)
			}
			v.Label = val
		case "peer":
			a, ok := parseHost(val)
			switch {
			case v.Peer.IsValid():
				return v, c.errorf("virtual address %s: one peer only", n.Keyword)
			case !ok:
				return v, c.errorf("virtual address %s: peer %q is not an IP address", n.Keyword, val)
			case a.Is6() != p.Addr().Is6():
				return v, c.errorf("virtual address %s: peer %s is of the other family", n.Keyword, val)
			case p.Bits() != p.Addr().BitLen():
				return v, c.errorf("virtual address %s: an address with a peer takes no prefix length", n.Keyword)
			}
			v.Peer = a
		case "preferred_lft":
			if val == "forever" {
				preferred = nil
				break
			}
			x, err := strconv.ParseUint(val, 10, 32)
			if err != nil {
				return v, c.errorf("preferred_lft %q: must be forever or seconds 0..4294967295", val)
			}
			lft := uint32(x)
			preferred = &lft
		}
	}
	switch {
	case v.Broadcast != "" && v.Peer.IsValid():
		return v, c.errorf("virtual address %s: brd and peer cannot go together", n.Keyword)
	case (v.Broadcast == "+" || v.Broadcast == "-") && p.Bits() > 30:
		return v, c.errorf("virtual address %s: a /%d has no broadcast address", n.Keyword, p.Bits())
	}
	if p.Addr().Is6() {
		if v.Scope != "" {
			b.warnf(n.Pos, "virtual address %s: an IPv6 address takes no scope; scope %s is ignored, as keepalived ignores it", n.Keyword, v.Scope)
			v.Scope = ""
		}
		if v.Label != "" {
			b.warnf(n.Pos, "virtual address %s: an IPv6 address takes no label; label %s is ignored, as keepalived ignores it", n.Keyword, v.Label)
			v.Label = ""
		}
		// keepalived deprecates a /128 unless told otherwise, so that
		// it is not picked as a source address.
		if preferred == nil && !slices.Contains(c.words, "preferred_lft") && p.Bits() == 128 {
			preferred = new(uint32)
		}
		v.PreferredLft = preferred
	}
	if v.TrackGroup != "" && v.Dev == "" {
		b.warnf(n.Pos, "virtual address %s: track_group needs a dev; ignored", n.Keyword)
		v.TrackGroup = ""
	}
	return v, true
}

// ParsePrefix reads a virtual address as keepalived writes it, "IP" or
// "IP/LEN"; a bare address is a host prefix.
func ParsePrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	return netip.ParsePrefix(s)
}

// peers reads a unicast_peer block: one address per line.
func (b *builder) peers(blk *Node, peers []netip.Addr) []netip.Addr {
	if !blk.Block || len(blk.Args) > 0 {
		b.errorf(blk.Pos, "unicast_peer takes a block")
		return peers
	}
	for _, n := range blk.Children {
		if len(n.Args) > 0 {
			b.notSupportedAt(n.Pos, "unicast_peer option "+n.Args[0])
			continue
		}
		if a, ok := b.addr(n, n.Keyword); ok {
			peers = append(peers, a)
		}
	}
	return peers
}

// vmacSettings is what use_vmac and use_ipvlan said in one instance, for
// settleVMAC once the block is read.
type vmacSettings struct {
	mac     net.HardwareAddr
	macNode *Node
	macVRID bool  // five octets given: the VRID is the sixth
	ipvlan  *Node // the use_ipvlan statement
}

// useVMAC reads use_vmac [NAME] [MAC] as keepalived 2.2.7 does: a word
// with a ':' is the MAC (no interface name holds one), any other the
// name; each may be given once, over one statement or several, and words
// past the second are ignored.
func (b *builder) useVMAC(n *Node, in *Instance, vm *vmacSettings) {
	if n.Block {
		b.errorf(n.Pos, "use_vmac does not take a block")
		return
	}
	in.UseVMAC = true
	for i, w := range n.Args {
		if i == 2 {
			b.warnf(n.Pos, "use_vmac: %s is ignored, as keepalived ignores what follows a name and a MAC address", strings.Join(n.Args[2:], " "))
			break
		}
		if !strings.Contains(w, ":") {
			b.vmacIfName(n, in, w)
			continue
		}
		if vm.mac != nil {
			b.errorf(n.Pos, "use_vmac %s: the MAC address is given already (%s); keepalived keeps the first", w, vm.macNode.Pos)
			continue
		}
		mac, vrid, rest, err := parseVMACAddr(w)
		if err != nil {
			b.errorf(n.Pos, "use_vmac %s: %v", w, err)
			continue
		}
		if rest != "" {
			b.warnf(n.Pos, "use_vmac %s: %s after the sixth octet is ignored, as keepalived ignores it", w, rest)
		}
		vm.mac, vm.macNode, vm.macVRID = mac, n, vrid
	}
}

// parseVMACAddr reads use_vmac's MAC address as keepalived 2.2.7 reads
// it: octets of one or two hex digits, five of them (the VRID will be the
// sixth, a ':' may follow) or six; keepalived stops reading after the
// sixth, so what follows it is returned as rest. A multicast MAC, or a
// VRRP virtual MAC (which would clash with the VMACs of other virtual
// routers), is refused as keepalived refuses it.
func parseVMACAddr(w string) (mac net.HardwareAddr, vrid bool, rest string, err error) {
	if strings.Trim(w, "0123456789abcdefABCDEF:") != "" {
		return nil, false, "", errors.New("a MAC address is hex octets separated by ':'")
	}
	parts := strings.Split(w, ":")
	n := 6
	switch {
	case len(parts) == 5 || len(parts) == 6 && parts[5] == "":
		n, vrid = 5, true
	case len(parts) < 5:
		return nil, false, "", errors.New("a MAC address needs six octets, or five for the VRID to be the sixth")
	}
	mac = make(net.HardwareAddr, 6)
	for i, p := range parts[:n] {
		v, err := strconv.ParseUint(p, 16, 8)
		if err != nil || len(p) > 2 {
			return nil, false, "", fmt.Errorf("octet %d (%q) is not one or two hex digits", i+1, p)
		}
		mac[i] = byte(v)
	}
	if n == 6 && len(parts) > 6 {
		rest = strings.TrimLeft(strings.Join(parts[6:], ":"), ":")
	}
	switch {
	case mac[0]&1 != 0:
		return nil, false, "", errors.New("a multicast MAC address (the first octet is odd) cannot be an interface's")
	case mac[0] == 0 && mac[1] == 0 && mac[2] == 0x5e && mac[3] == 0 && (mac[4] == 1 || mac[4] == 2):
		return nil, false, "", errors.New("a VRRP virtual MAC (RFC 5798) is not allowed, as keepalived refuses it: use_vmac without a MAC gives that one")
	}
	return mac, vrid, rest, nil
}

// vmacIfName takes the name use_vmac or use_ipvlan gives the interface,
// once per instance and not one an earlier instance gives (keepalived then
// names it itself); a name no interface can have is refused (keepalived
// would fail to make it).
func (b *builder) vmacIfName(n *Node, in *Instance, name string) {
	if in.VMACName != "" {
		b.errorf(n.Pos, "%s %s: the interface is named %s already; keepalived keeps the first name", n.Keyword, name, in.VMACName)
		return
	}
	if why := ifNameProblem(name); why != "" {
		b.errorf(n.Pos, "%s %s: %s", n.Keyword, name, why)
		return
	}
	for _, o := range b.cfg.Instances {
		if o.VMACName == name {
			b.warnf(n.Pos, "%s %s: vrrp_instance %s (%s) names its interface so already; this one gets a name of its own, as keepalived gives it", n.Keyword, name, o.VRRP.Name, o.Pos)
			return
		}
	}
	in.VMACName = name
}

// ipvlanModes are use_ipvlan's mode words and netlink's flags for them.
var ipvlanModes = []string{"bridge", "private", "vepa"}

// useIPVLAN reads use_ipvlan [NAME] [ADDRESS[/PREFIX]] [bridge|private|vepa]
// in any order, as keepalived 2.2.7 does: a mode word, else an address,
// else the name; each taken once.
func (b *builder) useIPVLAN(n *Node, in *Instance, vm *vmacSettings) {
	if n.Block {
		b.errorf(n.Pos, "use_ipvlan does not take a block")
		return
	}
	if vm.ipvlan != nil {
		b.errorf(n.Pos, "use_ipvlan is given already (%s); keepalived ignores this one", vm.ipvlan.Pos)
		return
	}
	vm.ipvlan, in.IPVLAN, in.IPVLANMode = n, true, "bridge"
	var mode string
	for _, w := range n.Args {
		if slices.Contains(ipvlanModes, w) {
			if mode != "" {
				b.errorf(n.Pos, "use_ipvlan %s: the mode is %s already", w, mode)
				continue
			}
			mode, in.IPVLANMode = w, w
			continue
		}
		if p, err := ParsePrefix(w); err == nil && p.Addr().Zone() == "" {
			if in.IPVLANAddr.IsValid() {
				b.errorf(n.Pos, "use_ipvlan %s: the address is %v already", w, in.IPVLANAddr)
				continue
			}
			in.IPVLANAddr = netip.PrefixFrom(p.Addr().Unmap(), p.Bits())
			continue
		}
		b.vmacIfName(n, in, w)
	}
}

// settleVMAC finishes use_vmac, use_ipvlan and the address option
// use_vmac once the instance's family and VRID are known, as keepalived
// 2.2.7's vrrp_complete_instance does. The names come later (nameVMACs),
// when every instance's own names are known.
func (b *builder) settleVMAC(in *Instance, vm *vmacSettings, strict bool, xmitBase *Node) {
	c := &in.VRRP
	if vm.mac != nil {
		if strict {
			b.errorf(vm.macNode.Pos, "use_vmac %s: strict mode takes the VRRP virtual MAC, not another (keepalived drops the address given)", vm.mac)
		} else {
			in.VMACAddr = vm.mac
			if vm.macVRID {
				in.VMACAddr[5] = c.VRID
			}
		}
	}
	if in.IPVLAN {
		if in.UseVMAC {
			// keepalived 2.2.7 makes the ipvlan, not the macvlan, and
			// puts the addresses on it rather than on the parent.
			b.warnf(vm.ipvlan.Pos, "use_ipvlan with use_vmac: the ipvlan is made and no macvlan, and the addresses go on the ipvlan instead of %s, as keepalived 2.2.7 does", c.Interface)
			in.UseVMAC, in.IPVLANAddresses = false, true
		} else if xmitBase != nil {
			b.warnf(xmitBase.Pos, "vmac_xmit_base does nothing with use_ipvlan (keepalived 2.2.7 takes it only with use_vmac): adverts leave from the ipvlan")
		}
		switch a := in.IPVLANAddr; {
		case !a.IsValid() && !c.IPv6:
			b.errorf(vm.ipvlan.Pos, "use_ipvlan: an IPv4 instance's ipvlan needs an address (use_ipvlan [NAME] ADDRESS[/PREFIX] [MODE]): the adverts leave from it")
		case !a.IsValid():
			// IPv6: the adverts leave from the link-local address.
		case a.Addr().Is6() != c.IPv6:
			b.errorf(vm.ipvlan.Pos, "use_ipvlan %v: the ipvlan's address is not of the instance's family", a)
		case !c.Source.IsValid():
			// keepalived sends the adverts from it unless told otherwise.
			c.Source = a.Addr()
		}
	}
	vmacBit := in.UseVMAC || in.IPVLANAddresses
	for _, list := range [][]VIP{in.VIPs, in.Excluded} {
		for i := range list {
			v := &list[i]
			if !v.UseVMAC {
				continue
			}
			dev := cmp.Or(v.Dev, c.Interface)
			same := v.Prefix.Addr().Is6() == c.IPv6
			// keepalived 2.2.7 reports both as errors, and the address
			// goes where the instance's settings put it anyway.
			switch {
			case dev == c.Interface && same && vmacBit:
				b.warnf(v.Pos, "virtual address %s: use_vmac does nothing: the instance's use_vmac puts it on its VMAC already", v.Prefix)
				v.UseVMAC = false
			case (dev != c.Interface || !same) && in.UseVMACAddr:
				b.warnf(v.Pos, "virtual address %s: use_vmac does nothing: use_vmac_addr puts it on a VMAC already", v.Prefix)
				v.UseVMAC = false
			}
		}
	}
}

// vmacPrefix reads global_defs' vmac_prefix and vmac_addr_prefix; the
// first given stands, as in keepalived.
func (b *builder) vmacPrefix(n *Node) {
	g := &b.cfg.Global
	dst := map[string]*string{"vmac_prefix": &g.VMACPrefix, "vmac_addr_prefix": &g.VMACAddrPrefix}[n.Keyword]
	switch {
	case !b.args(n, 1, 1):
	case *dst != "":
		b.errorf(n.Pos, "%s %s: given already (%s); keepalived keeps the first", n.Keyword, n.Args[0], *dst)
	case strings.ContainsAny(n.Args[0], "/:"):
		b.errorf(n.Pos, "%s %q: no interface name can hold '/' or ':'", n.Keyword, n.Args[0])
	default:
		*dst = n.Args[0]
	}
}

// vmacBit is keepalived's VRRP_VMAC_BIT: the instance's addresses of its
// family go on its own VMAC (or ipvlan).
func (in *Instance) vmacBit() bool { return in.UseVMAC || in.IPVLANAddresses }

// onAddrVMAC reports whether an address goes on a VMAC of its own
// interface: with the option use_vmac, or with use_vmac_addr when it is
// on another interface than the instance's or of the other family;
// never one the instance's own VMAC takes.
func (in *Instance) onAddrVMAC(v VIP) bool {
	dev := cmp.Or(v.Dev, in.VRRP.Interface)
	same := v.Prefix.Addr().Is6() == in.VRRP.IPv6
	if dev == in.VRRP.Interface && same && in.vmacBit() {
		return false
	}
	return v.UseVMAC || in.UseVMACAddr && (dev != in.VRRP.Interface || !same)
}

// VirtualMAC is the MAC address of the instance's VMAC, or of an address
// VMAC for the family: the one use_vmac gives, else the VRRP virtual MAC.
func (in *Instance) VirtualMAC(ipv6 bool) net.HardwareAddr {
	if in.VMACAddr != nil {
		return in.VMACAddr
	}
	fam := byte(1)
	if ipv6 {
		fam = 2
	}
	return net.HardwareAddr{0x00, 0x00, 0x5e, 0x00, fam, in.VRRP.VRID}
}

// AddrVMAC is a macvlan vipd makes on an address's interface for the
// addresses use_vmac_addr or the option use_vmac put there.
type AddrVMAC struct {
	Name   string
	Parent string
	MAC    net.HardwareAddr
}

// nameVMACs names the VMACs and ipvlans the file leaves unnamed, and the
// address VMACs, as keepalived 2.2.7 does once every instance is read:
// in file order, an instance's own first, then its address VMACs in
// address order (one per interface and MAC), each the first of
// PREFIX.VRID, PREFIX1.VRID, PREFIX2.VRID… (an IPv6 one trying
// PREFIX6.VRID second) that no instance names or uses. keepalived also
// skips the names of interfaces the host has; vipd cannot know them
// here, and refuses at start to take over an interface it did not make.
func (b *builder) nameVMACs() {
	g := &b.cfg.Global
	prefix := cmp.Or(g.VMACPrefix, "vrrp")
	addrPrefix := cmp.Or(g.VMACAddrPrefix, prefix)
	taken := map[string]bool{}
	for _, in := range b.cfg.Instances {
		taken[in.VRRP.Interface], taken[in.VMACName] = true, true
		for _, v := range slices.Concat(in.VIPs, in.Excluded) {
			taken[v.Dev] = true
		}
	}
	type key struct{ parent, mac string }
	owner := map[key]*Instance{}
	for _, in := range b.cfg.Instances {
		c := &in.VRRP
		if (in.UseVMAC || in.IPVLAN) && in.VMACName == "" {
			in.VMACName = vmacName(prefix, c.VRID, c.IPv6, taken)
			taken[in.VMACName] = true
		}
		if in.UseVMAC {
			owner[key{c.Interface, in.VirtualMAC(c.IPv6).String()}] = in
		}
		in.AddrVMACs = nil
		for _, v := range slices.Concat(in.VIPs, in.Excluded) {
			if !in.onAddrVMAC(v) {
				continue
			}
			ipv6 := v.Prefix.Addr().Is6()
			k := key{cmp.Or(v.Dev, c.Interface), in.VirtualMAC(ipv6).String()}
			if slices.ContainsFunc(in.AddrVMACs, func(a AddrVMAC) bool { return a.Parent == k.parent && a.MAC.String() == k.mac }) {
				continue
			}
			name := ""
			switch o := owner[k]; {
			case o == in:
				// A MAC given to use_vmac serves both families: keepalived
				// finds the instance's own VMAC for the other one.
				name = in.VMACName
			case o != nil:
				b.errorf(v.Pos, "virtual address %s: its VMAC on %s (MAC %s) would be vrrp_instance %s's (%s) too, which keepalived refuses or shares; give the instances different virtual_router_ids", v.Prefix, k.parent, k.mac, o.VRRP.Name, o.Pos)
				continue
			default:
				name = vmacName(addrPrefix, c.VRID, ipv6, taken)
				taken[name] = true
				owner[k] = in
			}
			in.AddrVMACs = append(in.AddrVMACs, AddrVMAC{Name: name, Parent: k.parent, MAC: in.VirtualMAC(ipv6)})
		}
	}
}

// vmacName is keepalived 2.2.7's create_vmac_name: PREFIX.VRID, then
// PREFIX1.VRID, PREFIX2.VRID… (IPv6: PREFIX6.VRID, then 1…5, 7…), the
// prefix cut so that the name fits an interface's 15 characters.
func vmacName(prefix string, vrid uint8, ipv6 bool, taken map[string]bool) string {
	name := func(num string) string {
		suffix := num + "." + strconv.Itoa(int(vrid))
		if len(prefix)+len(suffix) > 15 {
			return prefix[:15-len(suffix)] + suffix
		}
		return prefix + suffix
	}
	if n := name(""); !taken[n] {
		return n
	}
	if ipv6 {
		if n := name("6"); !taken[n] {
			return n
		}
	}
	for num := 1; ; num++ {
		if ipv6 && num == 6 {
			continue
		}
		if n := name(strconv.Itoa(num)); !taken[n] {
			return n
		}
	}
}
