package nft

import (
	"github.com/vipd/vipd/internal/lvs"
)

// What nftables can do exactly: pick by a counter (rr, wrr), by a hash of
// the client (sh) or of the destination (dh), or always the same real
// server (fo).
const (
	schedRR  = "rr"
	schedWRR = "wrr"
	schedSH  = "sh"
	schedDH  = "dh"
	schedFO  = "fo"
)

// Approximates says which scheduler this package runs for an IPVS one
// (lvs_sched), and whether that is the same thing. Schedulers that
// count connections (lc, wlc, sed, nq) or sample load (twos) become wrr:
// nftables does not know how many connections a real server has, and
// the weights are the best guess of its share. lblc and lblcr keep a
// destination on one server as dh does; mh (Maglev) hashes the client as
// sh does, without its small disruption when the real servers change;
// ovf sends everything to the highest weight as fo does, without the
// overflow. An unknown scheduler returns "", false. "" is IPVS's default,
// wlc.
func Approximates(sched string) (nearest string, exact bool) {
	switch sched {
	case schedRR, schedWRR, schedSH, schedDH, schedFO:
		return sched, true
	case "mh":
		return schedSH, false
	case "", "lc", "wlc", "sed", "nq", "twos":
		return schedWRR, false
	case "lblc", "lblcr":
		return schedDH, false
	case "ovf":
		return schedFO, false
	}
	return "", false
}

// slot is a run of consecutive map keys that lead to one real server.
type slot struct {
	real lvs.Real
	n    uint32
}

// slots lays the real servers of weight > 0 out on the scheduler's key
// space. Weighted schedulers give each weight/gcd keys, so wrr 3:1 is
// "mod 4 map { 0-2 : A, 3 : B }" and equal weights are plain round robin.
// IPVS rr and dh ignore weights (beyond 0), fo takes the first real
// server of the highest weight.
func slots(sched string, reals []lvs.Real) []slot {
	var active []lvs.Real
	for _, r := range reals {
		if r.Weight > 0 {
			active = append(active, r)
		}
	}
	if len(active) == 0 {
		return nil
	}
	switch sched {
	case schedFO:
		best := active[0]
		for _, r := range active[1:] {
			if r.Weight > best.Weight {
				best = r
			}
		}
		return []slot{{real: best, n: 1}}
	case schedRR, schedDH:
		out := make([]slot, len(active))
		for i, r := range active {
			out[i] = slot{real: r, n: 1}
		}
		return out
	}
	g := active[0].Weight
	for _, r := range active[1:] {
		g = gcd(g, r.Weight)
	}
	out := make([]slot, len(active))
	for i, r := range active {
		out[i] = slot{real: r, n: uint32(r.Weight / g)}
	}
	return out
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
