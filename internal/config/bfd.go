package config

import (
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// BFD is a bfd_instance: a Bidirectional Forwarding Detection session
// (RFC 5880, single hop as RFC 5881) with a neighbour; instances that
// track it (track_bfd) go to FAULT while it is down, or move their
// priority by its weight.
type BFD struct {
	Pos      Pos
	Name     string
	Neighbor netip.Addr
	Source   netip.Addr // invalid: the kernel's choice
	// MinRx is the least interval between packets it wants to receive,
	// MinTx the one it wants to send at while up, IdleTx while not.
	MinRx, MinTx, IdleTx time.Duration
	Multiplier           uint8 // missed packets before the session is down
	Passive              bool  // send nothing until the neighbour speaks
	TTL                  uint8 // of packets sent; 255 (IPv4) or 64 (IPv6) unless given
	MaxHops              uint8 // by how much a received TTL may fall short of TTL
	Weight               int   // -253..253
	Reverse              bool
}

// bfdInterval reads min_rx, min_tx or idle_tx: milliseconds, with up to
// three decimals, from lo ms.
func (b *builder) bfdInterval(n *Node, lo float64) (time.Duration, bool) {
	if !b.args(n, 1, 1) {
		return 0, false
	}
	v, err := strconv.ParseFloat(n.Args[0], 64)
	if err != nil || strings.ContainsAny(n.Args[0], "eE+-") || v < lo || v > math.MaxUint32/1000 {
		b.errorf(n.Pos, "%s %q: must be %g..%d milliseconds", n.Keyword, n.Args[0], lo, math.MaxUint32/1000)
		return 0, false
	}
	return time.Duration(math.Round(v*1000)) * time.Microsecond, true
}

func (b *builder) bfdInstance(blk *Node) {
	if len(blk.Args) != 1 || !blk.Block {
		b.errorf(blk.Pos, "bfd_instance takes a name and a block")
		return
	}
	f := &BFD{Pos: blk.Pos, Name: blk.Args[0], MinRx: 10 * time.Millisecond, MinTx: 10 * time.Millisecond,
		IdleTx: time.Second, Multiplier: 5}
	if len(f.Name) >= 32 {
		b.errorf(blk.Pos, "bfd_instance %s: the name is longer than 31 characters", f.Name)
		return
	}
	var ttlSet bool
	for _, n := range blk.Children {
		switch n.Keyword {
		case "neighbor_ip", "source_ip":
			if !b.args(n, 1, 1) {
				continue
			}
			a, ok := b.addr(n, n.Args[0])
			if !ok {
				continue
			}
			if n.Keyword == "neighbor_ip" {
				f.Neighbor = a
			} else {
				f.Source = a
			}
		case "min_rx":
			setIfOK(&f.MinRx)(b.bfdInterval(n, 1))
		case "min_tx":
			setIfOK(&f.MinTx)(b.bfdInterval(n, 1))
		case "idle_tx":
			setIfOK(&f.IdleTx)(b.bfdInterval(n, 1000))
		case "multiplier":
			if v, ok := b.int(n, 1, 255); ok {
				f.Multiplier = uint8(v)
			}
		case "passive":
			f.Passive = b.args(n, 0, 0)
		case "ttl", "hoplimit":
			if v, ok := b.int(n, 1, 255); ok {
				f.TTL, ttlSet = uint8(v), true
			}
		case "max_hops":
			if v, ok := b.int(n, 0, 255); ok {
				f.MaxHops = uint8(v)
			}
		case "weight":
			if len(n.Args) == 2 && n.Args[1] == "noreverse" {
				b.errorf(n.Pos, "bfd_instance %s: weight takes reverse, not noreverse", f.Name)
				continue
			}
			if w, rev, ok := b.weight(n, 253); ok {
				f.Weight, f.Reverse = w, rev
			}
		case "vrrp", "checker":
			// Which of keepalived's processes hears the session; vipd is
			// one process.
			b.args(n, 0, 0)
		default:
			b.other(schema.lookup("bfd_instance"), n)
		}
	}
	switch {
	case !f.Neighbor.IsValid():
		b.disable(blk.Pos, "bfd_instance", f.Name, "it has no neighbor_ip")
		return
	case f.Source.IsValid() && f.Source.Is4() != f.Neighbor.Is4():
		b.errorf(blk.Pos, "bfd_instance %s: source_ip %v and neighbor_ip %v are of different families", f.Name, f.Source, f.Neighbor)
		return
	case slices.ContainsFunc(b.cfg.BFDs, func(o *BFD) bool { return o.Name == f.Name }):
		b.errorf(blk.Pos, "bfd_instance %s is defined twice", f.Name)
		return
	case slices.ContainsFunc(b.cfg.BFDs, func(o *BFD) bool { return o.Neighbor == f.Neighbor && o.Source == f.Source }):
		b.errorf(blk.Pos, "bfd_instance %s: another bfd_instance has neighbor_ip %v (and the same source_ip)", f.Name, f.Neighbor)
		return
	}
	if !ttlSet {
		f.TTL = 255
		if f.Neighbor.Is6() {
			f.TTL = 64
		}
	}
	if f.MaxHops > f.TTL {
		b.warnf(blk.Pos, "bfd_instance %s: max_hops %d is more than the TTL %d: %d is used, as keepalived does", f.Name, f.MaxHops, f.TTL, f.TTL)
		f.MaxHops = f.TTL
	}
	b.cfg.BFDs = append(b.cfg.BFDs, f)
}

func setIfOK[T any](dst *T) func(T, bool) {
	return func(v T, ok bool) {
		if ok {
			*dst = v
		}
	}
}

// resolveBFDs fills in each tracked session's weight from its
// bfd_instance, which must come before it, as keepalived reads them.
func (b *builder) resolveBFDs(owner string, ts []Tracked) []Tracked {
	return b.resolve(owner, "track_bfd", "bfd_instance", " before this line", ts, weightOf(b.cfg.BFD))
}

// BFD is the bfd_instance with the name, or nil.
func (c *Config) BFD(name string) *BFD {
	for _, f := range c.BFDs {
		if f.Name == name {
			return f
		}
	}
	return nil
}
