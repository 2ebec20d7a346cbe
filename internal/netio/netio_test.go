package netio

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vipd/vipd/internal/netlab"
	"github.com/vipd/vipd/internal/vrrp"
)

// TestAdvertsCrossTheWire sends real adverts between two namespaces over
// a bridge, multicast and unicast, IPv4 and IPv6, and checks what the
// receiver learns: source, destination, interface and TTL 255.
func TestAdvertsCrossTheWire(t *testing.T) {
	netlab.NeedRoot(t)
	lab, err := netlab.New("vipdnetio")
	if err != nil {
		t.Fatal(err)
	}
	defer lab.Close()
	a4, b4 := netip.MustParsePrefix("198.18.7.1/24"), netip.MustParsePrefix("198.18.7.2/24")
	a6, b6 := netip.MustParsePrefix("fd00:198:18:7::1/64"), netip.MustParsePrefix("fd00:198:18:7::2/64")
	ha, err := lab.AddHost("a", a4, a6)
	if err != nil {
		t.Fatal(err)
	}
	hb, err := lab.AddHost("b", b4, b6)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		ipv6     bool
		src, dst netip.Addr
		group    netip.Addr
	}{
		{"ipv4 multicast", false, a4.Addr(), vrrp.GroupIPv4, vrrp.GroupIPv4},
		{"ipv4 unicast", false, a4.Addr(), b4.Addr(), vrrp.GroupIPv4},
		{"ipv6 multicast", true, a6.Addr(), vrrp.GroupIPv6, vrrp.GroupIPv6},
		{"ipv6 unicast", true, a6.Addr(), b6.Addr(), vrrp.GroupIPv6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tx, rx *Conn
			var ifA, ifB *net.Interface
			open := func(h *netlab.Host, join bool, conn **Conn, ifi **net.Interface) {
				if err := h.Do(func() error {
					var err error
					if *ifi, err = net.InterfaceByName("eth0"); err != nil {
						return err
					}
					if *conn, err = Listen(tc.ipv6); err != nil {
						return err
					}
					if join {
						return (*conn).Join(*ifi, tc.group)
					}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
			}
			open(ha, false, &tx, &ifA)
			defer tx.Close()
			open(hb, true, &rx, &ifB)
			defer rx.Close()

			adv := vrrp.Advert{Version: 3, VRID: 9, Priority: 200, Interval: 100, IPv6: tc.ipv6,
				Addrs: []netip.Addr{netip.MustParseAddr("198.18.7.100")}}
			if tc.ipv6 {
				adv.Addrs = []netip.Addr{netip.MustParseAddr("fd00:198:18:7::100")}
			}
			payload, err := adv.AppendBinary(nil, vrrp.PseudoHeader{Src: tc.src, Dst: tc.dst})
			if err != nil {
				t.Fatal(err)
			}
			got := make(chan Received, 1)
			go func() {
				buf := make([]byte, 1500)
				for {
					r, err := rx.Read(buf)
					if err != nil {
						close(got)
						return
					}
					if r.Src == tc.src {
						r.Payload = bytes.Clone(r.Payload)
						got <- r
						return
					}
				}
			}()
			// Send a few times: the first multicast packet may race the join.
			deadline := time.After(5 * time.Second)
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				if err := tx.Write(payload, ifA, tc.src, tc.dst); err != nil {
					t.Fatal(err)
				}
				select {
				case r, ok := <-got:
					if !ok {
						t.Fatal("receiver closed")
					}
					if r.Dst != tc.dst || r.HopLimit != vrrp.TTL || r.IfIndex != ifB.Index || !bytes.Equal(r.Payload, payload) {
						t.Fatalf("received %+v, want dst %v ttl 255 ifindex %d payload %x", r, tc.dst, ifB.Index, payload)
					}
					if !vrrp.VerifyChecksum(r.Payload, vrrp.PseudoHeader{Src: r.Src, Dst: r.Dst}) {
						t.Fatal("checksum does not verify at the receiver")
					}
					return
				case <-tick.C:
				case <-deadline:
					t.Fatal("nothing received in 5s")
				}
			}
		})
	}
}
