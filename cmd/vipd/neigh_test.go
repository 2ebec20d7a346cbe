package main

import (
	"net"
	"net/netip"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/vipd/vipd/internal/vrrplab"
)

func netInterface(name string) (*net.Interface, error) { return net.InterfaceByName(name) }

// checkNeighbour checks the MAC the client has for an address.
func checkNeighbour(t *testing.T, l *vrrplab.Lab, addr netip.Addr, want string) {
	t.Helper()
	var got string
	l.Client.Do(func() error {
		link, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		fam := netlink.FAMILY_V4
		if addr.Is6() {
			fam = netlink.FAMILY_V6
		}
		list, err := netlink.NeighList(link.Attrs().Index, fam)
		for _, n := range list {
			if n.IP.Equal(addr.AsSlice()) {
				got = n.HardwareAddr.String()
			}
		}
		return err
	})
	if got != want {
		t.Errorf("client's neighbour entry for %v: %q, want %q", addr, got, want)
	}
}
