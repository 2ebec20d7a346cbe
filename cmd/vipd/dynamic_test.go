package main

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vipd/vipd/internal/vrrplab"
)

// dynamic_interfaces: r1 (150) runs its instance on dyn0, a macvlan on
// its LAN port that does not exist when it starts; it waits in FAULT
// while r2 (100) is master. dyn0 comes without an address (r1 still
// waits), then gets one: r1 takes over. dyn0 is deleted: r1 is in FAULT
// and r2 takes over; made again (a new index): r1 takes over again.
func TestDynamicInterfaces(t *testing.T) {
	t.Parallel()
	vip := netip.MustParseAddr("198.18.45.100")
	l := newLab(t, "vfdi", "198.18.45.0/24", false, vipds(2), func(i int, r *vrrplab.Router) vrrplab.Instance {
		return vrrplab.Instance{VRID: 45, Priority: []int{150, 100}[i], Version: 2, VIP: netip.MustParsePrefix("198.18.45.100/24")}
	})
	r1 := l.Router("r1")
	conf := vrrplab.Instance{VRID: 45, Priority: 150, Version: 2, VIP: netip.MustParsePrefix("198.18.45.100/24"),
		Global: []string{"dynamic_interfaces"}}.Config("r1")
	must(t, r1.WriteConfig(strings.Replace(conf, "interface eth0", "interface dyn0", 1)))
	startAll(t, l, vip, "r2")
	waitLog(t, r1, "(VI_1) waiting for its interface, in FAULT until then (dynamic_interfaces): interface dyn0")

	makeDyn := func() {
		t.Helper()
		ip(t, r1, "link", "add", "dyn0", "link", "eth0", "type", "macvlan", "mode", "bridge")
		ip(t, r1, "link", "set", "dyn0", "up")
		waitLog(t, r1, "(VI_1) waiting for its interface, in FAULT until then: interface dyn0 has no IPv4 address")
		ip(t, r1, "addr", "add", "198.18.45.11/24", "dev", "dyn0")
	}
	makeDyn()
	waitLog(t, r1, "(VI_1) interface dyn0 (index")
	_, err := l.WaitHolders(mdi(150)+5*time.Second, "r1")
	must(t, err)

	ip(t, r1, "link", "del", "dyn0")
	waitLog(t, r1, "(VI_1) interface dyn0 is down")
	_, err = l.WaitHolders(mdi(100)+5*time.Second, "r2")
	must(t, err)
	makeDyn()
	waitLogN(t, r1, "(VI_1) Entering MASTER STATE", 2)
	_, err = l.WaitHolders(mdi(150)+5*time.Second, "r1")
	must(t, err)
	steady(t, l, "r1")
}
