package config

import (
	"net/netip"
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

// LVSSync is lvs_sync_daemon: the connections balanced while Instance is
// master are sent to the backups over Interface, which install them.
type LVSSync struct {
	Pos       Pos
	Interface string
	Instance  string
	// ID tells clusters apart; the instance's virtual router id unless
	// given.
	ID     uint8
	MaxLen int        // 0: the interface's MTU less the headers
	Port   uint16     // 0: 8848
	TTL    int        // 0: 1
	Group  netip.Addr // invalid: 224.0.0.81
}

// MinLVSSyncLen is the shortest lvs_sync_daemon maxlen: a datagram that
// holds one entry of vipd's sync format (syncd.MinMaxLen; the daemon's
// tests check that the two agree).
const MinLVSSyncLen = 104

// lvsSync reads "lvs_sync_daemon INTERFACE [inst] VRRP_INSTANCE [id N]
// [maxlen N] [port N] [ttl N] [group ADDR]", with the old positional
// "INTERFACE INSTANCE [ID]" form keepalived still takes.
func (b *builder) lvsSync(n *Node) {
	if s := b.cfg.Global.LVSSync; s != nil {
		b.errorf(n.Pos, "lvs_sync_daemon is given twice (first at %s): keep one", s.Pos)
		return
	}
	if len(n.Args) == 0 {
		b.errorf(n.Pos, "lvs_sync_daemon needs an interface and a vrrp_instance: lvs_sync_daemon IF INSTANCE [id N] ...")
		return
	}
	s := &LVSSync{Pos: n.Pos, Interface: n.Args[0]}
	if why := ifNameProblem(s.Interface); why != "" {
		b.errorf(n.Pos, "lvs_sync_daemon interface %s: %s", s.Interface, why)
		return
	}
	id := -1
	num := func(opt, v string, lo, hi uint64) (uint64, bool) {
		x, err := strconv.ParseUint(v, 10, 32)
		if err != nil || x < lo || x > hi {
			b.errorf(n.Pos, "lvs_sync_daemon %s %q: must be a whole number %d..%d", opt, v, lo, hi)
			return 0, false
		}
		return x, true
	}
	for i := 1; i < len(n.Args); i++ {
		opt := n.Args[i]
		switch {
		case opt == "inst" || opt == "id" || opt == "maxlen" || opt == "port" || opt == "ttl" || opt == "group":
			if i+1 == len(n.Args) {
				b.errorf(n.Pos, "lvs_sync_daemon %s: no value; give it after the word", opt)
				return
			}
			i++
			v := n.Args[i]
			var ok bool
			var x uint64
			switch opt {
			case "inst":
				s.Instance, ok = v, true
			case "id":
				x, ok = num(opt, v, 0, 255)
				id = int(x)
			case "maxlen":
				x, ok = num(opt, v, MinLVSSyncLen, 65535-20-8)
				s.MaxLen = int(x)
			case "port":
				x, ok = num(opt, v, 1, 65535)
				s.Port = uint16(x)
			case "ttl":
				x, ok = num(opt, v, 1, 255)
				s.TTL = int(x)
			case "group":
				a, err := netip.ParseAddr(v)
				if ok = err == nil && a.IsMulticast(); !ok {
					b.errorf(n.Pos, "lvs_sync_daemon group %s: not a multicast address", v)
				}
				s.Group = a
			}
			if !ok {
				return
			}
		case i == 1:
			s.Instance = opt
		case i == 2:
			x, ok := num("id", opt, 0, 255)
			if !ok {
				return
			}
			b.warnf(n.Pos, "lvs_sync_daemon: put \"id\" before the sync id %s, as keepalived asks", opt)
			id = int(x)
		default:
			b.errorf(n.Pos, "lvs_sync_daemon: unknown option %q; the options are inst, id, maxlen, port, ttl and group", opt)
			return
		}
	}
	if s.Instance == "" {
		b.notSupportedAt(n.Pos, "lvs_sync_daemon without a vrrp_instance")
		return
	}
	// Without an id, settleLVSSync takes the instance's.
	s.ID = uint8(max(id, 0))
	b.lvsSyncDefaultID = id < 0
	b.cfg.Global.LVSSync = s
}

// settleLVSSync checks that the instance exists, once all are read, and
// takes its virtual router id as the sync id if none was given.
func (b *builder) settleLVSSync() {
	s := b.cfg.Global.LVSSync
	if s == nil {
		return
	}
	for _, in := range b.cfg.Instances {
		if in.VRRP.Name == s.Instance {
			if b.lvsSyncDefaultID {
				s.ID = in.VRRP.VRID
			}
			return
		}
	}
	b.errorf(s.Pos, "lvs_sync_daemon: no vrrp_instance %s, whose state would say which director sends", s.Instance)
	b.cfg.Global.LVSSync = nil
}
