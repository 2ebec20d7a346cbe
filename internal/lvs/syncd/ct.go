package syncd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// ctnetlink, spoken directly over mdlayher/netlink (in go.mod already):
// vishvananda/netlink can list and create conntrack entries but neither
// follows events nor sets up NAT on an entry it creates, and both are
// what syncing needs. Constants from linux/netfilter/nfnetlink*.h.
const (
	subsysCT       = 1 // NFNL_SUBSYS_CTNETLINK
	msgNew         = 0 // IPCTNL_MSG_CT_NEW
	msgGet         = 1
	msgDelete      = 2
	groupNew       = 1 // NFNLGRP_CONNTRACK_NEW
	groupUpdate    = 2
	groupDestroy   = 3
	ctaTupleOrig   = 1
	ctaTupleReply  = 2
	ctaStatus      = 3
	ctaProtoinfo   = 4
	ctaTimeout     = 7
	ctaMark        = 8
	ctaNatSrc      = 6
	ctaNatDst      = 13
	ctaTupleIP     = 1
	ctaTupleProto  = 2
	ctaIPv4Src     = 1
	ctaIPv4Dst     = 2
	ctaIPv6Src     = 3
	ctaIPv6Dst     = 4
	ctaProtoNum    = 1
	ctaProtoSrc    = 2
	ctaProtoDst    = 3
	ctaInfoTCP     = 1
	ctaInfoSCTP    = 3
	ctaTCPState    = 1
	ctaTCPFlagsO   = 4
	ctaTCPFlagsR   = 5
	ctaSCTPState   = 1
	ctaSCTPVTagO   = 2
	ctaSCTPVTagR   = 3
	ctaNatV4Min    = 1
	ctaNatV4Max    = 2
	ctaNatProto    = 3
	ctaNatV6Min    = 4
	ctaNatV6Max    = 5
	ctaNatPortMin  = 1
	ctaNatPortMax  = 2
	ipsSeenReply   = 1 << 1
	ipsAssured     = 1 << 2
	ipsConfirmed   = 1 << 3
	ipsDstNAT      = 1 << 5
	tcpBeLiberal   = 0x08 // IP_CT_TCP_FLAG_BE_LIBERAL
	ctMsgNew       = netlink.HeaderType(subsysCT<<8 | msgNew)
	ctMsgGet       = netlink.HeaderType(subsysCT<<8 | msgGet)
	ctMsgDelete    = netlink.HeaderType(subsysCT<<8 | msgDelete)
	eventBufferLen = 8 << 20
)

// flow is a conntrack entry as read from the kernel.
type flow struct {
	Entry
	status   uint32
	hasState bool // the message carried protoinfo (update events may not)
	hasTime  bool
}

// parseFlow reads an IPCTNL_MSG_CT_NEW or _DELETE message (a dump
// answer or an event). ok is false for entries syncing ignores (other
// protocols, ICMP).
func parseFlow(m netlink.Message) (f flow, ok bool, err error) {
	if len(m.Data) < 4 {
		return f, false, fmt.Errorf("ctnetlink: message of %d bytes", len(m.Data))
	}
	f.Op = OpUpdate
	if m.Header.Type == ctMsgDelete {
		f.Op = OpDelete
	}
	ad, err := netlink.NewAttributeDecoder(m.Data[4:])
	if err != nil {
		return f, false, err
	}
	ad.ByteOrder = binary.BigEndian
	var origProto, replyProto uint8
	for ad.Next() {
		switch ad.Type() {
		case ctaTupleOrig:
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				f.Orig, origProto = parseTuple(nad)
				return nil
			})
		case ctaTupleReply:
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				f.Reply, replyProto = parseTuple(nad)
				return nil
			})
		case ctaStatus:
			f.status = ad.Uint32()
		case ctaTimeout:
			f.Timeout, f.hasTime = ad.Uint32(), true
		case ctaMark:
			f.Mark = ad.Uint32()
		case ctaProtoinfo:
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				for nad.Next() {
					switch nad.Type() {
					case ctaInfoTCP, ctaInfoSCTP:
						sctp := nad.Type() == ctaInfoSCTP
						nad.Nested(func(pad *netlink.AttributeDecoder) error {
							for pad.Next() {
								switch {
								case pad.Type() == ctaTCPState: // = ctaSCTPState
									f.State, f.hasState = pad.Uint8(), true
								case sctp && pad.Type() == ctaSCTPVTagO:
									f.VTagOrig, f.HasVTags = pad.Uint32(), true
								case sctp && pad.Type() == ctaSCTPVTagR:
									f.VTagReply = pad.Uint32()
								}
							}
							return nil
						})
					}
				}
				return nil
			})
		}
	}
	if err := ad.Err(); err != nil {
		return f, false, fmt.Errorf("ctnetlink: %w", err)
	}
	f.Proto = origProto
	f.Assured = f.status&ipsAssured != 0
	f.SeenReply = f.status&ipsSeenReply != 0
	switch origProto {
	case ProtoTCP, ProtoSCTP:
	case ProtoUDP:
		f.State, f.hasState = 0, true
	default:
		return f, false, nil
	}
	if replyProto != origProto || !f.Orig.Src.IsValid() || !f.Reply.Src.IsValid() {
		return f, false, nil
	}
	if f.Op == OpDelete {
		f.State, f.Timeout = 0, 0
	}
	return f, true, nil
}

func parseTuple(ad *netlink.AttributeDecoder) (t Tuple, proto uint8) {
	var src, dst netip.Addr
	var sport, dport uint16
	for ad.Next() {
		switch ad.Type() {
		case ctaTupleIP:
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				for nad.Next() {
					a, _ := netip.AddrFromSlice(nad.Bytes())
					switch nad.Type() {
					case ctaIPv4Src, ctaIPv6Src:
						src = a
					case ctaIPv4Dst, ctaIPv6Dst:
						dst = a
					}
				}
				return nil
			})
		case ctaTupleProto:
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				for nad.Next() {
					switch nad.Type() {
					case ctaProtoNum:
						proto = nad.Uint8()
					case ctaProtoSrc:
						sport = nad.Uint16()
					case ctaProtoDst:
						dport = nad.Uint16()
					}
				}
				return nil
			})
		}
	}
	if !src.IsValid() || !dst.IsValid() || src.Is4() != dst.Is4() {
		return Tuple{}, 0
	}
	return Tuple{Src: netip.AddrPortFrom(src, sport), Dst: netip.AddrPortFrom(dst, dport)}, proto
}

func family(a netip.Addr) uint8 {
	if a.Is4() {
		return unix.AF_INET
	}
	return unix.AF_INET6
}

func encodeTuple(ae *netlink.AttributeEncoder, typ uint16, t Tuple, proto uint8) {
	ae.Nested(typ, func(nae *netlink.AttributeEncoder) error {
		nae.Nested(ctaTupleIP, func(iae *netlink.AttributeEncoder) error {
			if t.Src.Addr().Is4() {
				iae.Bytes(ctaIPv4Src, t.Src.Addr().AsSlice())
				iae.Bytes(ctaIPv4Dst, t.Dst.Addr().AsSlice())
			} else {
				iae.Bytes(ctaIPv6Src, t.Src.Addr().AsSlice())
				iae.Bytes(ctaIPv6Dst, t.Dst.Addr().AsSlice())
			}
			return nil
		})
		nae.Nested(ctaTupleProto, func(pae *netlink.AttributeEncoder) error {
			pae.Uint8(ctaProtoNum, proto)
			pae.Uint16(ctaProtoSrc, t.Src.Port())
			pae.Uint16(ctaProtoDst, t.Dst.Port())
			return nil
		})
		return nil
	})
}

// ct is a ctnetlink socket for requests: dumps, creations, deletions.
type ct struct{ c *netlink.Conn }

// dialCT opens a ctnetlink socket in the calling thread's namespace.
func dialCT() (*netlink.Conn, error) {
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, nil)
	if err != nil {
		return nil, fmt.Errorf("ctnetlink: %w", err)
	}
	return c, nil
}

func request(typ netlink.HeaderType, flags netlink.HeaderFlags, fam uint8, attrs []byte) netlink.Message {
	return netlink.Message{
		Header: netlink.Header{Type: typ, Flags: netlink.Request | flags},
		// nfgenmsg: family, NFNETLINK_V0, resource id 0.
		Data: append([]byte{fam, 0, 0, 0}, attrs...),
	}
}

// dump lists every conntrack entry of TCP, UDP and SCTP.
func (c *ct) dump() ([]flow, error) {
	msgs, err := c.c.Execute(request(ctMsgGet, netlink.Dump, unix.AF_UNSPEC, nil))
	if err != nil {
		return nil, fmt.Errorf("ctnetlink dump: %w", err)
	}
	var out []flow
	for _, m := range msgs {
		f, ok, err := parseFlow(m)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, f)
		}
	}
	return out, nil
}

// install creates the entry, with the DNAT its reply tuple implies, or
// updates the one there is. create is false when it existed.
func (c *ct) install(e *Entry) (created bool, err error) {
	attrs, err := entryAttrs(e, true, true)
	if err != nil {
		return false, err
	}
	_, err = c.c.Execute(request(ctMsgNew, netlink.Acknowledge|netlink.Create|netlink.Excl, family(e.Orig.Src.Addr()), attrs))
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, unix.EEXIST) {
		return false, fmt.Errorf("ctnetlink create %v: %w", e.Orig, err)
	}
	// The kernel does not change an existing entry's NAT; state,
	// status and timeout it does.
	for _, status := range []bool{true, false} {
		attrs, err := entryAttrs(e, false, status)
		if err != nil {
			return false, err
		}
		_, err = c.c.Execute(request(ctMsgNew, netlink.Acknowledge, family(e.Orig.Src.Addr()), attrs))
		// EBUSY: status bits can be set, never cleared, and the
		// local entry may have some this one lacks.
		if err == nil || !errors.Is(err, unix.EBUSY) {
			if err != nil {
				err = fmt.Errorf("ctnetlink update %v: %w", e.Orig, err)
			}
			return false, err
		}
	}
	return false, nil
}

// remove deletes the entry of this original tuple, if any.
func (c *ct) remove(e *Entry) error {
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	encodeTuple(ae, ctaTupleOrig, e.Orig, e.Proto)
	attrs, err := ae.Encode()
	if err != nil {
		return err
	}
	_, err = c.c.Execute(request(ctMsgDelete, netlink.Acknowledge, family(e.Orig.Src.Addr()), attrs))
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("ctnetlink delete %v: %w", e.Orig, err)
	}
	return nil
}

// entryAttrs encodes an entry for IPCTNL_MSG_CT_NEW: with create, the
// reply tuple and the DNAT from it; with status, CTA_STATUS.
func entryAttrs(e *Entry, create, status bool) ([]byte, error) {
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	encodeTuple(ae, ctaTupleOrig, e.Orig, e.Proto)
	if create {
		// The reply tuple as it was before NAT: the kernel's NAT set-up
		// (below) rewrites it, and sets the NAT status bits only when
		// it changes it.
		encodeTuple(ae, ctaTupleReply, Tuple{Src: e.Orig.Dst, Dst: e.Orig.Src}, e.Proto)
	}
	if status {
		// CONFIRMED: the kernel refuses to clear it on an entry it
		// has made confirmed already (libnetfilter_conntrack sets it
		// too); the NAT bits it sets itself.
		st := uint32(ipsConfirmed)
		if e.Assured {
			st |= ipsAssured
		}
		if e.SeenReply {
			st |= ipsSeenReply
		}
		ae.Uint32(ctaStatus, st)
	}
	ae.Uint32(ctaTimeout, e.Timeout)
	if e.Mark != 0 {
		ae.Uint32(ctaMark, e.Mark)
	}
	switch e.Proto {
	case ProtoTCP:
		ae.Nested(ctaProtoinfo, func(nae *netlink.AttributeEncoder) error {
			nae.Nested(ctaInfoTCP, func(tae *netlink.AttributeEncoder) error {
				tae.Uint8(ctaTCPState, e.State)
				// The backup never saw the window scaling and
				// sequence numbers: without "be liberal" its
				// window tracking would judge mid-stream
				// packets invalid. (conntrackd does the same.)
				tae.Bytes(ctaTCPFlagsO, []byte{tcpBeLiberal, tcpBeLiberal})
				tae.Bytes(ctaTCPFlagsR, []byte{tcpBeLiberal, tcpBeLiberal})
				return nil
			})
			return nil
		})
	case ProtoSCTP:
		ae.Nested(ctaProtoinfo, func(nae *netlink.AttributeEncoder) error {
			nae.Nested(ctaInfoSCTP, func(sae *netlink.AttributeEncoder) error {
				sae.Uint8(ctaSCTPState, e.State)
				if e.HasVTags {
					sae.Uint32(ctaSCTPVTagO, e.VTagOrig)
					sae.Uint32(ctaSCTPVTagR, e.VTagReply)
				}
				return nil
			})
			return nil
		})
	}
	if create {
		// DNAT to the reply's source (and SNAT to its destination,
		// where the master masquerades too). Without them the kernel
		// would keep the reply tuple but translate nothing: it sets
		// the NAT status bits only through its own NAT set-up.
		if e.Reply.Src != e.Orig.Dst {
			encodeNAT(ae, ctaNatDst, e.Reply.Src)
		}
		if e.Reply.Dst != e.Orig.Src {
			encodeNAT(ae, ctaNatSrc, e.Reply.Dst)
		}
	}
	return ae.Encode()
}

// encodeNAT asks for NAT to exactly this address and port.
func encodeNAT(ae *netlink.AttributeEncoder, typ uint16, to netip.AddrPort) {
	ae.Nested(typ, func(nae *netlink.AttributeEncoder) error {
		if to.Addr().Is4() {
			nae.Bytes(ctaNatV4Min, to.Addr().AsSlice())
			nae.Bytes(ctaNatV4Max, to.Addr().AsSlice())
		} else {
			nae.Bytes(ctaNatV6Min, to.Addr().AsSlice())
			nae.Bytes(ctaNatV6Max, to.Addr().AsSlice())
		}
		nae.Nested(ctaNatProto, func(pae *netlink.AttributeEncoder) error {
			pae.Uint16(ctaNatPortMin, to.Port())
			pae.Uint16(ctaNatPortMax, to.Port())
			return nil
		})
		return nil
	})
}
