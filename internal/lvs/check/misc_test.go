package check

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func sh(body string) []string { return []string{"/bin/sh", "-c", body} }

func TestMiscExit(t *testing.T) {
	for _, tc := range []struct {
		script  string
		dynamic bool
		ok      bool
		weight  int // -1: none
		reason  string
	}{
		{"exit 0", false, true, -1, ""},
		{"exit 1", false, false, -1, "misc check failed (exited with status 1)"},
		{"exit 2", false, false, -1, "exited with status 2"},
		{"exit 255", false, false, -1, "exited with status 255"},
		{"kill -9 $$", false, false, -1, "due to signal 9"},
		// misc_dynamic
		{"exit 0", true, true, -1, ""},
		{"exit 1", true, false, -1, "exited with status 1"},
		{"exit 2", true, true, 0, ""},
		{"exit 12", true, true, 10, ""},
		{"exit 255", true, true, 253, ""},
		{"kill -15 $$", true, false, -1, "due to signal 15"},
	} {
		m := Misc{Argv: sh(tc.script), Timeout: 5 * time.Second, Dynamic: tc.dynamic}
		r := m.Probe(ctxFor(t, 5*time.Second))
		name := tc.script + map[bool]string{true: " (dynamic)", false: ""}[tc.dynamic]
		if r.OK != tc.ok || r.LocalError || !strings.Contains(r.Reason, tc.reason) {
			t.Errorf("%s: %+v", name, r)
		}
		if r.HasWeight != (tc.weight >= 0) || tc.weight >= 0 && r.Weight != tc.weight {
			t.Errorf("%s: weight %v %d, want %d", name, r.HasWeight, r.Weight, tc.weight)
		}
	}
}

func TestMiscArgvAndCredential(t *testing.T) {
	// No shell: an argument with spaces and $ arrives as it is.
	m := Misc{Argv: []string{"/bin/sh", "-c", `[ "$1" = 'a b $HOME' ]`, "sh", "a b $HOME"}, Timeout: 5 * time.Second}
	wantOK(t, m.Probe(ctxFor(t, 5*time.Second)))
	if os.Geteuid() == 0 {
		m = Misc{Argv: sh(`[ "$(id -u):$(id -g)" = 65534:65534 ]`), Timeout: 5 * time.Second,
			Credential: &syscall.Credential{Uid: 65534, Gid: 65534, NoSetGroups: true}}
		wantOK(t, m.Probe(ctxFor(t, 5*time.Second)))
	}
	m = Misc{Argv: []string{"/nonexistent/check"}, Timeout: time.Second}
	wantFail(t, m.Probe(ctxFor(t, 2*time.Second)), "misc check failed to start")
}

// pidsGone waits until none of the pids is alive (a zombie counts as
// gone: its parent, not us, has to reap it).
func pidsGone(t *testing.T, pids []int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for _, pid := range pids {
		for {
			b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
			if err != nil {
				break
			}
			f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
			if len(f) > 0 && (f[0] == "Z" || f[0] == "X") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("process %d survived: %s", pid, b)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func readPids(t *testing.T, file string) []int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		p, err := strconv.Atoi(f)
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, p)
	}
	if len(pids) == 0 {
		t.Fatal("no pids")
	}
	return pids
}

// A hanging script is killed with the children it started: SIGTERM, or
// SIGKILL after the grace if it ignores that.
func TestMiscTimeout(t *testing.T) {
	t.Parallel()
	defer func(g time.Duration) { termGrace = g }(termGrace)
	termGrace = 300 * time.Millisecond
	dir := t.TempDir()
	for _, tc := range []struct {
		name, script string
		min, max     time.Duration
	}{
		// misc_timeout 1 s: time enough, on a loaded machine, for the
		// shell to start and write its pids before it is ended.
		{"terminated", `sleep 30 & echo $$ $! > %s; wait`, time.Second, 2 * time.Second},
		{"killed", `trap '' TERM; sleep 30 & echo $$ $! > %s; wait`, 1300 * time.Millisecond, 2300 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(dir, tc.name)
			m := Misc{Argv: sh(strings.ReplaceAll(tc.script, "%s", file)), Timeout: time.Second}
			start := time.Now()
			r := m.Probe(ctxFor(t, 5*time.Second))
			d := time.Since(start)
			wantFail(t, r, "misc check timed out")
			if d < tc.min || d > tc.max {
				t.Errorf("took %v, want %v..%v", d, tc.min, tc.max)
			}
			pidsGone(t, readPids(t, file))
		})
	}
	t.Run("context ends first", func(t *testing.T) {
		file := filepath.Join(dir, "ctx")
		m := Misc{Argv: sh(`trap '' TERM; sleep 30 & echo $$ $! > ` + file + `; wait`), Timeout: 10 * time.Second}
		// The context ends once the shell has written its pids, however
		// long a loaded machine takes to start it; the probe must return
		// within a second of that.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		cancelled := make(chan time.Time, 1)
		go func() {
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				if b, err := os.ReadFile(file); err == nil && strings.HasSuffix(string(b), "\n") {
					break
				}
			}
			cancelled <- time.Now()
			cancel()
		}()
		r := m.Probe(ctx)
		if d := time.Since(<-cancelled); d > time.Second {
			t.Errorf("probe returned %v after its context ended, want at most 1s", d)
		}
		wantFail(t, r, "context canceled")
		pidsGone(t, readPids(t, file))
	})
}
