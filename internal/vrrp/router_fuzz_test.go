package vrrp

import (
	"net/netip"
	"testing"
	"time"
)

// fuzzRouter has a VRRPv2 PASS instance, a VRRPv3 IPv4 one and a VRRPv3
// IPv6 one, so that fuzzed packets can reach every check.
func fuzzRouter(t testing.TB) *Router {
	v2 := testConfig(func(c *Config) { c.AuthType, c.AuthPass = AuthPass, pass("s3cret") })
	v3 := testConfig(func(c *Config) { c.Name, c.VRID, c.Version = "VI_3", 3, 3 })
	v6 := testConfig(func(c *Config) {
		c.Name, c.VRID, c.Version, c.IPv6, c.Group, c.Source = "VI_6", 6, 3, true, GroupIPv6, self6
		c.Addrs = []netip.Addr{netip.MustParseAddr("fe80::100")}
	})
	r, err := NewRouter([]Config{v2, v3, v6}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Start(0)
	return r
}

// FuzzRouterReceive feeds arbitrary packets to a running router: nothing
// may panic, a drop is always counted, and an accepted advert always is.
func FuzzRouterReceive(f *testing.F) {
	r := fuzzRouter(f)
	for _, in := range r.Instances() {
		c := in.Config()
		src, dst := peer, c.Group
		if c.IPv6 {
			src = peer6
		}
		f.Add(advertFrom(f, c, src, dst, nil), uint8(TTL), c.IPv6, false)
		f.Add(advertFrom(f, c, src, dst, func(a *Advert) { a.Priority = 250 }), uint8(TTL), c.IPv6, true)
		f.Add(advertFrom(f, c, src, dst, func(a *Advert) { a.Priority = 0 }), uint8(TTL), c.IPv6, false)
	}
	f.Fuzz(func(t *testing.T, payload []byte, ttl uint8, ipv6, unicast bool) {
		r := fuzzRouter(t)
		src, dst := peer, GroupIPv4
		if ipv6 {
			src, dst = peer6, GroupIPv6
		}
		if unicast {
			dst = self
			if ipv6 {
				dst = self6
			}
		}
		before := totals(r)
		now := time.Second
		_, err := r.Receive(now, &Packet{Interface: "eth0", Src: src, Dst: dst, HopLimit: ttl, Payload: payload})
		after := totals(r)
		if err != nil && after.dropped == before.dropped {
			t.Fatalf("dropped (%v) but not counted", err)
		}
		if err == nil && after.received != before.received+1 {
			t.Fatalf("accepted but not counted")
		}
		// Whatever it did, the router keeps running.
		for range 3 {
			now += 2 * time.Second
			r.Tick(now)
		}
	})
}

type counts struct{ received, dropped uint64 }

func totals(r *Router) counts {
	rs := r.Stats()
	c := counts{dropped: rs.Malformed + rs.UnknownVRID + rs.NotListening}
	for _, in := range r.Instances() {
		s := in.Stats()
		c.received += s.AdvertsReceived
		c.dropped += s.PacketLengthErrors + s.VersionErrors + s.TypeErrors + s.HopLimitErrors +
			s.ChecksumErrors + s.VRIDErrors + s.AuthTypeInvalid + s.AuthTypeMismatch +
			s.AuthFailures + s.IntervalErrors + s.AddressListErrors + s.NotPeerErrors
	}
	return c
}

// FuzzRouterReceiveAH feeds arbitrary IPsec AH packets (an IPv4 header,
// then the AH and the advert) to a router with an AH instance and a plain
// one, with the invariants of FuzzRouterReceive.
func FuzzRouterReceiveAH(f *testing.F) {
	ah := testConfig(func(c *Config) {
		c.Name, c.VRID, c.AuthType, c.AuthPass, c.Source = "VI_AH", 7, AuthAH, pass("s3cret"), peer
	})
	sender, err := NewRouter([]Config{ah}, nil)
	if err != nil {
		f.Fatal(err)
	}
	for _, prio := range []uint8{100, 250, 0} {
		pkt, err := sender.Instances()[0].AppendAHPacket(nil, prio, peer, GroupIPv4, TTL)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(pkt)
	}
	f.Fuzz(func(t *testing.T, pkt []byte) {
		mine := ah
		mine.Source = self
		r, err := NewRouter([]Config{mine, testConfig(nil)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Start(0)
		hdr := make([]byte, 20)
		copy(hdr, pkt)
		rest := pkt[min(len(pkt), 20):]
		before := totals(r)
		_, err = r.Receive(time.Second, &Packet{Interface: "eth0", Src: peer, Dst: GroupIPv4, HopLimit: TTL, IPHeader: hdr, Payload: rest})
		after := totals(r)
		if err != nil && after.dropped == before.dropped {
			t.Fatalf("dropped (%v) but not counted", err)
		}
		if err == nil && after.received != before.received+1 {
			t.Fatalf("accepted but not counted")
		}
	})
}
