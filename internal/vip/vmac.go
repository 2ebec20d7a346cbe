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
// (use_vmac), and returns it, down. An interface of that name left by an
// earlier run is reused if it matches and replaced otherwise.
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
			if err := netlink.LinkDel(old); err != nil {
				return nil, fmt.Errorf("use_vmac: replacing %s: %w", name, err)
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

// DeleteVMAC removes a VMAC interface; one already gone is fine.
func DeleteVMAC(name string) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return nil
	}
	return netlink.LinkDel(link)
}

func sysctl(family, dev, key, value string) error {
	return os.WriteFile(filepath.Join("/proc/sys/net", family, "conf", dev, key), []byte(value), 0)
}
