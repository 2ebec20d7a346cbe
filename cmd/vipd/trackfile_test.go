package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vipd/vipd/internal/vrrplab"
)

// track_file: r1 (150) tracks a load file with weight -30 and a stop file
// without weight; r2 (100) tracks nothing. Writing 2 to the load file
// takes r1 to 90 and r2 over; 0 brings r1 back. A non-zero stop file puts
// r1 in FAULT; deleting it (0 again) brings r1 back. init_file creates the
// load file with 0 at start.
func TestTrackFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	load, stop := filepath.Join(dir, "load"), filepath.Join(dir, "stop")
	vip := netip.MustParseAddr("198.18.44.100")
	l := newLab(t, "vftf", "198.18.44.0/24", false, vipds(2), func(i int, r *vrrplab.Router) vrrplab.Instance {
		in := vrrplab.Instance{VRID: 44, Priority: []int{150, 100}[i], Version: 2, VIP: netip.MustParsePrefix("198.18.44.100/24")}
		if i == 0 {
			in.Top = []string{
				"track_file load {", "    file " + load, "    weight -30", "    init_file", "}",
				"track_file stop {", "    file " + stop, "}",
			}
			in.Extra = []string{"track_file {", "    load", "    stop weight 0", "}"}
		}
		return in
	})
	r1 := l.Router("r1")
	startAll(t, l, vip, "r1")
	if b, err := os.ReadFile(load); err != nil || string(b) != "0\n" {
		t.Errorf("init_file: %s holds %q, %v; want \"0\\n\"", load, b, err)
	}
	write := func(path, value string) {
		t.Helper()
		must(t, os.WriteFile(path, []byte(value), 0o644))
	}

	write(load, "2\n")
	waitLog(t, r1, "track_file load ("+load+") now holds 2")
	waitLog(t, r1, "(VI_1) Changing effective priority from 150 to 90")
	_, err := l.WaitHolders(mdi(100)+5*time.Second, "r2")
	must(t, err)
	tmp := filepath.Join(dir, "tmp")
	write(tmp, "0")
	must(t, os.Rename(tmp, load)) // replaced, as editors and atomic writers do
	waitLog(t, r1, "(VI_1) Changing effective priority from 90 to 150")
	_, err = l.WaitHolders(mdi(150)+5*time.Second, "r1")
	must(t, err)

	write(stop, "1")
	waitLog(t, r1, "(VI_1) Entering FAULT STATE")
	_, err = l.WaitHolders(mdi(100)+5*time.Second, "r2")
	must(t, err)
	must(t, os.Remove(stop))
	waitLog(t, r1, "track_file stop ("+stop+") now holds 0")
	_, err = l.WaitHolders(mdi(150)+5*time.Second, "r1")
	must(t, err)
}
