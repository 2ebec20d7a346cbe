package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vipd/vipd/internal/netlab"
	"github.com/vipd/vipd/internal/vrrplab"
)

// net_namespace: r1's vipd is started in another namespace, cut off from
// the LAN, with net_namespace naming r1's; it moves there before opening
// a socket and is master on the LAN (r2 is backup). Stopped, r2 takes over.
func TestNetNamespace(t *testing.T) {
	t.Parallel()
	vip := netip.MustParseAddr("198.18.48.100")
	l := newLab(t, "vfnn", "198.18.48.0/24", false, vipds(2), func(i int, r *vrrplab.Router) vrrplab.Instance {
		in := vrrplab.Instance{VRID: 48, Priority: []int{150, 100}[i], Version: 2, VIP: netip.MustParsePrefix("198.18.48.100/24")}
		if i == 0 {
			in.Top = []string{"net_namespace " + r.Host.NSName}
		}
		return in
	})
	r1, r2 := l.Router("r1"), l.Router("r2")
	// The launcher: a namespace of its own, on a LAN of its own.
	other, err := netlab.New("vfnx")
	must(t, err)
	t.Cleanup(func() { other.Close() })
	launcher, err := other.AddHost("l", netip.MustParsePrefix("198.18.49.1/24"))
	must(t, err)
	self, err := os.Executable()
	must(t, err)

	must(t, r2.Start())
	l.VIP = vip
	_, err = l.WaitHolders(mdi(100)+5*time.Second, "r2")
	must(t, err)
	p, err := launcher.Start(self, "-n", "-l", "-D", "-G", "-f", r1.Conf, "-p", filepath.Join(t.TempDir(), "r1.pid"))
	must(t, err)
	t.Cleanup(func() { p.Stop(10 * time.Second) })
	_, err = l.WaitHolders(mdi(150)+5*time.Second, "r1")
	if err != nil {
		t.Fatalf("%v; r1's log:\n%s", err, p.Output())
	}
	if !strings.Contains(p.Output(), "Starting vipd") {
		t.Errorf("r1's log:\n%s", p.Output())
	}
	p.Stop(10 * time.Second)
	_, err = l.WaitHolders(mdi(100)+5*time.Second, "r2")
	must(t, err)
}
