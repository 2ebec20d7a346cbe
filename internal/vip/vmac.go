package vip

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// VirtualMAC is the VRRP virtual router MAC address for a VRID:
// 00:00:5e:00:01:VRID for IPv4, 00:00:5e:00:02:VRID for IPv6 (RFC 9568 §7.3).
func VirtualMAC(vrid uint8, ipv6 bool) net.HardwareAddr {
	fam := byte(1)
	if ipv6 {
		fam = 2
	}
	return net.HardwareAddr{0x00, 0x00, 0x5e, 0x00, fam, vrid}
}

// EnsureVMAC makes the macvlan interface name on parent carrying mac
// (use_vmac, and the address VMACs of use_vmac_addr), and returns it,
// down. A macvlan of that name left by an earlier run is reused if it
// matches and replaced otherwise (an ipvlan too); any other interface of
// that name is not vipd's to take, and is an error.
//
// It is in private mode so that the master hears other routers' adverts
// even though they carry its own source MAC. It stays down until this
// router is master (SetVMACUp): a backup's VMAC must send nothing, not
// even a multicast report or router solicitation, or the switch would
// learn the virtual MAC on the backup's port. The parent neither answers
// ARP for addresses that live on the VMAC nor names them as sender in its
// own requests, so that clients learn the virtual MAC only.
func EnsureVMAC(parent, name string, mac net.HardwareAddr) (*net.Interface, error) {
	p, err := netlink.LinkByName(parent)
	if err != nil {
		return nil, fmt.Errorf("use_vmac: interface %s: %w", parent, err)
	}
	if old, err := netlink.LinkByName(name); err == nil {
		mv, ok := old.(*netlink.Macvlan)
		if !ok || mv.ParentIndex != p.Attrs().Index || mv.HardwareAddr.String() != mac.String() || mv.Mode != netlink.MACVLAN_MODE_PRIVATE {
			if err := replace(old); err != nil {
				return nil, fmt.Errorf("use_vmac: %w", err)
			}
		}
	}
	link, err := netlink.LinkByName(name)
	if err != nil {
		mv := &netlink.Macvlan{
			LinkAttrs: netlink.LinkAttrs{Name: name, ParentIndex: p.Attrs().Index, HardwareAddr: mac},
			Mode:      netlink.MACVLAN_MODE_PRIVATE,
		}
		if err := netlink.LinkAdd(mv); err != nil {
			return nil, fmt.Errorf("use_vmac: creating %s on %s: %w", name, parent, err)
		}
		if link, err = netlink.LinkByName(name); err != nil {
			return nil, err
		}
	}
	if err := netlink.LinkSetDown(link); err != nil {
		return nil, fmt.Errorf("use_vmac: %s: %w", name, err)
	}
	// No automatic IPv6 link-local on the VMAC: SetVMACUp gives it the
	// parent's, which the adverts of an IPv6 instance leave from.
	if err := netlink.LinkSetIP6AddrGenMode(link, 1 /* IN6_ADDR_GEN_MODE_NONE */); err != nil && !errors.Is(err, unix.EOPNOTSUPP) {
		return nil, fmt.Errorf("use_vmac: %s: %w", name, err)
	}
	err = errors.Join(
		sysctl("ipv4", parent, "arp_ignore", "1"),
		sysctl("ipv4", parent, "arp_filter", "1"),
		// ARP requests the host sends from the parent must not carry a
		// virtual address as sender: clients would learn the parent's MAC.
		sysctl("ipv4", parent, "arp_announce", "2"),
		sysctl("ipv4", name, "arp_ignore", "1"),
		sysctl("ipv4", name, "accept_local", "1"),
		sysctl("ipv4", name, "rp_filter", "0"),
		sysctl("ipv6", name, "router_solicitations", "0"),
		sysctl("ipv6", name, "accept_ra", "0"),
	)
	if err != nil {
		return nil, fmt.Errorf("use_vmac: %w", err)
	}
	return net.InterfaceByName(name)
}

// SetVMACUp brings the VMAC up when this router becomes master, down
// when it stops being master.
func SetVMACUp(name string, up bool) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("use_vmac: %s: %w", name, err)
	}
	if !up {
		return netlink.LinkSetDown(link)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("use_vmac: %s up: %w", name, err)
	}
	return nil
}

// SetVMACLinkLocal puts linkLocal (if valid) on the VMAC, without DAD.
// keepalived copies the parent's link-local address for the same reason:
// an IPv6 advert's source must be a link-local address of the interface
// it leaves by.
func SetVMACLinkLocal(name string, linkLocal netip.Addr) error {
	if !linkLocal.IsValid() {
		return nil
	}
	link, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("use_vmac: %s: %w", name, err)
	}
	ll := &netlink.Addr{IPNet: &net.IPNet{IP: linkLocal.AsSlice(), Mask: net.CIDRMask(64, 128)}, Flags: unix.IFA_F_NODAD}
	if err := netlink.AddrReplace(link, ll); err != nil {
		return fmt.Errorf("use_vmac: link-local %v on %s: %w", linkLocal, name, err)
	}
	return nil
}

// DeleteVMAC removes a VMAC or ipvlan interface; one already gone is
// fine, and an interface of another kind by that name (one EnsureVMAC
// refused to take) is left alone.
func DeleteVMAC(name string) error {
	link, err := netlink.LinkByName(name)
	if err != nil || !ours(link) {
		return nil
	}
	return netlink.LinkDel(link)
}

// ours reports whether a link is of a kind vipd makes (a macvlan or an
// ipvlan), so that one found under a VMAC's name may be replaced.
func ours(link netlink.Link) bool {
	switch link.(type) {
	case *netlink.Macvlan, *netlink.IPVlan:
		return true
	}
	return false
}

// replace deletes a macvlan or ipvlan that stands where a VMAC or ipvlan
// of another shape must go: an earlier run's, or keepalived's.
func replace(old netlink.Link) error {
	name := old.Attrs().Name
	if !ours(old) {
		return fmt.Errorf("interface %s exists and is a %s, not a macvlan or ipvlan vipd could replace; name the VMAC otherwise", name, old.Type())
	}
	if err := netlink.LinkDel(old); err != nil {
		return fmt.Errorf("replacing %s: %w", name, err)
	}
	return nil
}

// ipvlanFlags are use_ipvlan's modes as netlink has them.
var ipvlanFlags = map[string]netlink.IPVlanFlag{
	"bridge":  netlink.IPVLAN_FLAG_BRIDGE,
	"private": netlink.IPVLAN_FLAG_PRIVATE,
	"vepa":    netlink.IPVLAN_FLAG_VEPA,
}

// IPVLAN describes use_ipvlan's interface: an L2 ipvlan on Parent, in
// Mode (bridge, private or vepa), carrying Addr (may be invalid for
// IPv6) and, when valid, LinkLocal: the parent's link-local address, for
// IPv6 adverts to leave from.
type IPVLAN struct {
	Name, Parent, Mode string
	Addr               netip.Prefix
	LinkLocal          netip.Addr
}

// EnsureIPVLAN makes the ipvlan (use_ipvlan) and returns it, up with its
// address, as keepalived keeps it whatever the instance's state: it
// shares the parent's MAC, so it can mislead no switch, and its address
// is the adverts' source, not a virtual one. One of that name left by an
// earlier run is reused if it matches and replaced otherwise.
func EnsureIPVLAN(v IPVLAN) (*net.Interface, error) {
	flag, ok := ipvlanFlags[v.Mode]
	if !ok {
		return nil, fmt.Errorf("use_ipvlan: mode %q", v.Mode)
	}
	p, err := netlink.LinkByName(v.Parent)
	if err != nil {
		return nil, fmt.Errorf("use_ipvlan: interface %s: %w", v.Parent, err)
	}
	if old, err := netlink.LinkByName(v.Name); err == nil {
		iv, ok := old.(*netlink.IPVlan)
		if !ok || iv.ParentIndex != p.Attrs().Index || iv.Mode != netlink.IPVLAN_MODE_L2 || iv.Flag != flag {
			if err := replace(old); err != nil {
				return nil, fmt.Errorf("use_ipvlan: %w", err)
			}
		}
	}
	link, err := netlink.LinkByName(v.Name)
	if err != nil {
		iv := &netlink.IPVlan{LinkAttrs: netlink.LinkAttrs{Name: v.Name, ParentIndex: p.Attrs().Index}, Mode: netlink.IPVLAN_MODE_L2, Flag: flag}
		if err := netlink.LinkAdd(iv); err != nil {
			return nil, fmt.Errorf("use_ipvlan: creating %s on %s: %w", v.Name, v.Parent, err)
		}
		if link, err = netlink.LinkByName(v.Name); err != nil {
			return nil, err
		}
	}
	// As on a VMAC: no link-local address of its own; an IPv6 one gets
	// the parent's below, the one the adverts leave from.
	if err := netlink.LinkSetIP6AddrGenMode(link, 1 /* IN6_ADDR_GEN_MODE_NONE */); err != nil && !errors.Is(err, unix.EOPNOTSUPP) {
		return nil, fmt.Errorf("use_ipvlan: %s: %w", v.Name, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return nil, fmt.Errorf("use_ipvlan: %s up: %w", v.Name, err)
	}
	for _, a := range []netip.Prefix{v.Addr, netip.PrefixFrom(v.LinkLocal, 64)} {
		if !a.IsValid() {
			continue
		}
		na := &netlink.Addr{IPNet: &net.IPNet{IP: a.Addr().AsSlice(), Mask: net.CIDRMask(a.Bits(), a.Addr().BitLen())}}
		if a.Addr().Is6() {
			na.Flags = unix.IFA_F_NODAD
		}
		if err := netlink.AddrReplace(link, na); err != nil {
			return nil, fmt.Errorf("use_ipvlan: %v on %s: %w", a, v.Name, err)
		}
	}
	return net.InterfaceByName(v.Name)
}

func sysctl(family, dev, key, value string) error {
	return os.WriteFile(filepath.Join("/proc/sys/net", family, "conf", dev, key), []byte(value), 0)
}
