package main

import (
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/packet"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"

	"github.com/vipd/vipd/internal/vrrplab"
)

// heard is one announcement the client saw.
type heard struct {
	at     time.Time
	sender string // the MAC it came from
	addr   netip.Addr
}

// announcementLog records the gratuitous ARPs and unsolicited neighbour
// advertisements reaching the client.
type announcementLog struct {
	mu    sync.Mutex
	heard []heard
}

func (l *announcementLog) add(h heard) {
	l.mu.Lock()
	l.heard = append(l.heard, h)
	l.mu.Unlock()
}

// from lists what the MAC sent for addr, in order.
func (l *announcementLog) from(mac net.HardwareAddr, addr netip.Addr) []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	var at []time.Time
	for _, h := range l.heard {
		if h.sender == mac.String() && h.addr == addr {
			at = append(at, h.at)
		}
	}
	return at
}

// listenAnnouncements captures on the client's eth0 until the test ends.
func listenAnnouncements(t *testing.T, l *vrrplab.Lab) *announcementLog {
	t.Helper()
	log := &announcementLog{}
	var arps *packet.Conn
	var nas *icmp.PacketConn
	must(t, l.Client.Do(func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		if arps, err = packet.Listen(ifi, packet.Raw, unix.ETH_P_ARP, nil); err != nil {
			return err
		}
		nas, err = icmp.ListenPacket("ip6:ipv6-icmp", "::")
		return err
	}))
	t.Cleanup(func() { arps.Close(); nas.Close() })
	rawARPs, err := arps.SyscallConn()
	must(t, err)
	go func() {
		buf := make([]byte, 1500)
		for {
			n, _, err := arps.ReadFrom(buf)
			if err != nil {
				return
			}
			// When the kernel took the frame in: a loaded machine may read
			// it much later.
			at := time.Now()
			rawARPs.Control(func(fd uintptr) {
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
			if p.SenderIP == p.TargetIP { // an announcement, not a question
				log.add(heard{at, p.SenderHardwareAddr.String(), p.SenderIP})
			}
		}
	}()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, _, err := nas.ReadFrom(buf)
			if err != nil {
				return
			}
			m, err := icmp.ParseMessage(58, buf[:n])
			if err != nil || m.Type != ipv6.ICMPTypeNeighborAdvertisement {
				continue
			}
			body, ok := m.Body.(*icmp.RawBody)
			// flags(4) target(16) then options: type 2 (target MAC), length 1.
			if !ok || len(body.Data) < 28 || body.Data[20] != 2 {
				continue
			}
			target := netip.AddrFrom16([16]byte(body.Data[4:20]))
			log.add(heard{time.Now(), net.HardwareAddr(body.Data[22:28]).String(), target})
		}
	}()
	return log
}

func macOf(t *testing.T, r *vrrplab.Router) net.HardwareAddr {
	t.Helper()
	var mac net.HardwareAddr
	must(t, r.Host.Do(func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err == nil {
			mac = ifi.HardwareAddr
		}
		return err
	}))
	return mac
}

// checkSpacing checks that each announcement came at least gap after the
// one before (less a little for the client's clock).
func checkSpacing(t *testing.T, what string, at []time.Time, gap time.Duration) {
	t.Helper()
	// Gratuitous ARPs carry the kernel's receive time; neighbour
	// advertisements the time the listener read them, and on a loaded
	// machine one read late makes the next gap look short. So spans are
	// checked, not single gaps: k messages on must be at least k gaps,
	// less slack, later. Unpaced messages fail for k >= 2.
	checkSpacingSlack(t, what, at, gap, 300*time.Millisecond)
}

// checkSpacingSlack is checkSpacing with the slack given.
func checkSpacingSlack(t *testing.T, what string, at []time.Time, gap, slack time.Duration) {
	t.Helper()
	for i := 1; i < len(at); i++ {
		for j := range i {
			if d := at[i].Sub(at[j]); d < time.Duration(i-j)*gap-slack {
				t.Errorf("%s: announcements %d and %d came %v apart, want at least %v (%d gaps of %v, less %v)",
					what, j, i, d.Round(time.Millisecond), time.Duration(i-j)*gap-slack, i-j, gap, slack)
				return
			}
		}
	}
}

// vrrp_garp_interval and vrrp_gna_interval space a burst's gratuitous
// ARPs and neighbour advertisements; a router that lets go of the
// addresses mid-burst sends none of the rest.
func TestAnnouncementSpacing(t *testing.T) {
	t.Parallel()
	vip4 := netip.MustParseAddr("198.18.36.100")
	vip6 := netip.MustParseAddr("fd00:198:18:36::100")
	const garpGap, gnaGap = 200 * time.Millisecond, 300 * time.Millisecond
	prios := []int{200, 100}
	l := newLab(t, "vfsp", "198.18.36.0/24", false, vipds(2), func(i int, r *vrrplab.Router) vrrplab.Instance {
		return vrrplab.Instance{VRID: 36, Priority: prios[i], Version: 3, VIP: netip.MustParsePrefix("198.18.36.100/24"),
			Global: []string{"vrrp_garp_interval 0.2", "vrrp_gna_interval 0.3"},
			// On a loaded host r2 may come up master before it hears r1;
			// r1 answering that with a lower-priority burst is not what
			// this test counts.
			Extra: []string{"garp_master_delay 0", "garp_master_repeat 4", "garp_lower_prio_repeat 0",
				"virtual_ipaddress_excluded {\n        fd00:198:18:36::100/64\n    }"}}
	})
	heard := listenAnnouncements(t, l)
	r1, r2 := l.Router("r1"), l.Router("r2")
	mac1, mac2 := macOf(t, r1), macOf(t, r2)
	startAll(t, l, vip4, "r1")
	time.Sleep(4 * gnaGap) // the rest of the bursts

	arps, nas := heard.from(mac1, vip4), heard.from(mac1, vip6)
	if len(arps) != 4 || len(nas) != 4 {
		t.Fatalf("r1 as master sent %d gratuitous ARPs and %d neighbour advertisements, want 4 each", len(arps), len(nas))
	}
	checkSpacing(t, "gratuitous ARP", arps, garpGap)
	checkSpacing(t, "neighbour advertisement", nas, gnaGap)
	if total := nas[3].Sub(nas[0]); total > 3*gnaGap+time.Second {
		t.Errorf("the NA burst took %v", total)
	}

	// r2 takes over with a long burst and is preempted in its midst.
	must(t, r2.WriteConfig(vrrplab.Instance{VRID: 36, Priority: 100, Version: 3, VIP: netip.MustParsePrefix("198.18.36.100/24"),
		Global: []string{"vrrp_garp_interval 0.2"}, Extra: []string{"garp_master_delay 0", "garp_master_repeat 100"}}.Config("r2")))
	must(t, r2.Term(10*time.Second))
	must(t, r2.Start())
	waitLog(t, r2, "(VI_1) Entering BACKUP STATE")
	lossless(t, l, "SIGTERM of r1", "r2", func() error { return r1.Term(10 * time.Second) })
	must(t, r1.Start())
	took, err := l.WaitHolders(mdi(200)+5*time.Second, "r1")
	must(t, err)
	time.Sleep(3 * garpGap)
	sent := heard.from(mac2, vip4)
	if len(sent) == 0 || len(sent) >= 100 {
		t.Fatalf("r2 sent %d gratuitous ARPs as master; the scenario needs a burst cut short", len(sent))
	}
	if last := sent[len(sent)-1]; last.After(took.Add(50 * time.Millisecond)) {
		t.Errorf("r2 sent a gratuitous ARP %v after r1 took the address", last.Sub(took).Round(time.Millisecond))
	}
	checkSpacing(t, "r2's gratuitous ARP", sent, garpGap)
	t.Logf("r2 sent %d of 100 gratuitous ARPs before r1 preempted", len(sent))
}

// garp_extra_if: a VMAC master announces its addresses again every so
// often (here every second) for as long as it is master.
func TestExtraAnnouncements(t *testing.T) {
	t.Parallel()
	vip := netip.MustParseAddr("198.18.37.100")
	l := newLab(t, "vfex", "198.18.37.0/24", false, vipds(1), func(i int, r *vrrplab.Router) vrrplab.Instance {
		return vrrplab.Instance{VRID: 37, Priority: 100, Version: 2, UseVMAC: true, VIP: netip.MustParsePrefix("198.18.37.100/24"),
			Extra: []string{"garp_master_delay 0", "garp_master_repeat 1", "garp_extra_if 1"}}
	})
	heard := listenAnnouncements(t, l)
	startAll(t, l, vip, "r1")
	took := time.Now()
	time.Sleep(3500 * time.Millisecond)
	vmac, _ := net.ParseMAC("00:00:5e:00:01:25")
	var extra []time.Time
	for _, at := range heard.from(vmac, vip) {
		if at.After(took) {
			extra = append(extra, at)
		}
	}
	if len(extra) < 2 || len(extra) > 5 {
		t.Fatalf("%d announcements in the 3.5s after the burst, want about 3 (one a second)", len(extra))
	}
	// Each repeat is due a second after the last was due; one whose
	// send was held up on a loaded machine (CI saw 380ms) shortens the
	// gap after it.
	checkSpacingSlack(t, "garp_extra_if", extra, time.Second, 500*time.Millisecond)
}
