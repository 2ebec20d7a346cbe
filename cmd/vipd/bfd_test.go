package main

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vipd/vipd/internal/vrrplab"
)

// bfd_instance and track_bfd, against keepalived's BFD: r1 (vipd, 150)
// and r2 (keepalived, 100) each run a session to the other. It comes up
// on both ends; r1 tracks it with weight -60, so that when r2 is cut off
// the session times out and r1's priority falls to 90, and when r2 is
// back it rises to 150 again. A stopping vipd tells
// keepalived at once (AdminDown), rather than leaving it to time out.
func TestBFD(t *testing.T) {
	t.Parallel()
	vip := netip.MustParseAddr("198.18.53.100")
	l := newLab(t, "vfbf", "198.18.53.0/24", false, []vrrplab.Impl{vrrplab.Vipd, vrrplab.Keepalived}, func(i int, r *vrrplab.Router) vrrplab.Instance {
		in := vrrplab.Instance{VRID: 53, Priority: []int{150, 100}[i], Version: 2, VIP: netip.MustParsePrefix("198.18.53.100/24")}
		other := netip.MustParseAddr([]string{"198.18.53.2", "198.18.53.1"}[i])
		in.Top = []string{"bfd_instance peer {", "    neighbor_ip " + other.String(), "    min_rx 100", "    min_tx 100", "    multiplier 3", "    weight -60", "}"}
		if i == 0 {
			in.Extra = []string{"track_bfd {", "    peer", "}"}
		}
		return in
	})
	needKeepalived(t)
	r1, r2 := l.Router("r1"), l.Router("r2")
	if r1.Addr != netip.MustParseAddr("198.18.53.1") || r2.Addr != netip.MustParseAddr("198.18.53.2") {
		t.Fatalf("lab addresses %v %v", r1.Addr, r2.Addr)
	}
	startAll(t, l, vip, "r1")
	waitLog(t, r1, "(peer) Entering UP state")
	waitLog(t, r2, "(peer) Entering Up state")

	// Cut off, r2 is silent: r1's session times out (and r2 becomes a
	// master too, hearing nothing). Back, the session comes up again.
	must(t, r2.Host.Cut(true))
	waitLog(t, r1, "(peer) Entering DOWN state")
	waitLog(t, r1, "(VI_1) Changing effective priority from 150 to 90")
	must(t, r2.Host.Cut(false))
	waitLogN(t, r1, "(peer) Entering UP state", 2)
	waitLog(t, r1, "(VI_1) Changing effective priority from 90 to 150")
	_, err := l.WaitHolders(mdi(150)+5*time.Second, "r1")
	must(t, err)

	stopped := time.Now()
	must(t, r1.Term(10*time.Second))
	waitLog(t, r2, "(peer) Entering Down state")
	if took := time.Since(stopped); took > 3*time.Second {
		t.Errorf("keepalived saw the session down %v after vipd stopped; AdminDown should make it at once", took)
	}
}
