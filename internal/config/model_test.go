package config

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vipd/vipd/internal/vrrp"
)

func load(t *testing.T, conf string) (cfg *Config, dir string, err error) {
	t.Helper()
	dir = writeFiles(t, map[string]string{"keepalived.conf": conf})
	cfg, err = Load(filepath.Join(dir, "keepalived.conf"), Options{ConfigID: "test"})
	return cfg, dir, err
}

// The pair from the issue: it must load unchanged.
func TestLoadTypicalPair(t *testing.T) {
	cfg, _, err := load(t, `global_defs {
    router_id lb1
}
vrrp_instance VI_WEB {
    state MASTER
    interface eth1
    virtual_router_id 42
    priority 200
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass s3cret
    }
    virtual_ipaddress {
        192.0.2.50/24 dev eth1 label eth1:vip
    }
    unicast_src_ip 192.0.2.11
    unicast_peer {
        192.0.2.12
    }
}
`)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Global.RouterID != "lb1" || len(cfg.Instances) != 1 {
		t.Fatalf("%+v", cfg)
	}
	in := cfg.Instances[0]
	want := vrrp.DefaultConfig()
	want.Name, want.Interface, want.VRID, want.Priority, want.WantMaster = "VI_WEB", "eth1", 42, 200, true
	want.AuthType, want.AuthPass = vrrp.AuthPass, [8]byte{'s', '3', 'c', 'r', 'e', 't'}
	want.Source = netip.MustParseAddr("192.0.2.11")
	want.Addrs = []netip.Addr{netip.MustParseAddr("192.0.2.50")}
	got := in.VRRP
	if got.Name != want.Name || got.Interface != want.Interface || got.VRID != want.VRID ||
		got.Priority != want.Priority || !got.WantMaster || got.AuthType != want.AuthType ||
		got.AuthPass != want.AuthPass || got.Source != want.Source || len(got.Addrs) != 1 ||
		got.Addrs[0] != want.Addrs[0] || got.Version != 2 || got.Interval != time.Second ||
		got.Group != vrrp.GroupIPv4 || got.GARPMasterDelay != 5*time.Second || got.GARPMasterRepeat != 5 {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	vip := in.VIPs[0]
	if vip.Prefix != netip.MustParsePrefix("192.0.2.50/24") || vip.Dev != "eth1" || vip.Label != "eth1:vip" {
		t.Errorf("VIP %+v", vip)
	}
	if len(in.UnicastPeers) != 1 || in.UnicastPeers[0] != netip.MustParseAddr("192.0.2.12") {
		t.Errorf("peers %v", in.UnicastPeers)
	}
}

func TestLoadInheritsGlobalDefs(t *testing.T) {
	cfg, _, err := load(t, `global_defs {
  vrrp_version 3
  vrrp_mcast_group4 224.0.0.19
  vrrp_mcast_group6 ff02::13
  vrrp_garp_master_delay 2
  vrrp_garp_master_repeat 3
  vrrp_skip_check_adv_addr
}
vrrp_instance V4 {
  interface eth0
  virtual_router_id 1
  advert_int 0.25
  garp_master_repeat 7
  virtual_ipaddress {
    198.18.0.1
  }
  virtual_ipaddress_excluded {
    2001:db8::1/64
  }
}
vrrp_instance V6 {
  interface eth0
  virtual_router_id 1
  virtual_ipaddress {
    fe80::1
    2001:db8::100/64
  }
}
vrrp_sync_group G {
  group {
    V4
    V6
  }
}
`)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	v4, v6 := cfg.Instances[0].VRRP, cfg.Instances[1].VRRP
	if v4.Version != 3 || v4.Interval != 250*time.Millisecond || v4.Group != netip.MustParseAddr("224.0.0.19") ||
		v4.GARPMasterDelay != 2*time.Second || v4.GARPMasterRepeat != 7 || v4.GARPLowerPrioRepeat != 3 ||
		!v4.SkipCheckAdvAddr || v4.IPv6 {
		t.Errorf("V4 %+v", v4)
	}
	if !v6.IPv6 || v6.Version != 3 || v6.Group != netip.MustParseAddr("ff02::13") || len(v6.Addrs) != 2 {
		t.Errorf("V6 %+v", v6)
	}
	if len(cfg.SyncGroups) != 1 || strings.Join(cfg.SyncGroups[0].Members, ",") != "V4,V6" {
		t.Errorf("sync groups %+v", cfg.SyncGroups)
	}
}

func TestLoadErrors(t *testing.T) {
	const head = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 5\n"
	const vips = " virtual_ipaddress {\n  198.18.0.1\n }\n}\n"
	tests := []struct {
		name, conf, want string
	}{
		{"unsupported keyword", head + " vrf blue\n" + vips,
			"keyword vrf (keepalived.conf:4) is not supported yet"},
		{"use_ipvlan without an address", head + " use_ipvlan\n" + vips,
			"keepalived.conf:4: use_ipvlan: an IPv4 instance's ipvlan needs an address"},
		{"unsupported top-level keyword", "net_namespace_ipvs foo\n",
			"keyword net_namespace_ipvs (keepalived.conf:1) is not supported yet"},
		{"unsupported forwarding method", "virtual_server 198.18.0.1 80 {\n protocol TCP\n real_server 198.18.0.2 80 {\n  lvs_method TUN type gre csum\n }\n}\n",
			"keyword lvs_method TUN csum (keepalived.conf:3) is not supported yet"},
		{"unknown keyword", head + " priorty 100\n" + vips, "keepalived.conf:4: unknown keyword priorty in vrrp_instance"},
		{"keyword in the wrong block", head + " router_id x\n" + vips,
			"keepalived.conf:4: unknown keyword router_id in vrrp_instance; keepalived accepts it in global_defs"},
		{"duplicate VRID", head + vips + head + vips, "keepalived.conf:8: vrrp_instance VI_1 is defined twice"},
		{"same VRID and interface", head + vips + "vrrp_instance VI_2 {\n interface eth0\n virtual_router_id 5\n" + vips,
			"keepalived.conf:8: vrrp_instance VI_2 uses virtual_router_id 5 on eth0, as VI_1 does (keepalived.conf:1)"},
		{"shared VRID, different addresses", "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 5\n unicast_peer {\n  198.18.0.7\n }\n" + vips +
			"vrrp_instance VI_2 {\n interface eth0\n virtual_router_id 5\n unicast_peer {\n  198.18.0.8\n }\n virtual_ipaddress {\n  198.18.0.1\n  198.18.0.2\n }\n}\n",
			"keepalived.conf:18: vrrp_instance VI_2 and VI_1 (keepalived.conf:1) share virtual_router_id 5 and address 198.18.0.1 but list different addresses"},

		{"bad lower-priority delay", head + " garp_lower_prio_delay x\n garp_lower_prio_repeat -1\n" + vips,
			"keepalived.conf:4: garp_lower_prio_delay \"x\": must be a whole number 0..2147483647\n" +
				"keepalived.conf:5: garp_lower_prio_repeat \"-1\": must be a whole number 0..2147483647"},
		{"priority 0", head + " priority 0\n" + vips, "keepalived.conf:4: priority \"0\": must be a whole number 1..255"},
		{"VRID 300", "vrrp_instance VI_1 {\n virtual_router_id 300\n" + vips, "keepalived.conf:2: virtual_router_id \"300\""},
		{"no VRID", "vrrp_instance VI_1 {\n" + vips, "keepalived.conf:1: vrrp_instance VI_1: virtual_router_id is required"},

		{"preempt_delay", head + " preempt_delay 2000\n" + vips, "keepalived.conf:4: preempt_delay \"2000\""},
		{"mixed families", head + " virtual_ipaddress {\n  198.18.0.1\n  fd00::1\n }\n}\n", "keepalived.conf:6: virtual_ipaddress fd00::1: all virtual addresses"},
		{"bad address", head + " virtual_ipaddress {\n  300.1.1.1\n }\n}\n", "keepalived.conf:5: virtual address \"300.1.1.1\""},
		{"unknown route option", head + vips[:len(vips)-2] + " virtual_routes {\n  198.18.1.0/24 dev eth0 foo\n }\n}\n",
			"keepalived.conf:8: route: \"foo\" is neither an address nor a route keyword"},
		{"sync group member", head + vips + "vrrp_sync_group G {\n group {\n  VI_1\n  VI_9\n }\n}\n", "keepalived.conf:8: vrrp_sync_group G: no vrrp_instance VI_9"},
		{"every error is reported", head + " priority 0\n version 4\n" + vips, "keepalived.conf:4: priority \"0\": must be a whole number 1..255\n" +
			"keepalived.conf:5: version \"4\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, dir, err := load(t, tt.conf)
			if err == nil {
				t.Fatal("no error")
			}
			got := strings.ReplaceAll(err.Error(), dir+"/", "")
			if !strings.HasPrefix(got, tt.want) {
				t.Errorf("error\n%s\nwant it to start with\n%s", got, tt.want)
			}
		})
	}
}

// keepalived's readings, with a warning that names the line: nopreempt
// dropped with state MASTER, a VRRPv2 advert_int rounded to whole
// seconds (at least one).
func TestLoadKeepalivedRoundings(t *testing.T) {
	cfg, _, err := load(t, "vrrp_instance VI_1 {\n state MASTER\n nopreempt\n priority 100\n virtual_router_id 5\n advert_int 0.4\n virtual_ipaddress {\n  198.18.0.1\n }\n}\n"+
		"vrrp_instance VI_2 {\n priority 100\n virtual_router_id 6\n advert_int 1.5\n virtual_ipaddress {\n  198.18.0.2\n }\n}\n")
	if err != nil {
		t.Fatal(err)
	}
	var warns []string
	for _, w := range cfg.Warnings {
		warns = append(warns, w.Error())
	}
	all := strings.Join(warns, "\n")
	for _, want := range []string{"keepalived.conf:3: vrrp_instance VI_1: nopreempt does nothing with state MASTER",
		"keepalived.conf:6: advert_int 0.4: VRRPv2 counts whole seconds; 1s is used", "keepalived.conf:14: advert_int 1.5: VRRPv2 counts whole seconds; 2s is used"} {
		if !strings.Contains(all, want) {
			t.Errorf("no warning %q in\n%s", want, all)
		}
	}
	if c := cfg.Instances[0].VRRP; c.NoPreempt || c.Interval != time.Second {
		t.Errorf("VI_1: nopreempt %v, interval %v", c.NoPreempt, c.Interval)
	}
	if c := cfg.Instances[1].VRRP; c.Interval != 2*time.Second {
		t.Errorf("VI_2: interval %v", c.Interval)
	}
}

func TestLoadLongPassword(t *testing.T) {
	_, _, err := load(t, "vrrp_instance VI_1 {\n virtual_router_id 5\n authentication {\n  auth_type PASS\n  auth_pass 123456789\n }\n virtual_ipaddress {\n  198.18.0.1\n }\n}\n")
	if err == nil || !strings.HasSuffix(err.Error(), `keepalived.conf:5: auth_pass is longer than 8 characters: keepalived sends only "12345678"; shorten it to at most 8 on every router`) {
		t.Fatalf("error %v", err)
	}
}

func TestLoadAnnouncementSpacing(t *testing.T) {
	cfg, _, err := load(t, "global_defs {\n vrrp_garp_interval 0.25\n vrrp_gna_interval 1\n}\nvrrp_instance VI_1 {\n virtual_router_id 5\n virtual_ipaddress {\n  198.18.0.1\n }\n}\n")
	if err != nil {
		t.Fatal(err)
	}
	if g := cfg.Global; g.GARPInterval != 250*time.Millisecond || g.GNAInterval != time.Second {
		t.Fatalf("%+v", g)
	}
	_, _, err = load(t, "global_defs {\n vrrp_garp_interval -1\n}\n")
	if err == nil || !strings.Contains(err.Error(), "keepalived.conf:2: vrrp_garp_interval \"-1\"") {
		t.Fatalf("error %v", err)
	}
}

func TestLoadMinGARP(t *testing.T) {
	cfg, _, err := load(t, "global_defs {\n vrrp_min_garp\n}\nvrrp_instance VI_1 {\n virtual_router_id 5\n virtual_ipaddress {\n  198.18.0.1\n }\n}\n")
	if err != nil {
		t.Fatal(err)
	}
	if c := cfg.Instances[0].VRRP; c.GARPMasterRepeat != 1 || c.GARPMasterDelay != 0 {
		t.Fatalf("repeat %d delay %v", c.GARPMasterRepeat, c.GARPMasterDelay)
	}
}

func TestLoadExtraAnnouncements(t *testing.T) {
	cfg, _, err := load(t, "global_defs {\n vrrp_garp_extra_if all 60\n}\nvrrp_instance VI_1 {\n virtual_router_id 5\n virtual_ipaddress {\n  198.18.0.1\n }\n}\n"+
		"vrrp_instance VI_2 {\n virtual_router_id 6\n garp_extra_if 30\n virtual_ipaddress {\n  198.18.0.2\n }\n}\n")
	if err != nil {
		t.Fatal(err)
	}
	if in := cfg.Instances[0]; in.ExtraAnnounce != time.Minute || !in.ExtraAnnounceAll {
		t.Errorf("VI_1: %v %v", in.ExtraAnnounce, in.ExtraAnnounceAll)
	}
	if in := cfg.Instances[1]; in.ExtraAnnounce != 30*time.Second || in.ExtraAnnounceAll {
		t.Errorf("VI_2: %v %v", in.ExtraAnnounce, in.ExtraAnnounceAll)
	}
	for _, bad := range []string{"0", "86401", "all", "all x"} {
		_, _, err = load(t, "global_defs {\n vrrp_garp_extra_if "+bad+"\n}\n")
		if err == nil || !strings.Contains(err.Error(), "keepalived.conf:2: vrrp_garp_extra_if: want [all] SECONDS") {
			t.Errorf("%q: error %v", bad, err)
		}
	}
}

// What keepalived adjusts with a warning, vipd adjusts alike and says so.
func TestLoadAdjustsAsKeepalived(t *testing.T) {
	const head = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 5\n"
	const vips = " virtual_ipaddress {\n  198.18.0.1\n }\n}\n"
	for _, c := range []struct {
		name, conf, warning string
		check               func(in *Instance) bool
	}{
		{"v3 interval rounded", head + " version 3\n advert_int 0.333\n" + vips, "keepalived.conf:5: advert_int 0.333: VRRPv3 counts in units of 10ms; 330ms is used",
			func(in *Instance) bool { return in.VRRP.Interval == 330*time.Millisecond }},
		{"v3 interval clamped", head + " version 3\n advert_int 100\n" + vips, "keepalived.conf:5: advert_int 100: VRRPv3 allows at most 40.95s",
			func(in *Instance) bool { return in.VRRP.Interval == 40950*time.Millisecond }},
		{"unknown state", head + " state SLAVE\n" + vips, "keepalived.conf:4: state \"SLAVE\": unknown, taken as BACKUP",
			func(in *Instance) bool { return !in.VRRP.WantMaster && in.VRRP.Priority == 100 }},
		{"source with a length", head + " unicast_src_ip 198.18.0.9/24\n" + vips, "keepalived.conf:4: unicast_src_ip 198.18.0.9/24: the /24 is ignored",
			func(in *Instance) bool { return in.VRRP.Source == netip.MustParseAddr("198.18.0.9") }},
		{"skip_check_adv_addr false", head + " skip_check_adv_addr false\n" + vips, "keepalived 2.2.7 ignores the value",
			func(in *Instance) bool { return in.VRRP.SkipCheckAdvAddr }},
		{"state MASTER alone is the owner", head + " state MASTER\n" + vips, "",
			func(in *Instance) bool { return in.VRRP.Priority == 255 }},
		{"nopreempt for the owner", head + " priority 255\n nopreempt\n" + vips, "keepalived.conf:5: nopreempt does nothing for the address owner",
			func(in *Instance) bool { return !in.VRRP.NoPreempt && in.VRRP.WantMaster }},
		{"preempt_delay with state MASTER", head + " state MASTER\n priority 100\n preempt_delay 5\n" + vips, "keepalived.conf:6: preempt_delay does nothing with state MASTER",
			func(in *Instance) bool { return in.VRRP.PreemptDelay == 0 }},
		{"v2 without addresses", head + "}\n", "keepalived.conf:1: vrrp_instance VI_1: no virtual_ipaddress",
			func(in *Instance) bool { return len(in.VIPs) == 0 }},
		{"v3 without addresses", head + " version 3\n}\n", "keepalived.conf:1: vrrp_instance VI_1: no virtual_ipaddress",
			func(in *Instance) bool { return len(in.VIPs) == 0 && in.VRRP.Version == 3 }},
		{"routes without addresses", head + " virtual_routes {\n  default via 198.18.0.1 dev eth0\n }\n}\n", "",
			func(in *Instance) bool { return len(in.Routes) == 1 && in.Routes[0].Track }},
		{"unknown address option", head + " virtual_ipaddress {\n  198.18.0.1 notrack\n }\n}\n", "keepalived.conf:5: virtual address 198.18.0.1: unknown option \"notrack\" is ignored",
			func(in *Instance) bool { return len(in.VIPs) == 1 && in.VIPs[0].Track }},
		{"lower-priority bursts from global_defs", "global_defs {\n vrrp_garp_master_delay 60\n}\n" + head + " garp_master_delay 0\n garp_master_repeat 2\n" + vips, "",
			func(in *Instance) bool {
				return in.VRRP.GARPMasterDelay == 0 && in.VRRP.GARPLowerPrioDelay == time.Minute && in.VRRP.GARPLowerPrioRepeat == 5
			}},
	} {
		cfg, _, err := load(t, c.conf)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !strings.Contains(fmt.Sprint(cfg.Warnings), c.warning) || c.warning == "" && len(cfg.Warnings) > 0 {
			t.Errorf("%s: warnings %v, want %q", c.name, cfg.Warnings, c.warning)
		}
		if !c.check(cfg.Instances[0]) {
			t.Errorf("%s: %+v", c.name, cfg.Instances[0].VRRP)
		}
	}
}

// A sync group's track_interface is every member's.
func TestSyncGroupTrackInterface(t *testing.T) {
	cfg, _, err := load(t, `vrrp_sync_group G {
  group {
    A
    B
  }
  track_interface {
    eth9
  }
}
vrrp_instance A {
  interface eth0
  virtual_router_id 1
  track_interface {
    eth8 weight 10
  }
  virtual_ipaddress {
    198.18.0.1
  }
}
vrrp_instance B {
  interface eth0
  virtual_router_id 2
  virtual_ipaddress {
    198.18.0.2
  }
}
`)
	if err != nil {
		t.Fatal(err)
	}
	a, b := cfg.Instances[0].TrackInterfaces, cfg.Instances[1].TrackInterfaces
	// A member's own weight goes, with a warning, as keepalived drops it.
	if len(a) != 2 || a[0].Name != "eth8" || a[0].Weight != 0 || a[1].Name != "eth9" || a[1].Weight != 0 ||
		len(b) != 1 || b[0].Name != "eth9" {
		t.Errorf("A tracks %+v, B tracks %+v", a, b)
	}
	if w := fmt.Sprint(cfg.Warnings); !strings.Contains(w, "keepalived.conf:14: vrrp_instance A: track_interface eth8 has a weight, which a member of vrrp_sync_group G cannot use") {
		t.Errorf("warnings %s", w)
	}
}
