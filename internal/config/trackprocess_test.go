package config

import (
	"strings"
	"testing"
	"time"
)

func TestTrackProcesses(t *testing.T) {
	conf := `vrrp_track_process haproxy {
 process haproxy
 quorum 2
 quorum_max 4
 delay 0.5
 fork_delay 2
 weight -20 reverse
}
vrrp_track_process nginx {
 process /usr/sbin/nginx -c /etc/nginx.conf
 param_match partial
}
vrrp_track_process bare {
 process /bin/x
 param_match
}
vrrp_track_process none {
 process y
 quorum_max 0
}
vrrp_instance I {
 interface eth0
 virtual_router_id 1
 virtual_ipaddress {
  192.0.2.1
 }
 track_process {
  haproxy
  nginx weight 7
 }
}
`
	cfg, _, err := load(t, conf)
	if err != nil {
		t.Fatal(err)
	}
	h, n, b, z := cfg.TrackProcess("haproxy"), cfg.TrackProcess("nginx"), cfg.TrackProcess("bare"), cfg.TrackProcess("none")
	if h.Process != "haproxy" || h.FullCommand || h.Quorum != 2 || h.QuorumMax != 4 || h.ForkDelay != 2*time.Second ||
		h.TerminateDelay != 500*time.Millisecond || h.Weight != -20 || !h.Reverse {
		t.Errorf("haproxy: %+v", h)
	}
	if n.Process != "/usr/sbin/nginx" || strings.Join(n.Params, " ") != "-c /etc/nginx.conf" || n.ParamMatch != ParamsPartial || !n.FullCommand {
		t.Errorf("nginx: %+v", n)
	}
	if b.ParamMatch != ParamsExact || !b.FullCommand || len(b.Params) != 0 {
		t.Errorf("bare: %+v", b)
	}
	if z.Quorum != 0 || z.QuorumMax != 0 {
		t.Errorf("none: %+v", z)
	}
	in := cfg.Instances[0]
	if len(in.TrackProcesses) != 2 || in.TrackProcesses[0].Weight != -20 || !in.TrackProcesses[0].Reverse || in.TrackProcesses[1].Weight != 7 {
		t.Errorf("tracked: %+v", in.TrackProcesses)
	}
	for _, c := range []struct{ conf, want string }{
		{"vrrp_track_process p {\n quorum 2\n}\n", "vrrp_track_process p has no process"},
		{"vrrp_track_process p {\n process x\n quorum_max 2\n quorum 3\n}\n", "quorum 3 is more than quorum_max 2"},
		{"vrrp_track_process p {\n process x\n param_match fuzzy\n}\n", "param_match \"fuzzy\""},
		{"vrrp_track_process p {\n process x\n delay 0\n}\n", "delay \"0\""},
		{"vrrp_instance I {\n interface eth0\n virtual_router_id 1\n track_process {\n  p\n }\n virtual_ipaddress {\n  192.0.2.1\n }\n}\n", "no vrrp_track_process p is defined"},
	} {
		if _, _, err := load(t, c.conf); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.conf, err, c.want)
		}
	}
}
