package lvs

import (
	"fmt"
	"testing"
	"time"
)

// A passing checker retries before it fails; a failing one recovers on
// its first success; local errors change nothing.
func TestSchedule(t *testing.T) {
	s := NewSchedule(Timing{DelayLoop: 6 * time.Second, Retry: 2, DelayBeforeRetry: time.Second, Warmup: 4 * time.Second}, false)
	if d := s.First(0.5); d != 2*time.Second {
		t.Errorf("first after %v", d)
	}
	steps := []struct {
		ok, local bool
		want      string
	}{
		{true, false, "false 6s up"},
		{false, false, "false 1s up"},
		{false, true, "false 6s up"},
		{false, false, "false 1s up"},
		{false, false, "true 6s down"},
		{false, false, "false 6s down"},
		{true, false, "true 6s up"},
		{false, false, "false 1s up"}, // the retries are back
	}
	for i, st := range steps {
		changed, next := s.Attempted(st.ok, st.local)
		state := "down"
		if s.Up() {
			state = "up"
		}
		if got := fmt.Sprintf("%v %v %s", changed, next, state); got != st.want {
			t.Errorf("step %d: %s, want %s", i, got, st.want)
		}
	}
}

func TestScheduleAlpha(t *testing.T) {
	s := NewSchedule(Timing{DelayLoop: time.Second}, true)
	if s.Up() {
		t.Fatal("alpha checker starts up")
	}
	if changed, _ := s.Attempted(true, false); !changed || !s.Up() {
		t.Error("first success does not bring it up")
	}
	if changed, _ := s.Attempted(false, false); !changed || s.Up() {
		t.Error("retry 0: first failure does not take it down")
	}
}
