package vrrp

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

// ahPair is two routers with auth_type AH and one password: a (the
// sender, master) and b (a backup).
func ahPair(t *testing.T, pass string) (a, b *Instance, rb *Router) {
	t.Helper()
	mk := func(src netip.Addr, key string) Config {
		return testConfig(func(c *Config) {
			c.AuthType, c.Source = AuthAH, src
			copy(c.AuthPass[:], key)
		})
	}
	ra, err := NewRouter([]Config{mk(peer, pass)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rb, err = NewRouter([]Config{mk(self, "secret")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rb.Start(0)
	return ra.Instances()[0], rb.Instances()[0], rb
}

// ahReceive hands a packet built by AppendAHPacket to a router as the
// daemon does: the IPv4 header apart, the rest as payload.
func ahReceive(r *Router, pkt []byte) error {
	src := netip.AddrFrom4([4]byte(pkt[12:16]))
	dst := netip.AddrFrom4([4]byte(pkt[16:20]))
	_, err := r.Receive(0, &Packet{Interface: "eth0", Src: src, Dst: dst, HopLimit: pkt[8], IPHeader: pkt[:20], Payload: pkt[20:]})
	return err
}

func TestAH(t *testing.T) {
	a, b, rb := ahPair(t, "secret")
	pkt, err := a.AppendAHPacket(nil, 150, peer, GroupIPv4, TTL)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkt) != 20+24+16+4*len(a.cfg.Addrs) || pkt[9] != 51 || pkt[20] != ProtocolNumber || pkt[21] != 4 ||
		binary.BigEndian.Uint32(pkt[28:]) != 1 || netip.AddrFrom4([4]byte(pkt[24:28])) != peer || pkt[44+4] != byte(AuthAH) {
		t.Fatalf("packet % x", pkt)
	}
	if err := ahReceive(rb, pkt); err != nil {
		t.Fatalf("first packet: %v", err)
	}
	if err := ahReceive(rb, pkt); err != ErrAHReplay {
		t.Errorf("the same packet again: %v, want %v", err, ErrAHReplay)
	}
	pkt2, _ := a.AppendAHPacket(nil, 150, peer, GroupIPv4, TTL)
	if binary.BigEndian.Uint32(pkt2[28:]) != 2 || binary.BigEndian.Uint16(pkt2[4:]) != 2 {
		t.Errorf("second packet: seq %d id %d", binary.BigEndian.Uint32(pkt2[28:]), binary.BigEndian.Uint16(pkt2[4:]))
	}
	// Mutable fields do not count; the rest does.
	mut := append([]byte(nil), pkt2...)
	mut[1], mut[10], mut[11] = 0, 0xab, 0xcd
	if err := ahReceive(rb, mut); err != nil {
		t.Errorf("TOS and checksum changed on the way: %v", err)
	}
	pkt3, _ := a.AppendAHPacket(nil, 150, peer, GroupIPv4, TTL)
	pkt3[len(pkt3)-1] ^= 1
	if err := ahReceive(rb, pkt3); err != ErrAHICV {
		t.Errorf("changed advert: %v, want %v", err, ErrAHICV)
	}
	if s := b.Stats(); s.AuthFailures != 2 || s.AdvertsReceived != 2 {
		t.Errorf("stats %+v", s)
	}

	wrong, _, rb2 := ahPair(t, "other")
	pkt4, _ := wrong.AppendAHPacket(nil, 150, peer, GroupIPv4, TTL)
	if err := ahReceive(rb2, pkt4); err != ErrAHICV {
		t.Errorf("another password: %v, want %v", err, ErrAHICV)
	}
	// A plain advert for an AH instance, and an AH one for a plain instance.
	plain, _ := a.AppendAdvert(nil, 150, peer, GroupIPv4)
	if _, err := rb.Receive(0, &Packet{Interface: "eth0", Src: peer, Dst: GroupIPv4, HopLimit: TTL, Payload: plain}); err != ErrAuthTypeMismatch {
		t.Errorf("plain advert to an AH instance: %v", err)
	}
	rp, _ := backupRouter(t, testConfig(nil))
	pkt5, _ := a.AppendAHPacket(nil, 150, peer, GroupIPv4, TTL)
	if err := ahReceive(rp, pkt5); err != ErrAuthTypeMismatch {
		t.Errorf("AH advert to a plain instance: %v", err)
	}
	if err := ahReceive(rb, pkt5[:30]); err != ErrAHMalformed {
		t.Errorf("truncated: %v", err)
	}
}
