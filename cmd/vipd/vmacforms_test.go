package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/mdlayher/arp"
	"github.com/vishvananda/netlink"

	"github.com/vipd/vipd/internal/vrrplab"
)

// linkInfo is what a router's interface looks like.
type linkInfo struct {
	kind, parent, mac string
	up                bool
	addrs             []netip.Addr
}

// routerLink reads one of the router's interfaces; false if it has none
// of that name.
func routerLink(t *testing.T, r *vrrplab.Router, name string) (linkInfo, bool) {
	t.Helper()
	var li linkInfo
	found := false
	must(t, r.Host.Do(func() error {
		link, err := netlink.LinkByName(name)
		if err != nil {
			var nf netlink.LinkNotFoundError
			if errors.As(err, &nf) {
				return nil
			}
			return err
		}
		found = true
		a := link.Attrs()
		li.kind, li.mac, li.up = link.Type(), a.HardwareAddr.String(), a.Flags&net.FlagUp != 0
		if p, err := netlink.LinkByIndex(a.ParentIndex); err == nil {
			li.parent = p.Attrs().Name
		}
		list, err := netlink.AddrList(link, netlink.FAMILY_ALL)
		for _, ad := range list {
			if ip, ok := netip.AddrFromSlice(ad.IP); ok && !ip.IsLinkLocalUnicast() {
				li.addrs = append(li.addrs, ip.Unmap())
			}
		}
		return err
	}))
	return li, found
}

// wantLink checks one of the router's interfaces.
func wantLink(t *testing.T, r *vrrplab.Router, name, kind, parent, mac string, up bool, addrs ...netip.Addr) {
	t.Helper()
	li, ok := routerLink(t, r, name)
	if !ok {
		t.Errorf("%s has no interface %s", r.Name, name)
		return
	}
	if li.kind != kind || li.parent != parent || mac != "" && li.mac != mac || li.up != up {
		t.Errorf("%s's %s: %s on %s, MAC %s, up %v; want %s on %s, MAC %s, up %v", r.Name, name, li.kind, li.parent, li.mac, li.up, kind, parent, mac, up)
	}
	for _, a := range addrs {
		if !slices.Contains(li.addrs, a) {
			t.Errorf("%s's %s carries %v, not %v", r.Name, name, li.addrs, a)
		}
	}
}

// wantGone checks that vipd took its interfaces with it when it stopped.
func wantGone(t *testing.T, r *vrrplab.Router, names ...string) {
	t.Helper()
	for _, name := range names {
		if _, ok := routerLink(t, r, name); ok {
			t.Errorf("%s still has %s after vipd stopped", r.Name, name)
		}
	}
}

// arpAnswers asks the LAN from the client who has addr and lists the MACs
// that answer within half a second, each as the ARP reply's sender and
// the frame's source (they must agree).
func arpAnswers(t *testing.T, l *vrrplab.Lab, addr netip.Addr) []string {
	t.Helper()
	var macs []string
	must(t, l.Client.Do(func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		c, err := arp.Dial(ifi)
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.Request(addr); err != nil {
			return err
		}
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		for {
			p, f, err := c.Read()
			if err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					return nil
				}
				return err
			}
			if p.Operation != arp.OperationReply || p.SenderIP != addr {
				continue
			}
			mac := p.SenderHardwareAddr.String()
			if f.Source.String() != mac {
				mac += " (frame from " + f.Source.String() + ")"
			}
			macs = append(macs, mac)
		}
	}))
	return macs
}

// wantARP checks that addr is answered for by mac alone.
func wantARP(t *testing.T, l *vrrplab.Lab, addr netip.Addr, mac string) {
	t.Helper()
	got := arpAnswers(t, l, addr)
	t.Logf("ARP for %v answered by %v", addr, got)
	slices.Sort(got)
	if got = slices.Compact(got); len(got) != 1 || got[0] != mac {
		t.Errorf("ARP for %v answered by %v, want %s alone", addr, got, mac)
	}
}

// use_vmac NAME MAC: the VMAC carries the MAC given (five octets, the
// VRID the sixth), the address lives on it, only that MAC answers ARP
// for it, it moves with the address on failover, and vipd removes the
// interface when it stops.
func TestVMACGivenMAC(t *testing.T) {
	t.Parallel()
	vip := netip.MustParseAddr("198.18.65.100")
	const mac = "02:42:c6:12:41:41" // 02:42:c6:12:41 and VRID 65
	prios := []int{200, 100}
	l := newLab(t, "vfvmg", "198.18.65.0/24", false, vipds(2), func(i int, r *vrrplab.Router) vrrplab.Instance {
		return vrrplab.Instance{VRID: 65, Priority: prios[i], Version: 2, VIP: netip.MustParsePrefix("198.18.65.100/24"),
			Extra: []string{"use_vmac vm65 02:42:c6:12:41"}}
	})
	startAll(t, l, vip, "r1")
	r1, r2 := l.Router("r1"), l.Router("r2")
	wantLink(t, r1, "vm65", "macvlan", "eth0", mac, true, vip)
	wantLink(t, r2, "vm65", "macvlan", "eth0", mac, false) // a backup's VMAC is down
	wantARP(t, l, vip, mac)
	checkNeighbour(t, l, vip, mac)

	lossless(t, l, "use_vmac with a MAC: SIGTERM of the master", "r2", func() error { return r1.Term(10 * time.Second) })
	wantGone(t, r1, "vm65")
	wantLink(t, r2, "vm65", "macvlan", "eth0", mac, true, vip)
	wantARP(t, l, vip, mac)
	checkNeighbour(t, l, vip, mac)
	must(t, r2.Term(10*time.Second))
	wantGone(t, r2, "vm65")
}

// use_vmac_addr and the address option use_vmac: addresses that are not
// of the instance's own VMAC (here it has none) get VMACs of their own,
// named as keepalived names them, with the VRRP MAC of their family; they
// answer for those addresses, are up only on the master, and go when vipd
// stops.
func TestAddressVMACs(t *testing.T) {
	t.Parallel()
	vip := netip.MustParseAddr("198.18.66.100")
	onVMAC4 := netip.MustParseAddr("198.18.66.101")
	onVMAC6 := netip.MustParseAddr("fd00:198:18:66::101")
	const mac4, mac6 = "00:00:5e:00:01:42", "00:00:5e:00:02:42"
	prios := []int{200, 100}
	l := newLab(t, "vfvma", "198.18.66.0/24", true, vipds(2), func(i int, r *vrrplab.Router) vrrplab.Instance {
		return vrrplab.Instance{VRID: 66, Priority: prios[i], Version: 2, VIP: netip.MustParsePrefix("198.18.66.100/24"),
			Global: []string{"vmac_addr_prefix va"},
			Extra: []string{"use_vmac_addr", "garp_master_delay 0",
				"virtual_ipaddress_excluded {\n        198.18.66.101/24 use_vmac\n        fd00:198:18:66::101/64\n    }"}}
	})
	heard := listenAnnouncements(t, l)
	startAll(t, l, vip, "r1")
	r1, r2 := l.Router("r1"), l.Router("r2")
	wantLink(t, r1, "va.66", "macvlan", "eth0", mac4, true, onVMAC4)
	wantLink(t, r1, "va6.66", "macvlan", "eth0", mac6, true, onVMAC6)
	wantLink(t, r2, "va.66", "macvlan", "eth0", mac4, false)
	if li, _ := routerLink(t, r1, "eth0"); !slices.Contains(li.addrs, vip) {
		t.Errorf("r1's eth0 carries %v, not the virtual address %v", li.addrs, vip)
	}
	wantARP(t, l, onVMAC4, mac4)
	wantARP(t, l, vip, macOf(t, r1).String())
	time.Sleep(500 * time.Millisecond) // the announcements' burst
	m4, _ := net.ParseMAC(mac4)
	m6, _ := net.ParseMAC(mac6)
	if len(heard.from(m4, onVMAC4)) == 0 || len(heard.from(m6, onVMAC6)) == 0 {
		t.Errorf("announcements from the address VMACs: %d gratuitous ARPs for %v, %d neighbour advertisements for %v",
			len(heard.from(m4, onVMAC4)), onVMAC4, len(heard.from(m6, onVMAC6)), onVMAC6)
	}

	lossless(t, l, "address VMACs: SIGTERM of the master", "r2", func() error { return r1.Term(10 * time.Second) })
	wantGone(t, r1, "va.66", "va6.66")
	wantLink(t, r2, "va.66", "macvlan", "eth0", mac4, true, onVMAC4)
	wantARP(t, l, onVMAC4, mac4)
	must(t, r2.Term(10*time.Second))
	wantGone(t, r2, "va.66", "va6.66")
}

// ipvlanSupported reports whether the kernel makes ipvlans (CONFIG_IPVLAN).
func ipvlanSupported(t *testing.T, r *vrrplab.Router) error {
	t.Helper()
	return r.Host.Do(func() error {
		eth, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		probe := &netlink.IPVlan{LinkAttrs: netlink.LinkAttrs{Name: "ipvprobe", ParentIndex: eth.Attrs().Index}, Mode: netlink.IPVLAN_MODE_L2}
		if err := netlink.LinkAdd(probe); err != nil {
			return err
		}
		return netlink.LinkDel(probe)
	})
}

// use_ipvlan: an L2 ipvlan on eth0 carrying its own address, which the
// adverts leave from; with use_vmac as well (as keepalived 2.2.7 reads
// the pair) the virtual address goes on the ipvlan too. The ipvlan
// shares eth0's MAC, which answers ARP for the address; it stays up on
// the backup (it holds no virtual address there), and goes when vipd
// stops.
func TestIPVLAN(t *testing.T) {
	t.Parallel()
	vip := netip.MustParseAddr("198.18.65.100")
	prios := []int{200, 100}
	own := func(i int) netip.Addr { return netip.MustParseAddr(fmt.Sprintf("198.18.65.%d", 201+i)) }
	l := newLab(t, "vfipv", "198.18.65.0/24", false, vipds(2), func(i int, r *vrrplab.Router) vrrplab.Instance {
		return vrrplab.Instance{VRID: 65, Priority: prios[i], Version: 2, VIP: netip.MustParsePrefix("198.18.65.100/24"),
			Extra: []string{fmt.Sprintf("use_ipvlan ipv65 %v/24 private", own(i)), "use_vmac"}}
	})
	r1, r2 := l.Router("r1"), l.Router("r2")
	if err := ipvlanSupported(t, r1); err != nil {
		// Not a silent pass: the kernel cannot make what is tested.
		t.Skipf("this kernel makes no ipvlan (CONFIG_IPVLAN): %v", err)
	}
	startAll(t, l, vip, "r1")
	wantLink(t, r1, "ipv65", "ipvlan", "eth0", macOf(t, r1).String(), true, own(0), vip)
	wantLink(t, r2, "ipv65", "ipvlan", "eth0", macOf(t, r2).String(), true, own(1))
	wantARP(t, l, vip, macOf(t, r1).String())
	logHas(t, r2, "(VI_1) Entering BACKUP STATE")

	lossless(t, l, "use_ipvlan: SIGTERM of the master", "r2", func() error { return r1.Term(10 * time.Second) })
	wantGone(t, r1, "ipv65")
	wantLink(t, r2, "ipv65", "ipvlan", "eth0", macOf(t, r2).String(), true, own(1), vip)
	wantARP(t, l, vip, macOf(t, r2).String())
	must(t, r2.Term(10*time.Second))
	wantGone(t, r2, "ipv65")
}
