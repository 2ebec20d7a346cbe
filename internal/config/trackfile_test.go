package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// track_file: weights come from the definition unless the line gives
// one; members of a sync group without sync_group_tracking_weight and
// address owners get weight 0 for the default weight and lose lines with
// another, as keepalived has it; names must be defined before use.
func TestTrackFiles(t *testing.T) {
	conf := `track_file a {
 file /run/a
}
vrrp_track_file b {
 file "/run/b"
 weight -30 reverse
 init_file 5 overwrite
}
vrrp_sync_group G {
 group {
  M
 }
 track_file {
  b weight 2
 }
}
vrrp_instance I {
 interface eth0
 virtual_router_id 1
 virtual_ipaddress {
  192.0.2.1
 }
 track_file {
  a
  b weight 0 reverse
 }
}
vrrp_instance M {
 interface eth0
 virtual_router_id 2
 virtual_ipaddress {
  192.0.2.2
 }
 track_file {
  a
  b weight 10
 }
}
vrrp_instance O {
 interface eth0
 virtual_router_id 3
 priority 255
 virtual_ipaddress {
  192.0.2.3
 }
 track_file {
  a weight 1
 }
}
`
	cfg, _, err := load(t, conf)
	if err != nil {
		t.Fatal(err)
	}
	b := cfg.TrackFile("b")
	if b == nil || b.Path != "/run/b" || b.Weight != -30 || !b.Reverse || !b.Init || b.InitValue != 5 || !b.Overwrite {
		t.Errorf("track_file b: %+v", b)
	}
	tracked := func(in *Instance) string {
		var s []string
		for _, t := range in.TrackFiles {
			s = append(s, fmt.Sprintf("%s:%d:%v", t.Name, t.Weight, t.Reverse))
		}
		return strings.Join(s, " ")
	}
	for _, c := range []struct{ instance, want string }{
		{"I", "a:1:false b:0:true"},
		{"M", "a:0:false b:2:false"}, // a's default weight is 0 in a group; b's line dropped, the group's used
		{"O", "a:0:false"},
	} {
		if got := tracked(cfg.Instance(c.instance)); got != c.want {
			t.Errorf("%s tracks %q, want %q", c.instance, got, c.want)
		}
	}
	for _, w := range []string{"vrrp_track_file is deprecated", "track_file a: the default weight 1 cannot be used by a member of vrrp_sync_group G",
		"track_file b has weight 10, which cannot be used by a member", "track_file a: the default weight 1 cannot be used by the address owner"} {
		if !strings.Contains(fmt.Sprint(cfg.Warnings), w) {
			t.Errorf("no warning %q in %v", w, cfg.Warnings)
		}
	}
}

func TestTrackFileErrors(t *testing.T) {
	head := "vrrp_instance I {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n  192.0.2.1\n }\n"
	for _, c := range []struct{ name, conf, want string }{
		{"used before defined", head + " track_file {\n  a\n }\n}\ntrack_file a {\n file /run/a\n}\n", "keepalived.conf:8: vrrp_instance I: track_file a: no track_file a is defined before this line"},
		{"weight range", "track_file a {\n file /x\n weight 255\n}\n", "keepalived.conf:3: weight \"255\" must be a whole number -254..254"},
		{"noreverse in definition", "track_file a {\n file /x\n weight 2 noreverse\n}\n", "keepalived.conf:3: track_file a: weight takes reverse, not noreverse"},
		{"line weight range", "track_file a {\n file /x\n}\n" + head + " track_file {\n  a weight -300\n }\n}\n", "keepalived.conf:11: track_file a: weight \"-300\" must be a whole number -254..254"},
		{"init value", "track_file a {\n file /x\n init_file 300\n}\n", "keepalived.conf:3: track_file a: init_file 300 is outside -254..254"},
	} {
		_, _, err := load(t, c.conf)
		var errs Errors
		if !errors.As(err, &errs) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
}
