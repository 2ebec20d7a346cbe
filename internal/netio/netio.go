// Package netio sends and receives VRRP adverts: raw IP protocol 112
// sockets, multicast membership on the instance's interface, TTL / hop
// limit 255 on everything sent, and the TTL, destination and interface of
// everything received, which the protocol core checks.
package netio

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/vipd/vipd/internal/vrrp"
)

// Conn is a raw VRRP socket for one address family.
type Conn struct {
	ipv6 bool
	raw  net.PacketConn
	c4   *ipv4.PacketConn
	c6   *ipv6.PacketConn
}

// Received is one packet off the wire.
type Received struct {
	IfIndex  int
	Src, Dst netip.Addr
	HopLimit uint8
	Payload  []byte // the VRRP message, IP header removed
	// IPHeader is the IPv4 header of an AH packet (AHConn), whose
	// Payload is the AH and the advert.
	IPHeader []byte
}

// Listen opens a raw protocol-112 socket for IPv4 or IPv6.
func Listen(ipv6 bool) (*Conn, error) {
	network := "ip4:112"
	if ipv6 {
		network = "ip6:112"
	}
	raw, err := net.ListenPacket(network, "")
	if err != nil {
		return nil, fmt.Errorf("raw VRRP socket (%s): %w", network, err)
	}
	c := &Conn{ipv6: ipv6, raw: raw}
	if err := c.setup(); err != nil {
		raw.Close()
		return nil, err
	}
	return c, nil
}

func (c *Conn) setup() error {
	if c.ipv6 {
		c.c6 = ipv6.NewPacketConn(c.raw)
		return errors.Join(
			c.c6.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagDst|ipv6.FlagInterface, true),
			c.c6.SetMulticastHopLimit(vrrp.TTL),
			c.c6.SetHopLimit(vrrp.TTL),
			c.c6.SetMulticastLoopback(false),
		)
	}
	c.c4 = ipv4.NewPacketConn(c.raw)
	return errors.Join(
		c.c4.SetControlMessage(ipv4.FlagTTL|ipv4.FlagDst|ipv4.FlagInterface, true),
		c.c4.SetMulticastTTL(vrrp.TTL),
		c.c4.SetTTL(vrrp.TTL),
		c.c4.SetMulticastLoopback(false),
	)
}

// Join subscribes the interface to a multicast group.
func (c *Conn) Join(ifi *net.Interface, group netip.Addr) error {
	g := &net.IPAddr{IP: group.AsSlice()}
	if c.ipv6 {
		return c.c6.JoinGroup(ifi, g)
	}
	return c.c4.JoinGroup(ifi, g)
}

// Leave leaves a multicast group on an interface.
func (c *Conn) Leave(ifi *net.Interface, group netip.Addr) error {
	g := &net.IPAddr{IP: group.AsSlice()}
	if c.ipv6 {
		return c.c6.LeaveGroup(ifi, g)
	}
	return c.c4.LeaveGroup(ifi, g)
}

// Read waits for the next packet, into buf.
func (c *Conn) Read(buf []byte) (Received, error) {
	var r Received
	if c.ipv6 {
		n, cm, src, err := c.c6.ReadFrom(buf)
		if err != nil {
			return r, err
		}
		r.Payload = buf[:n]
		r.Src = addrOf(src)
		if cm != nil {
			r.IfIndex, r.HopLimit = cm.IfIndex, uint8(cm.HopLimit)
			r.Dst, _ = netip.AddrFromSlice(cm.Dst)
		}
		return r, nil
	}
	n, cm, src, err := c.c4.ReadFrom(buf)
	if err != nil {
		return r, err
	}
	r.Payload = buf[:n]
	r.Src = addrOf(src)
	if cm != nil {
		r.IfIndex, r.HopLimit = cm.IfIndex, uint8(cm.TTL)
		r.Dst, _ = netip.AddrFromSlice(cm.Dst)
		r.Dst = r.Dst.Unmap()
	}
	return r, nil
}

func addrOf(a net.Addr) netip.Addr {
	if ip, ok := a.(*net.IPAddr); ok {
		addr, _ := netip.AddrFromSlice(ip.IP)
		return addr.Unmap()
	}
	return netip.Addr{}
}

// Write sends a VRRP message out of the interface from src to dst (the
// multicast group or a unicast peer), with TTL / hop limit 255.
func (c *Conn) Write(payload []byte, ifi *net.Interface, src, dst netip.Addr) error {
	return c.WriteTTL(payload, ifi, src, dst, vrrp.TTL)
}

// WriteTTL is Write with another TTL / hop limit for a unicast peer
// (unicast_ttl); multicast always goes with 255.
func (c *Conn) WriteTTL(payload []byte, ifi *net.Interface, src, dst netip.Addr, ttl uint8) error {
	if dst.IsMulticast() {
		ttl = vrrp.TTL
	}
	to := &net.IPAddr{IP: dst.AsSlice()}
	if c.ipv6 {
		if dst.IsLinkLocalMulticast() || dst.IsLinkLocalUnicast() {
			// By index: a name would be looked up in the caller's namespace.
			to.Zone = strconv.Itoa(ifi.Index)
		}
		_, err := c.c6.WriteTo(payload, &ipv6.ControlMessage{IfIndex: ifi.Index, Src: src.AsSlice(), HopLimit: int(ttl)}, to)
		return err
	}
	if dst.IsMulticast() {
		if err := c.c4.SetMulticastInterface(ifi); err != nil {
			return err
		}
	}
	if ttl != vrrp.TTL {
		// Linux takes no TTL with the packet on an IPv4 raw socket: set
		// it on the socket for this one (only the loop writes).
		if err := c.c4.SetTTL(int(ttl)); err != nil {
			return err
		}
		defer c.c4.SetTTL(vrrp.TTL)
	}
	_, err := c.c4.WriteTo(payload, &ipv4.ControlMessage{IfIndex: ifi.Index, Src: src.AsSlice()}, to)
	return err
}

// Close closes the socket, ending a blocked Read.
func (c *Conn) Close() error { return c.raw.Close() }

// AHConn is a raw IPv4 socket for VRRPv2 adverts in an IPsec
// Authentication Header (IP protocol 51, keepalived's auth_type AH): the
// AH's ICV covers the IP header, so packets are sent and received whole.
type AHConn struct {
	raw net.PacketConn
	rc  *ipv4.RawConn
}

// ListenAH opens the raw protocol-51 socket.
func ListenAH() (*AHConn, error) {
	raw, err := net.ListenPacket("ip4:51", "")
	if err != nil {
		return nil, fmt.Errorf("raw IPsec AH socket: %w", err)
	}
	rc, err := ipv4.NewRawConn(raw)
	if err == nil {
		err = errors.Join(rc.SetControlMessage(ipv4.FlagDst|ipv4.FlagInterface, true), rc.SetMulticastLoopback(false))
	}
	if err != nil {
		raw.Close()
		return nil, err
	}
	return &AHConn{raw: raw, rc: rc}, nil
}

// Join subscribes the interface to a multicast group.
func (c *AHConn) Join(ifi *net.Interface, group netip.Addr) error {
	return c.rc.JoinGroup(ifi, &net.IPAddr{IP: group.AsSlice()})
}

// Read waits for the next packet: its IPv4 header apart, the AH and the
// advert as payload.
func (c *AHConn) Read(buf []byte) (Received, error) {
	var r Received
	h, p, cm, err := c.rc.ReadFrom(buf)
	if err != nil {
		return r, err
	}
	hdr, err := h.Marshal()
	if err != nil {
		return r, err
	}
	r.IPHeader, r.Payload, r.HopLimit = hdr, p, uint8(h.TTL)
	r.Src, _ = netip.AddrFromSlice(h.Src.To4())
	r.Dst, _ = netip.AddrFromSlice(h.Dst.To4())
	if cm != nil {
		r.IfIndex = cm.IfIndex
	}
	return r, nil
}

// Write sends a whole IPv4 packet out of the interface, its header as it
// is (the kernel fills in the checksum).
func (c *AHConn) Write(pkt []byte, ifi *net.Interface) error {
	h, err := ipv4.ParseHeader(pkt)
	if err != nil {
		return err
	}
	if h.Dst.IsMulticast() {
		if err := c.rc.SetMulticastInterface(ifi); err != nil {
			return err
		}
	}
	return c.rc.WriteTo(h, pkt[h.Len:], &ipv4.ControlMessage{IfIndex: ifi.Index})
}

// Close closes the socket, ending a blocked Read.
func (c *AHConn) Close() error { return c.raw.Close() }
