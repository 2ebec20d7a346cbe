package main

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vipd/vipd/internal/vrrplab"
)

// The smaller instance options on real routers: mcast_dst_ip joins and
// uses another group, promote_secondaries is on while vipd runs and put
// back after; with unicast peers, unicast_ttl sets the adverts' TTL and
// check_unicast_src ignores a higher-priority router that is not a peer.
func TestInstanceOptions(t *testing.T) {
	t.Parallel()
	vip := netip.MustParseAddr("198.18.47.100")
	prefix := netip.MustParsePrefix("198.18.47.100/24")
	l := newLab(t, "vfop", "198.18.47.0/24", false, vipds(3), func(i int, r *vrrplab.Router) vrrplab.Instance {
		in := vrrplab.Instance{VRID: 47, Priority: []int{150, 100, 50}[i], Version: 2, VIP: prefix, Extra: []string{"mcast_dst_ip 224.0.0.99"}}
		if i == 0 {
			in.Extra = append(in.Extra, "promote_secondaries")
		}
		return in
	})
	r1, r2, r3 := l.Router("r1"), l.Router("r2"), l.Router("r3")
	promote := func() string {
		t.Helper()
		var v []byte
		must(t, r1.Host.Do(func() (err error) {
			v, err = os.ReadFile("/proc/sys/net/ipv4/conf/eth0/promote_secondaries")
			return err
		}))
		return strings.TrimSpace(string(v))
	}
	before := promote()
	startAll(t, l, vip, "r1")
	if got := ip(t, r2, "maddr", "show", "dev", "eth0"); !strings.Contains(got, "224.0.0.99") {
		t.Errorf("r2 has not joined 224.0.0.99:\n%s", got)
	}
	if got := promote(); got != "1" {
		t.Errorf("promote_secondaries on r1's eth0 is %s while vipd runs, want 1", got)
	}
	for _, r := range l.Routers {
		must(t, r.Term(10*time.Second))
	}
	if got := promote(); got != before {
		t.Errorf("promote_secondaries on r1's eth0 is %s after vipd stopped, want %s as before", got, before)
	}

	// Unicast: r1 and r2 are each other's peers; r3 (priority 200)
	// sends to r1, which does not list it and ignores it.
	unicast := func(r *vrrplab.Router, priority int, peers ...*vrrplab.Router) vrrplab.Instance {
		in := vrrplab.Instance{VRID: 47, Priority: priority, Version: 2, VIP: prefix, Source: r.Addr, Extra: []string{"unicast_ttl 64", "check_unicast_src"}}
		for _, p := range peers {
			in.Peers = append(in.Peers, p.Addr)
		}
		return in
	}
	must(t, r1.WriteConfig(unicast(r1, 150, r2).Config("r1")))
	must(t, r2.WriteConfig(unicast(r2, 100, r1).Config("r2")))
	must(t, r3.WriteConfig(unicast(r3, 200, r1).Config("r3")))
	must(t, r1.Start())
	must(t, r2.Start())
	_, err := l.WaitHolders(mdi(100)+5*time.Second, "r1")
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	capture, err := exec.CommandContext(ctx, "ip", "netns", "exec", r2.Host.NSName, "tcpdump", "-c", "1", "-v", "-n", "-i", "eth0", "ip proto 112 and src "+r1.Addr.String()).CombinedOutput()
	if err != nil {
		t.Fatalf("tcpdump on r2: %v\n%s", err, capture)
	}
	if !strings.Contains(string(capture), "ttl 64") {
		t.Errorf("r1's unicast advert, as r2 sees it: want ttl 64 in\n%s", capture)
	}
	must(t, r3.Start())
	waitLog(t, r1, "(VI_1) dropped advert from "+r3.Addr.String()+": vrrp: advert from an address that is not a unicast peer")
	time.Sleep(mdi(150))
	if h := l.Holders(); strings.Join(h, ",") != "r1,r3" {
		t.Errorf("holders %v, want r1 (which ignores r3) and r3 (which hears no one)", h)
	}
}
