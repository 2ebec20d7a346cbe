package config

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/vipd/vipd/internal/vrrp"
)

// The smaller instance options, as keepalived reads them.
func TestInstanceOptions(t *testing.T) {
	head := "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n"
	v4 := " virtual_ipaddress {\n  192.0.2.1\n }\n"
	peers := " unicast_src_ip 192.0.2.9\n unicast_peer {\n  192.0.2.10\n }\n"
	for _, c := range []struct {
		name, conf, warning string
		check               func(*Instance) bool
	}{
		{"mcast_dst_ip", head + " mcast_dst_ip 224.0.0.99\n" + v4 + "}\n", "",
			func(in *Instance) bool { return in.VRRP.Group == netip.MustParseAddr("224.0.0.99") }},
		{"mcast_dst_ip IPv6", head + " mcast_dst_ip ff02::99\n virtual_ipaddress {\n  fe80::1\n }\n}\n", "",
			func(in *Instance) bool { return in.VRRP.Group == netip.MustParseAddr("ff02::99") }},
		{"unicast_ttl", head + " unicast_ttl 64\n" + peers + v4 + "}\n", "",
			func(in *Instance) bool { return in.UnicastTTL == 64 }},
		{"unicast_ttl without peers", head + " unicast_ttl 64\n" + v4 + "}\n", "unicast_ttl without unicast_peer",
			func(in *Instance) bool { return in.UnicastTTL == 255 }},
		{"check_unicast_src", head + " check_unicast_src\n" + peers + v4 + "}\n", "",
			func(in *Instance) bool { return fmt.Sprint(in.VRRP.AcceptFrom) == "[192.0.2.10]" }},
		{"vrrp_check_unicast_src", "global_defs {\n vrrp_check_unicast_src\n}\n" + head + peers + v4 + "}\n", "",
			func(in *Instance) bool { return len(in.VRRP.AcceptFrom) == 1 }},
		{"check_unicast_src without peers", head + " check_unicast_src\n" + v4 + "}\n", "",
			func(in *Instance) bool { return len(in.VRRP.AcceptFrom) == 0 }},
		{"unicast with use_vmac", head + " use_vmac\n" + peers + v4 + "}\n", "unicast with use_vmac sends from the base interface",
			func(in *Instance) bool { return in.VMACXmitBase }},
		{"vmac_xmit_base", head + " use_vmac\n vmac_xmit_base\n" + v4 + "}\n", "",
			func(in *Instance) bool { return in.VMACXmitBase }},
		{"native_ipv6", head + " native_ipv6\n virtual_ipaddress_excluded {\n  fd00::1\n }\n}\n", "",
			func(in *Instance) bool { return in.VRRP.IPv6 && in.VRRP.Version == 3 }},
		{"promote_secondaries", head + " promote_secondaries\n" + v4 + "}\n", "",
			func(in *Instance) bool { return in.PromoteSecondaries }},
		{"auth_type AH", head + " authentication {\n  auth_type AH\n  auth_pass s3cret\n }\n" + v4 + "}\n", "",
			func(in *Instance) bool {
				return in.VRRP.AuthType == vrrp.AuthAH && string(in.VRRP.AuthPass[:6]) == "s3cret"
			}},
		{"auth_type AH with state MASTER", head + " state MASTER\n priority 200\n authentication {\n  auth_type AH\n  auth_pass s3cret\n }\n" + v4 + "}\n",
			"state MASTER with auth_type AH: started as BACKUP", func(in *Instance) bool { return !in.VRRP.WantMaster }},
		{"higher_prio_send_advert false", head + " higher_prio_send_advert false\n" + v4 + "}\n", "vipd always sends one advert",
			func(in *Instance) bool { return true }},
	} {
		cfg, _, err := load(t, c.conf)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if w := fmt.Sprint(cfg.Warnings); c.warning != "" && !strings.Contains(w, c.warning) || c.warning == "" && len(cfg.Warnings) > 0 {
			t.Errorf("%s: warnings %v, want %q", c.name, cfg.Warnings, c.warning)
		}
		if !c.check(cfg.Instances[0]) {
			t.Errorf("%s: %+v", c.name, cfg.Instances[0])
		}
	}
	for _, c := range []struct{ name, conf, want string }{
		{"mcast_dst_ip not multicast", head + " mcast_dst_ip 192.0.2.7\n" + v4 + "}\n", "mcast_dst_ip 192.0.2.7 is not a multicast address"},
		{"mcast_dst_ip IPv6 not link-local", head + " mcast_dst_ip ff05::1\n virtual_ipaddress {\n  fe80::1\n }\n}\n", "is not a link-local multicast address"},
		{"mcast_dst_ip other family", head + " mcast_dst_ip ff02::1\n" + v4 + "}\n", "is not of the instance's family"},
		{"unicast_ttl range", head + " unicast_ttl 256\n" + v4 + "}\n", "unicast_ttl \"256\""},
		{"native_ipv6 with IPv4", head + v4 + " native_ipv6\n}\n", "native_ipv6 with IPv4 virtual addresses"},
	} {
		if _, _, err := load(t, c.conf); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
}
