package vip_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/vipd/vipd/internal/netlab"
	"github.com/vipd/vipd/internal/vip"
)

func lab(t *testing.T, name string) (router, client *netlab.Host) {
	t.Helper()
	netlab.NeedRoot(t)
	l, err := netlab.New(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	router, err = l.AddHost("r", netip.MustParsePrefix("198.18.8.1/24"), netip.MustParsePrefix("fd00:198:18:8::1/64"))
	if err != nil {
		t.Fatal(err)
	}
	client, err = l.AddHost("c", netip.MustParsePrefix("198.18.8.9/24"), netip.MustParsePrefix("fd00:198:18:8::9/64"))
	if err != nil {
		t.Fatal(err)
	}
	return router, client
}

// The kernel withdraws an address whose lifetime ran out: this is what
// keeps a killed daemon's addresses from lingering. Renewing (adding
// again) restarts the lifetime.
func TestLifetimeExpires(t *testing.T) {
	r, _ := lab(t, "vipdvipexp")
	for _, p := range []string{"198.18.8.100/32", "fd00:198:18:8::100/128"} {
		a := vip.Address{Prefix: netip.MustParsePrefix(p), Dev: "eth0"}
		err := r.Do(func() error {
			if err := vip.Add(a, 2*time.Second); err != nil {
				return err
			}
			time.Sleep(1500 * time.Millisecond)
			if err := vip.Add(a, 2*time.Second); err != nil { // renew
				return err
			}
			renewed := time.Now()
			for {
				ok, err := vip.Present(a)
				if err != nil {
					return err
				}
				if !ok {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			gone := time.Since(renewed)
			t.Logf("%v: lifetime 2s, gone %v after the renewal", a.Prefix, gone.Round(time.Millisecond))
			if gone < 1500*time.Millisecond || gone > 5*time.Second {
				t.Errorf("%v: gone %v after a 2s renewal", a.Prefix, gone)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// Label, broadcast and scope reach the kernel; Remove is idempotent.
func TestAddRemove(t *testing.T) {
	r, _ := lab(t, "vipdvipadd")
	a := vip.Address{Prefix: netip.MustParsePrefix("198.18.8.50/24"), Dev: "eth0", Label: "eth0:vip", Broadcast: "+", Scope: "global"}
	err := r.Do(func() error {
		if err := vip.Add(a, vip.Forever); err != nil {
			return err
		}
		link, _ := netlink.LinkByName("eth0")
		list, err := netlink.AddrList(link, netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		found := false
		for _, x := range list {
			if x.IP.Equal(net.ParseIP("198.18.8.50")) {
				found = true
				if x.Label != "eth0:vip" || !x.Broadcast.Equal(net.ParseIP("198.18.8.255")) {
					t.Errorf("address %+v: label %q brd %v", x, x.Label, x.Broadcast)
				}
			}
		}
		if !found {
			t.Error("address not added")
		}
		for range 2 {
			if err := vip.Remove(a); err != nil {
				return err
			}
		}
		if ok, _ := vip.Present(a); ok {
			t.Error("address still there after Remove")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A gratuitous ARP / unsolicited NA moves a client's neighbour entry to
// the announcing MAC, as it must after a failover.
func TestAnnounceUpdatesClients(t *testing.T) {
	r, c := lab(t, "vipdvipann")
	fake := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x42}
	for _, ip := range []string{"198.18.8.77", "fd00:198:18:8::77"} {
		addr := netip.MustParseAddr(ip)
		// The client first believes the address is at a made-up MAC.
		err := c.Do(func() error {
			link, _ := netlink.LinkByName("eth0")
			return netlink.NeighSet(&netlink.Neigh{LinkIndex: link.Attrs().Index, IP: addr.AsSlice(), HardwareAddr: fake, State: netlink.NUD_STALE})
		})
		if err != nil {
			t.Fatal(err)
		}
		var mac net.HardwareAddr
		err = r.Do(func() error {
			ifi, err := net.InterfaceByName("eth0")
			if err != nil {
				return err
			}
			mac = ifi.HardwareAddr
			if err := vip.Add(vip.Address{Prefix: netip.PrefixFrom(addr, addr.BitLen()), Dev: "eth0"}, vip.Forever); err != nil {
				return err
			}
			return vip.Announce("eth0", []netip.Addr{addr}, 2)
		})
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(3 * time.Second)
		for {
			got, err := c.Neighbour(addr)
			if err != nil {
				t.Fatal(err)
			}
			if got.String() == mac.String() {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%v: client's neighbour entry is %v, want %v", addr, got, mac)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// use_vmac: a private-mode macvlan with the VRRP virtual MAC; made again
// the same way it is reused.
func TestVMAC(t *testing.T) {
	r, _ := lab(t, "vipdvipvmac")
	err := r.Do(func() error {
		for range 2 {
			ifi, err := vip.EnsureVMAC("eth0", "vrrp.42", vip.VirtualMAC(42, false))
			if err != nil {
				return err
			}
			if ifi.HardwareAddr.String() != "00:00:5e:00:01:2a" || ifi.Flags&net.FlagUp != 0 {
				t.Errorf("vmac %+v: want the virtual MAC, down", ifi)
			}
			ll := netip.MustParseAddr("fe80::1")
			if err := vip.SetVMACUp("vrrp.42", true); err != nil {
				return err
			}
			if err := vip.SetVMACLinkLocal("vrrp.42", ll); err != nil {
				return err
			}
			if ok, err := vip.Present(vip.Address{Prefix: netip.PrefixFrom(ll, 64), Dev: "vrrp.42"}); !ok || err != nil {
				t.Errorf("link-local on the VMAC: %v %v", ok, err)
			}
		}
		if err := vip.DeleteVMAC("vrrp.42"); err != nil {
			return err
		}
		_, err := net.InterfaceByName("vrrp.42")
		if err == nil {
			t.Error("vmac still there")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := vip.VirtualMAC(7, true).String(); got != "00:00:5e:00:02:07" {
		t.Errorf("IPv6 virtual MAC %s", got)
	}
}
