package vrrp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Wire constants (RFC 3768 §5, RFC 9568 §5).
const (
	// TypeAdvertisement is the only VRRP packet type.
	TypeAdvertisement = 1
	// TTL is the IPv4 TTL / IPv6 hop limit adverts are sent and received with.
	TTL = 255

	// PriorityOwner is the priority of the router that owns the addresses.
	PriorityOwner = 255
	// PriorityDefault is the priority used when none is configured.
	PriorityDefault = 100
	// PriorityStop is advertised by a master that is leaving.
	PriorityStop = 0

	// MaxAddrs is the largest address count the 8-bit count field allows.
	MaxAddrs = 255
	// MaxIntervalV3 is the largest VRRPv3 Max Adver Int, in centiseconds.
	MaxIntervalV3 = 4095

	headerLen   = 8
	authDataLen = 8
)

// AuthType is the VRRPv2 authentication type (RFC 2338 §5.3.6).
type AuthType uint8

// Authentication types. RFC 3768 deprecates both, but keepalived still
// sends and checks simple passwords.
const (
	AuthNone AuthType = 0
	AuthPass AuthType = 1
	AuthAH   AuthType = 2
)

func (t AuthType) String() string {
	switch t {
	case AuthNone:
		return "none"
	case AuthPass:
		return "PASS"
	case AuthAH:
		return "AH"
	}
	return fmt.Sprintf("auth-type-%d", uint8(t))
}

// Decoding errors. Each names one way a packet can be malformed so that the
// receive path can count it.
var (
	ErrTooShort = errors.New("vrrp: packet shorter than a VRRP header")
	ErrVersion  = errors.New("vrrp: unknown VRRP version")
	ErrType     = errors.New("vrrp: packet is not an advertisement")
	ErrLength   = errors.New("vrrp: length does not match the address count")
)

// Encoding errors.
var (
	ErrTooManyAddrs  = errors.New("vrrp: more than 255 addresses")
	ErrMixedFamilies = errors.New("vrrp: addresses of both families in one advert")
	ErrIntervalRange = errors.New("vrrp: advert interval out of range")
	ErrV2IPv6        = errors.New("vrrp: VRRPv2 carries IPv4 addresses only")
)

// Advert is a VRRP advertisement, version 2 or 3, IPv4 or IPv6.
type Advert struct {
	Version  uint8 // 2 or 3
	VRID     uint8
	Priority uint8
	// Interval is the advertisement interval as carried on the wire:
	// whole seconds in VRRPv2, centiseconds (1..4095) in VRRPv3.
	Interval uint16
	// AuthType and AuthData exist in VRRPv2 only.
	AuthType AuthType
	AuthData [authDataLen]byte
	// Checksum is the value read by UnmarshalBinary; encoding computes it.
	Checksum uint16
	// IPv6 tells the address family when Addrs is empty.
	IPv6  bool
	Addrs []netip.Addr
}

// Len is the length of the encoded message.
func (a *Advert) Len() int {
	return messageLen(a.Version, a.IPv6, len(a.Addrs))
}

func messageLen(version uint8, ipv6 bool, count int) int {
	if ipv6 {
		return headerLen + 16*count
	}
	n := headerLen + 4*count
	if version == 2 {
		n += authDataLen
	}
	return n
}

// MarshalBinary encodes the advert with a checksum over the message only,
// the VRRPv2 rule. VRRPv3 adverts need their IP addresses in the checksum:
// use AppendBinary with a PseudoHeader for those.
func (a *Advert) MarshalBinary() ([]byte, error) {
	return a.AppendBinary(nil, PseudoHeader{})
}

// AppendBinary appends the encoded advert to b, computing the checksum under
// pseudo-header p, and returns the extended buffer.
func (a *Advert) AppendBinary(b []byte, p PseudoHeader) ([]byte, error) {
	if err := a.checkEncodable(); err != nil {
		return b, err
	}
	start := len(b)
	b = append(b, a.Version<<4|TypeAdvertisement, a.VRID, a.Priority, uint8(len(a.Addrs)))
	if a.Version == 2 {
		b = append(b, uint8(a.AuthType), uint8(a.Interval))
	} else {
		b = binary.BigEndian.AppendUint16(b, a.Interval&0x0fff)
	}
	b = append(b, 0, 0) // checksum, filled in below
	for _, ip := range a.Addrs {
		b = append(b, ip.AsSlice()...)
	}
	if a.Version == 2 {
		b = append(b, a.AuthData[:]...)
	}
	msg := b[start:]
	binary.BigEndian.PutUint16(msg[6:], checksum(msg, p))
	return b, nil
}

func (a *Advert) checkEncodable() error {
	switch a.Version {
	case 2:
		if a.IPv6 {
			return ErrV2IPv6
		}
		if a.Interval > 0xff {
			return ErrIntervalRange
		}
	case 3:
		if a.Interval > MaxIntervalV3 {
			return ErrIntervalRange
		}
	default:
		return ErrVersion
	}
	if len(a.Addrs) > MaxAddrs {
		return ErrTooManyAddrs
	}
	for _, ip := range a.Addrs {
		if !ip.IsValid() || ip.Is4() == a.IPv6 {
			return ErrMixedFamilies
		}
	}
	return nil
}

// UnmarshalBinary decodes a VRRP message. The address family is inferred
// from the length: a VRRPv2 message is always IPv4, and for VRRPv3 only one
// of 4-byte and 16-byte addresses can make the count and length agree
// (with no addresses at all IPv6 is false: the IP header has to tell).
// The checksum is read, not verified: that needs the IP addresses (see
// VerifyChecksum). Addrs is reused, so decoding into the same Advert
// repeatedly does not allocate once it has grown.
func (a *Advert) UnmarshalBinary(b []byte) error {
	if len(b) < headerLen {
		return ErrTooShort
	}
	version, typ := b[0]>>4, b[0]&0x0f
	if version != 2 && version != 3 {
		return ErrVersion
	}
	if typ != TypeAdvertisement {
		return ErrType
	}
	count := int(b[3])
	switch len(b) {
	case messageLen(version, false, count):
		a.IPv6 = false
	case messageLen(version, true, count):
		if version == 2 {
			return ErrLength
		}
		a.IPv6 = true
	default:
		return ErrLength
	}
	a.Version, a.VRID, a.Priority = version, b[1], b[2]
	if version == 2 {
		a.AuthType = AuthType(b[4])
		a.Interval = uint16(b[5])
	} else {
		a.AuthType = AuthNone
		a.Interval = binary.BigEndian.Uint16(b[4:]) & 0x0fff
	}
	a.Checksum = binary.BigEndian.Uint16(b[6:])
	a.Addrs = a.Addrs[:0]
	body := b[headerLen:]
	for i := 0; i < count; i++ {
		if a.IPv6 {
			a.Addrs = append(a.Addrs, netip.AddrFrom16([16]byte(body[:16])))
			body = body[16:]
		} else {
			a.Addrs = append(a.Addrs, netip.AddrFrom4([4]byte(body[:4])))
			body = body[4:]
		}
	}
	a.AuthData = [authDataLen]byte{}
	if version == 2 {
		copy(a.AuthData[:], body)
	}
	return nil
}

// IntervalDuration converts the wire interval to a duration.
func (a *Advert) IntervalDuration() time.Duration {
	if a.Version == 2 {
		return time.Duration(a.Interval) * time.Second
	}
	return time.Duration(a.Interval) * Centisecond
}

func (a *Advert) String() string {
	s := fmt.Sprintf("VRRPv%d vrid=%d prio=%d", a.Version, a.VRID, a.Priority)
	if a.Version == 2 {
		s += fmt.Sprintf(" int=%ds auth=%v", a.Interval, a.AuthType)
	} else {
		s += fmt.Sprintf(" int=%dcs", a.Interval)
	}
	return s + fmt.Sprintf(" addrs=%v", a.Addrs)
}
