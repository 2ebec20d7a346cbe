package vrrp

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// The receive path runs for every advert on the LAN: decode, check and
// one step of the state machine. It must not allocate.

func benchAdvert(b *testing.B, version uint8, ipv6 bool) (Config, []byte, netip.Addr) {
	c := testConfig(func(c *Config) {
		if version == 3 {
			c.Version = 3
		}
		if ipv6 {
			c.IPv6, c.Group, c.Source = true, GroupIPv6, self6
			c.Addrs = []netip.Addr{netip.MustParseAddr("fe80::100"), netip.MustParseAddr("2001:db8::100")}
		} else {
			c.Addrs = []netip.Addr{vip, netip.MustParseAddr("198.18.0.101")}
		}
	})
	src := peer
	if ipv6 {
		src = peer6
	}
	return c, advertFrom(b, c, src, c.Group, func(a *Advert) { a.Priority = 200 }), src
}

var benchCases = []struct {
	name    string
	version uint8
	ipv6    bool
}{{"v2", 2, false}, {"v3", 3, false}, {"v3-ipv6", 3, true}}

func BenchmarkUnmarshalAdvert(b *testing.B) {
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			_, pkt, _ := benchAdvert(b, bc.version, bc.ipv6)
			a := Advert{Addrs: make([]netip.Addr, 0, 4)}
			b.ReportAllocs()
			for b.Loop() {
				if err := a.UnmarshalBinary(pkt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppendAdvert(b *testing.B) {
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			c, _, _ := benchAdvert(b, bc.version, bc.ipv6)
			_, in := backupRouter(b, c)
			buf := make([]byte, 0, 128)
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if buf, err = in.AppendAdvert(buf[:0], 100, c.Source, c.Group); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRouterReceive is one Step: a backup hearing its master.
func BenchmarkRouterReceive(b *testing.B) {
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			c, payload, src := benchAdvert(b, bc.version, bc.ipv6)
			r, in := backupRouter(b, c)
			pkt := Packet{Interface: "eth0", Src: src, Dst: c.Group, HopLimit: TTL, Payload: payload}
			now := time.Second
			b.ReportAllocs()
			for b.Loop() {
				now += time.Millisecond
				if _, err := r.Receive(now, &pkt); err != nil {
					b.Fatal(err)
				}
			}
			if in.State() != Backup {
				b.Fatalf("state %v", in.State())
			}
		})
	}
}

// BenchmarkRouterTick is a master's advert timer firing, with 100
// instances in the router.
func BenchmarkRouterTick(b *testing.B) {
	var cfgs []Config
	for i := range 100 {
		cfgs = append(cfgs, testConfig(func(c *Config) {
			c.Name, c.VRID, c.Priority, c.WantMaster = fmt.Sprintf("VI_%d", i), uint8(i+1), PriorityOwner, true
		}))
	}
	r, err := NewRouter(cfgs, nil)
	if err != nil {
		b.Fatal(err)
	}
	r.Start(0)
	now := time.Duration(0)
	b.ReportAllocs()
	for b.Loop() {
		now += time.Second
		if acts := r.Tick(now); len(acts) < 100 {
			b.Fatalf("%d actions", len(acts))
		}
	}
}
