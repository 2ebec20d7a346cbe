package main

import (
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vipd/vipd/internal/vrrplab"
)

// virtual_routes, virtual_rules, static_routes and static_rules: the
// master holds the virtual ones and the backup none; both keep the static
// ones from start to stop. A tracked route or rule someone deletes on the
// master comes back at once, a no_track one stays out; a deleted static
// route comes back too. On failover the virtual routes and rules move
// with the addresses, and a stopped daemon leaves nothing behind.
func TestVirtualRoutes(t *testing.T) {
	t.Parallel()
	vip := netip.MustParseAddr("198.18.43.100")
	l := newLab(t, "vfro", "198.18.43.0/24", false, vipds(2), func(i int, r *vrrplab.Router) vrrplab.Instance {
		return vrrplab.Instance{VRID: 43, Priority: []int{150, 100}[i], Version: 2, VIP: netip.MustParsePrefix("198.18.43.100/24"),
			Top: []string{
				"static_routes {", "    198.18.210.0/24 via 198.18.43.254 dev eth0", "}",
				"static_rules {", "    from 198.18.43.0/24 table 200 preference 200", "}",
			},
			Extra: []string{
				"virtual_routes {",
				"    198.18.200.0/24 via 198.18.43.254 dev eth0",
				"    198.18.201.0/24 via 198.18.43.254 dev eth0 no_track",
				"    blackhole 198.18.202.0/24",
				"    198.18.203.0/24 dev eth0 src 198.18.43.100 table 100",
				"}",
				"virtual_rules {", "    from 198.18.43.100 table 100 preference 100", "}",
			}}
	})
	r1, r2 := l.Router("r1"), l.Router("r2")
	virtual := []string{"198.18.200.0/24", "198.18.201.0/24", "blackhole 198.18.202.0/24", "198.18.203.0/24 dev eth0 table 100", "100:\tfrom 198.18.43.100 lookup 100 proto keepalived"}
	static := []string{"198.18.210.0/24 via 198.18.43.254", "200:\tfrom 198.18.43.0/24 lookup 200 proto keepalived"}
	startAll(t, l, vip, "r1")
	all := append(append([]string{}, virtual...), static...)
	waitRouting(t, r1, all, nil)
	waitRouting(t, r2, static, virtual)

	ip(t, r1, "route", "del", "198.18.200.0/24")
	waitLog(t, r1, "(VI_1) virtual route 198.18.200.0/24 via 198.18.43.254 dev eth0 protocol 18 was deleted: putting it back")
	ip(t, r1, "rule", "del", "pref", "100")
	waitLog(t, r1, "(VI_1) virtual rule priority 100 from 198.18.43.100/32 lookup 100 protocol 18 was deleted: putting it back")
	ip(t, r1, "route", "del", "198.18.201.0/24")
	time.Sleep(1500 * time.Millisecond) // more than a renewal
	kept := []string{virtual[0], virtual[2], virtual[3], virtual[4]}
	waitRouting(t, r1, kept, virtual[1:2])
	ip(t, r2, "route", "del", "198.18.210.0/24")
	waitLog(t, r2, "Restoring deleted static route 198.18.210.0/24")
	waitRouting(t, r2, static, virtual)

	must(t, r1.Term(10*time.Second))
	_, err := l.WaitHolders(mdi(100)+5*time.Second, "r2")
	must(t, err)
	waitRouting(t, r2, all, nil)
	waitRouting(t, r1, nil, all)
}

// ip runs ip(8) in a router's namespace.
func ip(t *testing.T, r *vrrplab.Router, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"-n", r.Host.NSName}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: ip %s: %v\n%s", r.Name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// waitRouting waits until the router's routes and rules (all tables)
// hold every string of want and none of absent.
func waitRouting(t *testing.T, r *vrrplab.Router, want, absent []string) {
	t.Helper()
	var listed string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		listed = ip(t, r, "route", "show", "table", "all") + ip(t, r, "rule")
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(listed, w)
		}
		for _, a := range absent {
			ok = ok && !strings.Contains(listed, a)
		}
		if ok {
			return
		}
	}
	t.Fatalf("%s: want %q and not %q in\n%s", r.Name, want, absent, listed)
}
