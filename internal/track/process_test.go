package track

import (
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

func TestProcessMatch(t *testing.T) {
	cmdline := []string{"/usr/sbin/haproxy", "-f", "/etc/haproxy/haproxy.cfg", "-p", "/run/haproxy.pid"}
	for _, c := range []struct {
		spec ProcessSpec
		want bool
	}{
		{ProcessSpec{Process: "haproxy"}, true},
		{ProcessSpec{Process: "hap"}, false},
		{ProcessSpec{Process: "/usr/sbin/haproxy", FullCommand: true}, true},
		{ProcessSpec{Process: "haproxy", FullCommand: true}, false},
		{ProcessSpec{Process: "/usr/sbin/haproxy", FullCommand: true, Match: ParamsExact, Params: cmdline[1:]}, true},
		{ProcessSpec{Process: "/usr/sbin/haproxy", FullCommand: true, Match: ParamsExact, Params: cmdline[1:3]}, false},
		{ProcessSpec{Process: "/usr/sbin/haproxy", FullCommand: true, Match: ParamsExact}, false},
		{ProcessSpec{Process: "/usr/sbin/haproxy", FullCommand: true, Match: ParamsPartial, Params: cmdline[1:3]}, true},
		{ProcessSpec{Process: "/usr/sbin/haproxy", FullCommand: true, Match: ParamsPartial, Params: []string{"-f", "/etc/haproxy"}}, false},
		{ProcessSpec{Process: "/usr/sbin/haproxy", FullCommand: true, Match: ParamsInitial, Params: []string{"-f", "/etc/haproxy"}}, true},
		{ProcessSpec{Process: "/usr/sbin/haproxy", FullCommand: true, Match: ParamsInitial, Params: []string{"-x", "/etc/haproxy"}}, false},
	} {
		if got := c.spec.matches("haproxy", cmdline); got != c.want {
			t.Errorf("%+v: matches %v, want %v", c.spec, got, c.want)
		}
	}
}

// A process started and killed is counted, and its quorum reported
// gained and lost, within the delays.
func TestWatchProcesses(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "vipdwatchme") // a name no other process has
	b, err := os.ReadFile("/bin/sleep")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	spec := ProcessSpec{Name: "p", Process: "vipdwatchme", Quorum: 1, QuorumMax: 1 << 30, ForkDelay: 200 * time.Millisecond}
	w := WatchProcesses([]ProcessSpec{spec}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer w.Close()
	if w.Up()[0] {
		t.Fatal("up before the process runs")
	}
	cmd := exec.Command(bin, "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	started := time.Now()
	expect := func(up bool) time.Duration {
		t.Helper()
		select {
		case c := <-w.Changes():
			if c.Up != up || c.Name != "p" {
				t.Fatalf("change %+v, want up %v", c, up)
			}
			return time.Since(started)
		case <-time.After(10 * time.Second):
			t.Fatalf("no change to up %v", up)
		}
		return 0
	}
	took := expect(true)
	t.Logf("quorum gained %v after the start (fork_delay 200ms)", took)
	if took < 200*time.Millisecond {
		t.Errorf("quorum gained after %v, before fork_delay", took)
	}
	cmd.Process.Kill()
	cmd.Wait()
	started = time.Now()
	t.Logf("quorum lost %v after the kill", expect(false))
	if counts := CountProcesses([]ProcessSpec{spec}); counts[0] != 0 {
		t.Errorf("%d counted after the kill", counts[0])
	}
}
