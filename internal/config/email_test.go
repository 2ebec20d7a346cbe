package config

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// E-mail settings and which instances and groups mail: their own
// smtp_alert, else global_defs' smtp_alert_vrrp, else smtp_alert.
func TestEmail(t *testing.T) {
	inst := func(name string, vrid int, extra string) string {
		return fmt.Sprintf("vrrp_instance %s {\n interface eth0\n virtual_router_id %d\n%s virtual_ipaddress {\n  192.0.2.%d\n }\n}\n", name, vrid, extra, vrid)
	}
	for _, c := range []struct {
		name, global string
		want         string // SMTPAlert of A, B (smtp_alert false), C (smtp_alert), group G
	}{
		{"none", "", "false false true false"},
		{"smtp_alert", "smtp_alert", "true false true true"},
		{"smtp_alert_vrrp wins", "smtp_alert_vrrp false\n smtp_alert", "false false true false"},
		{"smtp_alert_vrrp after", "smtp_alert false\n smtp_alert_vrrp", "true false true true"},
	} {
		conf := "global_defs {\n notification_email {\n  a@x b@x\n  c@x\n }\n notification_email_from vipd@x\n smtp_server mail.example.net 587\n" +
			" smtp_helo_name lb1\n smtp_connect_timeout 0\n no_email_faults\n " + c.global + "\n}\n" +
			"vrrp_sync_group G {\n group {\n  A\n }\n}\n" +
			inst("A", 1, "") + inst("B", 2, " smtp_alert false\n") + inst("C", 3, " smtp_alert\n")
		cfg, _, err := load(t, conf)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got := fmt.Sprint(cfg.Instance("A").SMTPAlert, cfg.Instance("B").SMTPAlert, cfg.Instance("C").SMTPAlert, cfg.SyncGroups[0].SMTPAlert)
		if got != c.want {
			t.Errorf("%s: smtp_alert of A B C G: %s, want %s", c.name, got, c.want)
		}
		e := cfg.Global.Email
		if strings.Join(e.To, ",") != "a@x,b@x,c@x" || e.From != "vipd@x" || e.Server != "mail.example.net" || e.Port != "587" ||
			e.Helo != "lb1" || e.Timeout != time.Second || !e.NoFaults {
			t.Errorf("%s: email %+v", c.name, e)
		}
	}
	for _, c := range []struct{ conf, want string }{
		{"global_defs {\n smtp_server mail 0\n}\n", "smtp_server port \"0\" must be 1..65535"},
		{"global_defs {\n smtp_server 10.0.0.300\n}\n", "smtp_server \"10.0.0.300\" is not an IP address"},
		{"global_defs {\n smtp_connect_timeout x\n}\n", "smtp_connect_timeout \"x\""},
	} {
		if _, _, err := load(t, c.conf); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.conf, err, c.want)
		}
	}
	cfg, _, err := load(t, inst("A", 1, " smtp_alert\n"))
	if err != nil || !strings.Contains(fmt.Sprint(cfg.Warnings), "smtp_alert is on but global_defs has no smtp_server") {
		t.Errorf("alerts with nowhere to go: %v, %v", err, cfg.Warnings)
	}
}
