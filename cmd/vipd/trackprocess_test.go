package main

import (
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/vipd/vipd/internal/vrrplab"
)

// vrrp_track_process: r1 (150) needs process vipdtpa running (no weight)
// and loses 60 while vipdtpb is not (weight -60); r2 (100) tracks nothing.
// Killing vipdtpb hands over to r2, starting it again brings r1 back;
// killing vipdtpa puts r1 in FAULT. The processes are copies of sleep
// under names nothing else on the host has.
func TestTrackProcess(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sleep, err := os.ReadFile("/bin/sleep")
	must(t, err)
	start := func(name string) *exec.Cmd {
		t.Helper()
		bin := filepath.Join(dir, name)
		must(t, os.WriteFile(bin, sleep, 0o755))
		cmd := exec.Command(bin, "600")
		must(t, cmd.Start())
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd
	}
	kill := func(cmd *exec.Cmd) {
		cmd.Process.Kill()
		cmd.Wait()
	}
	a, b := start("vipdtpa"), start("vipdtpb")
	vip := netip.MustParseAddr("198.18.51.100")
	l := newLab(t, "vftp", "198.18.51.0/24", false, vipds(2), func(i int, r *vrrplab.Router) vrrplab.Instance {
		in := vrrplab.Instance{VRID: 51, Priority: []int{150, 100}[i], Version: 2, VIP: netip.MustParsePrefix("198.18.51.100/24")}
		if i == 0 {
			in.Top = []string{
				"vrrp_track_process need {", "    process vipdtpa", "}",
				"vrrp_track_process want {", "    process vipdtpb", "    weight -60", "    terminate_delay 0.2", "}",
			}
			in.Extra = []string{"track_process {", "    need", "    want", "}"}
		}
		return in
	})
	r1 := l.Router("r1")
	startAll(t, l, vip, "r1")

	kill(b)
	waitLog(t, r1, "Quorum lost for tracked process want")
	waitLog(t, r1, "(VI_1) Changing effective priority from 150 to 90")
	_, err = l.WaitHolders(mdi(100)+5*time.Second, "r2")
	must(t, err)
	start("vipdtpb")
	waitLog(t, r1, "Quorum gained for tracked process want")
	_, err = l.WaitHolders(mdi(150)+5*time.Second, "r1")
	must(t, err)

	kill(a)
	waitLog(t, r1, "(VI_1) Entering FAULT STATE")
	_, err = l.WaitHolders(mdi(100)+5*time.Second, "r2")
	must(t, err)
}
