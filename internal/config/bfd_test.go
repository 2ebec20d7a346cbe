package config

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestBFDInstances(t *testing.T) {
	conf := `bfd_instance a {
 neighbour_ip 192.0.2.2
 source_ip 192.0.2.1
 min_rx 3.5
 min_tx 20
 idle_tx 2000
 multiplier 3
 passive
 max_hops 300
 weight -30 reverse
 vrrp
}
bfd_instance b {
 neighbor_ip fd00::2
}
vrrp_instance I {
 interface eth0
 virtual_router_id 1
 virtual_ipaddress {
  192.0.2.100
 }
 track_bfd {
  a
  b weight 10
 }
}
`
	_, _, err := load(t, conf)
	if err == nil || !strings.Contains(err.Error(), `max_hops "300"`) {
		t.Fatalf("want the max_hops error, got %v", err)
	}
	cfg, _, err := load(t, strings.Replace(conf, "max_hops 300", "max_hops 2", 1))
	if err != nil {
		t.Fatal(err)
	}
	a, b := cfg.BFD("a"), cfg.BFD("b")
	if a.Neighbor != netip.MustParseAddr("192.0.2.2") || a.Source != netip.MustParseAddr("192.0.2.1") || a.MinRx != 3500*time.Microsecond ||
		a.MinTx != 20*time.Millisecond || a.IdleTx != 2*time.Second || a.Multiplier != 3 || !a.Passive || a.TTL != 255 || a.MaxHops != 2 ||
		a.Weight != -30 || !a.Reverse {
		t.Errorf("a: %+v", a)
	}
	if b.TTL != 64 || b.MinRx != 10*time.Millisecond || b.IdleTx != time.Second || b.Multiplier != 5 {
		t.Errorf("b: %+v", b)
	}
	in := cfg.Instances[0]
	if len(in.TrackBFDs) != 2 || in.TrackBFDs[0].Weight != -30 || !in.TrackBFDs[0].Reverse || in.TrackBFDs[1].Weight != 10 {
		t.Errorf("tracked: %+v", in.TrackBFDs)
	}
	for _, c := range []struct{ conf, want string }{
		{"bfd_instance x {\n neighbor_ip 192.0.2.1\n source_ip fd00::1\n}\n", "different families"},
		{"bfd_instance x {\n neighbor_ip 192.0.2.1\n idle_tx 500\n}\n", "idle_tx \"500\""},
		{"bfd_instance x {\n neighbor_ip 192.0.2.1\n}\nbfd_instance y {\n neighbor_ip 192.0.2.1\n}\n", "another bfd_instance has neighbor_ip 192.0.2.1"},
		{"vrrp_instance I {\n interface eth0\n virtual_router_id 1\n track_bfd {\n  z\n }\n virtual_ipaddress {\n  192.0.2.1\n }\n}\n", "no bfd_instance z is defined"},
	} {
		if _, _, err := load(t, c.conf); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.conf, err, c.want)
		}
	}
}
