package config

import (
	"fmt"
	"strings"
	"testing"
)

// Interface names no host can have are the file's mistake: an error
// wherever -t runs, as keepalived refuses them as missing interfaces.
func TestImpossibleInterfaceNames(t *testing.T) {
	inst := func(iface string) string {
		return "vrrp_instance VI_1 {\n interface " + iface + "\n virtual_router_id 5\n virtual_ipaddress {\n  192.0.2.5\n }\n}\n"
	}
	for _, c := range []struct{ conf, want string }{
		{inst("eth0:1"), "keepalived.conf:2: interface eth0:1: a name with ':' is an address label"},
		{inst("averyveryverylongname"), "longer than 15 characters"},
		{inst("$IF"), "keepalived.conf:1: vrrp_instance VI_1: interface $IF holds a '$' reference that no parameter definition matched"},
	} {
		if _, _, err := load(t, c.conf); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.conf, err, c.want)
		}
	}
	// With dynamic_interfaces vipd waits for "$IF", as keepalived does.
	cfg, _, err := load(t, "global_defs {\n dynamic_interfaces\n}\n"+inst("$IF"))
	if err != nil || !strings.Contains(fmt.Sprint(cfg.Warnings), "it waits for such an interface") {
		t.Errorf("with dynamic_interfaces: %v, warnings %v", err, cfg.Warnings)
	}
	if _, _, err := load(t, inst("eth0.100")); err != nil {
		t.Errorf("eth0.100: %v", err)
	}
}

// Process-tuning keywords vipd does not act on still have their values
// checked as keepalived checks them.
func TestIgnoredValuesChecked(t *testing.T) {
	for _, c := range []struct {
		line, want string
	}{
		{"vrrp_rt_priority 27asdf", `vrrp_rt_priority "27asdf": must be a whole number`},
		{"checker_priority 20", `checker_priority "20": must be a nice value, -20..19`},
		{"bfd_rlimit_rttime 0", `bfd_rlimit_rttime "0": must be a number of microseconds`},
		{"vrrp_rlimit_rtime x", `vrrp_rlimit_rttime "x": must be a number of microseconds`},
		{"vrrp_rt_priority 192", ""}, // keepalived clamps it to 99
		{"checker_priority -20", ""},
	} {
		_, _, err := load(t, "global_defs {\n "+c.line+"\n}\n")
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.line, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: error %v, want %q", c.line, err, c.want)
		}
	}
}

// Words before a data block's brace are ignored with a warning, and the
// block is read, as keepalived reads "static_routes NAME {".
func TestNamedDataBlock(t *testing.T) {
	cfg, _, err := load(t, "static_routes trackr1 {\n 192.0.2.0/24 via 198.51.100.1 dev eth0\n}\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Static.Routes) != 1 || !strings.Contains(fmt.Sprint(cfg.Warnings), `static_routes takes no words before its block: "trackr1" ignored`) {
		t.Errorf("routes %v, warnings %v", cfg.Static.Routes, cfg.Warnings)
	}
}
