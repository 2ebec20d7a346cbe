package config

import (
	"net/netip"
	"strings"
	"testing"
)

func TestLVSSyncDaemon(t *testing.T) {
	inst := "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n virtual_ipaddress {\n  192.0.2.5\n }\n}\n"
	global := func(line string) string { return "global_defs {\n " + line + "\n}\n" + inst }
	cfg, _, err := load(t, global("lvs_sync_daemon eth1 VI_1"))
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.Global.LVSSync; s == nil || s.Interface != "eth1" || s.Instance != "VI_1" || s.ID != 51 {
		t.Errorf("positional form: %+v, want eth1 VI_1 with the instance's id 51", s)
	}
	cfg, _, err = load(t, global("lvs_sync_daemon eth1 inst VI_1 id 7 maxlen 1400 port 9000 ttl 2 group 239.1.2.3"))
	if err != nil {
		t.Fatal(err)
	}
	want := LVSSync{Interface: "eth1", Instance: "VI_1", ID: 7, MaxLen: 1400, Port: 9000, TTL: 2, Group: netip.MustParseAddr("239.1.2.3")}
	if s := cfg.Global.LVSSync; s == nil || func() bool { c := *s; c.Pos = Pos{}; return c != want }() {
		t.Errorf("keyword form: %+v, want %+v", s, want)
	}
	for _, c := range []struct{ line, want string }{
		{"lvs_sync_daemon eth1 VI_9", "lvs_sync_daemon: no vrrp_instance VI_9"},
		{"lvs_sync_daemon eth1 VI_1 id 300", `lvs_sync_daemon id "300": must be a whole number 0..255`},
		{"lvs_sync_daemon eth1 VI_1 maxlen 50", `lvs_sync_daemon maxlen "50": must be a whole number 104..`},
		{"lvs_sync_daemon eth1 VI_1 group 10.0.0.1", "lvs_sync_daemon group 10.0.0.1: not a multicast address"},
		{"lvs_sync_daemon eth1 VI_1 id 1 bogus", `lvs_sync_daemon: unknown option "bogus"`},
		{"lvs_sync_daemon eth1", "keyword lvs_sync_daemon without a vrrp_instance"},
		{"lvs_sync_daemon eth1:0 VI_1", "lvs_sync_daemon interface eth1:0: a name with ':'"},
	} {
		if _, _, err := load(t, global(c.line)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.line, err, c.want)
		}
	}
}
