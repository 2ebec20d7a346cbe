package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vipd/vipd/internal/vrrplab"
)

// SIGHUP reloads the configuration. r1, master of VI_1, reloads with an
// address added, VI_2 removed (notify_deleted) and a track script kept:
// VI_1 stays master with no probe lost and no notify run again, the new
// address comes, VI_2's goes with a DELETED notify. A broken file keeps
// the running configuration. A lower priority reloaded hands VI_1 to r2.
func TestReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	must(t, os.Chmod(dir, 0o755))
	lines := filepath.Join(dir, "notified")
	notify := filepath.Join(dir, "notify.sh")
	must(t, os.WriteFile(notify, []byte("#!/bin/sh\necho \"$@\" >> "+lines+"\n"), 0o755))
	vip, added, second := netip.MustParseAddr("198.18.75.100"), netip.MustParseAddr("198.18.75.102"), netip.MustParseAddr("198.18.75.101")
	r1conf := func(priority int, withSecond bool, extra ...string) string {
		in := vrrplab.Instance{VRID: 75, Priority: priority, Version: 2, VIP: netip.MustParsePrefix("198.18.75.100/24"),
			Global: []string{"script_user root", "enable_script_security"},
			Top:    []string{"vrrp_script ok {", "    script /bin/true", "    interval 1", "}"},
			Extra:  append([]string{"notify " + notify, "track_script {", "    ok", "}"}, extra...)}
		if withSecond {
			in.Top = append(in.Top, "vrrp_instance VI_2 {", "    interface eth0", "    virtual_router_id 76", "    priority 150",
				"    notify "+notify, "    notify_deleted", "    virtual_ipaddress {", "        198.18.75.101/24", "    }", "}")
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

	must(t, r1.WriteConfig(r1conf(150, false, "virtual_ipaddress_excluded {", "    198.18.75.102/24", "}")))
	lossless(t, l, "reload", "r1", func() error { return r1.Signal(syscall.SIGHUP) })
	waitLog(t, r1, "Reload done")
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

	must(t, r1.WriteConfig(r1conf(50, false)))
	lossless(t, l, "reload to a lower priority", "r2", func() error { return r1.Signal(syscall.SIGHUP) })
	if r1.Holds(added) {
		t.Errorf("r1 still holds %v, which the last reload took out", added)
	}
	must(t, r1.Term(10*time.Second))
	if os.Getenv("SHOWLOG") != "" {
		t.Log(r1.Log())
	}
}
