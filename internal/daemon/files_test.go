package daemon

import (
	"testing"

	"github.com/vipd/vipd/internal/config"
)

// keepalived's reckoning of a tracked file's value.
func TestFileEffect(t *testing.T) {
	for _, c := range []struct {
		weight  int
		reverse bool
		value   int64
		fault   bool
		adjust  int
	}{
		{0, false, 0, false, 0}, {0, false, 3, true, 0}, {0, false, -1, true, 0},
		{0, true, 0, true, 0}, {0, true, 5, false, 0},
		{-30, false, 2, false, -60}, {-30, true, 2, false, 60}, {10, false, 100, false, 253},
		{1, false, -253, false, -253}, {1, false, -254, true, 0}, {-254, false, 1, true, 0},
		{254, false, 2147483648, false, 253},
	} {
		fault, adjust := fileEffect(config.Tracked{Weight: c.weight, Reverse: c.reverse}, c.value)
		if fault != c.fault || adjust != c.adjust {
			t.Errorf("weight %d reverse %v value %d: fault %v adjust %d, want %v %d", c.weight, c.reverse, c.value, fault, adjust, c.fault, c.adjust)
		}
	}
}

// keepalived's reckoning of a tracked process's quorum.
func TestProcessEffect(t *testing.T) {
	for _, c := range []struct {
		weight  int
		reverse bool
		up      bool
		fault   bool
		adjust  int
	}{
		{0, false, true, false, 0}, {0, false, false, true, 0}, {0, true, true, true, 0}, {0, true, false, false, 0},
		{10, false, true, false, 10}, {10, false, false, false, 0}, {-60, false, false, false, -60}, {-60, false, true, false, 0},
		{10, true, true, false, -10}, {-60, true, false, false, 60},
	} {
		fault, adjust := processEffect(config.Tracked{Weight: c.weight, Reverse: c.reverse}, c.up)
		if fault != c.fault || adjust != c.adjust {
			t.Errorf("weight %d reverse %v up %v: fault %v adjust %d, want %v %d", c.weight, c.reverse, c.up, fault, adjust, c.fault, c.adjust)
		}
	}
}
