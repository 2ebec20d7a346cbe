package track

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A tracked file is read as keepalived's strtol(buf, NULL, 0) reads it.
func TestFileValue(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		text string
		want int64
		err  bool
	}{
		{"", 0, false}, {"7\n", 7, false}, {"  -12 trailing words", -12, false}, {"0x1f", 31, false},
		{"010", 8, false}, {"+5", 5, false}, {"abc", 0, false}, {"0x", 0, false}, {"09", 0, false},
		{"2147483648", 2147483648, false}, {"2147483649", 0, true}, {"-2147483649", 0, true},
		{"99999999999999999999", 0, true},
	} {
		p := filepath.Join(dir, "f")
		if err := os.WriteFile(p, []byte(c.text), 0o644); err != nil {
			t.Fatal(err)
		}
		v, err := FileValue(p)
		if (err != nil) != c.err || err == nil && v != c.want {
			t.Errorf("%q: %d, %v; want %d (error %v)", c.text, v, err, c.want, c.err)
		}
	}
	if v, err := FileValue(filepath.Join(dir, "missing")); v != 0 || err != nil {
		t.Errorf("missing file: %d, %v; want 0", v, err)
	}
	if v, _ := leadingInt("-99999999999999999999"); v != math.MinInt64 {
		t.Errorf("huge negative: %d", v)
	}
}

// The watch sees a file written in place, replaced by a rename, created
// and deleted; not other files in its directory.
func TestWatchFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state")
	w, err := WatchFiles([]string{p})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	expect := func(what string) {
		t.Helper()
		select {
		case c := <-w.Changes():
			if c.Path != p {
				t.Fatalf("%s: change of %s, want %s", what, c.Path, p)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no change seen", what)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "other"), []byte("1"), 0o644))
	must(os.WriteFile(p, []byte("1"), 0o644))
	expect("created and written")
	tmp := filepath.Join(dir, "tmp")
	must(os.WriteFile(tmp, []byte("2"), 0o644))
	must(os.Rename(tmp, p))
	expect("renamed over")
	must(os.Remove(p))
	expect("deleted")
	select {
	case c := <-w.Changes():
		t.Errorf("unexpected change %v", c)
	case <-time.After(100 * time.Millisecond):
	}
}
