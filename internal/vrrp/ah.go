package vrrp

import (
	"crypto/hmac"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"net/netip"
)

// VRRPv2's IP Authentication Header (RFC 2338 §5.3.6.2), as keepalived's
// auth_type AH builds it: the advert rides in an AH (IP protocol 51)
// whose SPI is the sender's address, whose sequence number guards
// against replays, and whose ICV is HMAC-MD5-96 keyed with auth_pass over
// the IPv4 header (mutable fields zeroed), the AH (ICV zeroed) and the
// advert. The ICV covers the IP header, so the whole packet is built
// here, and a received one is checked with its header.

const (
	ipv4HeaderLen = 20
	ahLen         = 24 // next header, length, reserved, SPI, sequence, 12-byte ICV
	ahICVOffset   = 12
	ahICVLen      = 12
	protoAH       = 51
	ipTOSControl  = 0xc0 // internetwork control, as keepalived sends VRRP
)

// Errors of an AH packet, counted as authentication failures.
var (
	ErrAHMalformed = errors.New("vrrp: malformed IPsec AH")
	ErrAHICV       = errors.New("vrrp: IPsec AH ICV does not match (another auth_pass, or a changed packet)")
	ErrAHSPI       = errors.New("vrrp: IPsec AH SPI is not the source address")
	ErrAHReplay    = errors.New("vrrp: IPsec AH sequence number already seen (a replay)")
)

// AppendAHPacket appends the whole IPv4 packet of an AH-authenticated
// advert, from src to dst with the TTL given, for a raw socket that
// takes the IP header as it is. Each packet gets the next IP id (never 0,
// which the kernel would fill in after the ICV is computed) and the next
// AH sequence number.
func (in *Instance) AppendAHPacket(b []byte, priority uint8, src, dst netip.Addr, ttl uint8) ([]byte, error) {
	start := len(b)
	b = append(b, make([]byte, ipv4HeaderLen+ahLen)...)
	b, err := in.AppendAdvert(b, priority, src, dst)
	if err != nil {
		return b[:start], err
	}
	pkt := b[start:]
	in.ipID++
	if in.ipID == 0 {
		in.ipID = 1
	}
	if in.ahSeq < 0xfffffffe {
		in.ahSeq++
	}
	ip := pkt[:ipv4HeaderLen]
	ip[0] = 0x45
	ip[1] = ipTOSControl
	binary.BigEndian.PutUint16(ip[2:], uint16(len(pkt)))
	binary.BigEndian.PutUint16(ip[4:], in.ipID)
	ip[8] = ttl
	ip[9] = protoAH
	s4, d4 := src.As4(), dst.As4()
	copy(ip[12:], s4[:])
	copy(ip[16:], d4[:])
	ah := pkt[ipv4HeaderLen : ipv4HeaderLen+ahLen]
	ah[0] = ProtocolNumber
	ah[1] = ahLen/4 - 2
	copy(ah[4:], s4[:]) // the SPI
	binary.BigEndian.PutUint32(ah[8:], in.ahSeq)
	copy(ah[ahICVOffset:], in.ahICV(ip, pkt[ipv4HeaderLen:]))
	return b, nil
}

// ahICV is the ICV of an AH packet: ip is its IPv4 header, rest the AH
// (whose ICV is left out) and the advert.
func (in *Instance) ahICV(ip, rest []byte) []byte {
	var hdr [ipv4HeaderLen]byte
	copy(hdr[:], ip)
	hdr[1] = 0              // TOS
	hdr[6], hdr[7] = 0, 0   // flags and fragment offset
	hdr[10], hdr[11] = 0, 0 // header checksum
	if in.cfg.Unicast {
		hdr[8] = 0 // TTL: routers on the way change it
	}
	mac := hmac.New(md5.New, in.cfg.AuthPass[:])
	mac.Write(hdr[:])
	mac.Write(rest[:ahICVOffset])
	mac.Write(make([]byte, ahICVLen))
	mac.Write(rest[ahLen:])
	return mac.Sum(nil)[:ahICVLen]
}

// openAH takes the advert out of a received AH packet: pkt.Payload is
// the AH and the advert, pkt.IPHeader the IPv4 header they came in.
func openAH(pkt *Packet) ([]byte, error) {
	p := pkt.Payload
	if len(pkt.IPHeader) < ipv4HeaderLen || len(p) < ahLen || p[0] != ProtocolNumber || int(p[1]+2)*4 != ahLen {
		return nil, ErrAHMalformed
	}
	return p[ahLen:], nil
}

// checkAH verifies a received AH packet's ICV, SPI and sequence number,
// as keepalived does, and takes the sequence number as the last seen.
func (in *Instance) checkAH(pkt *Packet) error {
	p := pkt.Payload
	if !hmac.Equal(in.ahICV(pkt.IPHeader, p), p[ahICVOffset:ahICVOffset+ahICVLen]) {
		return ErrAHICV
	}
	if netip.AddrFrom4([4]byte(p[4:8])) != pkt.Src {
		return ErrAHSPI
	}
	seq := binary.BigEndian.Uint32(p[8:])
	if seq <= in.ahSeq {
		return ErrAHReplay
	}
	in.ahSeq, in.ahRxSeq = seq, seq
	return nil
}
