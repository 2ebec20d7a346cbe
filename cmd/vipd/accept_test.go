package main

import (
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vipd/vipd/internal/vrrplab"
)

// nftTable lists a firewall table in the router's namespace ("" when it
// has none).
func nftTable(t *testing.T, r *vrrplab.Router, family, name string) string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", r.Host.NSName, "nft", "list", "table", family, name).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "No such file or directory") {
			return ""
		}
		t.Fatalf("nft list table %s %s on %s: %v\n%s", family, name, r.Name, err, out)
	}
	return string(out)
}

// unanswered checks that the address resolves to the router's MAC but
// that no probe sent to it for a second is answered.
func unanswered(t *testing.T, l *vrrplab.Lab, what string, r *vrrplab.Router) {
	t.Helper()
	from := time.Now()
	time.Sleep(time.Second)
	if s := window(l, from); s.Sent == 0 || s.Lost != s.Sent {
		t.Errorf("%s: probes to the address were answered: %v", what, s)
	}
	mac, err := l.Client.Neighbour(l.VIP)
	must(t, err)
	if own := macOf(t, r); mac.String() != own.String() {
		t.Errorf("%s: the client resolves the address to %v, want %s's %v", what, mac, r.Name, own)
	}
}

// A master with no_accept holds the address (it resolves to it, so that
// traffic can be routed through it) but takes no packet addressed to it;
// a backup in accept mode taking over answers at once. The firewall table
// goes with the daemon; one left by SIGKILL goes at the next start.
func TestNoAccept(t *testing.T) {
	t.Parallel()
	vip := netip.MustParseAddr("198.18.29.100")
	instance := func(i int, noAccept bool) vrrplab.Instance {
		in := vrrplab.Instance{VRID: 29, Priority: []int{200, 100}[i], Version: 3, VIP: netip.MustParsePrefix("198.18.29.100/24")}
		if noAccept {
			in.Extra = []string{"no_accept"}
		}
		return in
	}
	l := newLab(t, "vfna", "198.18.29.0/24", false, vipds(2), func(i int, r *vrrplab.Router) vrrplab.Instance {
		return instance(i, i == 0)
	})
	r1, r2 := l.Router("r1"), l.Router("r2")
	startRouters(t, l, vip, "r1", 20*time.Millisecond)
	unanswered(t, l, "r1 master with no_accept", r1)
	if tbl := nftTable(t, r1, "inet", "vipd"); !strings.Contains(tbl, "198.18.29.100") {
		t.Errorf("r1's firewall table does not block the address:\n%s", tbl)
	}
	if tbl := nftTable(t, r2, "inet", "vipd"); tbl != "" {
		t.Errorf("r2 accepts, yet has a firewall table:\n%s", tbl)
	}

	must(t, r1.Term(10*time.Second))
	_, err := l.WaitHolders(10*time.Second, "r2")
	must(t, err)
	steady(t, l, "r2")
	if tbl := nftTable(t, r1, "inet", "vipd"); tbl != "" {
		t.Errorf("r1 stopped, its firewall table stayed:\n%s", tbl)
	}

	// r1 preempts again, then dies by SIGKILL: its table stays behind
	// until r1 starts again, now in accept mode.
	must(t, r1.Start())
	_, err = l.WaitHolders(mdi(200)+5*time.Second, "r1")
	must(t, err)
	unanswered(t, l, "r1 master with no_accept again", r1)
	must(t, r1.Kill())
	_, err = l.WaitHolders(mdi(100)+5*time.Second, "r2")
	must(t, err)
	if tbl := nftTable(t, r1, "inet", "vipd"); tbl == "" {
		t.Fatal("no table left by SIGKILL: the scenario tests nothing")
	}
	must(t, r1.WriteConfig(instance(0, false).Config("r1")))
	must(t, r1.Start())
	waitLog(t, r1, "removed firewall table inet vipd left by an earlier run")
	_, err = l.WaitHolders(mdi(200)+5*time.Second, "r1")
	must(t, err)
	steady(t, l, "r1")
}

// vrrp_strict on both sides, keepalived 2.2.7 and vipd: they elect and
// fail over both ways, and each, as master, takes no traffic to the
// address (strict mode means no accept mode for a non-owner).
func TestInteropStrict(t *testing.T) {
	t.Parallel()
	needKeepalived(t)
	vip := netip.MustParseAddr("198.18.35.100")
	l := newLab(t, "kis", "198.18.35.0/24", false, []vrrplab.Impl{vrrplab.Vipd, vrrplab.Keepalived}, func(i int, r *vrrplab.Router) vrrplab.Instance {
		return vrrplab.Instance{VRID: 35, Priority: []int{100, 200}[i], Version: 2, Global: []string{"vrrp_strict"},
			VIP: netip.MustParsePrefix("198.18.35.100/24")}
	})
	r1, r2 := l.Router("r1"), l.Router("r2")
	startRouters(t, l, vip, "r2", 20*time.Millisecond)
	unanswered(t, l, "keepalived master in strict mode", r2)
	if tbl := nftTable(t, r2, "ip", "keepalived"); !strings.Contains(tbl, "198.18.35.100") {
		t.Errorf("keepalived's table does not block the address:\n%s", tbl)
	}
	logHas(t, r1, "(VI_1) Entering BACKUP STATE")

	must(t, r2.Term(10*time.Second))
	_, err := l.WaitHolders(10*time.Second, "r1")
	must(t, err)
	unanswered(t, l, "vipd master in strict mode", r1)
	if tbl := nftTable(t, r1, "inet", "vipd"); !strings.Contains(tbl, "198.18.35.100") {
		t.Errorf("vipd's table does not block the address:\n%s", tbl)
	}

	must(t, r2.Start())
	_, err = l.WaitHolders(mdi(200)+5*time.Second, "r2")
	must(t, err)
	// The block goes just after the address.
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		tbl := nftTable(t, r1, "inet", "vipd")
		if !strings.Contains(tbl, "198.18.35.100") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("vipd is backup, yet still blocks the address:\n%s", tbl)
		}
	}
}
