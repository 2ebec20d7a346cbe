package firewall_test

import (
	"errors"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"

	"github.com/vipd/vipd/internal/firewall"
	"github.com/vipd/vipd/internal/netlab"
	"github.com/vipd/vipd/internal/vip"
)

var (
	vip4 = netip.MustParsePrefix("198.18.9.100/24")
	vip6 = netip.MustParsePrefix("fd00:198:18:9::100/64")
)

// lab is a master holding one address of each family and a client.
func lab(t *testing.T) (master, client *netlab.Host) {
	t.Helper()
	netlab.NeedRoot(t)
	if _, err := exec.LookPath("nft"); err != nil {
		t.Fatal("nft is needed (Debian package nftables; scripts/deps installs it)")
	}
	l, err := netlab.New("fw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	master, err = l.AddHost("m", netip.MustParsePrefix("198.18.9.1/24"), netip.MustParsePrefix("fd00:198:18:9::1/64"))
	if err != nil {
		t.Fatal(err)
	}
	client, err = l.AddHost("c", netip.MustParsePrefix("198.18.9.2/24"), netip.MustParsePrefix("fd00:198:18:9::2/64"))
	if err != nil {
		t.Fatal(err)
	}
	err = master.Do(func() error {
		for _, p := range []netip.Prefix{vip4, vip6} {
			if err := vip.Add(vip.Address{Prefix: p, Dev: "eth0"}, vip.Forever); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return master, client
}

// answered pings addr from the client for a while and says whether any
// echo came back.
func answered(t *testing.T, client *netlab.Host, addr netip.Addr) bool {
	t.Helper()
	p, err := client.StartProbe(addr, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	from := time.Now()
	time.Sleep(300 * time.Millisecond)
	to := time.Now()
	time.Sleep(time.Second + 100*time.Millisecond) // the probes' answer time
	p.Stop()
	s := p.Stats(from, to)
	if s.Sent == 0 {
		t.Fatalf("no probe sent to %v", addr)
	}
	return s.Lost < s.Sent
}

// sendFrom sends one UDP datagram from src on the master: a drop in the
// output hook comes back to the sender as EPERM.
func sendFrom(master *netlab.Host, src, dst netip.Addr) error {
	return master.Do(func() error {
		c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, 9)))
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("x"))
		return err
	})
}

func do(t *testing.T, h *netlab.Host, f func() error) {
	t.Helper()
	if err := h.Do(f); err != nil {
		t.Fatal(err)
	}
}

func TestBlockDropsTrafficButNotNeighbourDiscovery(t *testing.T) {
	master, client := lab(t)
	var fw *firewall.Table
	do(t, master, func() (err error) { fw, err = firewall.Open(firewall.DefaultTable); return })
	t.Cleanup(func() { master.Do(fw.Close) })

	for _, a := range []netip.Addr{vip4.Addr(), vip6.Addr()} {
		if !answered(t, client, a) {
			t.Fatalf("%v unanswered before any block", a)
		}
	}

	do(t, master, func() error { return fw.Block(vip4.Addr(), vip6.Addr()) })
	do(t, client, func() error { return exec.Command("ip", "neigh", "flush", "all").Run() })
	for _, a := range []netip.Addr{vip4.Addr(), vip6.Addr()} {
		if answered(t, client, a) {
			t.Errorf("%v answered while blocked", a)
		}
		// ARP (not IP) and neighbour solicitations still get answers:
		// the master must stay resolvable to route for the address.
		mac, err := client.Neighbour(a)
		if err != nil {
			t.Fatal(err)
		}
		if mac == nil {
			t.Errorf("client could not resolve %v while blocked", a)
		}
	}
	for _, c := range []struct{ src, dst netip.Addr }{
		{vip4.Addr(), netip.MustParseAddr("198.18.9.2")},
		{vip6.Addr(), netip.MustParseAddr("fd00:198:18:9::2")},
	} {
		if err := sendFrom(master, c.src, c.dst); !errors.Is(err, syscall.EPERM) {
			t.Errorf("sending from blocked %v: %v, want EPERM", c.src, err)
		}
	}
	out, err := exec.Command("ip", "netns", "exec", master.NSName, "nft", "list", "table", "inet", "vipd").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list: %v\n%s", err, out)
	}
	for _, want := range []string{
		"ip daddr @vips4 counter", "ip6 daddr @vips6 counter", "ip saddr @vips4 counter",
		"icmpv6 type", "198.18.9.100", "fd00:198:18:9::100", "priority filter - 1",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("nft list table inet vipd lacks %q:\n%s", want, out)
		}
	}

	do(t, master, func() error { return fw.Unblock(vip4.Addr(), vip6.Addr()) })
	for _, a := range []netip.Addr{vip4.Addr(), vip6.Addr()} {
		if !answered(t, client, a) {
			t.Errorf("%v unanswered after unblock", a)
		}
	}
}

// Two holders of one address: it stays blocked until both let go.
func TestBlockIsCounted(t *testing.T) {
	master, client := lab(t)
	var fw *firewall.Table
	do(t, master, func() (err error) { fw, err = firewall.Open(firewall.DefaultTable); return })
	t.Cleanup(func() { master.Do(fw.Close) })
	do(t, master, func() error { return fw.Block(vip4.Addr()) })
	do(t, master, func() error { return fw.Block(vip4.Addr()) })
	do(t, master, func() error { return fw.Unblock(vip4.Addr()) })
	if answered(t, client, vip4.Addr()) {
		t.Error("answered with one holder left")
	}
	do(t, master, func() error { return fw.Unblock(vip4.Addr(), vip4.Addr()) }) // one too many is harmless
	if !answered(t, client, vip4.Addr()) {
		t.Error("unanswered after both let go")
	}
}

// A table left by a killed run is replaced on the next start, and Close
// deletes it.
func TestOpenReplacesStaleTableAndCloseDeletesIt(t *testing.T) {
	master, client := lab(t)
	var stale *firewall.Table
	do(t, master, func() (err error) { stale, err = firewall.Open(firewall.DefaultTable); return })
	do(t, master, func() error { return stale.Block(vip4.Addr()) })
	// The run dies here without Close.
	var fw *firewall.Table
	do(t, master, func() (err error) { fw, err = firewall.Open(firewall.DefaultTable); return })
	if !answered(t, client, vip4.Addr()) {
		t.Error("a block from the earlier run survived Open")
	}
	do(t, master, fw.Close)
	if tableExists(t, master) {
		t.Error("table still there after Close")
	}
	var removed bool
	do(t, master, func() (err error) { removed, err = firewall.Remove(firewall.DefaultTable); return })
	if removed {
		t.Error("Remove found a table after Close")
	}

	// A run that needs no table removes one an earlier run left.
	do(t, master, func() (err error) { stale, err = firewall.Open(firewall.DefaultTable); return })
	do(t, master, func() error { return stale.Block(vip4.Addr()) })
	do(t, master, func() (err error) { removed, err = firewall.Remove(firewall.DefaultTable); return })
	if !removed || tableExists(t, master) {
		t.Errorf("Remove said %v; table there after: %v", removed, tableExists(t, master))
	}
	if !answered(t, client, vip4.Addr()) {
		t.Error("blocked after Remove")
	}
}

func tableExists(t *testing.T, h *netlab.Host) bool {
	t.Helper()
	var ok bool
	do(t, h, func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		_, err = c.ListTableOfFamily(firewall.DefaultTable, nftables.TableFamilyINet)
		ok = err == nil
		return nil
	})
	return ok
}
