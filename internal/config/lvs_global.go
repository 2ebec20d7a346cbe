package config

import (
	"strconv"
	"time"
)

// maxLVSTimeout is the longest lvs_timeouts value keepalived takes, 31 days.
const maxLVSTimeout = 31 * 24 * time.Hour

// lvsTimeouts reads "lvs_timeouts [tcp N] [tcpfin N] [udp N]" (seconds).
func (b *builder) lvsTimeouts(n *Node) {
	if len(n.Args) < 2 {
		b.errorf(n.Pos, "lvs_timeouts needs at least one of tcp N, tcpfin N, udp N (seconds)")
		return
	}
	t := &b.cfg.Global.LVSTimeouts
	for i := 0; i < len(n.Args); i += 2 {
		var field *time.Duration
		switch n.Args[i] {
		case "tcp":
			field = &t.TCP
		case "tcpfin":
			field = &t.TCPFin
		case "udp":
			field = &t.UDP
		default:
			b.errorf(n.Pos, "lvs_timeouts: unknown option %q; the options are tcp, tcpfin and udp", n.Args[i])
			return
		}
		if i+1 == len(n.Args) {
			b.errorf(n.Pos, "lvs_timeouts %s: no value; give the seconds after it", n.Args[i])
			return
		}
		v, err := strconv.ParseUint(n.Args[i+1], 10, 32)
		if err != nil || time.Duration(v)*time.Second > maxLVSTimeout {
			b.errorf(n.Pos, "lvs_timeouts %s %q: must be a whole number of seconds, 0..%d", n.Args[i], n.Args[i+1], int(maxLVSTimeout/time.Second))
			return
		}
		*field = time.Duration(v) * time.Second
	}
}
