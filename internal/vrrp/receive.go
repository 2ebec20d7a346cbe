package vrrp

import (
	"crypto/subtle"
	"errors"
	"math/bits"
	"net/netip"
	"slices"
)

// Packet is a received VRRP message with what the IP layer said about it.
type Packet struct {
	Interface string
	Src, Dst  netip.Addr
	HopLimit  uint8 // IPv4 TTL or IPv6 hop limit
	Payload   []byte
	// IPHeader is the IPv4 header of a packet that came in an IPsec
	// Authentication Header (auth_type AH), whose Payload is the AH and
	// the advert; nil for a plain advert.
	IPHeader []byte
}

// Reasons a received packet is dropped, beyond the decoding errors of
// UnmarshalBinary. Each has its own counter in Stats.
var (
	ErrHopLimit         = errors.New("vrrp: multicast advert with TTL/hop limit other than 255")
	ErrVersionMismatch  = errors.New("vrrp: advert of another VRRP version than configured")
	ErrVRID             = errors.New("vrrp: advert for another virtual router")
	ErrChecksum         = errors.New("vrrp: bad checksum")
	ErrAuthTypeInvalid  = errors.New("vrrp: unknown authentication type")
	ErrAuthTypeMismatch = errors.New("vrrp: authentication type differs from configured")
	ErrAuthFailure      = errors.New("vrrp: wrong password")
	ErrInterval         = errors.New("vrrp: advert interval differs from configured")
	ErrAddressList      = errors.New("vrrp: virtual addresses differ from configured")
	ErrOwnAddress       = errors.New("vrrp: advert carries our own source address")
	ErrNotListening     = errors.New("vrrp: instance is not listening (init, fault or stopped)")
	ErrUnknownVRID      = errors.New("vrrp: no instance for this virtual router on this interface")
	ErrNotPeer          = errors.New("vrrp: advert from an address that is not a unicast peer")
)

// Stats are an instance's counters, named after keepalived's JSON/SNMP
// statistics where keepalived has one.
type Stats struct {
	AdvertsReceived      uint64 // advert_rcvd: adverts that passed every check
	AdvertsSent          uint64 // advert_sent
	BecameMaster         uint64 // become_master
	ReleasedMaster       uint64 // release_master
	PacketLengthErrors   uint64 // packet_len_err
	VersionErrors        uint64 // vers_err
	TypeErrors           uint64 // invalid_type_rcvd
	HopLimitErrors       uint64 // ip_ttl_err
	ChecksumErrors       uint64 // chk_err
	VRIDErrors           uint64 // vrid_err
	AuthTypeInvalid      uint64 // invalid_authtype
	AuthTypeMismatch     uint64 // authtype_mismatch
	AuthFailures         uint64 // auth_failure
	IntervalErrors       uint64 // advert_interval_err
	AddressListErrors    uint64 // addr_list_err
	NotPeerErrors        uint64 // check_unicast_src: from an address that is not a peer
	PriorityZeroReceived uint64 // pri_zero_rcvd
	PriorityZeroSent     uint64 // pri_zero_sent
}

// check decodes pkt into in.rx and applies every receive check of RFC 3768
// §7.1, RFC 9568 §7.1 and keepalived, counting the failure.
func (in *Instance) check(pkt *Packet) error {
	a := &in.rx
	if err := a.UnmarshalBinary(pkt.Payload); err != nil {
		switch err {
		case ErrVersion:
			in.stats.VersionErrors++
		case ErrType:
			in.stats.TypeErrors++
		default:
			in.stats.PacketLengthErrors++
		}
		return err
	}
	c := &in.cfg
	// Unicast adverts cross routers, so only multicast is held to 255.
	if pkt.Dst.IsMulticast() && pkt.HopLimit != TTL {
		in.stats.HopLimitErrors++
		return ErrHopLimit
	}
	if a.Version != c.Version {
		in.stats.VersionErrors++
		return ErrVersionMismatch
	}
	if a.VRID != c.VRID {
		in.stats.VRIDErrors++
		return ErrVRID
	}
	if len(c.AcceptFrom) > 0 && !slices.Contains(c.AcceptFrom, pkt.Src) {
		in.stats.NotPeerErrors++
		return ErrNotPeer
	}
	if !in.checksumOK(pkt) {
		in.stats.ChecksumErrors++
		return ErrChecksum
	}
	if a.Version == 2 {
		if err := in.checkAuth(); err != nil {
			return err
		}
	}
	if (a.Version == 2 && a.Interval != c.wireInterval()) || a.Interval == 0 {
		// VRRPv2 requires equal intervals; a VRRPv3 interval of zero
		// would make the master-down timer expire at once.
		in.stats.IntervalErrors++
		return ErrInterval
	}
	if !c.SkipCheckAdvAddr && !in.sameAddrs(a) {
		in.stats.AddressListErrors++
		return ErrAddressList
	}
	in.stats.AdvertsReceived++
	if a.Priority == PriorityStop {
		in.stats.PriorityZeroReceived++
	}
	return nil
}

// checksumOK verifies the checksum the way the instance sends it. A VRRPv3
// unicast advert from keepalived before 1.3.6 (or with old_unicast_checksum)
// has the multicast group in its pseudo-header: keepalived accepts that and
// answers in kind, and so do we.
func (in *Instance) checksumOK(pkt *Packet) bool {
	if VerifyChecksum(pkt.Payload, in.pseudoHeader(pkt.Src, pkt.Dst)) {
		return true
	}
	ph := in.pseudoHeader(pkt.Src, in.cfg.Group)
	if pkt.Dst.IsMulticast() || ph.IsZero() || !VerifyChecksum(pkt.Payload, ph) {
		return false
	}
	in.groupChecksum = true
	return true
}

// pseudoHeader is what the checksum of an advert from src to dst covers.
func (in *Instance) pseudoHeader(src, dst netip.Addr) PseudoHeader {
	c := &in.cfg
	if c.Version == 2 || (!c.IPv6 && c.ChecksumAsV2) {
		return PseudoHeader{}
	}
	return PseudoHeader{Src: src, Dst: dst}
}

func (in *Instance) checkAuth() error {
	a, c := &in.rx, &in.cfg
	switch {
	case a.AuthType > AuthAH:
		in.stats.AuthTypeInvalid++
		return ErrAuthTypeInvalid
	case a.AuthType != c.AuthType:
		in.stats.AuthTypeMismatch++
		return ErrAuthTypeMismatch
	case a.AuthType == AuthPass && subtle.ConstantTimeCompare(a.AuthData[:], c.AuthPass[:]) != 1:
		in.stats.AuthFailures++
		return ErrAuthFailure
	}
	return nil
}

// sameAddrs compares the advert's addresses with the configured ones as
// sets (keepalived does not mind the order).
func (in *Instance) sameAddrs(a *Advert) bool {
	if len(a.Addrs) != len(in.sortedAddrs) {
		return false
	}
	var seen [4]uint64 // one bit per configured address, at most 255
	for _, ip := range a.Addrs {
		i, ok := slices.BinarySearchFunc(in.sortedAddrs, ip, netip.Addr.Compare)
		if !ok {
			return false
		}
		seen[i/64] |= 1 << (i % 64)
	}
	matched := 0
	for _, w := range seen {
		matched += bits.OnesCount64(w)
	}
	return matched == len(in.sortedAddrs)
}
