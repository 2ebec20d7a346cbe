package config

import (
	"strings"
	"testing"
)

func TestReloadKeywords(t *testing.T) {
	cfg, errs, _ := loadLVS(t, `global_defs {
    reload_check_config /var/log/vipd-check.log
    reload_time_file /run/vipd-reload-at
    reload_repeat
    reload_file
    fifo_write_vrrp_states_on_reload
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 1
    priority 100
    notify_deleted /bin/deleted.sh
    virtual_ipaddress {
        192.0.2.1/24
    }
}
vrrp_instance VI_2 {
    interface eth0
    virtual_router_id 2
    priority 100
    notify_deleted
    virtual_ipaddress {
        192.0.2.2/24
    }
}`)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	want := Reload{CheckConfig: true, CheckLog: "/var/log/vipd-check.log", TimeFile: "/run/vipd-reload-at", Repeat: true,
		File: DefaultReloadFile, WriteStates: true}
	got := cfg.Global.Reload
	got.Pos = Pos{}
	if got != want {
		t.Errorf("reload settings %+v, want %+v", got, want)
	}
	n1, n2 := cfg.Instances[0].Notify, cfg.Instances[1].Notify
	if !n1.NotifyDeleted || n1.Deleted == nil || n1.Deleted.Argv[0] != "/bin/deleted.sh" || !n2.NotifyDeleted || n2.Deleted != nil {
		t.Errorf("notify_deleted: %+v, %+v", n1, n2)
	}

	for _, tc := range []struct{ conf, want string }{
		{"global_defs {\n    reload_time_file reload-at\n}\n", "reload_time_file reload-at: give an absolute path"},
		{"vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 1\n    notify_deleted\n    notify_deleted /bin/x\n    virtual_ipaddress {\n        192.0.2.1\n    }\n}\n",
			"vrrp_instance VI_1 notify_deleted is given twice"},
		{"vrrp_sync_group G {\n    group {\n        VI_1\n    }\n    notify_deleted\n}\n", "notify_deleted"},
	} {
		_, errs, _ := loadLVS(t, tc.conf)
		if !strings.Contains(strings.Join(errs, "\n"), tc.want) {
			t.Errorf("%q: errors %q, want one with %q", tc.conf, errs, tc.want)
		}
	}
}
