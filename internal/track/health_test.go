package track

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vipd/vipd/internal/script"
)

// Rise and fall as keepalived 2.2.7 counts them: the first result decides
// a pending check; then fall failures in a row fail a good one and rise
// successes in a row restore a failed one, a stray result in between
// resetting the run.
func TestHealth(t *testing.T) {
	for _, c := range []struct {
		name       string
		rise, fall int
		initFail   bool
		resumed    Verdict
		results    string // s: success, f: failure
		want       string // the verdict after each: g good, f failed
	}{
		{"first failure decides", 3, 2, false, Pending, "f", "f"},
		{"first success decides", 3, 2, false, Pending, "s", "g"},
		{"fall 2", 3, 2, false, Pending, "sfsff", "ggggf"},
		{"rise 3", 3, 2, false, Pending, "fssfsss", "ffffffg"},
		{"rise 1 fall 1", 1, 1, false, Pending, "sfsf", "gfgf"},
		{"init_fail needs rise", 2, 1, true, Pending, "ss", "fg"},
		{"fall 3 reset by a success", 1, 3, false, Pending, "sffsfff", "ggggggf"},
		{"resumed good needs fall", 3, 2, false, Good, "ff", "gf"},
		{"resumed failed needs rise", 3, 2, true, Failed, "sss", "ffg"},
		{"resumed good after init_fail", 3, 2, true, Good, "s", "g"},
	} {
		h := NewHealth(c.rise, c.fall, c.initFail)
		h.Resume(c.resumed)
		got := ""
		for _, r := range c.results {
			h.Observe(r == 's')
			got += map[Verdict]string{Good: "g", Failed: "f", Pending: "p"}[h.Verdict()]
		}
		if got != c.want {
			t.Errorf("%s: verdicts %s, want %s", c.name, got, c.want)
		}
	}
	if v := NewHealth(1, 1, false).Verdict(); v != Pending {
		t.Errorf("a new check is %v, want pending", v)
	}
	if v := NewHealth(1, 1, true).Verdict(); v != Failed {
		t.Errorf("a new init_fail check is %v, want failed", v)
	}
}

// A real script: its exit status makes the verdict, a run past the
// timeout is killed and fails, and the check stops with its context.
func TestCheckRun(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "status")
	sh := func(body string) script.Cmd { return script.Cmd{Argv: []string{"/bin/sh", "-c", body}} }
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	wait := func(out <-chan Result, want Verdict) {
		t.Helper()
		select {
		case r := <-out:
			if r.Verdict != want {
				t.Fatalf("verdict %v, want %v", r.Verdict, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no verdict %v within 5s", want)
		}
	}
	if err := os.WriteFile(state, []byte("0"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan Result)
	done := make(chan struct{})
	c := Check{Name: "status", Cmd: sh("exit $(cat " + state + ")"), Interval: 20 * time.Millisecond, Timeout: time.Second, Rise: 2, Fall: 2}
	go func() { c.Run(ctx, out, log); close(done) }()
	wait(out, Good)
	if err := os.WriteFile(state, []byte("3"), 0o644); err != nil {
		t.Fatal(err)
	}
	wait(out, Failed)
	if err := os.WriteFile(state, []byte("0"), 0o644); err != nil {
		t.Fatal(err)
	}
	wait(out, Good)
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the check did not stop with its context")
	}

	// A script that outlasts its timeout, ignoring SIGTERM, is killed.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	slow := Check{Name: "slow", Cmd: sh("trap '' TERM; sleep 30"), Interval: time.Second, Timeout: 100 * time.Millisecond, Rise: 1, Fall: 1}
	start := time.Now()
	go slow.Run(ctx, out, log)
	wait(out, Failed)
	if took := time.Since(start); took > killGrace+3*time.Second {
		t.Errorf("the timed-out script took %v to fail", took)
	}
	// A script that cannot run fails (keepalived would count it good).
	missing := Check{Name: "missing", Cmd: script.Cmd{Argv: []string{filepath.Join(dir, "nosuch")}}, Interval: time.Second, Timeout: time.Second, Rise: 1, Fall: 1}
	go missing.Run(ctx, out, log)
	wait(out, Failed)
}
