package config

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
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
	ignore := cmp.Options{cmpopts.IgnoreTypes(Pos{}), cmpopts.IgnoreFields(Config{}, "Warnings"),
		// A sync group's track_interface is shown, and read back, in its members.
		cmpopts.IgnoreFields(SyncGroup{}, "TrackInterfaces"), cmpopts.EquateEmpty(), cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{}, netip.AddrPort{}),
		cmp.Comparer(func(a, b *regexp.Regexp) bool {
			return a == nil && b == nil || a != nil && b != nil && a.String() == b.String()
		})}
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
  script_user nobody nogroup
  enable_script_security
  vrrp_startup_delay 1.5
}
vrrp_script chk_haproxy {
  script "/usr/bin/killall -0 'ha proxy' x\\ y"
  interval 2
  fall 3
  rise 2
  weight -30 reverse
  user root
  init_fail
}
vrrp_script chk_group {
  script /bin/true
  timeout 5
}
vrrp_sync_group G {
  group {
    V4
    V6
  }
  track_script {
    chk_group weight 5
  }
  track_interface {
    eth9 weight -7
    eth8
  }
  notify_master "/usr/bin/logger group master"
  notify "/usr/bin/logger -t it" root
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
  track_script {
    chk_haproxy
  }
  notify_backup "/usr/bin/logger 'to backup'" nobody nogroup
  notify_fault /usr/bin/true
  notify_stop "/usr/bin/logger stop"
  notify_master_rx_lower_pri /usr/bin/true
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
  track_script {
    chk_haproxy weight 0
  }
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

// A script's words come back from the dump whatever they hold.
func TestScriptTextRoundTrip(t *testing.T) {
	for _, argv := range [][]string{
		{"/bin/echo", "a b", `c\d`, `"q"`, "it's", "", "tab\there", "new\nline", `\\`, "#!{}$x"},
		{"/usr/bin/test", "-f", "/run/x y"},
	} {
		conf := "vrrp_script s {\n script " + scriptText(argv) + "\n}\n" +
			"vrrp_instance V {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n  192.0.2.1\n }\n notify " + scriptText(argv) + " root\n}\n"
		cfg, _, err := load(t, conf)
		if err != nil {
			t.Fatalf("%q: %v\n%s", argv, err, conf)
		}
		if got := cfg.Scripts[0].Command.Argv; !slices.Equal(got, argv) {
			t.Errorf("script: %q came back as %q from\n%s", argv, got, conf)
		}
		if got := cfg.Instances[0].Notify.Generic.Argv; !slices.Equal(got, argv) || cfg.Instances[0].Notify.Generic.User != "root" {
			t.Errorf("notify: %q came back as %q from\n%s", argv, got, conf)
		}
	}
}
