package daemon

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vipd/vipd/internal/config"
)

// A script of link reports against a virtual clock, and what the
// debouncer hands on, as keepalived 2.2.7's update_interface_flags does.
func TestDebouncer(t *testing.T) {
	const idx, other = 3, 4
	delays := map[string]linkDelay{"eth0": {down: 2 * time.Second, up: time.Second}, "eth1": {down: time.Second}}
	type step struct {
		at   time.Duration // when it happens
		s    *linkState    // a report; nil: only see what fell due by at
		want string        // what is handed on at that moment: "up", "down", "gone", several joined by ","
	}
	up := func(name string, index int) *linkState { return &linkState{index: index, name: name, up: true} }
	down := func(name string, index int) *linkState { return &linkState{index: index, name: name} }
	gone := func(name string, index int) *linkState { return &linkState{index: index, name: name, gone: true} }
	for _, c := range []struct {
		name   string
		seeded bool // eth0 was up at start
		steps  []step
		log    string
	}{
		{name: "down and back within the delay: nothing", seeded: true, steps: []step{
			{0, down("eth0", idx), ""}, {time.Second, up("eth0", idx), "up"}, {5 * time.Second, nil, ""}},
			log: "interface eth0 is up again within its delay: nothing changes"},
		{name: "down for longer: acted on after the delay", seeded: true, steps: []step{
			{0, down("eth0", idx), ""}, {1999 * time.Millisecond, nil, ""}, {2 * time.Second, nil, "down"}},
			log: "interface eth0 is down: acting on it in 2s unless it is up again by then"},
		{name: "repeated reports keep the first one's clock", seeded: true, steps: []step{
			{0, down("eth0", idx), ""}, {1500 * time.Millisecond, down("eth0", idx), ""}, {2 * time.Second, nil, "down"}}},
		{name: "up delay, and a flap back down within it", seeded: true, steps: []step{
			{0, down("eth0", idx), ""}, {2 * time.Second, nil, "down"},
			{3 * time.Second, up("eth0", idx), ""}, {3500 * time.Millisecond, down("eth0", idx), "down"},
			{4 * time.Second, up("eth0", idx), ""}, {5 * time.Second, nil, "up"}}},
		{name: "never seen up: its first up is at once", steps: []step{
			{0, up("eth0", idx), "up"}, {time.Second, down("eth0", idx), ""}, {3 * time.Second, nil, "down"}}},
		{name: "no up delay: up at once", steps: []step{
			{0, up("eth1", other), "up"}, {time.Second, down("eth1", other), ""}, {2 * time.Second, nil, "down"},
			{3 * time.Second, up("eth1", other), "up"}}},
		{name: "deleted: at once, dropping what waited; made again: up at once", seeded: true, steps: []step{
			{0, down("eth0", idx), ""}, {time.Second, gone("eth0", idx), "gone"}, {3 * time.Second, nil, ""},
			{4 * time.Second, up("eth0", idx+10), "up"}}},
		{name: "an interface without delays passes", steps: []step{
			{0, down("eth9", 9), "down"}, {time.Second, up("eth9", 9), "up"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var logged bytes.Buffer
			b := newDebouncer(delays, slog.New(slog.NewTextHandler(&logged, nil)))
			if c.seeded {
				b.links[idx] = &debounced{up: true, seenUp: true}
			}
			epoch := time.Unix(1000, 0)
			for i, st := range c.steps {
				now := epoch.Add(st.at)
				// The loop first hands on what fell due, then the report.
				var got []string
				if at, ok := b.next(); ok && !now.Before(at) {
					for _, s := range b.due(now) {
						got = append(got, describe(s))
					}
				}
				if st.s != nil {
					for _, s := range b.event(now, *st.s) {
						got = append(got, describe(s))
					}
				}
				if g := strings.Join(got, ","); g != st.want {
					t.Errorf("step %d (%v): handed on %q, want %q", i, st.at, g, st.want)
				}
			}
			if !strings.Contains(logged.String(), c.log) {
				t.Errorf("log lacks %q:\n%s", c.log, logged.String())
			}
		})
	}
}

func describe(s linkState) string {
	switch {
	case s.gone:
		return "gone"
	case s.up:
		return "up"
	}
	return "down"
}

// The delays that run are the file's, lowered where keepalived lowers
// them (with a warning); an interface left with none is not watched.
func TestNewLinkDelays(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "keepalived.conf")
	conf := "vrrp_instance VI_1 {\n interface lo\n virtual_router_id 9\n virtual_ipaddress {\n  198.18.67.10/24\n }\n}\n" +
		"interface_up_down_delays {\n lo 11 6\n eth7 0 0\n eth8 0.5\n}\n"
	if err := os.WriteFile(p, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p, config.Options{ConfigID: "test"})
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	got := newLinkDelays(cfg, slog.New(slog.NewTextHandler(&logged, nil)))
	want := map[string]linkDelay{"lo": {down: 1996094 * time.Microsecond, up: 1996094 * time.Microsecond}, "eth8": {down: 500 * time.Millisecond}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("delays %v, want %v", got, want)
	}
	for _, line := range []string{"(VI_1) interface_up_down_delays on lo must be below 2 advert intervals", "interface eth8 not found"} {
		if !strings.Contains(logged.String(), line) {
			t.Errorf("log lacks %q:\n%s", line, logged.String())
		}
	}
}
