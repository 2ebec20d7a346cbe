package main

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vipd/vipd/internal/netlab"
	"github.com/vipd/vipd/internal/vrrplab"
)

// captureARPs records the gratuitous ARPs reaching ifname in h's
// namespace until the test ends, with the kernel's receive times.
func captureARPs(t *testing.T, h *netlab.Host, ifname string) *announcementLog {
	t.Helper()
	log := &announcementLog{}
	var c *packet.Conn
	must(t, h.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		c, err = packet.Listen(ifi, packet.Raw, unix.ETH_P_ARP, nil)
		return err
	}))
	t.Cleanup(func() { c.Close() })
	raw, err := c.SyscallConn()
	must(t, err)
	go func() {
		buf := make([]byte, 1500)
		for {
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			at := time.Now()
			raw.Control(func(fd uintptr) {
				var tv unix.Timeval
				if _, _, e := unix.Syscall(unix.SYS_IOCTL, fd, unix.SIOCGSTAMP, uintptr(unsafe.Pointer(&tv))); e == 0 {
					at = time.Unix(tv.Unix())
				}
			})
			var f ethernet.Frame
			var p arp.Packet
			if f.UnmarshalBinary(buf[:n]) != nil || p.UnmarshalBinary(f.Payload) != nil {
				continue
			}
			if p.SenderIP == p.TargetIP {
				log.add(heard{at, p.SenderHardwareAddr.String(), p.SenderIP})
			}
		}
	}()
	return log
}

// garp_group: the group's garp_interval spaces the gratuitous ARPs on its
// interface (lan2, 0.4 s) in place of global_defs' vrrp_garp_interval,
// which still spaces those on eth0 (0.1 s).
func TestGARPGroupSpacing(t *testing.T) {
	t.Parallel()
	vip := netip.MustParseAddr("198.18.67.100")
	vip2 := netip.MustParseAddr("198.18.68.100")
	const globalGap, groupGap = 100 * time.Millisecond, 400 * time.Millisecond
	l := newLab(t, "vfgrp", "198.18.67.0/24", false, vipds(1), func(int, *vrrplab.Router) vrrplab.Instance {
		return vrrplab.Instance{VRID: 67, Priority: 255, Version: 2, VIP: netip.MustParsePrefix("198.18.67.100/24"),
			Global: []string{"vrrp_garp_interval 0.1"},
			Top:    []string{"garp_group {\n    garp_interval 0.4\n    interface lan2\n}\n"},
			Extra: []string{"garp_master_delay 0", "garp_master_repeat 4",
				"virtual_ipaddress_excluded {\n        198.18.68.100/24 dev lan2\n    }"}}
	})
	r1 := l.Router("r1")
	// lan2: a second LAN of r1's, a veth pair whose far end (lan2p)
	// hears what r1 sends there.
	var mac2 net.HardwareAddr
	must(t, r1.Host.Do(func() error {
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "lan2"}, PeerName: "lan2p"}); err != nil {
			return err
		}
		for _, name := range []string{"lan2", "lan2p"} {
			if err := setUp(name, true); err != nil {
				return err
			}
		}
		link, err := netlink.LinkByName("lan2")
		if err != nil {
			return err
		}
		mac2 = link.Attrs().HardwareAddr
		return netlink.AddrAdd(link, &netlink.Addr{IPNet: &net.IPNet{IP: net.ParseIP("198.18.68.1"), Mask: net.CIDRMask(24, 32)}})
	}))
	onLAN := listenAnnouncements(t, l)
	onLan2 := captureARPs(t, r1.Host, "lan2p")
	must(t, r1.Start())
	l.VIP = vip
	_, err := l.WaitHolders(15*time.Second, "r1")
	must(t, err)
	time.Sleep(3*groupGap + time.Second) // the rest of the bursts

	eth0, lan2 := onLAN.from(macOf(t, r1), vip), onLan2.from(mac2, vip2)
	if len(eth0) != 4 || len(lan2) != 4 {
		t.Fatalf("r1 sent %d gratuitous ARPs on eth0 and %d on lan2, want 4 each", len(eth0), len(lan2))
	}
	checkSpacing(t, "lan2 (garp_group)", lan2, groupGap)
	checkSpacing(t, "eth0 (global_defs)", eth0, globalGap)
	if took := eth0[3].Sub(eth0[0]); took >= 3*groupGap-200*time.Millisecond {
		t.Errorf("eth0's burst took %v: the group's spacing leaked onto it", took)
	}
	t.Logf("eth0's 4 gratuitous ARPs took %v, lan2's %v", eth0[3].Sub(eth0[0]).Round(time.Millisecond), lan2[3].Sub(lan2[0]).Round(time.Millisecond))
}

// interface_up_down_delays: the master's link dropping for less than its
// down delay (1.5 s) goes unseen, and it stays master; dropping for
// longer puts it in FAULT once the delay has run, and the backup takes
// over. Coming back (no up delay) it leaves FAULT at once and preempts.
func TestInterfaceUpDownDelays(t *testing.T) {
	t.Parallel()
	vip := netip.MustParseAddr("198.18.68.100")
	const downDelay = 1500 * time.Millisecond
	prios := []int{200, 100}
	l := newLab(t, "vfudd", "198.18.68.0/24", false, vipds(2), func(i int, r *vrrplab.Router) vrrplab.Instance {
		in := vrrplab.Instance{VRID: 68, Priority: prios[i], Version: 2, VIP: netip.MustParsePrefix("198.18.68.100/24")}
		if i == 0 {
			in.Top = []string{"interface_up_down_delays {\n    eth0 1.5 0\n}\n"}
		}
		return in
	})
	r1, r2 := l.Router("r1"), l.Router("r2")
	startAll(t, l, vip, "r1")

	// A flap shorter than the delay.
	must(t, r1.Host.SetLink(false))
	time.Sleep(400 * time.Millisecond)
	must(t, r1.Host.SetLink(true))
	waitLog(t, r1, "interface eth0 is up again within its delay: nothing changes")
	for end := time.Now().Add(mdi(100) + time.Second); time.Now().Before(end); {
		if h := l.Holders(); len(h) != 1 || h[0] != "r1" {
			t.Fatalf("after a short flap of r1's link: holders %v, want r1 alone", h)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, line := range []string{"(VI_1) Entering FAULT STATE", `(VI_1) interface eth0 is down"`} {
		if strings.Contains(r1.Log(), line) {
			t.Errorf("r1 logged %s after a flap within its down delay", line)
		}
	}
	if strings.Contains(r2.Log(), "(VI_1) Entering MASTER STATE") {
		t.Error("r2 became master during r1's short flap")
	}

	// Down for longer than the delay.
	down := time.Now()
	must(t, r1.Host.SetLink(false))
	waitLog(t, r1, "(VI_1) Entering FAULT STATE")
	if took := time.Since(down); took < downDelay || took > downDelay+2*time.Second {
		t.Errorf("r1 entered FAULT %v after its link went down, want just after its %v down delay", took.Round(time.Millisecond), downDelay)
	}
	logHas(t, r1, "interface eth0 is down: acting on it in 1.5s unless it is up again by then")
	_, err := l.WaitHolders(mdi(100)+3*time.Second, "r2")
	must(t, err)

	// Back up: no up delay, so r1 leaves FAULT at once and preempts.
	up := time.Now()
	must(t, r1.Host.SetLink(true))
	_, err = l.WaitHolders(mdi(200)+3*time.Second, "r1")
	must(t, err)
	t.Logf("r1 held the address again %v after its link came back", time.Since(up).Round(time.Millisecond))
}
