package daemon

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestParseReloadTime(t *testing.T) {
	loc := time.FixedZone("X", 3600)
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, loc)
	for _, tc := range []struct {
		line  string
		want  time.Time
		daily bool
	}{
		{"13:30:00", time.Date(2026, 11, 24, 13, 30, 0, 0, loc), true},
		{"11:30:00", time.Date(2026, 11, 25, 11, 30, 0, 0, loc), true}, // passed today: tomorrow
		{"12:00:00", time.Date(2026, 11, 25, 12, 0, 0, 0, loc), true},
		{"11:30:00Z", time.Date(2026, 11, 24, 11, 30, 0, 0, time.UTC), true}, // now is 11:00 UTC
		{"10:30:00Z", time.Date(2026, 11, 25, 10, 30, 0, 0, time.UTC), true},
		{"2026-12-01 01:02:03", time.Date(2026, 12, 1, 1, 2, 3, 0, loc), false},
		{"26-12-01 01:02:03Z", time.Date(2026, 12, 1, 1, 2, 3, 0, time.UTC), false},
		{"2020-01-01 00:00:00", time.Date(2020, 1, 1, 0, 0, 0, 0, loc), false}, // past: the caller ignores it
	} {
		at, daily, err := parseReloadTime(tc.line, now)
		if err != nil || !at.Equal(tc.want) || daily != tc.daily {
			t.Errorf("%q: %v daily %v (%v), want %v daily %v", tc.line, at, daily, err, tc.want, tc.daily)
		}
	}
	for _, bad := range []string{"", "1:02:03", " 12:00:00", "12:00:00 ", "2026-12-01  01:02:03", "25:00:00", "2026-13-01 00:00:00", "noon"} {
		if _, _, err := parseReloadTime(bad, now); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// The watch reloads at the file's time and removes the file (no
// reload_repeat); a file removed before its time cancels.
func TestWatchReloadTime(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "reload-at")
	stop := make(chan struct{})
	defer close(stop)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	fire := watchReloadTime(path, false, log, stop)
	at := time.Now().Add(1500 * time.Millisecond)
	if err := os.WriteFile(path, []byte(at.Format("2006-01-02 15:04:05")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case <-fire:
		if time.Now().Before(at.Truncate(time.Second)) {
			t.Errorf("reloaded at %v, before %v", time.Now(), at)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no reload within 5s")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the file is still there after the reload: %v", err)
	}

	at = time.Now().Add(1500 * time.Millisecond)
	if err := os.WriteFile(path, []byte(at.Format("15:04:05")), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * reloadTimePoll)
	os.Remove(path)
	select {
	case <-fire:
		t.Error("reloaded though the file was removed")
	case <-time.After(2500 * time.Millisecond):
	}
}
