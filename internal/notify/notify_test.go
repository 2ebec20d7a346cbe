package notify

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vipd/vipd/internal/script"
)

// One instance's notifies run in the order posted, each after the one
// before has finished, even when an early one is slow; the extra
// arguments are appended; a script past patience stops holding the queue.
func TestRunnerOrder(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	rec := func(delay string) script.Cmd {
		return script.Cmd{Argv: []string{"/bin/sh", "-c", "sleep " + delay + "; echo \"$*\" >> " + out, "rec"}}
	}
	r := NewRunner(slog.New(slog.NewTextHandler(io.Discard, nil)), 2*time.Second)
	r.Post("VI_1", Job{Cmd: rec("0.3"), Extra: []string{"master"}}, Job{Cmd: rec("0"), Extra: []string{"INSTANCE", "VI_1", "MASTER", "100"}})
	r.Post("VI_1", Job{Cmd: rec("0"), Extra: []string{"backup"}})
	r.Post("VI_2", Job{Cmd: rec("0"), Extra: []string{"other"}})
	r.Close(time.Minute)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var vi1 []string
	for _, l := range lines {
		if l != "other" {
			vi1 = append(vi1, l)
		}
	}
	if got, want := strings.Join(vi1, "|"), "master|INSTANCE VI_1 MASTER 100|backup"; got != want {
		t.Errorf("VI_1's notifies ran as %q, want %q", got, want)
	}
	if len(lines) != 4 {
		t.Errorf("ran %q", lines)
	}

	// A hung script holds the next one only for the patience.
	r = NewRunner(slog.New(slog.NewTextHandler(io.Discard, nil)), 200*time.Millisecond)
	start := time.Now()
	r.Post("VI_1", Job{Cmd: script.Cmd{Argv: []string{"/bin/sleep", "5"}}}, Job{Cmd: rec("0"), Extra: []string{"after"}})
	r.Close(time.Minute)
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("a hung notify held the queue %v", took)
	}
	if b, _ := os.ReadFile(out); !strings.HasSuffix(string(b), "after\n") {
		t.Errorf("the notify after a hung one did not run: %q", b)
	}
}
