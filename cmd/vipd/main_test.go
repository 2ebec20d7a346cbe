package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vipd/vipd/internal/netlab"
)

func TestVersionAndHelp(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"-v"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "vipd ") {
		t.Fatalf("-v: exit %d, %q", code, out.String())
	}
	out.Reset()
	if code := run([]string{"--help"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "--config-test") {
		t.Fatalf("--help: exit %d, %q", code, out.String())
	}
}

// keepalived's flags parse as getopt_long does; refused ones say why.
func TestOptions(t *testing.T) {
	o, err := parseOptions([]string{"-nlD", "-fa.conf", "--pid", "x.pid", "-S", "local3", "-P", "--dont-respawn"})
	if err != nil {
		t.Fatal(err)
	}
	if !o.foreground || !o.console || !o.detail || o.configFile != "a.conf" || o.pidFile != "x.pid" || o.facility != "local3" {
		t.Errorf("options %+v", o)
	}
	o, err = parseOptions([]string{"--use-file=b.conf", "-t"})
	if err != nil || o.configFile != "b.conf" || !o.test || o.testLog != "" {
		t.Errorf("options %+v, %v", o, err)
	}
	o, err = parseOptions([]string{"--config-test=/tmp/log"})
	if err != nil || !o.test || o.testLog != "/tmp/log" {
		t.Errorf("options %+v, %v", o, err)
	}
	for _, bad := range [][]string{{"-x"}, {"-C"}, {"--snmp"}, {"-f"}, {"-Z"}, {"--nope"}, {"stray"}, {"-S", "local9"}} {
		if _, err := parseOptions(bad); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
	if _, err := parseOptions([]string{"-x"}); err == nil || !strings.Contains(err.Error(), "not supported yet") {
		t.Errorf("-x: %v", err)
	}
}

// -t: exit 0 on a good file; keepalived's exit status 5 with file:line on
// a bad one, and "not supported yet" for keywords vipd lacks.
func TestConfigTest(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.conf", "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 5\n priority 100\n virtual_ipaddress {\n  192.0.2.5/24\n }\n}\n")
	bad := write("bad.conf", "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 300\n}\n")
	unsupported := write("unsup.conf", "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 5\n vrf blue\n virtual_ipaddress {\n  192.0.2.5/24\n }\n}\n")
	for _, c := range []struct {
		file string
		code int
		want string
	}{
		{good, 0, ""},
		{bad, exitConfig, "bad.conf:3"},
		{unsupported, exitConfig, "keyword vrf (" + unsupported + ":4) is not supported yet"},
		{filepath.Join(dir, "missing.conf"), exitConfig, "missing.conf"},
	} {
		var out, errb bytes.Buffer
		code := run([]string{"-t", "-f", c.file}, &out, &errb)
		if code != c.code || !strings.Contains(errb.String(), c.want) {
			t.Errorf("-t -f %s: exit %d, stderr %q; want %d and %q", filepath.Base(c.file), code, errb.String(), c.code, c.want)
		}
	}
	// Interfaces this host lacks are warnings: -t may run elsewhere.
	tracked := write("tracked.conf", "vrrp_instance VI_1 {\n interface nosuch0\n virtual_router_id 5\n track_interface {\n  nosuch1 weight -10\n }\n virtual_ipaddress {\n  192.0.2.5/24\n }\n}\n")
	var tout, terr bytes.Buffer
	if code := run([]string{"-t", "-f", tracked}, &tout, &terr); code != 0 ||
		!strings.Contains(terr.String(), "tracked.conf:1: vrrp_instance VI_1: interface nosuch0 does not exist on this host") ||
		!strings.Contains(terr.String(), "tracked.conf:5: vrrp_instance VI_1: tracked interface nosuch1 does not exist on this host") {
		t.Errorf("-t on missing interfaces: exit %d, %q", code, terr.String())
	}
	// So is a script user this host lacks: vipd would refuse to start.
	users := write("users.conf", "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 5\n notify_master \"/bin/true\" no-such-user-vipd\n virtual_ipaddress {\n  192.0.2.5/24\n }\n}\n")
	tout.Reset()
	terr.Reset()
	if code := run([]string{"-t", "-f", users}, &tout, &terr); code != 0 ||
		!strings.Contains(terr.String(), "users.conf:4: script user no-such-user-vipd does not exist on this host: vipd would not start on this host") {
		t.Errorf("-t on a missing script user: exit %d, %q", code, terr.String())
	}
	// A bad file also stops the daemon before it starts.
	var out, errb bytes.Buffer
	if code := run([]string{"-n", "-f", bad}, &out, &errb); code != exitConfig {
		t.Errorf("daemon on a bad file: exit %d, %q", code, errb.String())
	}
}

// -d prints what vipd understood, defaults filled in, and -i chooses the
// @ID lines.
func TestDumpAndConfigID(t *testing.T) {
	p := filepath.Join(t.TempDir(), "k.conf")
	conf := "$IF=eth7\nvrrp_instance VI_1 {\n interface $IF\n virtual_router_id 5\n@lb1 priority 200\n@^lb1 priority 50\n virtual_ipaddress {\n  192.0.2.5/24\n }\n}\n"
	if err := os.WriteFile(p, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	for id, prio := range map[string]string{"lb1": "priority 200", "lb2": "priority 50"} {
		var out, errb bytes.Buffer
		if code := run([]string{"-t", "-d", "-i", id, "-f", p}, &out, &errb); code != 0 {
			t.Fatalf("-i %s: exit %d: %s", id, code, errb.String())
		}
		for _, want := range []string{"interface eth7\n", prio + "\n", "advert_int 1\n", "garp_master_delay 5\n", "192.0.2.5/24\n"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("-i %s: dump lacks %q:\n%s", id, want, out.String())
			}
		}
	}
}

// The story must show the make-before-break handover: stopping the
// master and starting routers again lose nothing; only the kill does.
func TestSimulateStory(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"simulate"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	steps := strings.Split(out.String(), "\n== ")[1:]
	if len(steps) != 5 {
		t.Fatalf("%d steps:\n%s", len(steps), out.String())
	}
	for i, want := range []bool{true, false, true, false, false} { // does the step lose probes?
		lossless := strings.Contains(steps[i], "probes lost: 0 of")
		if lossless == want {
			t.Errorf("step %q: lost probes = %v, want %v", strings.SplitN(steps[i], "\n", 2)[0], !lossless, want)
		}
	}
}

// The demo runs its five steps on real namespaces and cleans up.
func TestDemo(t *testing.T) {
	netlab.NeedRoot(t)
	t.Parallel()
	var out, errb bytes.Buffer
	if code := run([]string{"demo", "-q"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, errb.String(), out.String())
	}
	steps := strings.Split(out.String(), "\n== ")[1:]
	if len(steps) != 5 {
		t.Fatalf("%d steps:\n%s", len(steps), out.String())
	}
	if !strings.Contains(steps[1], "r2: (VI_1) Entering MASTER STATE") || !strings.Contains(steps[4], "held by r1\n") {
		t.Errorf("timeline:\n%s", out.String())
	}
	t.Log(out.String())
	if _, err := os.Stat("/run/netns/vipddemo-sw"); err == nil {
		t.Error("the demo left its namespaces behind")
	}
}
