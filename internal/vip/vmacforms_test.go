package vip_test

import (
	"net"
	"net/netip"
	"slices"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/vipd/vipd/internal/vip"
)

// A VMAC's name held by an interface vipd did not make (here a bridge) is
// an error, and neither EnsureVMAC nor DeleteVMAC removes it; a macvlan
// of the wrong MAC (an earlier run's, with another use_vmac MAC) is
// replaced.
func TestVMACSparesOtherInterfaces(t *testing.T) {
	r, _ := lab(t, "vipdvipvmr")
	err := r.Do(func() error {
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "vm9"}}); err != nil {
			return err
		}
		mac, _ := net.ParseMAC("02:00:00:00:00:09")
		if _, err := vip.EnsureVMAC("eth0", "vm9", mac); err == nil {
			t.Error("EnsureVMAC took over a bridge")
		}
		if err := vip.DeleteVMAC("vm9"); err != nil {
			return err
		}
		if l, err := netlink.LinkByName("vm9"); err != nil || l.Type() != "bridge" {
			t.Errorf("the bridge vm9: %v %v", l, err)
		}

		if _, err := vip.EnsureVMAC("eth0", "vm10", vip.VirtualMAC(10, false)); err != nil {
			return err
		}
		ifi, err := vip.EnsureVMAC("eth0", "vm10", mac)
		if err != nil {
			return err
		}
		if ifi.HardwareAddr.String() != mac.String() {
			t.Errorf("vm10 kept %v, want %v", ifi.HardwareAddr, mac)
		}
		return vip.DeleteVMAC("vm10")
	})
	if err != nil {
		t.Fatal(err)
	}
}

// use_ipvlan's interface: an L2 ipvlan in the mode asked, up with its
// address and, for IPv6, the link-local address given; made again as
// asked when an earlier one differs, and removed by DeleteVMAC.
func TestIPVLAN(t *testing.T) {
	r, _ := lab(t, "vipdvipipv")
	var unsupported error
	err := r.Do(func() error {
		eth, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		probe := &netlink.IPVlan{LinkAttrs: netlink.LinkAttrs{Name: "ipvprobe", ParentIndex: eth.Attrs().Index}, Mode: netlink.IPVLAN_MODE_L2}
		if unsupported = netlink.LinkAdd(probe); unsupported != nil {
			return nil // skipped below, out of the namespace
		}
		if err := netlink.LinkDel(probe); err != nil {
			return err
		}
		ll := netip.MustParseAddr("fe80::1:2")
		for _, mode := range []string{"bridge", "private", "private", "vepa"} {
			ifi, err := vip.EnsureIPVLAN(vip.IPVLAN{Name: "ipv5", Parent: "eth0", Mode: mode,
				Addr: netip.MustParsePrefix("fd00:198:18:8::5/64"), LinkLocal: ll})
			if err != nil {
				return err
			}
			link, err := netlink.LinkByName("ipv5")
			if err != nil {
				return err
			}
			iv, ok := link.(*netlink.IPVlan)
			if !ok || iv.Mode != netlink.IPVLAN_MODE_L2 || iv.ParentIndex != eth.Attrs().Index || ifi.Flags&net.FlagUp == 0 {
				t.Errorf("%s: %+v up %v", mode, link, ifi.Flags&net.FlagUp != 0)
			}
			if want := map[string]netlink.IPVlanFlag{"bridge": netlink.IPVLAN_FLAG_BRIDGE, "private": netlink.IPVLAN_FLAG_PRIVATE, "vepa": netlink.IPVLAN_FLAG_VEPA}[mode]; ok && iv.Flag != want {
				t.Errorf("%s: flag %v", mode, iv.Flag)
			}
			addrs, err := netlink.AddrList(link, netlink.FAMILY_V6)
			if err != nil {
				return err
			}
			var got []string
			for _, a := range addrs {
				got = append(got, a.IPNet.String())
			}
			if !slices.Contains(got, "fd00:198:18:8::5/64") || !slices.Contains(got, "fe80::1:2/64") {
				t.Errorf("%s: addresses %v", mode, got)
			}
		}
		if err := vip.DeleteVMAC("ipv5"); err != nil {
			return err
		}
		if _, err := net.InterfaceByName("ipv5"); err == nil {
			t.Error("ipv5 still there")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if unsupported != nil {
		// Not a silent pass: the kernel cannot make what is tested.
		t.Skipf("this kernel makes no ipvlan (CONFIG_IPVLAN): %v", unsupported)
	}
}
