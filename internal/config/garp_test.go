package config

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestKeepalivedSeconds(t *testing.T) {
	for _, c := range []struct {
		in      string
		want    time.Duration
		rounded bool
		ok      bool
	}{
		{"0", 0, false, true},
		{"1", time.Second, false, true},
		{"0.000001", time.Microsecond, false, true},
		{"1.", time.Second, false, true},
		{".5", 500 * time.Millisecond, false, true},
		{"3.14159265", 3141593 * time.Microsecond, true, true}, // the 7th decimal rounds up
		{"2.7182814", 2718281 * time.Microsecond, true, true},  // and down
		{"0.0000009", time.Microsecond, true, true},
		{"", 0, false, false},
		{".", 0, false, false},
		{"-1", 0, false, false},
		{"+1", 0, false, false},
		{"1e3", 0, false, false},
		{"1.2.3", 0, false, false},
		{"abc", 0, false, false},
		{"99999999999999999999", 0, false, false},
	} {
		d, rounded, ok := keepalivedSeconds(c.in)
		if ok != c.ok || ok && (d != c.want || rounded != c.rounded) {
			t.Errorf("%q: %v rounded %v ok %v, want %v %v %v", c.in, d, rounded, ok, c.want, c.rounded, c.ok)
		}
	}
}

func dur(d time.Duration) *time.Duration { return &d }

// garp_group as keepalived 2.2.7 reads it (values and errors checked
// against keepalived -t and its dump of a running configuration). vipd
// differs where noted: an extra value keepalived drops unsaid is an
// error, and an empty interfaces block (changing nothing) a warning.
func TestGARPGroup(t *testing.T) {
	inst := "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 7\n use_vmac\n virtual_ipaddress {\n  198.18.67.10/24\n }\n}\n"
	for _, c := range []struct {
		name, conf    string
		err, warning  string // substrings; "" for none
		groups        []GARPGroup
		globalARP, na time.Duration
	}{
		{name: "interface", conf: "garp_group {\n garp_interval 0.25\n interface eth1\n}\n",
			groups: []GARPGroup{{ARP: dur(250 * time.Millisecond), Interfaces: []string{"eth1"}}}},
		{name: "interfaces aggregate", conf: "garp_group {\n gna_interval 0.5\n garp_interval 0\n interfaces {\n  eth1 eth2\n  eth3\n }\n}\n",
			groups: []GARPGroup{{ARP: dur(0), NA: dur(500 * time.Millisecond), Interfaces: []string{"eth1", "eth2", "eth3"}}}},
		{name: "interface and interfaces", conf: "garp_group {\n garp_interval 0.1\n interface eth1\n interfaces {\n  eth2\n }\n}\n",
			groups: []GARPGroup{{ARP: dur(100 * time.Millisecond), Interfaces: []string{"eth1", "eth2"}}}},
		{name: "two groups", conf: "garp_group {\n garp_interval 0.1\n interface eth1\n}\ngarp_group {\n gna_interval 0.2\n interface eth2\n}\n",
			groups: []GARPGroup{{ARP: dur(100 * time.Millisecond), Interfaces: []string{"eth1"}}, {NA: dur(200 * time.Millisecond), Interfaces: []string{"eth2"}}}},
		{name: "too many decimals round", conf: "garp_group {\n garp_interval 0.12345678\n interface eth1\n}\n",
			warning: "keepalived.conf:2: garp_interval 0.12345678: more than 6 decimals; 0.123457 s is used",
			groups:  []GARPGroup{{ARP: dur(123457 * time.Microsecond), Interfaces: []string{"eth1"}}}},
		{name: "very large", conf: "garp_group {\n garp_interval 1617.123\n interface eth1\n}\n",
			warning: "keepalived.conf:2: garp_interval 1617.123: very large",
			groups:  []GARPGroup{{ARP: dur(1617123 * time.Millisecond), Interfaces: []string{"eth1"}}}},
		{name: "global kind not inherited", conf: "global_defs {\n vrrp_gna_interval 0.3\n}\ngarp_group {\n garp_interval 0.1\n interface eth1\n}\n",
			warning: "keepalived.conf:4: garp_group gives no gna_interval: unsolicited neighbour advertisements on eth1 go out unspaced",
			groups:  []GARPGroup{{ARP: dur(100 * time.Millisecond), Interfaces: []string{"eth1"}}}, na: 300 * time.Millisecond},
		{name: "name ignored", conf: "garp_group GG_1 {\n garp_interval 0.1\n interface eth1\n}\n",
			warning: "keepalived.conf:1: garp_group takes no name",
			groups:  []GARPGroup{{ARP: dur(100 * time.Millisecond), Interfaces: []string{"eth1"}}}},
		{name: "no interface", conf: "garp_group {\n garp_interval 0.1\n}\n", warning: "keepalived.conf:1: garp_group names no interface",
			groups: []GARPGroup{{ARP: dur(100 * time.Millisecond)}}},
		{name: "empty interfaces", conf: "garp_group {\n garp_interval 0.1\n interfaces {\n }\n}\n", warning: "keepalived.conf:3: garp_group: the interfaces block is empty",
			groups: []GARPGroup{{ARP: dur(100 * time.Millisecond)}}},

		{name: "no delay", conf: "garp_group {\n interface eth1\n}\n", err: "keepalived.conf:1: garp_group gives neither garp_interval nor gna_interval"},
		{name: "negative", conf: "garp_group {\n garp_interval -1\n interface eth1\n}\n", err: `keepalived.conf:2: garp_interval "-1": must be 0..2147.483647 seconds`},
		{name: "out of range", conf: "garp_group {\n gna_interval 2147.483648\n interface eth1\n}\n", err: `keepalived.conf:2: gna_interval "2147.483648": must be 0..2147.483647`},
		{name: "not a number", conf: "garp_group {\n gna_interval abc\n interface eth1\n}\n", err: `keepalived.conf:2: gna_interval "abc"`},
		{name: "two values", conf: "garp_group {\n garp_interval 1 2\n interface eth1\n}\n", err: "keepalived.conf:2: garp_interval takes 1 value(s), got 2"},
		{name: "in two groups", conf: "garp_group {\n garp_interval 0.1\n interface eth1\n}\ngarp_group {\n garp_interval 0.2\n interfaces {\n  eth2\n  eth1\n }\n}\n",
			err: "keepalived.conf:9: garp_group: interface eth1 is already in the garp_group at "},
		{name: "twice in one group", conf: "garp_group {\n garp_interval 0.1\n interface eth1\n interfaces {\n  eth1\n }\n}\n",
			err: "keepalived.conf:5: garp_group: interface eth1 is listed twice in the group"},
		{name: "impossible name", conf: "garp_group {\n garp_interval 0.1\n interface eth0:1\n}\n", err: `keepalived.conf:3: garp_group: interface "eth0:1": a name with ':' is an address label`},
		{name: "a VMAC", conf: inst + "garp_group {\n garp_interval 0.1\n interface vrrp.7\n}\n",
			err: "keepalived.conf:11: garp_group: vrrp.7 is the VMAC of vrrp_instance VI_1 ("},
		{name: "unknown keyword", conf: "garp_group {\n garp_interval 0.1\n interface eth1\n delay 3\n}\n", err: "keepalived.conf:4: unknown keyword delay in garp_group"},
		{name: "no block", conf: "garp_group\n", err: "keepalived.conf:1: garp_group takes a block"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, _, err := load(t, c.conf)
			switch {
			case c.err == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
				t.Fatalf("error %v, want one with %q", err, c.err)
			}
			if c.warning != "" && !strings.Contains(fmt.Sprint(cfg.Warnings), c.warning) {
				t.Errorf("warnings %v, want one with %q", cfg.Warnings, c.warning)
			}
			if c.err != "" {
				return
			}
			if len(cfg.GARPGroups) != len(c.groups) {
				t.Fatalf("%d groups, want %d", len(cfg.GARPGroups), len(c.groups))
			}
			for i, g := range cfg.GARPGroups {
				w := c.groups[i]
				if !sameDur(g.ARP, w.ARP) || !sameDur(g.NA, w.NA) || strings.Join(g.Interfaces, " ") != strings.Join(w.Interfaces, " ") {
					t.Errorf("group %d: arp %v na %v %v, want %v %v %v", i, show(g.ARP), show(g.NA), g.Interfaces, show(w.ARP), show(w.NA), w.Interfaces)
				}
			}
			if cfg.Global.GNAInterval != c.na {
				t.Errorf("vrrp_gna_interval %v, want %v (a group leaves it alone)", cfg.Global.GNAInterval, c.na)
			}
			roundTrip(t, c.name, cfg)
		})
	}
}

func sameDur(a, b *time.Duration) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}

func show(d *time.Duration) string {
	if d == nil {
		return "-"
	}
	return d.String()
}

// interface_up_down_delays as keepalived 2.2.7 reads and runs it (each
// case checked against keepalived -t and its dump of a running
// configuration: an up delay left out is 0, whatever its manual says).
func TestLinkDelays(t *testing.T) {
	for _, c := range []struct {
		name, lines  string
		err, warning string
		want         []LinkDelay
	}{
		{name: "down and up", lines: "eth1 2 1.5", want: []LinkDelay{{Interface: "eth1", Down: 2 * time.Second, Up: 1500 * time.Millisecond}}},
		{name: "microseconds", lines: "eth1 0.001 0.0001", want: []LinkDelay{{Interface: "eth1", Down: time.Millisecond, Up: 100 * time.Microsecond}}},
		{name: "up left out is 0", lines: "eth12 1", warning: "keepalived.conf:2: interface_up_down_delays: eth12 gives no up delay",
			want: []LinkDelay{{Interface: "eth12", Down: time.Second}}},
		{name: "zero down", lines: "eth3 0 5", want: []LinkDelay{{Interface: "eth3", Up: 5 * time.Second}}},
		{name: "no delays ignored", lines: "eth2", warning: "keepalived.conf:2: interface_up_down_delays: eth2 has no delays, so keepalived ignores the line"},
		{name: "extra value ignored", lines: "eth4 5 0 6", warning: "keepalived.conf:2: interface_up_down_delays: eth4 takes a down and an up delay; keepalived ignores the rest (6)",
			want: []LinkDelay{{Interface: "eth4", Down: 5 * time.Second}}},
		{name: "last line wins", lines: "eth1 1 1\neth5 1 0\neth1 1.1234567", warning: "keepalived.conf:4: interface_up_down_delays: eth1 is given twice (first at ",
			want: []LinkDelay{{Interface: "eth1", Down: 1123457 * time.Microsecond}, {Interface: "eth5", Down: time.Second}}},
		{name: "too many decimals", lines: "eth1 1.1234567 0", warning: "keepalived.conf:2: interface_up_down_delays: eth1 down delay 1.1234567: more than 6 decimals; 1.123457 s is used",
			want: []LinkDelay{{Interface: "eth1", Down: 1123457 * time.Microsecond}}},
		{name: "the maximum", lines: "eth1 255 255", want: []LinkDelay{{Interface: "eth1", Down: 255 * time.Second, Up: 255 * time.Second}}},

		{name: "above the maximum", lines: "bond0 256", err: `keepalived.conf:2: interface_up_down_delays: bond0 down delay "256": must be 0..255 seconds`},
		{name: "not a number", lines: "eth12 abc", err: `keepalived.conf:2: interface_up_down_delays: eth12 down delay "abc"`},
		{name: "bad up delay", lines: "eth1 1 -2", err: `keepalived.conf:2: interface_up_down_delays: eth1 up delay "-2"`},
		{name: "impossible name", lines: "averyveryverylongname 1 1", err: `keepalived.conf:2: interface_up_down_delays: interface "averyveryverylongname": longer than 15 characters`},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, _, err := load(t, "interface_up_down_delays {\n"+c.lines+"\n}\n")
			switch {
			case c.err == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
				t.Fatalf("error %v, want one with %q", err, c.err)
			}
			if c.warning != "" && !strings.Contains(fmt.Sprint(cfg.Warnings), c.warning) {
				t.Errorf("warnings %v, want one with %q", cfg.Warnings, c.warning)
			}
			if c.err != "" {
				return
			}
			var got []string
			for _, l := range cfg.LinkDelays {
				got = append(got, fmt.Sprintf("%s %v %v", l.Interface, l.Down, l.Up))
			}
			var want []string
			for _, l := range c.want {
				want = append(want, fmt.Sprintf("%s %v %v", l.Interface, l.Down, l.Up))
			}
			if strings.Join(got, ", ") != strings.Join(want, ", ") {
				t.Errorf("delays [%s], want [%s]", strings.Join(got, ", "), strings.Join(want, ", "))
			}
			roundTrip(t, c.name, cfg)
		})
	}
}

// A VMAC's delays are its interface's: keepalived refuses its name (it
// does not exist when the file is read).
func TestLinkDelaysVMAC(t *testing.T) {
	_, _, err := load(t, "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 253\n use_vmac vrrp.253\n virtual_ipaddress {\n  198.18.67.10/24\n }\n}\ninterface_up_down_delays {\n eth0 1 1.5\n vrrp.253 1.5\n}\n")
	if err == nil || !strings.Contains(err.Error(), "keepalived.conf:11: interface_up_down_delays: vrrp.253 is the VMAC of vrrp_instance VI_1") {
		t.Fatalf("error %v, want the VMAC refused", err)
	}
}

// keepalived lowers a delay of at least down_timer_adverts-1 advert
// intervals to 1/256 of an interval below that (eth0 11 6 with 1 s
// adverts ran as 1.996094 s both ways), and drops the delays with
// down_timer_adverts 1.
func TestEffectiveLinkDelay(t *testing.T) {
	inst := func(name, iface, extra string) string {
		return fmt.Sprintf("vrrp_instance %s {\n interface %s\n virtual_router_id 9\n%s virtual_ipaddress {\n  198.18.67.10/24\n }\n}\n", name, iface, extra)
	}
	for _, c := range []struct {
		name, conf string
		ifname     string
		down, up   time.Duration
		note       string
	}{
		{"lowered", inst("VI_1", "eth0", "") + "interface_up_down_delays {\n eth0 11 6\n}\n", "eth0",
			1996094 * time.Microsecond, 1996094 * time.Microsecond, "(VI_1) interface_up_down_delays on eth0 must be below 2 advert intervals (2 s)"},
		{"below the limit", inst("VI_1", "eth0", "") + "interface_up_down_delays {\n eth0 1.5 0.5\n}\n", "eth0",
			1500 * time.Millisecond, 500 * time.Millisecond, ""},
		{"only the one at the limit", inst("VI_1", "eth0", " advert_int 2\n") + "interface_up_down_delays {\n eth0 4 1\n}\n", "eth0",
			3992188 * time.Microsecond, time.Second, "lowered to 3.992188 s down, 1 s up"},
		{"down_timer_adverts 5", inst("VI_1", "eth0", " down_timer_adverts 5\n") + "interface_up_down_delays {\n eth0 3.9 0\n}\n", "eth0",
			3900 * time.Millisecond, 0, ""},
		{"down_timer_adverts 1", inst("VI_1", "eth0", " down_timer_adverts 1\n") + "interface_up_down_delays {\n eth0 0.5 0.5\n}\n", "eth0",
			0, 0, "(VI_1) down_timer_adverts 1 leaves no time"},
		{"other interface untouched", inst("VI_1", "eth0", "") + "interface_up_down_delays {\n eth1 11 6\n}\n", "eth1",
			11 * time.Second, 6 * time.Second, ""},
		{"the shortest interval counts", "interface_up_down_delays {\n eth0 3 3\n}\n" + inst("VI_1", "eth0", " advert_int 5\n") +
			strings.Replace(inst("VI_2", "eth0", " advert_int 1\n"), "virtual_router_id 9", "virtual_router_id 10", 1), "eth0",
			1996094 * time.Microsecond, 1996094 * time.Microsecond, "(VI_2)"},
		{"none given", inst("VI_1", "eth0", ""), "eth0", 0, 0, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, _, err := load(t, c.conf)
			if err != nil {
				t.Fatal(err)
			}
			d, notes := cfg.EffectiveLinkDelay(c.ifname)
			if d.Down != c.down || d.Up != c.up {
				t.Errorf("down %v up %v, want %v %v", d.Down, d.Up, c.down, c.up)
			}
			if all := strings.Join(notes, "; "); c.note == "" && all != "" || !strings.Contains(all, c.note) {
				t.Errorf("notes %q, want %q", all, c.note)
			}
		})
	}
}

// -d shows the groups and delays, with what runs where it differs from
// what is written.
func TestDumpGARPAndLinkDelays(t *testing.T) {
	cfg, _, err := load(t, "garp_group {\n gna_interval 0.2\n interfaces {\n  eth1\n  eth2\n }\n}\n"+
		"vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 9\n virtual_ipaddress {\n  198.18.67.10/24\n }\n}\n"+
		"interface_up_down_delays {\n eth0 11 6\n eth1 0.5 0\n}\n")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := cfg.Dump(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"garp_group {\n    # garp_interval: not given: gratuitous ARPs on these interfaces are not spaced\n    gna_interval 0.2\n    interfaces {\n        eth1\n        eth2\n    }\n}\n",
		"interface_up_down_delays {\n    eth0 11 6\n    # eth0 runs with 1.996094 1.996094: (VI_1) interface_up_down_delays on eth0 must be below 2 advert intervals",
		"    eth1 0.5 0\n}\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the dump lacks\n%s\ndump:\n%s", want, b.String())
		}
	}
	roundTrip(t, "garp and delays", cfg)
}
