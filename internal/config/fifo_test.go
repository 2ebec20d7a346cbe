package config

import (
	"fmt"
	"strings"
	"testing"
)

func TestNotifyFIFOs(t *testing.T) {
	inst := "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n%s virtual_ipaddress {\n  192.0.2.1\n }\n}\n"
	group := "vrrp_sync_group G {\n group {\n  A\n }\n%s}\n"
	cfg, _, err := load(t, "global_defs {\n notify_fifo /run/f1 nobody nogroup\n notify_fifo_script \"/bin/cat -u\" root\n"+
		" vrrp_notify_fifo /run/f2\n vrrp_notify_priority_changes\n}\n"+fmt.Sprintf(inst, ""))
	if err != nil {
		t.Fatal(err)
	}
	g := cfg.Global
	if g.NotifyFIFO == nil || g.NotifyFIFO.Path != "/run/f1" || g.NotifyFIFO.User != "nobody" || g.NotifyFIFO.Group != "nogroup" ||
		g.NotifyFIFO.Script == nil || strings.Join(g.NotifyFIFO.Script.Argv, " ") != "/bin/cat -u" || g.NotifyFIFO.Script.User != "root" {
		t.Errorf("notify_fifo: %+v", g.NotifyFIFO)
	}
	if g.VRRPNotifyFIFO == nil || g.VRRPNotifyFIFO.Path != "/run/f2" || g.VRRPNotifyFIFO.Script != nil {
		t.Errorf("vrrp_notify_fifo: %+v", g.VRRPNotifyFIFO)
	}
	if !cfg.Instances[0].NotifyPriorityChanges {
		t.Error("vrrp_notify_priority_changes did not reach the instance")
	}
	// The instance's own setting, else its group's, else the global one.
	for _, c := range []struct {
		conf string
		want bool
	}{
		{"global_defs {\n vrrp_notify_priority_changes\n}\n" + fmt.Sprintf(group, " notify_priority_changes false\n") + fmt.Sprintf(inst, ""), false},
		{fmt.Sprintf(group, " notify_priority_changes\n") + fmt.Sprintf(inst, " notify_priority_changes off\n"), false},
		{fmt.Sprintf(group, " notify_priority_changes\n") + fmt.Sprintf(inst, ""), true},
	} {
		cfg, _, err := load(t, c.conf)
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.Instances[0].NotifyPriorityChanges; got != c.want {
			t.Errorf("%q: notify_priority_changes %v, want %v", c.conf, got, c.want)
		}
	}
	cfg, _, err = load(t, "global_defs {\n notify_fifo /run/f\n vrrp_notify_fifo /run/f\n}\n"+fmt.Sprintf(inst, ""))
	if err != nil || cfg.Global.VRRPNotifyFIFO != nil || !strings.Contains(fmt.Sprint(cfg.Warnings), "vrrp_notify_fifo /run/f is the notify_fifo too") {
		t.Errorf("same FIFO twice: %v %+v %v", err, cfg.Global.VRRPNotifyFIFO, cfg.Warnings)
	}
	if _, _, err := load(t, "global_defs {\n notify_fifo /run/a\n notify_fifo /run/b\n}\n"+fmt.Sprintf(inst, "")); err == nil || !strings.Contains(err.Error(), "notify_fifo is given twice") {
		t.Errorf("notify_fifo twice: %v", err)
	}
}
