package check

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"net"
	"sync/atomic"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Ping is PING_CHECK: one ICMP (ICMPv6) echo request carrying 128 bytes
// of keepalived's filler text; the real server passes when the echo
// reply comes within connect_timeout.
//
// keepalived uses an unprivileged ping socket, which makes the kernel
// pick the identifier and deliver only matching replies, and ignores
// bindto, bind_if and fwmark for this checker. vipd runs as root and uses
// a raw socket: the identifier is random, a reply must match it, the
// sequence number and the address; bindto, bind_if and fwmark apply; and
// a destination unreachable error quoting the request fails the attempt
// at once rather than at the timeout.
type Ping struct {
	Dial
}

// pingPayload is the size of the data after the echo header.
const pingPayload = 128

var pingSeq atomic.Uint32

// Probe sends the echo request and waits for its reply.
func (p *Ping) Probe(ctx context.Context) Result {
	dst := p.Addr.Addr().Unmap()
	if !dst.IsValid() {
		return local("ICMP check: no address")
	}
	if r := p.checkFamily("ICMP check"); r != nil {
		return *r
	}
	v4 := dst.Is4()
	network, laddr := "ip6:ipv6-icmp", "::"
	if v4 {
		network, laddr = "ip4:icmp", "0.0.0.0"
	}
	if p.BindAddr.IsValid() {
		laddr = p.BindAddr.Unmap().String()
	}
	lc := net.ListenConfig{Control: p.control(false)}
	pc, err := lc.ListenPacket(ctx, network, laddr)
	if err != nil {
		return dialFailure(ctx, "ICMP connection", err)
	}
	defer pc.Close()
	stop := closeOnDone(ctx, pc)
	defer stop()
	if !v4 {
		var f ipv6.ICMPFilter
		f.SetAll(true)
		f.Accept(ipv6.ICMPTypeEchoReply)
		f.Accept(ipv6.ICMPTypeDestinationUnreachable)
		ipv6.NewPacketConn(pc).SetICMPFilter(&f) // only less noise if it fails
	}

	id := int(rand.Uint32() & 0xffff)
	seq := int(pingSeq.Add(1) & 0xffff)
	var typ icmp.Type = ipv4.ICMPTypeEcho
	if !v4 {
		typ = ipv6.ICMPTypeEchoRequest
	}
	msg := icmp.Message{Type: typ, Body: &icmp.Echo{ID: id, Seq: seq, Data: fill(pingPayload)}}
	wire, err := msg.Marshal(nil) // ICMPv6: the kernel sums it
	if err != nil {
		return local("ICMP check: %v", err)
	}
	to := &net.IPAddr{IP: dst.AsSlice(), Zone: dst.Zone()}
	if to.Zone == "" && !v4 && dst.IsLinkLocalUnicast() {
		to.Zone = p.BindIf
	}
	pc.SetDeadline(time.Now().Add(p.timeout()))
	if _, err := pc.WriteTo(wire, to); err != nil {
		return ioFailure(ctx, "ICMP send timeout", "ICMP send failed", err)
	}
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return ioFailure(ctx, "ICMP connection timeout", "ICMP receive failed", err)
		}
		src, _ := from.(*net.IPAddr)
		switch pingReply(buf[:n], v4, id, seq) {
		case pingEchoReply:
			if src != nil && src.IP.Equal(to.IP) {
				return ok()
			}
		case pingUnreachable:
			return fail("ICMP destination unreachable (from %v)", from)
		}
	}
}

// Kinds of ICMP message a ping waits among.
const (
	pingOther = iota
	pingEchoReply
	pingUnreachable
)

// pingReply says what an ICMP message (from the ICMP header on) is to the
// echo request id/seq: its reply, a destination unreachable error quoting
// it, or neither.
func pingReply(b []byte, v4 bool, id, seq int) int {
	proto := 1
	if !v4 {
		proto = 58
	}
	m, err := icmp.ParseMessage(proto, b)
	if err != nil {
		return pingOther
	}
	switch body := m.Body.(type) {
	case *icmp.Echo:
		if (m.Type == ipv4.ICMPTypeEchoReply || m.Type == ipv6.ICMPTypeEchoReply) && body.ID == id && body.Seq == seq {
			return pingEchoReply
		}
	case *icmp.DstUnreach:
		if quotesEcho(body.Data, v4, id, seq) {
			return pingUnreachable
		}
	}
	return pingOther
}

// quotesEcho reports whether the packet an ICMP error quotes is our echo
// request.
func quotesEcho(q []byte, v4 bool, id, seq int) bool {
	var hdr int
	var echo byte
	if v4 {
		if len(q) < 20 || q[0]>>4 != 4 || q[9] != 1 {
			return false
		}
		hdr, echo = int(q[0]&0x0f)*4, byte(ipv4.ICMPTypeEcho)
	} else {
		if len(q) < 40 || q[0]>>4 != 6 || q[6] != 58 {
			return false
		}
		hdr, echo = 40, byte(ipv6.ICMPTypeEchoRequest)
	}
	if hdr < 20 || len(q) < hdr+8 {
		return false
	}
	e := q[hdr:]
	return e[0] == echo && int(binary.BigEndian.Uint16(e[4:])) == id && int(binary.BigEndian.Uint16(e[6:])) == seq
}
