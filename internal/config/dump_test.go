package config

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// roundTrip dumps cfg, reads the dump back and requires the same
// configuration: the dump leaves nothing out.
func roundTrip(t *testing.T, name string, cfg *Config) {
	t.Helper()
	var b bytes.Buffer
	if err := cfg.Dump(&b); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "dump.conf")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	again, err := Load(p, Options{ConfigID: "test"})
	if err != nil {
		t.Fatalf("%s: the dump does not load: %v\n%s", name, err, b.String())
	}
	ignore := cmp.Options{cmpopts.IgnoreTypes(Pos{}), cmpopts.IgnoreFields(Config{}, "Warnings"), cmpopts.EquateEmpty(), cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})}
	if diff := cmp.Diff(cfg, again, ignore); diff != "" {
		t.Errorf("%s: the dump reads back differently (-before +after):\n%s\ndump:\n%s", name, diff, b.String())
	}
}

func TestDumpRoundTrip(t *testing.T) {
	cfg, _, err := load(t, `global_defs {
  router_id "lb 1"
  umask IWGRP | IWOTH|IROTH
  vrrp_version 3
  vrrp_mcast_group4 224.0.0.19
  vrrp_garp_interval 0.002
  vrrp_garp_master_refresh 60
}
vrrp_sync_group G {
  group {
    V4
    V6
  }
}
vrrp_instance V4 {
  state MASTER
  interface eth1
  virtual_router_id 42
  priority 200
  advert_int 0.5
  preempt_delay 3
  no_accept
  unicast_src_ip 192.0.2.11
  unicast_peer {
    192.0.2.12
  }
  garp_extra_if all 30
  track_interface {
    eth3
    eth4 weight -20
    eth5 weight 10 reverse
  }
  use_vmac vrrp42
  lower_prio_no_advert
  virtual_ipaddress {
    192.0.2.50/24 brd + dev eth1 scope link label eth1:vip
    192.0.2.51
  }
  virtual_ipaddress_excluded {
    2001:db8::5/64
  }
}
vrrp_instance V6 {
  interface eth2
  virtual_router_id 43
  nopreempt
  down_timer_adverts 5
  virtual_ipaddress {
    fe80::1/64
    2001:db8:1::1
  }
}
`)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, "rich", cfg)
}

// Every corpus file vipd loads dumps and reads back the same.
func TestDumpRoundTripCorpus(t *testing.T) {
	n := 0
	for _, f := range readCorpus(t) {
		cfg, err := Load(f.path, corpusOptions)
		if err != nil || cfg.Validate() != nil {
			continue
		}
		n++
		roundTrip(t, f.name, cfg)
	}
	t.Logf("%d corpus files dumped and read back", n)
}
