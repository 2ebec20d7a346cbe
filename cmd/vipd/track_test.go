package main

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/vipd/vipd/internal/vrrplab"
)

// track_interface: r1 tracks a second interface of its own. Unweighted,
// the interface going down puts r1 in FAULT and r2 takes over; up again,
// r1 preempts back. With weight -60, down lowers r1 from 150 to 90, below
// r2's 100, and r2 preempts; up again, r1 is back at 150 and preempts.
func TestTrackInterface(t *testing.T) {
	t.Parallel()
	vip := netip.MustParseAddr("198.18.39.100")
	instance := func(i int, track string) vrrplab.Instance {
		in := vrrplab.Instance{VRID: 39, Priority: []int{150, 100}[i], Version: 2, VIP: netip.MustParsePrefix("198.18.39.100/24")}
		if track != "" {
			in.Extra = []string{"track_interface {", track, "}"}
		}
		return in
	}
	l := newLab(t, "vftr", "198.18.39.0/24", false, vipds(2), func(i int, r *vrrplab.Router) vrrplab.Instance {
		if i == 0 {
			return instance(0, "trk0")
		}
		return instance(1, "")
	})
	r1 := l.Router("r1")
	// The tracked interface: a veth pair inside r1's namespace; taking
	// its peer down takes its carrier away.
	must(t, r1.Host.Do(func() error {
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "trk0"}, PeerName: "trk1"}); err != nil {
			return err
		}
		for _, name := range []string{"trk0", "trk1"} {
			if err := setUp(name, true); err != nil {
				return err
			}
		}
		return nil
	}))
	setTracked := func(up bool) {
		t.Helper()
		must(t, r1.Host.Do(func() error { return setUp("trk1", up) }))
	}
	startAll(t, l, vip, "r1")

	setTracked(false)
	waitLog(t, r1, "(VI_1) Entering FAULT STATE")
	_, err := l.WaitHolders(mdi(100)+5*time.Second, "r2")
	must(t, err)
	setTracked(true)
	_, err = l.WaitHolders(mdi(150)+5*time.Second, "r1")
	must(t, err)

	must(t, r1.Term(10*time.Second))
	_, err = l.WaitHolders(mdi(100)+5*time.Second, "r2")
	must(t, err)
	must(t, r1.WriteConfig(instance(0, "trk0 weight -60").Config("r1")))
	must(t, r1.Start())
	_, err = l.WaitHolders(mdi(150)+5*time.Second, "r1")
	must(t, err)
	setTracked(false)
	waitLog(t, r1, "(VI_1) Changing effective priority from 150 to 90")
	_, err = l.WaitHolders(mdi(100)+5*time.Second, "r2")
	must(t, err)
	setTracked(true)
	waitLog(t, r1, "(VI_1) Changing effective priority from 90 to 150")
	_, err = l.WaitHolders(mdi(150)+5*time.Second, "r1")
	must(t, err)
}

func setUp(name string, up bool) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return err
	}
	if up {
		return netlink.LinkSetUp(link)
	}
	return netlink.LinkSetDown(link)
}
