package daemon

import (
	"net/netip"
	"testing"
	"time"
)

// A drop of one kind from one peer is logged at once and then at most
// every logEvery; another kind or peer has its own clock.
func TestDropLogRate(t *testing.T) {
	var l dropLog
	k := dropKey{why: "vrrp: wrong password", peer: netip.MustParseAddr("192.0.2.2")}
	other := dropKey{why: "vrrp: wrong password", peer: netip.MustParseAddr("192.0.2.3")}
	for _, c := range []struct {
		at   time.Duration
		k    dropKey
		want bool
	}{
		{0, k, true}, {time.Second, k, false}, {9 * time.Second, k, false}, {5 * time.Second, other, true},
		{10 * time.Second, k, true}, {15 * time.Second, k, false}, {20 * time.Second, k, true},
	} {
		if got := l.due(c.at, c.k); got != c.want {
			t.Errorf("at %v from %v: due %v, want %v", c.at, c.k.peer, got, c.want)
		}
	}
}
