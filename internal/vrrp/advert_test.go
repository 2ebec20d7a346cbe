package vrrp

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ipPacket is what a golden file holds: an IP header and a VRRP message.
type ipPacket struct {
	src, dst netip.Addr
	ttl      uint8
	payload  []byte
}

// readGolden reads a golden packet: '#' lines are comments, the rest hex.
func readGolden(t *testing.T, name string) ipPacket {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "golden", name))
	if err != nil {
		t.Fatal(err)
	}
	var hexText strings.Builder
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		hexText.WriteString(strings.ReplaceAll(line, " ", ""))
	}
	b, err := hex.DecodeString(hexText.String())
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return parseIP(t, b)
}

func parseIP(t *testing.T, b []byte) ipPacket {
	t.Helper()
	switch b[0] >> 4 {
	case 4:
		ihl := int(b[0]&0x0f) * 4
		if b[9] != ProtocolNumber {
			t.Fatalf("IPv4 protocol %d, want 112", b[9])
		}
		total := int(binary.BigEndian.Uint16(b[2:]))
		return ipPacket{
			src:     netip.AddrFrom4([4]byte(b[12:16])),
			dst:     netip.AddrFrom4([4]byte(b[16:20])),
			ttl:     b[8],
			payload: b[ihl:total],
		}
	case 6:
		if b[6] != ProtocolNumber {
			t.Fatalf("IPv6 next header %d, want 112", b[6])
		}
		plen := int(binary.BigEndian.Uint16(b[4:]))
		return ipPacket{
			src:     netip.AddrFrom16([16]byte(b[8:24])),
			dst:     netip.AddrFrom16([16]byte(b[24:40])),
			ttl:     b[7],
			payload: b[40 : 40+plen],
		}
	}
	t.Fatalf("not an IP packet: %x", b)
	return ipPacket{}
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func pass(s string) (d [8]byte) {
	copy(d[:], s)
	return d
}

// TestGoldenAdverts decodes adverts captured from keepalived 2.2.7 (see
// testdata/golden/README.md), checks every field and the checksum rule, and
// re-encodes them to the same bytes.
func TestGoldenAdverts(t *testing.T) {
	tests := []struct {
		file      string
		want      Advert
		pseudo    bool   // checksum covers the IP pseudo-header
		pseudoDst string // the pseudo-header's destination, if not the packet's
	}{
		{"v2_ipv4_noauth.hex", Advert{Version: 2, VRID: 51, Priority: 150, Interval: 1,
			Addrs: addrs("198.18.5.100", "198.18.5.101")}, false, ""},
		{"v2_ipv4_pass.hex", Advert{Version: 2, VRID: 51, Priority: 150, Interval: 1,
			AuthType: AuthPass, AuthData: pass("s3cret"), Addrs: addrs("198.18.5.100", "198.18.5.101")}, false, ""},
		{"v2_ipv4_prio0.hex", Advert{Version: 2, VRID: 51, Priority: 0, Interval: 1,
			Addrs: addrs("198.18.5.100", "198.18.5.101")}, false, ""},
		{"v3_ipv4_pseudo.hex", Advert{Version: 3, VRID: 52, Priority: 120, Interval: 100,
			Addrs: addrs("198.18.5.110")}, true, ""},
		{"v3_ipv4_prio0.hex", Advert{Version: 3, VRID: 52, Priority: 0, Interval: 100,
			Addrs: addrs("198.18.5.110")}, true, ""},
		{"v3_ipv4_centisec.hex", Advert{Version: 3, VRID: 53, Priority: 200, Interval: 35,
			Addrs: addrs("198.18.5.120")}, true, ""},
		{"v3_ipv6.hex", Advert{Version: 3, VRID: 54, Priority: 100, Interval: 100, IPv6: true,
			Addrs: addrs("fe80::54", "fd00:198:18::54")}, true, ""},
		{"v3_ipv4_unicast.hex", Advert{Version: 3, VRID: 55, Priority: 110, Interval: 100,
			Addrs: addrs("198.18.5.130")}, true, ""},
		{"v2_ipv4_unicast_pass.hex", Advert{Version: 2, VRID: 56, Priority: 130, Interval: 1,
			AuthType: AuthPass, AuthData: pass("abcdefgh"), Addrs: addrs("198.18.5.140")}, false, ""},
		// keepalived's old_unicast_checksum: unicast, but checksummed as if
		// sent to the multicast group.
		{"v3_ipv4_unicast_oldchksum.hex", Advert{Version: 3, VRID: 57, Priority: 110, Interval: 100,
			Addrs: addrs("198.18.5.150")}, true, "224.0.0.18"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			pkt := readGolden(t, tt.file)
			if pkt.ttl != TTL {
				t.Errorf("TTL/hop limit %d, want 255", pkt.ttl)
			}
			var got Advert
			if err := got.UnmarshalBinary(pkt.payload); err != nil {
				t.Fatal(err)
			}
			want := tt.want
			want.Checksum = got.Checksum
			if !equalAdverts(&got, &want) {
				t.Errorf("decoded\n %v\nwant\n %v", &got, &want)
			}
			ph := PseudoHeader{}
			if tt.pseudo {
				ph = PseudoHeader{Src: pkt.src, Dst: pkt.dst}
				if tt.pseudoDst != "" {
					ph.Dst = netip.MustParseAddr(tt.pseudoDst)
				}
			}
			if !VerifyChecksum(pkt.payload, ph) {
				t.Errorf("checksum %#04x does not verify with pseudo-header=%v", got.Checksum, tt.pseudo)
			}
			// The other rule must fail, or the test could not tell them apart.
			other := PseudoHeader{}
			if !tt.pseudo {
				other = PseudoHeader{Src: pkt.src, Dst: pkt.dst}
			}
			if VerifyChecksum(pkt.payload, other) {
				t.Errorf("checksum also verifies under the other rule")
			}
			enc, err := tt.want.AppendBinary(nil, ph)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(enc, pkt.payload) {
				t.Errorf("re-encoded\n %x\nwant\n %x", enc, pkt.payload)
			}
		})
	}
}

func equalAdverts(a, b *Advert) bool {
	if a.Version != b.Version || a.VRID != b.VRID || a.Priority != b.Priority ||
		a.Interval != b.Interval || a.AuthType != b.AuthType || a.AuthData != b.AuthData ||
		a.Checksum != b.Checksum || a.IPv6 != b.IPv6 || len(a.Addrs) != len(b.Addrs) {
		return false
	}
	for i := range a.Addrs {
		if a.Addrs[i] != b.Addrs[i] {
			return false
		}
	}
	return true
}

func TestAdvertRoundTrip(t *testing.T) {
	many := make([]netip.Addr, MaxAddrs)
	for i := range many {
		many[i] = netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
	}
	ph4 := PseudoHeader{Src: netip.MustParseAddr("198.18.0.1"), Dst: netip.MustParseAddr("224.0.0.18")}
	ph6 := PseudoHeader{Src: netip.MustParseAddr("fe80::1"), Dst: netip.MustParseAddr("ff02::12")}
	tests := []struct {
		name string
		a    Advert
		ph   PseudoHeader
		len  int
	}{
		{"v2 no addresses", Advert{Version: 2, VRID: 1, Priority: 100, Interval: 1}, PseudoHeader{}, 16},
		{"v2 255 addresses", Advert{Version: 2, VRID: 255, Priority: 255, Interval: 255, Addrs: many}, PseudoHeader{}, 16 + 4*255},
		{"v3 ipv4 max interval", Advert{Version: 3, VRID: 7, Priority: 1, Interval: MaxIntervalV3,
			Addrs: addrs("198.18.0.9")}, ph4, 12},
		{"v3 ipv6 empty", Advert{Version: 3, VRID: 9, Priority: 100, Interval: 100, IPv6: true}, ph6, 8},
		{"v3 ipv6 two", Advert{Version: 3, VRID: 9, Priority: 100, Interval: 100, IPv6: true,
			Addrs: addrs("fe80::9", "2001:db8::9")}, ph6, 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.a.AppendBinary([]byte{0xaa}, tt.ph) // a prefix must be preserved
			if err != nil {
				t.Fatal(err)
			}
			if b[0] != 0xaa || len(b)-1 != tt.len || tt.a.Len() != tt.len {
				t.Fatalf("encoded %d bytes (Len %d), want %d after the prefix", len(b)-1, tt.a.Len(), tt.len)
			}
			msg := b[1:]
			if !VerifyChecksum(msg, tt.ph) {
				t.Error("checksum does not verify")
			}
			var got Advert
			if err := got.UnmarshalBinary(msg); err != nil {
				t.Fatal(err)
			}
			want := tt.a
			want.Checksum = binary.BigEndian.Uint16(msg[6:])
			want.IPv6 = want.IPv6 && len(want.Addrs) > 0 // nothing on the wire tells
			if !equalAdverts(&got, &want) {
				t.Errorf("round trip\n %v\nwant\n %v", &got, &want)
			}
		})
	}
}

func TestAdvertEncodeErrors(t *testing.T) {
	tests := []struct {
		name string
		a    Advert
		err  error
	}{
		{"version 4", Advert{Version: 4}, ErrVersion},
		{"v2 ipv6", Advert{Version: 2, IPv6: true}, ErrV2IPv6},
		{"v2 interval", Advert{Version: 2, Interval: 256}, ErrIntervalRange},
		{"v3 interval", Advert{Version: 3, Interval: 4096}, ErrIntervalRange},
		{"mixed", Advert{Version: 3, Addrs: addrs("198.18.0.1", "fe80::1")}, ErrMixedFamilies},
		{"v6 in v4 advert", Advert{Version: 3, Addrs: addrs("fe80::1")}, ErrMixedFamilies},
		{"mapped in an IPv4 advert", Advert{Version: 3, Addrs: addrs("::ffff:198.18.0.1")}, ErrMixedFamilies},
		{"invalid address", Advert{Version: 3, Addrs: []netip.Addr{{}}}, ErrMixedFamilies},
		{"too many", Advert{Version: 3, Addrs: make([]netip.Addr, 256)}, ErrTooManyAddrs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.a.MarshalBinary(); !errors.Is(err, tt.err) {
				t.Errorf("got %v, want %v", err, tt.err)
			}
		})
	}
}

func TestAdvertDecodeErrors(t *testing.T) {
	v2, _ := (&Advert{Version: 2, VRID: 1, Priority: 100, Interval: 1, Addrs: addrs("198.18.0.1")}).MarshalBinary()
	v3, _ := (&Advert{Version: 3, VRID: 1, Priority: 100, Interval: 100, Addrs: addrs("198.18.0.1")}).MarshalBinary()
	with := func(b []byte, i int, v byte) []byte {
		c := bytes.Clone(b)
		c[i] = v
		return c
	}
	tests := []struct {
		name string
		b    []byte
		err  error
	}{
		{"empty", nil, ErrTooShort},
		{"seven bytes", v2[:7], ErrTooShort},
		{"version 1", with(v2, 0, 0x11), ErrVersion},
		{"version 15", with(v2, 0, 0xf1), ErrVersion},
		{"type 2", with(v2, 0, 0x22), ErrType},
		{"v2 truncated auth", v2[:len(v2)-1], ErrLength},
		{"v2 trailing byte", append(bytes.Clone(v2), 0), ErrLength},
		{"v2 count too high", with(v2, 3, 2), ErrLength},
		{"v2 sized as ipv6", with(append(bytes.Clone(v2), make([]byte, 4)...), 3, 1), ErrLength},
		{"v3 count zero with body", with(v3, 3, 0), ErrLength},
		{"v3 truncated", v3[:len(v3)-2], ErrLength},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a Advert
			if err := a.UnmarshalBinary(tt.b); !errors.Is(err, tt.err) {
				t.Errorf("got %v, want %v", err, tt.err)
			}
		})
	}
}

func TestIntervalDuration(t *testing.T) {
	if d := (&Advert{Version: 2, Interval: 3}).IntervalDuration(); d != 3*time.Second {
		t.Errorf("v2: %v", d)
	}
	if d := (&Advert{Version: 3, Interval: 35}).IntervalDuration(); d != 350*time.Millisecond {
		t.Errorf("v3: %v", d)
	}
}

// The decoder must never panic, and what it accepts must encode back to
// the same bytes (the checksum is carried, so compare without it).
func FuzzUnmarshalAdvert(f *testing.F) {
	for _, name := range []string{"v2_ipv4_pass.hex", "v3_ipv4_pseudo.hex", "v3_ipv6.hex"} {
		raw, err := os.ReadFile(filepath.Join("testdata", "golden", name))
		if err == nil {
			f.Add(raw) // the text form is a fine seed too: it exercises rejection
		}
	}
	f.Add([]byte{0x21, 1, 100, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0x31, 1, 100, 1, 0, 100, 0, 0, 198, 18, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var a Advert
		if err := a.UnmarshalBinary(b); err != nil {
			return
		}
		enc, err := a.AppendBinary(nil, PseudoHeader{})
		if err != nil {
			t.Fatalf("decoded advert does not encode: %v (%v)", err, &a)
		}
		// Bytes the encoder normalises: the checksum, and the four
		// reserved bits of a VRRPv3 interval.
		got, want := bytes.Clone(enc), bytes.Clone(b)
		got[6], got[7], want[6], want[7] = 0, 0, 0, 0
		if a.Version == 3 {
			want[4] &= 0x0f
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("re-encoded %x, input %x", got, want)
		}
	})
}
