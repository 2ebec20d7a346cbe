package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// With enable_script_security, -t finds the scripts keepalived would
// refuse to run.
func TestScriptSecurity(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test makes root-owned scripts and needs root")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	script := func(name string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\nexit 0\n"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	safe, writable, plain := script("safe.sh", 0o755), script("writable.sh", 0o777), script("plain.sh", 0o644)
	for _, c := range []struct {
		script, want string
	}{
		{safe, ""},
		{safe + " --arg", ""},
		{writable, "is writable by group or others"},
		{plain, "is not executable"},
		{" ", "the script is empty"},
	} {
		conf := "global_defs {\n enable_script_security\n}\nvrrp_script chk {\n script \"" + c.script + "\"\n}\n"
		_, _, err := load(t, conf)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.script, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), "keepalived.conf:5: vrrp_script chk: ") || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: error %v, want %q", c.script, err, c.want)
		}
	}
	// A script missing from this host is a warning: -t may run elsewhere.
	cfg, _, err := load(t, "global_defs {\n enable_script_security\n}\nvrrp_script chk {\n script \""+filepath.Join(dir, "missing.sh")+"\"\n}\n")
	if err != nil || !strings.Contains(fmt.Sprint(cfg.Warnings), "keepalived.conf:5: vrrp_script chk: script "+filepath.Join(dir, "missing.sh")+" does not exist on this host") {
		t.Errorf("missing script: %v, warnings %v", err, cfg.Warnings)
	}
	// Without enable_script_security nothing is checked.
	if _, _, err := load(t, "vrrp_script chk {\n script "+writable+"\n}\n"); err != nil {
		t.Errorf("without script security: %v", err)
	}
}

// Script lines are split as keepalived 2.2.7 splits them (its -d dump
// shows the words): escapes first, then quotes and blanks.
func TestSplitScriptLine(t *testing.T) {
	for _, c := range []struct {
		conf string // the script keyword's value, as written
		want []string
	}{
		{`/bin/true`, []string{"/bin/true"}},
		{`"/bin/echo 'a b' c\ d"`, []string{"/bin/echo", "a b", "c", "d"}},
		{`"/bin/echo x\ty\x41 \101 \"q\" z"`, []string{"/bin/echo", "x", "yA", "A", "q", "z"}},
		{`"/s/env.sh 'a b' c\"d\" e\\ f"`, []string{"/s/env.sh", "a b", "cd", "e f"}},
		{`"/bin/sh -c 'exit 3'"`, []string{"/bin/sh", "-c", "exit 3"}},
	} {
		cfg, _, err := load(t, "vrrp_script s {\n script "+c.conf+"\n}\n")
		if err != nil {
			t.Errorf("%s: %v", c.conf, err)
			continue
		}
		if got := cfg.Scripts[0].Command.Argv; strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("%s: argv %q, want %q", c.conf, got, c.want)
		}
	}
}

func TestScriptErrors(t *testing.T) {
	inst := "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 5\n virtual_ipaddress {\n  192.0.2.5\n }\n"
	for _, c := range []struct{ name, conf, want string }{
		{"unquoted arguments", "vrrp_script s {\n script /bin/pidof haproxy\n}\n",
			"keepalived.conf:2: vrrp_script s: script /bin/pidof haproxy: put the command and its arguments in quotes (keepalived would run /bin/pidof without them)"},
		{"notify arguments without quotes", inst + " notify_master /bin/bash /a.sh 3 4\n}\n",
			`keepalived.conf:7: vrrp_instance VI_1 notify_master: want notify_master "SCRIPT ARGS..." [USER [GROUP]]`},
		{"unterminated quote", "vrrp_script s {\n script \"/bin/echo 'a\"\n}\n", "unterminated ' quote"},
		{"fractional interval", "vrrp_script s {\n script /bin/true\n interval 0.5\n}\n", `keepalived.conf:3: interval "0.5": must be a whole number 1..4294`},
		{"weight out of range", "vrrp_script s {\n script /bin/true\n weight 300\n}\n", `keepalived.conf:3: weight "300" must be a whole number -253..253`},
		{"defined twice", "vrrp_script s {\n script /bin/true\n}\nvrrp_script s {\n script /bin/false\n}\n", "keepalived.conf:4: vrrp_script s is defined twice"},
		{"unknown tracked script", inst + " track_script {\n  nosuch\n }\n}\n", "keepalived.conf:8: vrrp_instance VI_1: track_script nosuch: no vrrp_script nosuch is defined"},
		{"unknown keyword in vrrp_script", "vrrp_script s {\n script /bin/true\n intervall 2\n}\n", "keepalived.conf:3: unknown keyword intervall in vrrp_script"},
	} {
		_, _, err := load(t, c.conf)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
}

// Weights come from the vrrp_script unless track_script gives one; a sync
// group's scripts reach every member with their weights, while a member's
// own weighted lines are dropped unless sync_group_tracking_weight, as
// keepalived does.
func TestTrackScriptWeights(t *testing.T) {
	conf := `vrrp_script up {
 script /bin/true
 weight 10
}
vrrp_script down {
 script /bin/true
 weight -20 reverse
}
vrrp_script zero {
 script /bin/true
}
vrrp_sync_group G {
 group {
  A
  B
 }
 track_script {
  zero weight -5
 }
 notify "/bin/echo group"
}
vrrp_instance A {
 interface eth0
 virtual_router_id 1
 virtual_ipaddress {
  192.0.2.1
 }
 track_script {
  up
  zero
 }
}
vrrp_instance B {
 interface eth0
 virtual_router_id 2
 virtual_ipaddress {
  192.0.2.2
 }
}
vrrp_instance C {
 interface eth0
 virtual_router_id 3
 virtual_ipaddress {
  192.0.2.3
 }
 track_script {
  up weight 254
  down
  zero weight 7 reverse
  up
 }
 notify_master "/bin/echo 'to master'" nobody
}
`
	cfg, _, err := load(t, conf)
	if err != nil {
		t.Fatal(err)
	}
	show := func(ts []Tracked) string {
		var s []string
		for _, t := range ts {
			s = append(s, fmt.Sprintf("%s:%d:%t", t.Name, t.Weight, t.Reverse))
		}
		return strings.Join(s, " ")
	}
	for _, c := range []struct{ instance, want string }{
		{"A", "zero:-5:false"}, // up (weighted) dropped; its own zero replaced by the group's
		{"B", "zero:-5:false"},
		{"C", "up:253:false down:-20:true zero:7:true"},
	} {
		for _, in := range cfg.Instances {
			if in.VRRP.Name == c.instance && show(in.TrackScripts) != c.want {
				t.Errorf("%s tracks %s, want %s", c.instance, show(in.TrackScripts), c.want)
			}
		}
	}
	warnings := fmt.Sprint(cfg.Warnings)
	for _, w := range []string{
		"keepalived.conf:29: vrrp_instance A: track_script up has a weight, which a member of vrrp_sync_group G cannot use",
		"keepalived.conf:30: vrrp_instance A: track_script zero is tracked by vrrp_sync_group G too",
		"keepalived.conf:47: track_script up: weight 254 is out of -253..253: 253 is used",
		"keepalived.conf:50: track_script up is already tracked here",
	} {
		if !strings.Contains(warnings, w) {
			t.Errorf("no warning %q in %s", w, warnings)
		}
	}
	c := cfg.Instances[2].Notify.Master
	if c == nil || strings.Join(c.Argv, "|") != "/bin/echo|to master" || c.User != "nobody" {
		t.Errorf("notify_master %+v", c)
	}
	if g := cfg.SyncGroups[0].Notify.Generic; g == nil || strings.Join(g.Argv, "|") != "/bin/echo|group" {
		t.Errorf("group notify %+v", g)
	}
}

// A definition keepalived disables (a vrrp_script without a script, a
// track_file without a file, a bfd_instance without a neighbour) is
// dropped with a warning, and so is each line tracking it: the instance
// runs without it, as keepalived's does.
func TestTrackingDisabled(t *testing.T) {
	inst := "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 5\n virtual_ipaddress {\n  192.0.2.5\n }\n"
	for _, c := range []struct{ name, defs, track, want string }{
		{"script", "vrrp_script s {\n interval 2\n}\n", " track_script {\n  s\n }\n",
			"keepalived.conf:11: vrrp_instance VI_1: track_script s: vrrp_script s is disabled (it has no script line): the line is ignored"},
		{"file", "track_file s {\n weight 2\n}\n", " track_file {\n  s\n }\n",
			"keepalived.conf:11: vrrp_instance VI_1: track_file s: track_file s is disabled (it has no file): the line is ignored"},
		{"bfd", "bfd_instance s {\n min_rx 5\n}\n", " track_bfd {\n  s\n }\n",
			"keepalived.conf:11: vrrp_instance VI_1: track_bfd s: bfd_instance s is disabled (it has no neighbor_ip): the line is ignored"},
	} {
		cfg, _, err := load(t, c.defs+inst+c.track+"}\n")
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !strings.Contains(fmt.Sprint(cfg.Warnings), c.want) {
			t.Errorf("%s: warnings %v, want %q", c.name, cfg.Warnings, c.want)
		}
		if in := cfg.Instances[0]; len(in.TrackScripts)+len(in.TrackFiles)+len(in.TrackBFDs) != 0 {
			t.Errorf("%s: the instance still tracks %v %v %v", c.name, in.TrackScripts, in.TrackFiles, in.TrackBFDs)
		}
	}
}
