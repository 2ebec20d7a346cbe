package vrrp

import (
	"encoding/binary"
	"net/netip"
)

// ProtocolNumber is the IP protocol number of VRRP.
const ProtocolNumber = 112

// PseudoHeader names the IP addresses a VRRPv3 checksum covers. Its zero
// value means "the VRRP message only", which is what VRRPv2 uses and what
// VRRPv3 over IPv4 uses when v3_checksum_as_v2 is set.
type PseudoHeader struct {
	Src, Dst netip.Addr
}

// IsZero reports whether the checksum covers the VRRP message only.
func (p PseudoHeader) IsZero() bool { return !p.Src.IsValid() }

// sum adds the pseudo-header for a VRRP message of length n to s.
//
// IPv4 (RFC 5798 §5.2.8, as keepalived and FRR compute it by default):
// source, destination, a zero byte, the protocol and a 16-bit length.
// IPv6 (RFC 8200 §8.1): source, destination, a 32-bit length, three zero
// bytes and the next-header value. Both reduce to the same 16-bit words
// once the zero bytes are dropped.
func (p PseudoHeader) sum(s uint32, n int) uint32 {
	if p.IsZero() {
		return s
	}
	if p.Src.Is4() {
		a, b := p.Src.As4(), p.Dst.As4()
		s = sumBytes(s, a[:])
		s = sumBytes(s, b[:])
	} else {
		a, b := p.Src.As16(), p.Dst.As16()
		s = sumBytes(s, a[:])
		s = sumBytes(s, b[:])
	}
	return s + ProtocolNumber + uint32(n)
}

// sumBytes adds b to the running one's-complement sum s as 16-bit
// big-endian words, padding an odd final byte with zero.
func sumBytes(s uint32, b []byte) uint32 {
	for len(b) >= 2 {
		s += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

// fold turns a running sum into the final one's-complement checksum.
func fold(s uint32) uint16 {
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// checksum computes the Internet checksum of msg (whose checksum field must
// be zero or skipped by the caller) under pseudo-header p.
func checksum(msg []byte, p PseudoHeader) uint16 {
	return fold(sumBytes(p.sum(0, len(msg)), msg))
}

// VerifyChecksum reports whether the VRRP message msg, checksum field
// included, sums correctly under pseudo-header p.
func VerifyChecksum(msg []byte, p PseudoHeader) bool {
	return fold(sumBytes(p.sum(0, len(msg)), msg)) == 0
}
