package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/vipd/vipd/internal/netlab"
	"github.com/vipd/vipd/internal/vrrplab"
)

// SIGHUP reloads the configuration. r1, master of VI_1, reloads with an
// address added, VI_2 removed (notify_deleted), one of VI_2's addresses
// moved to VI_1 and a track script kept: VI_1 stays master with no probe
// lost and no notify run again, the new address comes, VI_2's other one
// goes with a DELETED notify, and the moved one stays on throughout. A broken file keeps
// the running configuration, and so does one the host cannot run. A lower
// priority reloaded hands VI_1 to r2.
func TestReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	must(t, os.Chmod(dir, 0o755))
	lines := filepath.Join(dir, "notified")
	notify := filepath.Join(dir, "notify.sh")
	must(t, os.WriteFile(notify, []byte("#!/bin/sh\necho \"$@\" >> "+lines+"\n"), 0o755))
	vip, added, second := netip.MustParseAddr("198.18.75.100"), netip.MustParseAddr("198.18.75.102"), netip.MustParseAddr("198.18.75.101")
	moved := netip.MustParseAddr("198.18.75.103")
	r1conf := func(priority int, withSecond bool, extra ...string) string {
		in := vrrplab.Instance{VRID: 75, Priority: priority, Version: 2, VIP: netip.MustParsePrefix("198.18.75.100/24"),
			Global: []string{"script_user root", "enable_script_security"},
			Top:    []string{"vrrp_script ok {", "    script /bin/true", "    interval 1", "}"},
			Extra:  append([]string{"notify " + notify, "track_script {", "    ok", "}"}, extra...)}
		if withSecond {
			in.Top = append(in.Top, "vrrp_instance VI_2 {", "    interface eth0", "    virtual_router_id 76", "    priority 150",
				"    notify "+notify, "    notify_deleted", "    virtual_ipaddress {", "        198.18.75.101/24", "        198.18.75.103/24", "    }", "}")
		}
		return in.Config("r1")
	}
	l := newLab(t, "vfrl", "198.18.75.0/24", false, vipds(2), func(i int, r *vrrplab.Router) vrrplab.Instance {
		return vrrplab.Instance{VRID: 75, Priority: []int{150, 100}[i], Version: 2, VIP: netip.MustParsePrefix("198.18.75.100/24")}
	})
	r1 := l.Router("r1")
	must(t, r1.WriteConfig(r1conf(150, true)))
	startAll(t, l, vip, "r1")
	started := []string{"INSTANCE VI_1 BACKUP 150", "INSTANCE VI_1 MASTER 150", "INSTANCE VI_2 BACKUP 150", "INSTANCE VI_2 MASTER 150"}
	waitLineSet(t, lines, started)
	if !r1.Holds(second) {
		t.Fatal("r1 does not hold VI_2's address")
	}

	must(t, r1.WriteConfig(r1conf(150, false, "virtual_ipaddress_excluded {", "    198.18.75.102/24", "    198.18.75.103/24", "}")))
	deletions := addrDeletions(t, r1.Host, moved)
	lossless(t, l, "reload", "r1", func() error { return r1.Signal(syscall.SIGHUP) })
	waitLog(t, r1, "Reload done")
	if n := deletions(); n > 0 || !r1.Holds(moved) {
		t.Errorf("%v, moved from VI_2 to VI_1: deleted %d times, held after: %v", moved, n, r1.Holds(moved))
	}
	for deadline := time.Now().Add(5 * time.Second); !r1.Holds(added) || r1.Holds(second); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after the reload r1 holds %v: %v, %v: %v; want the first only", added, r1.Holds(added), second, r1.Holds(second))
		}
	}
	waitLineSet(t, lines, append(started, "INSTANCE VI_2 DELETED 150"))
	if strings.Contains(r1.Log(), "(VI_1) Entering FAULT") {
		t.Error("VI_1 went through FAULT on the reload: its track script's verdict was not kept")
	}

	must(t, os.WriteFile(r1.Conf, []byte("vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 300\n}\n"), 0o644))
	lossless(t, l, "bad reload", "r1", func() error { return r1.Signal(syscall.SIGHUP) })
	waitLog(t, r1, "Reload failed: the running configuration stays in effect")
	if !r1.Holds(added) {
		t.Errorf("r1 lost %v on a failed reload", added)
	}

	// A file that reads well but cannot run here (a notify user this
	// host lacks): the running configuration is built again, and goes
	// on as before, its notify scripts too.
	must(t, r1.WriteConfig(r1conf(150, false, "virtual_ipaddress_excluded {", "    198.18.75.102/24", "    198.18.75.103/24", "}",
		"notify_fault /bin/true vipd-no-such-user")))
	lossless(t, l, "reload the host cannot run", "r1", func() error { return r1.Signal(syscall.SIGHUP) })
	waitLog(t, r1, "Reload failed: going back to the running configuration")
	if !r1.Holds(added) || !r1.Holds(moved) {
		t.Errorf("after going back, r1 holds %v: %v, %v: %v", added, r1.Holds(added), moved, r1.Holds(moved))
	}

	must(t, r1.WriteConfig(r1conf(50, false)))
	lossless(t, l, "reload to a lower priority", "r2", func() error { return r1.Signal(syscall.SIGHUP) })
	if r1.Holds(added) {
		t.Errorf("r1 still holds %v, which the last reload took out", added)
	}
	waitLineSet(t, lines, append(started, "INSTANCE VI_2 DELETED 150", "INSTANCE VI_1 BACKUP 50"))
	must(t, r1.Term(10*time.Second))
}

// addrDeletions counts the kernel's deletions of addr in the host's
// namespace from now until the returned function is called.
func addrDeletions(t *testing.T, h *netlab.Host, addr netip.Addr) func() int {
	t.Helper()
	updates, done := make(chan netlink.AddrUpdate, 64), make(chan struct{})
	ns := h.NS
	must(t, netlink.AddrSubscribeWithOptions(updates, done, netlink.AddrSubscribeOptions{Namespace: &ns}))
	count := make(chan int)
	go func() {
		n := 0
		for u := range updates { // closed once done is
			if ip, ok := netip.AddrFromSlice(u.LinkAddress.IP); !u.NewAddr && ok && ip.Unmap() == addr {
				n++
			}
		}
		count <- n
	}()
	return func() int {
		time.Sleep(200 * time.Millisecond) // the last events come in
		close(done)
		return <-count
	}
}
