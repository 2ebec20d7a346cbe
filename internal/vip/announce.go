package vip

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
	"golang.org/x/net/ipv6"
)

// Announce tells the LAN that the addresses now live behind the
// interface's MAC: rounds of gratuitous ARP (RFC 5227 announcements) for
// IPv4 and unsolicited, overriding neighbour advertisements to all nodes
// for IPv6, all at once. The sockets are opened per burst: bursts are
// rare, and an interface that was re-created (a VMAC) is picked up by name.
func Announce(dev string, addrs []netip.Addr, rounds int) error {
	return burst(dev, addrs, rounds, unpaced{})
}

// kind is a kind of announcement; each has its own pace.
type kind int

const (
	garp kind = iota // gratuitous ARP
	gna              // unsolicited neighbour advertisement
)

// pacer spaces messages: wait is called before each (an error ends the
// burst) and sent once it has left, so that the spacing is counted from
// when it left, however late a loaded machine let it go.
type pacer interface {
	wait(kind) error
	sent(kind)
}

type unpaced struct{}

func (unpaced) wait(kind) error { return nil }
func (unpaced) sent(kind)       {}

// burst sends rounds of announcements, paced.
func burst(dev string, addrs []netip.Addr, rounds int, pace pacer) error {
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		return fmt.Errorf("announce on %s: %w", dev, err)
	}
	var v4, v6 []netip.Addr
	for _, a := range addrs {
		if a.Is4() {
			v4 = append(v4, a)
		} else {
			v6 = append(v6, a)
		}
	}
	var errs []error
	if len(v4) > 0 {
		errs = append(errs, gratuitousARP(ifi, v4, rounds, pace))
	}
	if len(v6) > 0 {
		errs = append(errs, unsolicitedNA(ifi, v6, rounds, pace))
	}
	return errors.Join(errs...)
}

func gratuitousARP(ifi *net.Interface, addrs []netip.Addr, rounds int, pace pacer) error {
	// Protocol 0: this socket only sends, so nothing queues up on it.
	c, err := packet.Listen(ifi, packet.Raw, 0, nil)
	if err != nil {
		return fmt.Errorf("gratuitous ARP on %s: %w", ifi.Name, err)
	}
	defer c.Close()
	frames := make([][]byte, 0, len(addrs))
	for _, a := range addrs {
		// An announcement: a request for our own address, target
		// hardware address zero (RFC 5227 §2.3).
		p, err := arp.NewPacket(arp.OperationRequest, ifi.HardwareAddr, a, ethernet.Broadcast, a)
		if err != nil {
			return err
		}
		p.TargetHardwareAddr = make(net.HardwareAddr, len(ifi.HardwareAddr))
		pb, err := p.MarshalBinary()
		if err != nil {
			return err
		}
		f := &ethernet.Frame{Destination: ethernet.Broadcast, Source: ifi.HardwareAddr, EtherType: ethernet.EtherTypeARP, Payload: pb}
		fb, err := f.MarshalBinary()
		if err != nil {
			return err
		}
		frames = append(frames, fb)
	}
	to := &packet.Addr{HardwareAddr: ethernet.Broadcast}
	for range rounds {
		for _, fb := range frames {
			if err := pace.wait(garp); err != nil {
				return err
			}
			if _, err := c.WriteTo(fb, to); err != nil {
				return fmt.Errorf("gratuitous ARP on %s: %w", ifi.Name, err)
			}
			pace.sent(garp)
		}
	}
	return nil
}

var allNodes = netip.MustParseAddr("ff02::1")

func unsolicitedNA(ifi *net.Interface, addrs []netip.Addr, rounds int, pace pacer) error {
	c, _, err := ndp.Listen(ifi, ndp.LinkLocal)
	if err != nil {
		return fmt.Errorf("neighbour advertisement on %s: %w", ifi.Name, err)
	}
	defer c.Close()
	// Send only: let no ICMPv6 queue up on this socket.
	var block ipv6.ICMPFilter
	block.SetAll(true)
	if err := c.SetICMPFilter(&block); err != nil {
		return err
	}
	for range rounds {
		for _, a := range addrs {
			na := &ndp.NeighborAdvertisement{
				Override:      true,
				TargetAddress: a,
				Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: ifi.HardwareAddr}},
			}
			if err := pace.wait(gna); err != nil {
				return err
			}
			if err := c.WriteTo(na, nil, allNodes); err != nil {
				return fmt.Errorf("neighbour advertisement on %s: %w", ifi.Name, err)
			}
			pace.sent(gna)
		}
	}
	return nil
}
