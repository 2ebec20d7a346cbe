package main

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vipd/vipd/internal/vrrplab"
)

// track_script and notify: r1 (150) tracks a script that tests for a
// file. Unweighted, the file going away puts r1 in FAULT and r2 (100)
// takes over; back, r1 preempts. With weight -60 the failure lowers r1 to
// 90 instead. r1's notify scripts record every state, in order, with
// keepalived's arguments. The second start also has vrrp_startup_delay.
func TestTrackScript(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	must(t, os.Chmod(dir, 0o755))
	flag := filepath.Join(dir, "healthy")
	notes := filepath.Join(dir, "notes")
	recorder := filepath.Join(dir, "record.sh")
	must(t, os.WriteFile(recorder, []byte("#!/bin/sh\necho \"$*\" >> "+notes+"\n"), 0o755))
	must(t, os.WriteFile(flag, nil, 0o644))
	vip := netip.MustParseAddr("198.18.42.100")
	instance := func(i int, weight int) vrrplab.Instance {
		in := vrrplab.Instance{VRID: 42, Priority: []int{150, 100}[i], Version: 2, VIP: netip.MustParsePrefix("198.18.42.100/24")}
		if i == 0 {
			in.Global = []string{"script_user root"}
			in.Top = []string{"vrrp_script chk {", `    script "/usr/bin/test -f ` + flag + `"`, "    interval 1", "}"}
			in.Extra = []string{"track_script {", fmt.Sprintf("    chk weight %d", weight), "}",
				`notify_master "` + recorder + ` master"`,
				`notify "` + recorder + ` any"`}
		}
		return in
	}
	l := newLab(t, "vfsc", "198.18.42.0/24", false, vipds(2), func(i int, r *vrrplab.Router) vrrplab.Instance {
		return instance(i, 0)
	})
	r1 := l.Router("r1")
	setHealthy := func(ok bool) {
		t.Helper()
		if ok {
			must(t, os.WriteFile(flag, nil, 0o644))
		} else {
			must(t, os.Remove(flag))
		}
	}
	startAll(t, l, vip, "r1")

	setHealthy(false)
	waitLog(t, r1, "VRRP_Script(chk) failed (exited with status 1)")
	waitLog(t, r1, "(VI_1) Entering FAULT STATE")
	_, err := l.WaitHolders(mdi(100)+5*time.Second, "r2")
	must(t, err)
	setHealthy(true)
	waitLog(t, r1, "VRRP_Script(chk) succeeded")
	_, err = l.WaitHolders(mdi(150)+5*time.Second, "r1")
	must(t, err)

	must(t, r1.Term(10*time.Second))
	_, err = l.WaitHolders(mdi(100)+5*time.Second, "r2")
	must(t, err)
	// The notifies, in the order the states came: the specific script
	// first, then the generic one with "INSTANCE NAME STATE PRIORITY".
	want := []string{
		"any INSTANCE VI_1 BACKUP 150",
		"master", "any INSTANCE VI_1 MASTER 150",
		"any INSTANCE VI_1 FAULT 150",
		"any INSTANCE VI_1 BACKUP 150",
		"master", "any INSTANCE VI_1 MASTER 150",
		"any INSTANCE VI_1 STOP 150",
	}
	waitLines(t, notes, want)

	// Restarted with weight -60, and vrrp_startup_delay: r1 stays out
	// of the election for 2s.
	must(t, os.Remove(notes))
	delayed := instance(0, -60)
	delayed.Global = append(delayed.Global, "vrrp_startup_delay 2")
	must(t, r1.WriteConfig(delayed.Config("r1")))
	must(t, r1.Start())
	waitLog(t, r1, "Delaying startup for 2s (vrrp_startup_delay)")
	delayedAt := time.Now()
	_, err = l.WaitHolders(mdi(150)+7*time.Second, "r1")
	must(t, err)
	if took := time.Since(delayedAt); took < 1700*time.Millisecond {
		t.Errorf("r1 took over %v after its start, within its startup delay of 2s", took)
	}
	setHealthy(false)
	waitLog(t, r1, "(VI_1) Changing effective priority from 150 to 90")
	_, err = l.WaitHolders(mdi(100)+5*time.Second, "r2")
	must(t, err)
	setHealthy(true)
	waitLog(t, r1, "(VI_1) Changing effective priority from 90 to 150")
	_, err = l.WaitHolders(mdi(150)+5*time.Second, "r1")
	must(t, err)
	waitLines(t, notes, []string{
		"any INSTANCE VI_1 BACKUP 150",
		"master", "any INSTANCE VI_1 MASTER 150",
		"any INSTANCE VI_1 BACKUP 90",
		"master", "any INSTANCE VI_1 MASTER 150",
	})
}

// waitLines waits until a file holds exactly the lines, in order.
func waitLines(t *testing.T, path string, want []string) {
	t.Helper()
	var got []string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		b, _ := os.ReadFile(path)
		got = strings.Split(strings.TrimSpace(string(b)), "\n")
		if strings.Join(got, "\n") == strings.Join(want, "\n") {
			return
		}
	}
	t.Fatalf("%s holds\n  %s\nwant\n  %s", path, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
}
