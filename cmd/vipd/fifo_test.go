package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vipd/vipd/internal/vrrplab"
)

// notify_fifo: r1 writes its states (and, with
// vrrp_notify_priority_changes, its priority changes) to a FIFO, which
// notify_fifo_script reads: it gets the FIFO's path as its last argument.
// The FIFO is gone after stop.
func TestNotifyFIFO(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	must(t, os.Chmod(dir, 0o755))
	fifo, got, load := filepath.Join(dir, "notify.fifo"), filepath.Join(dir, "lines"), filepath.Join(dir, "load")
	reader := filepath.Join(dir, "reader.sh")
	must(t, os.WriteFile(reader, []byte("#!/bin/sh\n[ \"$2\" = \""+fifo+"\" ] || exit 1\nwhile read -r line; do echo \"$1 $line\" >> "+got+"; done < \"$2\"\n"), 0o755))
	vip := netip.MustParseAddr("198.18.50.100")
	l := newLab(t, "vfff", "198.18.50.0/24", false, vipds(2), func(i int, r *vrrplab.Router) vrrplab.Instance {
		in := vrrplab.Instance{VRID: 50, Priority: []int{150, 100}[i], Version: 2, VIP: netip.MustParsePrefix("198.18.50.100/24")}
		if i == 0 {
			in.Global = []string{"script_user root", "notify_fifo " + fifo, `notify_fifo_script "` + reader + ` got"`, "vrrp_notify_priority_changes"}
			in.Top = []string{"track_file load {", "    file " + load, "    weight -10", "}"}
			in.Extra = []string{"track_file {", "    load", "}"}
		}
		return in
	})
	startAll(t, l, vip, "r1")
	must(t, os.WriteFile(load, []byte("1\n"), 0o644))
	waitLog(t, l.Router("r1"), "(VI_1) Changing effective priority from 150 to 140")
	must(t, l.Router("r1").Term(10*time.Second))
	waitLines(t, got, []string{
		`got INSTANCE "VI_1" BACKUP 150`,
		`got INSTANCE "VI_1" MASTER 150`,
		`got INSTANCE "VI_1" MASTER_PRIORITY 140`,
		`got INSTANCE "VI_1" STOP 140`,
	})
	if _, err := os.Lstat(fifo); !os.IsNotExist(err) {
		t.Errorf("the FIFO is still there after stop: %v", err)
	}
}
