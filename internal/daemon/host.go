package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"syscall"
	"time"

	"github.com/vipd/vipd/internal/config"
	"github.com/vipd/vipd/internal/firewall"
	"github.com/vipd/vipd/internal/netio"
	"github.com/vipd/vipd/internal/vip"
	"github.com/vipd/vipd/internal/vrrp"
)

// instance is the host side of one vrrp_instance: where its adverts go
// out, which addresses it puts where, and when they must be renewed.
type instance struct {
	cfg  *config.Instance
	vr   *vrrp.Instance
	base *net.Interface // the configured interface: adverts are heard here; nil while it is missing
	send *net.Interface // adverts leave here: base, or the VMAC; nil while base is
	dsts []netip.Addr   // the multicast group, or the unicast peers

	addrs    []vip.Address // virtual_ipaddress then virtual_ipaddress_excluded
	tracked  []bool        // by addrs: put back if deleted (not no_track)
	announce map[string][]netip.Addr
	holding  bool
	renewAt  time.Duration
	linkIsUp bool             // as last seen; a change is a fault or a recovery
	track    tracked          // track_interface, track_script
	files    map[string]int64 // what the tracked track_files hold, by name
	procUp   map[string]bool  // whether the tracked processes' quorums hold, by name
	bfdUp    map[string]bool  // whether the tracked BFD sessions are up, by name
	mailed   vrrp.State       // the state last mailed (smtp_alert)
	notify   notifiers

	// source is the address adverts go from; fixedSource: the
	// configuration gives it (else it is the interface's, found again
	// whenever the interface comes back). waiting is why the instance
	// has no interface yet (dynamic_interfaces), nil once it has one.
	source      netip.Addr
	fixedSource bool
	waiting     error

	vmacLinkLocal netip.Addr    // IPv6 with use_vmac: the VMAC's advert source
	reannounceAt  time.Duration // use_vmac: one more announcement then (0: none)
	// vmacs are the macvlans that are up only while master: the
	// instance's VMAC and its address VMACs (use_vmac_addr, the address
	// option use_vmac).
	vmacs []vmacLink
	// vmacGroup is the advert group the VMAC joins while up (invalid
	// without use_vmac or with unicast peers), on conn.
	vmacGroup netip.Addr
	conn      *netio.Conn

	// fw blocks traffic to the addresses while master, for an instance
	// not in accept mode (nil otherwise); blocked says it does now.
	fw      *firewall.Table
	blocked bool

	announcer *vip.Announcer
	extraDevs []string      // garp_extra_if: announced on again every cfg.ExtraAnnounce
	extraAt   time.Duration // while master, when next
	// mastership ends when the addresses go: announcements still queued
	// for them must not go out.
	mastership context.Context
	endMaster  context.CancelFunc
}

// newInstance prepares an instance's host side and finds its interface
// (see attach). A missing interface is an error unless dynamic
// (dynamic_interfaces): then the instance waits for it in FAULT, with
// no source address yet.
func newInstance(ci *config.Instance, dynamic bool) (*instance, error) {
	c := &ci.VRRP
	in := &instance{cfg: ci, announce: map[string][]netip.Addr{}, fixedSource: c.Source.IsValid()}
	if err := in.attach(); err != nil {
		if !dynamic {
			return nil, fmt.Errorf("%s: vrrp_instance %s: %w", ci.Pos, c.Name, err)
		}
		in.waiting = err
		if !in.fixedSource {
			c.Source = netip.IPv4Unspecified()
			if c.IPv6 {
				c.Source = netip.IPv6Unspecified()
			}
		}
	} else if !in.fixedSource {
		c.Source = in.source
	}
	in.dsts = ci.UnicastPeers
	if len(in.dsts) == 0 {
		in.dsts = []netip.Addr{c.Group}
	}
	for _, list := range [][]config.VIP{ci.VIPs, ci.Excluded} {
		for _, v := range list {
			a := v.Address
			a.Dev = ci.AddressDev(v)
			in.addrs = append(in.addrs, a)
			in.tracked = append(in.tracked, v.Track)
			in.announce[a.Dev] = append(in.announce[a.Dev], a.Prefix.Addr())
		}
	}
	if ci.ExtraAnnounce > 0 {
		// As keepalived: by default only on the VMAC, with "all" on
		// every interface carrying the addresses.
		for dev := range in.announce {
			if ci.ExtraAnnounceAll || ci.UseVMAC && dev == ci.VMACName || isAddrVMAC(ci, dev) {
				in.extraDevs = append(in.extraDevs, dev)
			}
		}
	}
	return in, nil
}

// attach finds the instance's interface, its source address (the
// configured one, else the interface's first IPv4 address or its IPv6
// link-local address, as keepalived picks them) and, with use_vmac,
// makes the VMAC on it. It leaves the instance detached (base nil) on
// error: no interface yet, or no address on it.
func (in *instance) attach() error {
	c := &in.cfg.VRRP
	in.base, in.send = nil, nil
	base, err := net.InterfaceByName(c.Interface)
	if err != nil {
		return fmt.Errorf("interface %s: %w", c.Interface, err)
	}
	src := c.Source
	if !in.fixedSource {
		if src, err = sourceAddress(base, c.IPv6); err != nil {
			return err
		}
	}
	send := base
	in.vmacs = nil
	switch {
	case in.cfg.UseVMAC:
		if c.IPv6 {
			if !src.IsLinkLocalUnicast() {
				return fmt.Errorf("use_vmac needs a link-local source address, not %v", src)
			}
			in.vmacLinkLocal = src
		}
		if send, err = vip.EnsureVMAC(base.Name, in.cfg.VMACName, in.cfg.VirtualMAC(c.IPv6)); err != nil {
			return err
		}
		ll := in.vmacLinkLocal
		if !ll.IsValid() && carriesIPv6(in.cfg, in.cfg.VMACName) {
			ll = linkLocal(base) // IPv6 addresses of a MAC given for both families
		}
		in.vmacs = append(in.vmacs, vmacLink{in.cfg.VMACName, ll})
	case in.cfg.IPVLAN:
		iv := vip.IPVLAN{Name: in.cfg.VMACName, Parent: base.Name, Mode: in.cfg.IPVLANMode, Addr: in.cfg.IPVLANAddr}
		if c.IPv6 {
			iv.LinkLocal = linkLocal(base)
		}
		if send, err = vip.EnsureIPVLAN(iv); err != nil {
			return err
		}
	}
	for _, av := range in.cfg.AddrVMACs {
		if av.Name == in.cfg.VMACName {
			continue // the instance's own VMAC, made above
		}
		if _, err := vip.EnsureVMAC(av.Parent, av.Name, av.MAC); err != nil {
			return err
		}
		ll := netip.Addr{}
		if carriesIPv6(in.cfg, av.Name) {
			// As keepalived: the parent's, for the neighbour
			// advertisements to leave from.
			parent, err := net.InterfaceByName(av.Parent)
			if err != nil {
				return err
			}
			ll = linkLocal(parent)
		}
		in.vmacs = append(in.vmacs, vmacLink{av.Name, ll})
	}
	in.base, in.send, in.source = base, send, src
	return nil
}

// vmacLink is a macvlan of the instance and the link-local address it
// gets while up (invalid: none).
type vmacLink struct {
	name      string
	linkLocal netip.Addr
}

// isAddrVMAC reports whether dev is one of the instance's address VMACs.
func isAddrVMAC(ci *config.Instance, dev string) bool {
	return slices.ContainsFunc(ci.AddrVMACs, func(a config.AddrVMAC) bool { return a.Name == dev })
}

// onAddrVMACs reports whether every address of the instance goes on an
// address VMAC (use_vmac_addr, the address option use_vmac), so that
// hand-overs need no grace, as with use_vmac.
func onAddrVMACs(ci *config.Instance) bool {
	all := slices.Concat(ci.VIPs, ci.Excluded)
	return len(ci.AddrVMACs) > 0 && !slices.ContainsFunc(all, func(v config.VIP) bool { return !isAddrVMAC(ci, ci.AddressDev(v)) })
}

// carriesIPv6 reports whether an IPv6 address of the instance goes on dev.
func carriesIPv6(ci *config.Instance, dev string) bool {
	for _, v := range slices.Concat(ci.VIPs, ci.Excluded) {
		if v.Prefix.Addr().Is6() && ci.AddressDev(v) == dev {
			return true
		}
	}
	return false
}

// linkLocal is the interface's IPv6 link-local address, if it has one.
func linkLocal(ifi *net.Interface) netip.Addr {
	a, _ := sourceAddress(ifi, true)
	return a
}

// sourceAddress is the address adverts are sent from when the
// configuration names none.
func sourceAddress(ifi *net.Interface, ipv6 bool) (netip.Addr, error) {
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, err
	}
	for _, a := range addrs {
		p, err := netip.ParsePrefix(a.String())
		if err != nil {
			continue
		}
		ip := p.Addr()
		if ipv6 && ip.Is6() && ip.IsLinkLocalUnicast() || !ipv6 && ip.Is4() {
			return ip, nil
		}
	}
	if ipv6 {
		return netip.Addr{}, fmt.Errorf("interface %s has no IPv6 link-local address to send adverts from", ifi.Name)
	}
	return netip.Addr{}, fmt.Errorf("interface %s has no IPv4 address to send adverts from (set unicast_src_ip or mcast_src_ip)", ifi.Name)
}

// lifetime is how long the kernel keeps our addresses without a renewal:
// longer than a backup needs to notice we are gone, so that a live master
// never loses them, and short enough that a dead one's go soon after the
// new master has taken over. vip.Add rounds it up to whole seconds.
func (in *instance) lifetime() time.Duration {
	return in.vr.MasterDownInterval() + time.Second
}

// renewEvery is how often a master renews its addresses' lifetime.
const renewEvery = time.Second

// addressWait bounds how long a new master waits for its addresses to
// take traffic before it announces them (vip.WaitLocal): about a
// millisecond for IPv6 usually, more on a busy host.
const addressWait = 200 * time.Millisecond

// takeAddresses puts the addresses on (a master's VMAC first goes up). A
// master not in accept mode blocks their traffic before they exist, so
// that none is ever taken in.
func (in *instance) takeAddresses(now time.Duration) error {
	if in.endMaster == nil {
		in.mastership, in.endMaster = context.WithCancel(context.Background())
		in.extraAt = now + in.cfg.ExtraAnnounce
	}
	if in.fw != nil && !in.blocked {
		if err := in.fw.Block(in.addrList()...); err != nil {
			return err // without the block, the addresses must not go on
		}
		in.blocked = true
	}
	if len(in.vmacs) == 0 {
		if err := in.renewAddresses(now); err != nil {
			return err
		}
		if err := vip.WaitLocal(in.addrList(), addressWait); err != nil {
			return err
		}
		return in.addRoutes()
	}
	// Every frame from a VMAC points the switch at us for the virtual
	// MAC, so none may leave before the addresses take traffic. The VMACs
	// come up in no group the kernel would report at once (the advert
	// group is left while down), the addresses go on, we wait for their
	// local routes, and only then come the link-local addresses and the
	// advert group, with their multicast reports.
	for _, v := range in.vmacs {
		if err := vip.SetVMACUp(v.name, true); err != nil {
			return err
		}
	}
	if err := in.renewAddresses(now); err != nil {
		return err
	}
	if err := vip.WaitLocal(in.addrList(), addressWait); err != nil {
		return err
	}
	for _, v := range in.vmacs {
		if err := vip.SetVMACLinkLocal(v.name, v.linkLocal); err != nil {
			return err
		}
	}
	if in.vmacGroup.IsValid() {
		if err := in.conn.Join(in.send, in.vmacGroup); err != nil && !errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("joining %v on %s: %w", in.vmacGroup, in.send.Name, err)
		}
	}
	return in.addRoutes()
}

// renewAddresses adds the addresses or restarts their lifetime. A
// no_track address someone deleted while we held it stays out until the
// next mastership, as keepalived leaves it.
func (in *instance) renewAddresses(now time.Duration) error {
	renewing := in.holding
	in.holding = true
	in.renewAt = now + renewEvery
	lifetime := in.lifetime()
	var errs []error
	for i, a := range in.addrs {
		if renewing && !in.tracked[i] {
			if ok, err := vip.Present(a); err != nil || !ok {
				continue
			}
		}
		errs = append(errs, vip.Add(a, lifetime))
	}
	return errors.Join(errs...)
}

// ifIndex is the index of one of the instance's interfaces; 0 if it is
// gone.
func (in *instance) ifIndex(dev string) int {
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		return 0
	}
	return ifi.Index
}

func (in *instance) removeAddresses() error {
	in.holding = false
	if in.endMaster != nil {
		in.endMaster()
		in.endMaster = nil
	}
	errs := []error{in.removeRoutes()}
	if len(in.vmacs) > 0 {
		// Down first: leaving a group (an address's solicited-node group
		// too) while up sends a report from the virtual MAC, which would
		// pull the switch back to us from the new master. Down, a VMAC
		// sends nothing, and loses its IPv6 addresses by itself.
		for _, v := range in.vmacs {
			errs = append(errs, vip.SetVMACUp(v.name, false))
		}
		if in.vmacGroup.IsValid() && in.send != nil {
			if err := in.conn.Leave(in.send, in.vmacGroup); err != nil && !errors.Is(err, syscall.EADDRNOTAVAIL) && !errors.Is(err, syscall.ENODEV) {
				errs = append(errs, fmt.Errorf("leaving %v on %s: %w", in.vmacGroup, in.send.Name, err))
			}
		}
	}
	for _, a := range in.addrs {
		errs = append(errs, vip.Remove(a))
	}
	if in.blocked {
		errs = append(errs, in.fw.Unblock(in.addrList()...))
		in.blocked = false
	}
	return errors.Join(errs...)
}

func (in *instance) addrList() []netip.Addr {
	list := make([]netip.Addr, len(in.addrs))
	for i, a := range in.addrs {
		list[i] = a.Prefix.Addr()
	}
	return list
}

// removeStale removes configured addresses found at start-up: left by a
// daemon that died, or by keepalived. The caller skips instances that
// start as master.
func (in *instance) removeStale() (removed []vip.Address, err error) {
	var errs []error
	for _, a := range in.addrs {
		ok, err := vip.Present(a)
		if err != nil || !ok {
			continue
		}
		if err := vip.Remove(a); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, a)
	}
	return removed, errors.Join(errs...)
}

func (in *instance) sendAnnouncements(rounds int) error {
	return in.announceOn(nil, rounds)
}

// announceOn announces the addresses on the given interfaces (nil: all
// that carry them).
func (in *instance) announceOn(devs []string, rounds int) error {
	if in.mastership == nil {
		return nil // only a master announces its addresses
	}
	var errs []error
	for dev, addrs := range in.announce {
		if devs == nil || slices.Contains(devs, dev) {
			errs = append(errs, in.announcer.Announce(in.mastership, dev, addrs, rounds))
		}
	}
	return errors.Join(errs...)
}
