package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestDaemonRefusesUntilBuilt(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(nil, &out, &errb); code != 1 || !strings.Contains(errb.String(), "not supported yet") {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
	out.Reset()
	if code := run([]string{"-v"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "vipd ") {
		t.Fatalf("-v: exit %d, %q", code, out.String())
	}
}

// The story must show the make-before-break handover: stopping the
// master and starting routers again lose nothing; only the kill does.
func TestSimulateStory(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"simulate"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	steps := strings.Split(out.String(), "\n== ")[1:]
	if len(steps) != 5 {
		t.Fatalf("%d steps:\n%s", len(steps), out.String())
	}
	for i, want := range []bool{true, false, true, false, false} { // does the step lose probes?
		lossless := strings.Contains(steps[i], "probes lost: 0 of")
		if lossless == want {
			t.Errorf("step %q: lost probes = %v, want %v", strings.SplitN(steps[i], "\n", 2)[0], !lossless, want)
		}
	}
}
