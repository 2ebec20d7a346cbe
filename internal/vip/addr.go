// Package vip puts virtual addresses on interfaces and tells the LAN
// where they are: addresses through netlink, gratuitous ARP for IPv4,
// unsolicited neighbour advertisements for IPv6, and the macvlan
// interfaces that carry the VRRP virtual MAC (use_vmac).
//
// Addresses are added with a finite lifetime that the daemon renews while
// it is master, so that the kernel withdraws them by itself when the
// daemon dies without cleaning up (kill -9, OOM): no stale VIP.
package vip

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vipd/vipd/internal/iproute"
)

// Address is an address as keepalived's virtual_ipaddress and
// static_ipaddress lines give it.
type Address = iproute.Address

// Forever is the lifetime of an address that never expires (keepalived's).
const Forever time.Duration = 0

// Add puts the address on its interface, or renews it if it is there.
// A lifetime of Forever makes it permanent; any other lifetime is rounded
// up to whole seconds, the kernel's unit.
func Add(a Address, lifetime time.Duration) error {
	link, err := netlink.LinkByName(a.Dev)
	if err != nil {
		return fmt.Errorf("virtual address %v: interface %s: %w", a.Prefix, a.Dev, err)
	}
	na, err := toNetlink(a, lifetime)
	if err != nil {
		return err
	}
	// Replace, not add: it creates the address or renews its lifetime.
	if err := netlink.AddrReplace(link, na); err != nil {
		return fmt.Errorf("virtual address %v on %s: %w", a.Prefix, a.Dev, err)
	}
	return nil
}

// WaitLocal waits until the kernel delivers traffic for every address
// locally, at most timeout. An IPv6 address can be listed at once yet not
// receive for a while: the kernel inserts its local route later, from a
// work queue (its DAD work, which runs even for addresses without DAD),
// and until then a packet for it is dropped as one to forward. Nothing may
// announce the address before that.
func WaitLocal(addrs []netip.Addr, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, a := range addrs {
		for {
			routes, err := netlink.RouteGet(a.AsSlice())
			if err == nil && len(routes) > 0 && routes[0].Type == unix.RTN_LOCAL {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("virtual address %v: no local route after %v", a, timeout)
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	return nil
}

// Remove takes the address off its interface. An address (or interface)
// already gone is not an error: the goal is reached.
func Remove(a Address) error {
	link, err := netlink.LinkByName(a.Dev)
	if err != nil {
		var notFound netlink.LinkNotFoundError
		if errors.As(err, &notFound) {
			return nil
		}
		return fmt.Errorf("virtual address %v: interface %s: %w", a.Prefix, a.Dev, err)
	}
	na, err := toNetlink(a, Forever)
	if err != nil {
		return err
	}
	na.Label = "" // the kernel matches on address and prefix, not label
	if err := netlink.AddrDel(link, na); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("removing virtual address %v from %s: %w", a.Prefix, a.Dev, err)
	}
	return nil
}

// Present reports whether the address is on its interface.
func Present(a Address) (bool, error) {
	link, err := netlink.LinkByName(a.Dev)
	if err != nil {
		return false, err
	}
	fam := netlink.FAMILY_V4
	if a.Prefix.Addr().Is6() {
		fam = netlink.FAMILY_V6
	}
	list, err := netlink.AddrList(link, fam)
	if err != nil {
		return false, err
	}
	for _, x := range list {
		if ip, ok := netip.AddrFromSlice(x.IP); ok && ip.Unmap() == a.Prefix.Addr() {
			return true, nil
		}
	}
	return false, nil
}

// toNetlink builds the kernel's form of an address with the given
// lifetime (Forever, or whole seconds).
func toNetlink(a Address, lifetime time.Duration) (*netlink.Addr, error) {
	p := a.Prefix
	na := &netlink.Addr{
		IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())},
		Label: a.Label,
	}
	if a.Peer.IsValid() {
		bits := a.Peer.BitLen()
		na.Peer = &net.IPNet{IP: a.Peer.AsSlice(), Mask: net.CIDRMask(bits, bits)}
	}
	for _, f := range []struct {
		on   bool
		flag int
	}{
		// Duplicate address detection would keep a taken-over address
		// unusable for a second; VRRP already decided who owns it.
		{p.Addr().Is6() && !a.DAD, unix.IFA_F_NODAD},
		{a.Home, unix.IFA_F_HOMEADDRESS},
		{a.MngTmpAddr, unix.IFA_F_MANAGETEMPADDR},
		{a.NoPrefixRoute, unix.IFA_F_NOPREFIXROUTE},
		{a.AutoJoin, unix.IFA_F_MCAUTOJOIN},
	} {
		if f.on {
			na.Flags |= f.flag
		}
	}
	scope, err := iproute.ParseScope(a.Scope)
	if err != nil {
		return nil, fmt.Errorf("virtual address %v: %w", p, err)
	}
	na.Scope = int(scope)
	brd, err := iproute.BroadcastOf(p, a.Broadcast)
	if err != nil {
		return nil, err
	}
	switch {
	case brd.IsValid():
		na.Broadcast = brd.AsSlice()
	case p.Addr().Is4():
		// Unset, the library would make one up; ip(8) and keepalived
		// give an address no broadcast unless asked.
		na.Broadcast = net.IPv4zero
	}
	// The kernel counts lifetimes in seconds; 0xffffffff is forever.
	valid := uint32(math.MaxUint32)
	if lifetime != Forever {
		valid = uint32((lifetime + time.Second - 1) / time.Second)
	}
	preferred := valid
	if a.PreferredLft != nil && *a.PreferredLft < preferred {
		preferred = *a.PreferredLft
	}
	if valid != math.MaxUint32 || preferred != valid {
		na.ValidLft, na.PreferedLft = int(valid), int(preferred)
	}
	return na, nil
}
