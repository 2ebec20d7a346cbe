package main

import (
	"flag"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/vipd/vipd/internal/vrrp"
	"github.com/vipd/vipd/internal/vrrp/sim"
)

// simulate tells the failover story on the simulator: three routers and a
// client probing the virtual address every 10 ms; the master is stopped,
// another is killed, both come back.
func simulate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vipd simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	seed := fs.Uint64("seed", 1, "seed for the virtual network's random delays")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := tellStory(*seed, stdout); err != nil {
		fmt.Fprintln(stderr, "vipd simulate:", err)
		return 1
	}
	return 0
}

func tellStory(seed uint64, w io.Writer) error {
	vip := netip.MustParseAddr("198.18.0.100")
	s := sim.New(seed)
	s.Net = sim.Impairments{Delay: 200 * time.Microsecond, Jitter: 300 * time.Microsecond}
	s.OnEvent = func(e sim.Event) {
		a := e.Action
		switch {
		case a.Kind == vrrp.Transition:
			fmt.Fprintf(w, "  %9.3fs  %s (%s) Entering %v STATE (%v)\n", e.At.Seconds(), e.Host, e.Instance, a.To, a.Reason)
		case a.Kind == vrrp.AddAddresses:
			fmt.Fprintf(w, "  %9.3fs  %s adds %v\n", e.At.Seconds(), e.Host, vip)
		case a.Kind == vrrp.RemoveAddresses:
			fmt.Fprintf(w, "  %9.3fs  %s removes %v\n", e.At.Seconds(), e.Host, vip)
		case a.Kind == vrrp.SendAdvert && a.Priority == vrrp.PriorityStop:
			fmt.Fprintf(w, "  %9.3fs  %s advertises priority 0\n", e.At.Seconds(), e.Host)
		case e.Note != "" && e.Drop == nil:
			fmt.Fprintf(w, "  %9.3fs  %s %s\n", e.At.Seconds(), e.Host, e.Note)
		}
	}
	for i, prio := range []uint8{200, 150, 100} {
		c := vrrp.DefaultConfig()
		c.Name, c.VRID, c.Version, c.Priority = "VI_1", 42, 3, prio
		c.Addrs = []netip.Addr{vip}
		name := fmt.Sprintf("router%d", i+1)
		a4 := netip.AddrFrom4([4]byte{198, 18, 0, byte(i + 1)})
		a6 := netip.MustParseAddr(fmt.Sprintf("fe80::%d", i+1))
		if _, err := s.AddHost(name, a4, a6, []vrrp.Config{c}, nil); err != nil {
			return err
		}
		fmt.Fprintf(w, "%s %v: vrrp_instance VI_1 { virtual_router_id 42 version 3 priority %d advert_int 1 virtual_ipaddress { %v } }\n",
			name, a4, prio, vip)
	}
	fmt.Fprintln(w, "client probes", vip, "every 10ms")
	s.Client.Probe(vip, 10*time.Millisecond)
	host := func(name string) *sim.Host { h, _ := s.Host(name); return h }
	steps := []struct {
		title string
		do    func() error
		wait  time.Duration
	}{
		{"start all three routers", func() error {
			for _, h := range s.Hosts() {
				if err := h.Start(); err != nil {
					return err
				}
			}
			return nil
		}, 6 * time.Second},
		{"stop router1 gracefully (SIGTERM)", host("router1").Stop, 6 * time.Second},
		{"kill router2 (SIGKILL)", func() error { host("router2").Kill(); return nil }, 6 * time.Second},
		{"start router2 again", host("router2").Start, 6 * time.Second},
		{"start router1 again", host("router1").Start, 6 * time.Second},
	}
	for _, st := range steps {
		fmt.Fprintf(w, "\n== %s\n", st.title)
		s.Client.Reset()
		if err := st.do(); err != nil {
			return err
		}
		s.Advance(st.wait)
		ps := s.Client.Finish()
		fmt.Fprintf(w, "  probes lost: %d of %d, longest gap %v, client sends to %s\n",
			ps.Lost, ps.Sent, ps.LongestGap, s.Client.Owner(vip))
	}
	fmt.Fprintln(w, "\n(simulated: virtual clock and LAN, the real protocol core and codec)")
	return nil
}
