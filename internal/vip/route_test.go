package vip_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vipd/vipd/internal/config"
	"github.com/vipd/vipd/internal/vip"
)

// routeConf reads keepalived lines for virtual_routes and virtual_rules
// with the config package, as the daemon gets them.
func routeConf(t *testing.T, routes, rules []string) *config.Instance {
	t.Helper()
	conf := "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n  198.18.8.100/32\n }\n" +
		" virtual_routes {\n  " + strings.Join(routes, "\n  ") + "\n }\n" +
		" virtual_rules {\n  " + strings.Join(rules, "\n  ") + "\n }\n}\n"
	path := filepath.Join(t.TempDir(), "keepalived.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Instances[0]
}

// Routes and rules reach the kernel as ip(8) would put them: each line
// of the configuration is compared with what "ip route" and "ip rule"
// then list. Deleting takes out exactly what was added.
func TestRoutesAndRules(t *testing.T) {
	r, _ := lab(t, "vipdvipro")
	routes := []struct{ line, want string }{
		{"198.18.9.0/24 via 198.18.8.254 dev eth0", "198.18.9.0/24 via 198.18.8.254 dev eth0 proto keepalived"},
		{"198.18.10.0/24 dev eth0 scope link src 198.18.8.1 metric 7", "198.18.10.0/24 dev eth0 proto keepalived scope link src 198.18.8.1 metric 7"},
		{"blackhole 198.18.11.0/24", "blackhole 198.18.11.0/24 proto keepalived"},
		{"default via 198.18.8.254 dev eth0 table 100", "default via 198.18.8.254 dev eth0 table 100 proto keepalived"},
		{"198.18.12.0/24 via 198.18.8.254 dev eth0 table 1000 mtu lock 1400 advmss 1300 initcwnd 10 rto_min 300ms features ecn congctl reno",
			"198.18.12.0/24 via 198.18.8.254 dev eth0 table 1000 proto keepalived mtu lock 1400 advmss 1300 initcwnd 10 features ecn rto_min 300ms congctl reno"},
		{"198.18.13.0/24 nexthop via 198.18.8.253 dev eth0 weight 2 nexthop via 198.18.8.254 dev eth0",
			"198.18.13.0/24 proto keepalived \n\tnexthop via 198.18.8.253 dev eth0 weight 2 \n\tnexthop via 198.18.8.254 dev eth0 weight 1"},
		{"fd00:198:18:9::/64 via fd00:198:18:8::254 dev eth0 pref high", "fd00:198:18:9::/64 via fd00:198:18:8::254 dev eth0 proto keepalived metric 1024 pref high"},
		{"198.18.14.0/24 via 198.18.8.254 dev eth0 protocol static no_track", "198.18.14.0/24 via 198.18.8.254 dev eth0 proto static"},
	}
	rules := []struct{ line, want string }{
		{"from 198.18.8.100 table 100 preference 100", "100:\tfrom 198.18.8.100 lookup 100 proto keepalived"},
		{"to 198.18.9.0/24 iif eth0 fwmark 0x10/0xff table 1000 priority 101", "101:\tfrom all to 198.18.9.0/24 fwmark 0x10/0xff iif eth0 lookup 1000 proto keepalived"},
		{"not from 198.18.8.0/24 ipproto tcp dport 80-90 prohibit preference 102", "102:\tnot from 198.18.8.0/24 ipproto tcp dport 80-90 prohibit proto keepalived"},
		{"from fd00:198:18:8::100 table main preference 103", "103:\tfrom fd00:198:18:8::100 lookup main proto keepalived"},
		{"from all uidrange 1000-2000 goto 110 preference 104", "104:\tfrom all uidrange 1000-2000 goto 110 [unresolved] proto keepalived"},
	}
	var rl, ul []string
	for _, x := range routes {
		rl = append(rl, x.line)
	}
	for _, x := range rules {
		ul = append(ul, x.line)
	}
	in := routeConf(t, rl, ul)
	show := func(args ...string) string {
		out, err := exec.Command("ip", append([]string{"-n", r.NSName}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	err := r.Do(func() error {
		for i := range in.Routes {
			if err := vip.AddRoute(&in.Routes[i].Route); err != nil {
				return err
			}
			if err := vip.AddRoute(&in.Routes[i].Route); err != nil {
				t.Errorf("adding %v again: %v", &in.Routes[i].Route, err)
			}
			if !vip.RoutePresent(&in.Routes[i].Route) {
				t.Errorf("route %v: not found after adding it", &in.Routes[i].Route)
			}
		}
		for i := range in.Rules {
			if err := vip.AddRule(&in.Rules[i].Rule); err != nil {
				return err
			}
			if !vip.RulePresent(&in.Rules[i].Rule) {
				t.Errorf("rule %v: not found after adding it", &in.Rules[i].Rule)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	listed := show("route", "show", "table", "all") + show("-6", "route", "show", "table", "all") + show("rule") + show("-6", "rule")
	for _, x := range append(routes, rules...) {
		if !strings.Contains(listed, x.want) {
			t.Errorf("%s: want %q in\n%s", x.line, x.want, listed)
		}
	}
	err = r.Do(func() error {
		for i := range in.Routes {
			if err := vip.DeleteRoute(&in.Routes[i].Route); err != nil {
				return err
			}
			if err := vip.DeleteRoute(&in.Routes[i].Route); err != nil {
				t.Errorf("deleting %v again: %v", &in.Routes[i].Route, err)
			}
		}
		for i := range in.Rules {
			if err := vip.DeleteRule(&in.Rules[i].Rule); err != nil {
				return err
			}
			if err := vip.DeleteRule(&in.Rules[i].Rule); err != nil {
				t.Errorf("deleting %v again: %v", &in.Rules[i].Rule, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	listed = show("route", "show", "table", "all", "proto", "keepalived") + show("-6", "route", "show", "table", "all", "proto", "keepalived") + show("rule") + show("-6", "rule")
	if strings.Contains(listed, "keepalived") || strings.Contains(listed, "198.18.14.0") {
		t.Errorf("left after deleting:\n%s", listed)
	}
}
