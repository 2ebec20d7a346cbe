package vrrp

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

var (
	self  = netip.MustParseAddr("198.18.0.1")
	peer  = netip.MustParseAddr("198.18.0.2")
	vip   = netip.MustParseAddr("198.18.0.100")
	self6 = netip.MustParseAddr("fe80::1")
	peer6 = netip.MustParseAddr("fe80::2")
)

func testConfig(mod func(*Config)) Config {
	c := DefaultConfig()
	c.Name, c.Interface, c.VRID, c.Source = "VI_1", "eth0", 1, self
	c.Addrs = []netip.Addr{vip}
	if mod != nil {
		mod(&c)
	}
	return c
}

// backupRouter is a started router whose one instance is listening as backup.
func backupRouter(t testing.TB, c Config) (*Router, *Instance) {
	t.Helper()
	r, err := NewRouter([]Config{c}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Start(0)
	in := r.Instances()[0]
	if in.State() != Backup {
		t.Fatalf("state %v after start", in.State())
	}
	return r, in
}

// advertFrom encodes the advert a peer configured like c (but with the
// given changes) would send to dst.
func advertFrom(t testing.TB, c Config, src, dst netip.Addr, mod func(*Advert)) []byte {
	t.Helper()
	a := Advert{Version: c.Version, VRID: c.VRID, Priority: 50, Interval: c.wireInterval(),
		AuthType: c.AuthType, AuthData: c.AuthPass, IPv6: c.IPv6, Addrs: c.Addrs}
	if mod != nil {
		mod(&a)
	}
	ph := PseudoHeader{}
	if a.Version == 3 && (c.IPv6 || !c.ChecksumAsV2) {
		ph = PseudoHeader{Src: src, Dst: dst}
	}
	b, err := a.AppendBinary(nil, ph)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReceiveChecks(t *testing.T) {
	v2pass := func(c *Config) { c.AuthType, c.AuthPass = AuthPass, pass("s3cret") }
	v3 := func(c *Config) { c.Version = 3 }
	tests := []struct {
		name    string
		cfg     func(*Config)
		advert  func(*Advert)
		corrupt func([]byte) []byte
		dst     netip.Addr // default: the multicast group
		ttl     uint8      // default: 255
		err     error
		counter func(Stats) uint64
	}{
		{name: "accepted", counter: func(s Stats) uint64 { return s.AdvertsReceived }},
		{name: "priority 0 counted", advert: func(a *Advert) { a.Priority = 0 },
			counter: func(s Stats) uint64 { return s.PriorityZeroReceived }},
		{name: "multicast TTL", ttl: 254, err: ErrHopLimit, counter: func(s Stats) uint64 { return s.HopLimitErrors }},
		{name: "unicast TTL not checked", ttl: 60, dst: self, counter: func(s Stats) uint64 { return s.AdvertsReceived }},
		{name: "truncated", corrupt: func(b []byte) []byte { return b[:len(b)-2] }, err: ErrLength,
			counter: func(s Stats) uint64 { return s.PacketLengthErrors }},
		{name: "bad version", corrupt: func(b []byte) []byte { b[0] = 0x41; return b }, err: ErrVersion,
			counter: func(s Stats) uint64 { return s.VersionErrors }},
		{name: "bad type", corrupt: func(b []byte) []byte { b[0] = 0x22; return b }, err: ErrType,
			counter: func(s Stats) uint64 { return s.TypeErrors }},
		{name: "other version", advert: func(a *Advert) { a.Version, a.Interval = 3, 100 }, err: ErrVersionMismatch,
			counter: func(s Stats) uint64 { return s.VersionErrors }},
		{name: "checksum", corrupt: func(b []byte) []byte { b[6] ^= 0xff; return b }, err: ErrChecksum,
			counter: func(s Stats) uint64 { return s.ChecksumErrors }},
		{name: "password", cfg: v2pass, advert: func(a *Advert) { a.AuthData = pass("s3creT") }, err: ErrAuthFailure,
			counter: func(s Stats) uint64 { return s.AuthFailures }},
		{name: "password accepted", cfg: v2pass, counter: func(s Stats) uint64 { return s.AdvertsReceived }},
		{name: "auth type mismatch", cfg: v2pass, advert: func(a *Advert) { a.AuthType, a.AuthData = AuthNone, [8]byte{} },
			err: ErrAuthTypeMismatch, counter: func(s Stats) uint64 { return s.AuthTypeMismatch }},
		{name: "auth type invalid", advert: func(a *Advert) { a.AuthType = 7 }, err: ErrAuthTypeInvalid,
			counter: func(s Stats) uint64 { return s.AuthTypeInvalid }},
		{name: "v2 interval", advert: func(a *Advert) { a.Interval = 2 }, err: ErrInterval,
			counter: func(s Stats) uint64 { return s.IntervalErrors }},
		{name: "v3 interval differs: learned", cfg: v3, advert: func(a *Advert) { a.Interval = 30 },
			counter: func(s Stats) uint64 { return s.AdvertsReceived }},
		{name: "v3 interval zero", cfg: v3, advert: func(a *Advert) { a.Interval = 0 }, err: ErrInterval,
			counter: func(s Stats) uint64 { return s.IntervalErrors }},
		{name: "address list", advert: func(a *Advert) { a.Addrs = []netip.Addr{peer} }, err: ErrAddressList,
			counter: func(s Stats) uint64 { return s.AddressListErrors }},
		{name: "address count", advert: func(a *Advert) { a.Addrs = []netip.Addr{vip, peer} }, err: ErrAddressList,
			counter: func(s Stats) uint64 { return s.AddressListErrors }},
		{name: "skip_check_adv_addr", cfg: func(c *Config) { c.SkipCheckAdvAddr = true },
			advert: func(a *Advert) { a.Addrs = []netip.Addr{peer} }, counter: func(s Stats) uint64 { return s.AdvertsReceived }},
		{name: "v3 pseudo-header checksum", cfg: v3, counter: func(s Stats) uint64 { return s.AdvertsReceived }},
		{name: "v3_checksum_as_v2", cfg: func(c *Config) { c.Version, c.ChecksumAsV2 = 3, true },
			counter: func(s Stats) uint64 { return s.AdvertsReceived }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testConfig(tt.cfg)
			r, in := backupRouter(t, c)
			dst := tt.dst
			if !dst.IsValid() {
				dst = c.Group
			}
			b := advertFrom(t, c, peer, dst, tt.advert)
			if tt.corrupt != nil {
				b = tt.corrupt(b)
			}
			ttl := tt.ttl
			if ttl == 0 {
				ttl = TTL
			}
			_, err := r.Receive(time.Second, &Packet{Interface: "eth0", Src: peer, Dst: dst, HopLimit: ttl, Payload: b})
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if n := tt.counter(in.Stats()); n != 1 {
				t.Errorf("counter is %d, want 1 (stats %+v)", n, in.Stats())
			}
			if tt.err != nil && in.Stats().AdvertsReceived != 0 {
				t.Errorf("a dropped advert was counted as received")
			}
		})
	}
}

func TestReceiveChecksumRulesDiffer(t *testing.T) {
	// An RFC 9568 peer (no IPv4 pseudo-header) and keepalived's default
	// cannot understand each other: each side counts checksum errors.
	c := testConfig(func(c *Config) { c.Version = 3 })
	r, in := backupRouter(t, c)
	asV2 := c
	asV2.ChecksumAsV2 = true
	b := advertFrom(t, asV2, peer, c.Group, nil)
	if _, err := r.Receive(0, &Packet{Interface: "eth0", Src: peer, Dst: c.Group, HopLimit: TTL, Payload: b}); err != ErrChecksum {
		t.Fatalf("error %v, want %v", err, ErrChecksum)
	}
	if in.Stats().ChecksumErrors != 1 {
		t.Fatalf("stats %+v", in.Stats())
	}
}

func TestReceiveOldUnicastChecksum(t *testing.T) {
	// A keepalived peer with old_unicast_checksum puts the multicast group in
	// the pseudo-header of unicast adverts: accept it and answer in kind.
	c := testConfig(func(c *Config) { c.Version = 3 })
	r, in := backupRouter(t, c)
	b := advertFrom(t, c, peer, c.Group, nil) // checksummed for the group…
	pkt := &Packet{Interface: "eth0", Src: peer, Dst: self, HopLimit: 64, Payload: b}
	if _, err := r.Receive(0, pkt); err != nil { // …but sent unicast
		t.Fatal(err)
	}
	out, err := in.AppendAdvert(nil, 100, self, peer)
	if err != nil {
		t.Fatal(err)
	}
	if !VerifyChecksum(out, PseudoHeader{Src: self, Dst: c.Group}) {
		t.Errorf("our unicast adverts do not use the group checksum after hearing one")
	}
}

func TestReceiveIPv6(t *testing.T) {
	c := testConfig(func(c *Config) {
		c.Version, c.IPv6, c.Group, c.Source = 3, true, GroupIPv6, self6
		c.Addrs = []netip.Addr{netip.MustParseAddr("fe80::100")}
	})
	r, in := backupRouter(t, c)
	b := advertFrom(t, c, peer6, GroupIPv6, nil)
	if _, err := r.Receive(0, &Packet{Interface: "eth0", Src: peer6, Dst: GroupIPv6, HopLimit: TTL, Payload: b}); err != nil {
		t.Fatal(err)
	}
	// The same advert arriving on an IPv4 socket belongs to nobody.
	if _, err := r.Receive(0, &Packet{Interface: "eth0", Src: peer, Dst: GroupIPv4, HopLimit: TTL, Payload: b}); err != ErrUnknownVRID {
		t.Fatalf("error %v, want %v", err, ErrUnknownVRID)
	}
	if in.Stats().AdvertsReceived != 1 || r.Stats().UnknownVRID != 1 {
		t.Fatalf("instance %+v router %+v", in.Stats(), r.Stats())
	}
}

func TestReceiveRouterDrops(t *testing.T) {
	c := testConfig(nil)
	r, _ := backupRouter(t, c)
	if _, err := r.Receive(0, &Packet{Interface: "eth0", Src: peer, Dst: c.Group, HopLimit: TTL, Payload: []byte{0x21}}); err != ErrTooShort {
		t.Fatalf("error %v", err)
	}
	b := advertFrom(t, c, peer, c.Group, func(a *Advert) { a.VRID = 2 })
	if _, err := r.Receive(0, &Packet{Interface: "eth0", Src: peer, Dst: c.Group, HopLimit: TTL, Payload: b}); err != ErrUnknownVRID {
		t.Fatalf("error %v", err)
	}
	b = advertFrom(t, c, peer, c.Group, nil)
	if _, err := r.Receive(0, &Packet{Interface: "eth1", Src: peer, Dst: c.Group, HopLimit: TTL, Payload: b}); err != ErrUnknownVRID {
		t.Fatalf("error %v", err)
	}
	if _, err := r.SetFault(0, "VI_1", true); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Receive(0, &Packet{Interface: "eth0", Src: peer, Dst: c.Group, HopLimit: TTL, Payload: b}); err != ErrNotListening {
		t.Fatalf("error %v", err)
	}
	if st := r.Stats(); st != (RouterStats{Malformed: 1, UnknownVRID: 2, NotListening: 1}) {
		t.Fatalf("router stats %+v", st)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		err  string
	}{
		{"AH with v3", func(c *Config) { c.Version, c.AuthType = 3, AuthAH }, "VRRPv2 over IPv4 only"},
		{"PASS with v3", func(c *Config) { c.Version, c.AuthType = 3, AuthPass }, "version 2 only"},
		{"nopreempt with state MASTER", func(c *Config) { c.NoPreempt, c.WantMaster = true, true }, "nopreempt needs state BACKUP"},
		{"v2 fractional interval", func(c *Config) { c.Interval = 1500 * time.Millisecond }, "whole seconds"},
		{"v3 interval too long", func(c *Config) { c.Version, c.Interval = 3, 41*time.Second }, "0.01..40.95s"},
		{"v3 interval not centiseconds", func(c *Config) { c.Version, c.Interval = 3, 15*time.Millisecond }, "multiple of 10ms"},
		{"IPv6 with v2", func(c *Config) { c.IPv6 = true }, "IPv6 instances use VRRP version 3"},
		{"VIP of the wrong family", func(c *Config) { c.Addrs = []netip.Addr{self6} }, "not of the instance's family"},
		{"VRID 0", func(c *Config) { c.VRID = 0 }, "virtual_router_id"},
		{"priority 0", func(c *Config) { c.Priority = 0 }, "priority must be"},
		{"unicast group", func(c *Config) { c.Group = peer }, "not a multicast address"},
		{"down_timer_adverts", func(c *Config) { c.DownTimerAdverts = 0 }, "down_timer_adverts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testConfig(tt.mod)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("error %v, want one saying %q", err, tt.err)
			}
		})
	}
	c := testConfig(nil)
	if err := c.Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
}

func TestNewRouterErrors(t *testing.T) {
	a := testConfig(nil)
	b := testConfig(func(c *Config) { c.Name = "VI_2" })
	if _, err := NewRouter([]Config{a, b}, nil); err == nil || !strings.Contains(err.Error(), "both use virtual_router_id 1") {
		t.Errorf("duplicate VRID: %v", err)
	}
	b.IPv6, b.Version, b.Group, b.Source, b.Addrs = true, 3, GroupIPv6, self6, nil
	if _, err := NewRouter([]Config{a, b}, nil); err != nil {
		t.Errorf("same VRID in IPv4 and IPv6 is allowed: %v", err)
	}
	if _, err := NewRouter([]Config{a, a}, nil); err == nil {
		t.Errorf("duplicate name accepted")
	}
	if _, err := NewRouter([]Config{a}, []GroupConfig{{Name: "G", Members: []string{"VI_9"}}}); err == nil {
		t.Errorf("unknown sync group member accepted")
	}
	if _, err := NewRouter([]Config{a}, []GroupConfig{{Name: "G", Members: []string{"VI_1"}}, {Name: "H", Members: []string{"VI_1"}}}); err == nil {
		t.Errorf("instance in two sync groups accepted")
	}
}

func TestTimers(t *testing.T) {
	tests := []struct {
		version  uint8
		prio     uint8
		interval time.Duration
		skew     time.Duration
		mdi      time.Duration
	}{
		{2, 100, time.Second, 609375 * time.Microsecond, 3609375 * time.Microsecond},
		{2, 100, 3 * time.Second, 609375 * time.Microsecond, 9609375 * time.Microsecond}, // v2 skew ignores the interval
		{2, 255, time.Second, 3906 * time.Microsecond, 3003906 * time.Microsecond},
		{3, 120, time.Second, 531250 * time.Microsecond, 3531250 * time.Microsecond},
		{3, 100, 200 * time.Millisecond, 121875 * time.Microsecond, 721875 * time.Microsecond},
		{3, 1, 10 * time.Millisecond, 9960 * time.Microsecond, 39960 * time.Microsecond},
	}
	for _, tt := range tests {
		if got := SkewTime(tt.version, tt.prio, tt.interval); got != tt.skew {
			t.Errorf("SkewTime(v%d, %d, %v) = %v, want %v", tt.version, tt.prio, tt.interval, got, tt.skew)
		}
		if got := MasterDownInterval(tt.version, 3, tt.prio, tt.interval); got != tt.mdi {
			t.Errorf("MasterDownInterval(v%d, %d, %v) = %v, want %v", tt.version, tt.prio, tt.interval, got, tt.mdi)
		}
	}
}

// check_unicast_src: adverts from an address that is not a unicast peer
// are dropped; a peer's are taken.
func TestReceiveOnlyFromPeers(t *testing.T) {
	other := netip.MustParseAddr("192.0.2.77")
	c := testConfig(func(c *Config) { c.AcceptFrom = []netip.Addr{peer} })
	r, in := backupRouter(t, c)
	b := advertFrom(t, c, other, self, nil)
	if _, err := r.Receive(0, &Packet{Interface: "eth0", Src: other, Dst: self, HopLimit: 64, Payload: b}); err != ErrNotPeer {
		t.Fatalf("advert from %v: error %v, want %v", other, err, ErrNotPeer)
	}
	b = advertFrom(t, c, peer, self, nil)
	if _, err := r.Receive(0, &Packet{Interface: "eth0", Src: peer, Dst: self, HopLimit: 64, Payload: b}); err != nil {
		t.Fatalf("advert from the peer: %v", err)
	}
	if in.Stats().AdvertsReceived != 1 {
		t.Fatalf("stats %+v", in.Stats())
	}
}

// Two instances may share an id on one interface when their multicast
// groups differ (mcast_dst_ip), or one is unicast: each takes the adverts
// sent to it. The same group twice is refused.
func TestSharedVRIDOnGroups(t *testing.T) {
	other := netip.MustParseAddr("224.0.0.99")
	a := testConfig(nil)
	b := testConfig(func(c *Config) {
		c.Name, c.Group, c.Addrs = "VI_2", other, []netip.Addr{netip.MustParseAddr("192.0.2.200")}
	})
	u := testConfig(func(c *Config) {
		c.Name, c.Unicast, c.Addrs = "VI_3", true, []netip.Addr{netip.MustParseAddr("192.0.2.201")}
	})
	r, err := NewRouter([]Config{a, b, u}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Start(0)
	for _, c := range []struct {
		cfg  Config
		dst  netip.Addr
		want string
	}{{a, a.Group, "VI_1"}, {b, other, "VI_2"}, {u, self, "VI_3"}} {
		before := map[string]uint64{}
		for _, in := range r.Instances() {
			before[in.Name()] = in.Stats().AdvertsReceived
		}
		pkt := advertFrom(t, c.cfg, peer, c.dst, nil)
		if _, err := r.Receive(0, &Packet{Interface: "eth0", Src: peer, Dst: c.dst, HopLimit: TTL, Payload: pkt}); err != nil {
			t.Fatalf("advert to %v: %v", c.dst, err)
		}
		for _, in := range r.Instances() {
			if got := in.Stats().AdvertsReceived - before[in.Name()]; got != map[bool]uint64{true: 1}[in.Name() == c.want] {
				t.Errorf("advert to %v: %s took %d", c.dst, in.Name(), got)
			}
		}
	}
	b.Group = a.Group
	if _, err := NewRouter([]Config{a, b}, nil); err == nil {
		t.Error("two instances with one id and one group on one interface: no error")
	}
}
