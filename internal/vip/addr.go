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
	"net"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Address is one virtual address as keepalived's virtual_ipaddress line
// describes it.
type Address struct {
	Prefix    netip.Prefix
	Dev       string // interface
	Broadcast string // "": none, "+" or "-": host bits set or cleared, or an address
	Scope     string // "" (global), "host", "link", "site" or "nowhere"
	Label     string // IPv4 only, must start with Dev
}

func (a Address) String() string { return a.Prefix.String() + " dev " + a.Dev }

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
	na, err := a.netlink()
	if err != nil {
		return err
	}
	if lifetime != Forever {
		secs := int((lifetime + time.Second - 1) / time.Second)
		na.ValidLft, na.PreferedLft = secs, secs
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
	na, err := a.netlink()
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

func (a Address) netlink() (*netlink.Addr, error) {
	p := a.Prefix
	na := &netlink.Addr{
		IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())},
		Label: a.Label,
	}
	if p.Addr().Is6() {
		// Duplicate address detection would keep a taken-over address
		// unusable for a second; VRRP already decided who owns it.
		na.Flags = unix.IFA_F_NODAD
	}
	scope, err := ParseScope(a.Scope)
	if err != nil {
		return nil, fmt.Errorf("virtual address %v: %w", p, err)
	}
	na.Scope = scope
	brd, err := BroadcastOf(p, a.Broadcast)
	if err != nil {
		return nil, err
	}
	if brd.IsValid() {
		na.Broadcast = brd.AsSlice()
	}
	return na, nil
}

// BroadcastOf is the broadcast address "brd SPEC" gives an address, as
// ip-address(8) reads it: "+" sets the host bits, "-" clears them, else an
// IPv4 address; none (the invalid Addr) for "" or where a prefix has no
// host bits to speak of (IPv6, /31, /32).
func BroadcastOf(p netip.Prefix, spec string) (netip.Addr, error) {
	switch spec {
	case "":
		return netip.Addr{}, nil
	case "+", "-":
		if !p.Addr().Is4() || p.Bits() >= 31 {
			return netip.Addr{}, nil
		}
		b := p.Masked().Addr().As4()
		if spec == "+" {
			for i := p.Bits(); i < 32; i++ {
				b[i/8] |= 0x80 >> (i % 8)
			}
		}
		return netip.AddrFrom4(b), nil
	}
	ip, err := netip.ParseAddr(spec)
	if err != nil || !ip.Is4() {
		return netip.Addr{}, fmt.Errorf("virtual address %v: broadcast %q is not an IPv4 address", p, spec)
	}
	return ip, nil
}

// ParseScope reads an address scope by name, as ip-address(8) and
// keepalived write it.
func ParseScope(s string) (int, error) {
	switch s {
	case "", "global", "universe":
		return unix.RT_SCOPE_UNIVERSE, nil
	case "site":
		return unix.RT_SCOPE_SITE, nil
	case "link":
		return unix.RT_SCOPE_LINK, nil
	case "host":
		return unix.RT_SCOPE_HOST, nil
	case "nowhere":
		return unix.RT_SCOPE_NOWHERE, nil
	}
	return 0, fmt.Errorf("scope %q: must be global, site, link, host or nowhere", s)
}
