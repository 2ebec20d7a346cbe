package config

import (
	"strings"
	"testing"

	"github.com/vipd/vipd/internal/vrrp"
)

// Accept mode and strict mode, as keepalived 2.2.7 settles them (checked
// with its -t and its -d dump): accept unless no_accept, or in strict
// mode unless the owner; strict mode resets what RFC 5798 has no room
// for, with a warning, and refuses to run without addresses or with
// unicast peers.
func TestAcceptAndStrictMode(t *testing.T) {
	instance := func(global, body string) string {
		return global + "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 5\n" + body + "}\n"
	}
	const vip4 = " virtual_ipaddress {\n  198.18.0.1\n }\n"
	const strict = "global_defs {\n vrrp_strict\n}\n"
	tests := []struct {
		name     string
		conf     string
		accept   bool     // Instance.Accept
		takes    bool     // TakesTraffic
		warnings []string // each a warning's prefix, in order
		err      string   // an error's prefix; "" for none
		check    func(*testing.T, *Instance)
	}{
		{name: "default accepts", conf: instance("", vip4), accept: true, takes: true},
		{name: "no_accept", conf: instance("", " no_accept\n"+vip4), accept: false, takes: false},
		{name: "the last of accept and no_accept wins", conf: instance("", " no_accept\n accept\n"+vip4), accept: true, takes: true},
		{name: "the owner takes traffic despite no_accept", conf: instance("", " priority 255\n no_accept\n"+vip4), accept: false, takes: true},
		{name: "strict: no accept by default", conf: instance(strict, vip4), accept: false, takes: false},
		{name: "strict: the owner accepts", conf: instance(strict, " state MASTER\n priority 255\n"+vip4), accept: true, takes: true},
		{name: "strict_mode on the instance", conf: instance("", " strict_mode\n"+vip4), accept: false, takes: false},
		{name: "strict_mode off overrides vrrp_strict", conf: instance(strict, " strict_mode off\n"+vip4), accept: true, takes: true},
		{name: "strict v3 keeps accept", conf: instance(strict, " version 3\n accept\n"+vip4), accept: true, takes: true},
		{name: "strict v2 turns accept off", conf: instance(strict, " accept\n"+vip4), accept: false, takes: false,
			warnings: []string{"keepalived.conf:7: vrrp_instance VI_1: accept is not part of VRRPv2"}},
		{name: "strict: state MASTER without being owner", conf: instance(strict, " state MASTER\n priority 100\n"+vip4),
			warnings: []string{"keepalived.conf:7: vrrp_instance VI_1: in strict mode state MASTER goes with priority 255"},
			check: func(t *testing.T, in *Instance) {
				if in.VRRP.WantMaster {
					t.Error("still state MASTER")
				}
			}},
		{name: "strict: the owner starts as master", conf: instance(strict, " priority 255\n"+vip4), accept: true, takes: true,
			warnings: []string{"keepalived.conf:4: vrrp_instance VI_1: in strict mode state MASTER"},
			check: func(t *testing.T, in *Instance) {
				if !in.VRRP.WantMaster {
					t.Error("owner not state MASTER")
				}
			}},
		{name: "strict: authentication ignored",
			conf:     instance(strict, " authentication {\n  auth_type PASS\n  auth_pass x\n }\n"+vip4),
			warnings: []string{"keepalived.conf:7: vrrp_instance VI_1: strict mode allows no authentication"},
			check: func(t *testing.T, in *Instance) {
				if in.VRRP.AuthType != vrrp.AuthNone {
					t.Error("authentication kept")
				}
			}},
		{name: "strict: preempt_delay reset", conf: instance(strict, " preempt_delay 10\n"+vip4),
			warnings: []string{"keepalived.conf:7: vrrp_instance VI_1: strict mode allows no preempt_delay"},
			check: func(t *testing.T, in *Instance) {
				if in.VRRP.PreemptDelay != 0 {
					t.Error("preempt_delay kept")
				}
			}},
		{name: "strict: lower-priority handling forced, global_defs ignored",
			conf: instance("global_defs {\n vrrp_strict\n vrrp_garp_lower_prio_repeat 3\n}\n", vip4),
			check: func(t *testing.T, in *Instance) {
				if !in.VRRP.LowerPrioNoAdvert || in.VRRP.GARPLowerPrioRepeat != 0 || in.VRRP.GARPLowerPrioDelay != 0 {
					t.Errorf("%+v", in.VRRP)
				}
			}},
		{name: "strict: lower-priority settings in the instance warn",
			conf: instance(strict, " lower_prio_no_advert false\n garp_lower_prio_repeat 2\n"+vip4),
			warnings: []string{
				"keepalived.conf:8: vrrp_instance VI_1: strict mode sends no extra gratuitous ARP",
				"keepalived.conf:7: vrrp_instance VI_1: in strict mode a master does not answer",
			}},
		{name: "strict: down_timer_adverts reset", conf: instance(strict, " down_timer_adverts 5\n"+vip4),
			warnings: []string{"keepalived.conf:7: vrrp_instance VI_1: strict mode keeps Master_Down_Interval at 3"},
			check: func(t *testing.T, in *Instance) {
				if in.VRRP.DownTimerAdverts != 3 {
					t.Error("down_timer_adverts kept")
				}
			}},
		{name: "strict: first IPv6 address not link-local", conf: instance(strict, " virtual_ipaddress {\n  fd00::1\n }\n"),
			warnings: []string{"keepalived.conf:8: vrrp_instance VI_1: RFC 5798 wants the first IPv6 virtual address to be link-local"}},
		{name: "strict: link-local first is fine", conf: instance(strict, " virtual_ipaddress {\n  fe80::1\n  fd00::1\n }\n")},
		{name: "strict: no addresses", conf: instance(strict, ""),
			err: "keepalived.conf:4: vrrp_instance VI_1: strict mode needs at least one address"},
		{name: "strict: unicast peers", conf: instance(strict, " unicast_peer {\n  198.18.0.2\n }\n"+vip4),
			err: "keepalived.conf:7: vrrp_instance VI_1: strict mode allows no unicast_peer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, dir, err := load(t, tt.conf)
			if tt.err != "" {
				if err == nil || !strings.HasPrefix(strings.ReplaceAll(err.Error(), dir+"/", ""), tt.err) {
					t.Fatalf("error %v, want %s…", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range cfg.Warnings {
				got = append(got, strings.ReplaceAll(w.Error(), dir+"/", ""))
			}
			if len(got) != len(tt.warnings) {
				t.Fatalf("warnings %q, want %q", got, tt.warnings)
			}
			for i, w := range tt.warnings {
				if !strings.HasPrefix(got[i], w) {
					t.Errorf("warning %q, want %q…", got[i], w)
				}
			}
			in := cfg.Instances[0]
			if tt.check != nil {
				tt.check(t, in)
				return
			}
			if in.Accept != tt.accept || in.TakesTraffic() != tt.takes {
				t.Errorf("Accept %v TakesTraffic %v, want %v %v", in.Accept, in.TakesTraffic(), tt.accept, tt.takes)
			}
		})
	}
}
