package config

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// use_vmac's MAC address, read as keepalived 2.2.7 reads it (each case
// checked against keepalived -t).
func TestParseVMACAddr(t *testing.T) {
	for _, c := range []struct {
		in, mac string // mac "": refused
		vrid    bool
		rest    string
	}{
		{"10:21:32:43:54", "10:21:32:43:54:00", true, ""},
		{"aa:bb:cc:dd:ee:", "aa:bb:cc:dd:ee:00", true, ""},
		{"a:b:c:d:e", "0a:0b:0c:0d:0e:00", true, ""},
		{"AA:BB:CC:DD:EE:F0", "aa:bb:cc:dd:ee:f0", false, ""},
		{"aa:bb:cc:dd:ee:ff:", "aa:bb:cc:dd:ee:ff", false, ""},
		{"aa:bb:cc:dd:ee:ff:11", "aa:bb:cc:dd:ee:ff", false, "11"},
		{"00:00:5e:00:03:01", "00:00:5e:00:03:01", false, ""},
		{"aa:bb:cc:dd", "", false, ""},
		{"aaa:bb:cc:dd:ee", "", false, ""},
		{"aa::cc:dd:ee", "", false, ""},
		{"aa:bb:cc:dd:ee::", "", false, ""},
		{"aa:bb:cc:dd:ee:fg", "", false, ""},
		{"-1:bb:cc:dd:ee:ff", "", false, ""},
		{"11:00:5e:00:01:09", "", false, ""}, // multicast
		{"00:00:5e:00:01:09", "", false, ""}, // the VRRP MACs
		{"00:00:5e:00:02", "", false, ""},
	} {
		mac, vrid, rest, err := parseVMACAddr(c.in)
		switch {
		case c.mac == "" && err == nil:
			t.Errorf("%s: read as %v, want it refused", c.in, mac)
		case c.mac != "" && err != nil:
			t.Errorf("%s: %v", c.in, err)
		case c.mac != "" && (mac.String() != c.mac || vrid != c.vrid || rest != c.rest):
			t.Errorf("%s: %v vrid %v rest %q, want %s vrid %v rest %q", c.in, mac, vrid, rest, c.mac, c.vrid, c.rest)
		}
	}
}

// The use_vmac forms, use_ipvlan, use_vmac_addr and the address option
// use_vmac, each as keepalived 2.2.7 reads it.
func TestVMACOptions(t *testing.T) {
	head := "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 7\n"
	v4 := " virtual_ipaddress {\n  198.18.65.10/24\n }\n}\n"
	for _, c := range []struct {
		name, conf, warning string
		check               func(*Instance) bool
	}{
		{"use_vmac", head + " use_vmac\n" + v4, "",
			func(in *Instance) bool { return in.UseVMAC && in.VMACName == "vrrp.7" && in.VMACAddr == nil }},
		{"use_vmac MAC", head + " use_vmac 12:21:32:43:54:aa\n" + v4, "",
			func(in *Instance) bool {
				return in.VMACName == "vrrp.7" && in.VMACAddr.String() == "12:21:32:43:54:aa" && in.VirtualMAC(true).String() == "12:21:32:43:54:aa"
			}},
		{"use_vmac NAME MAC of five octets", head + " use_vmac vm7 10:21:32:43:54\n" + v4, "",
			func(in *Instance) bool { return in.VMACName == "vm7" && in.VMACAddr.String() == "10:21:32:43:54:07" }},
		{"the MAC before the VRID", "vrrp_instance VI_1 {\n use_vmac 10:21:32:43:54\n virtual_router_id 9\n" + v4, "",
			func(in *Instance) bool { return in.VMACAddr.String() == "10:21:32:43:54:09" }},
		{"MAC then NAME over two statements", head + " use_vmac\n use_vmac 10:21:32:43:54:01 vm7\n" + v4, "",
			func(in *Instance) bool { return in.VMACName == "vm7" && in.VMACAddr.String() == "10:21:32:43:54:01" }},
		{"words past the second", head + " use_vmac vm7 10:21:32:43:54:01 x y\n" + v4, "use_vmac: x y is ignored",
			func(in *Instance) bool { return in.VMACName == "vm7" }},
		{"octets past the sixth", head + " use_vmac 10:21:32:43:54:01:ff\n" + v4, "ff after the sixth octet is ignored",
			func(in *Instance) bool { return in.VMACAddr.String() == "10:21:32:43:54:01" }},
		{"vmac_prefix", "global_defs {\n vmac_prefix VR\n}\n" + head + " use_vmac\n" + v4, "",
			func(in *Instance) bool { return in.VMACName == "VR.7" }},
		{"a long vmac_prefix is cut", "global_defs {\n vmac_prefix abcdefghijklmnop\n}\n" + head + " use_vmac\n" + v4, "",
			func(in *Instance) bool { return in.VMACName == "abcdefghijklm.7" }},
		{"use_ipvlan", head + " use_ipvlan 198.18.65.212/30\n" + v4, "",
			func(in *Instance) bool {
				return in.IPVLAN && !in.UseVMAC && in.VMACName == "vrrp.7" && in.IPVLANMode == "bridge" &&
					in.IPVLANAddr == netip.MustParsePrefix("198.18.65.212/30") && in.VRRP.Source == netip.MustParseAddr("198.18.65.212") &&
					in.AddressDev(in.VIPs[0]) == "eth0"
			}},
		{"use_ipvlan in any order", head + " use_ipvlan private 198.18.65.5 ipv7\n" + v4, "",
			func(in *Instance) bool {
				return in.VMACName == "ipv7" && in.IPVLANMode == "private" && in.IPVLANAddr == netip.MustParsePrefix("198.18.65.5/32")
			}},
		{"use_ipvlan with a source address", head + " mcast_src_ip 198.18.65.1\n use_ipvlan vepa 198.18.65.5\n" + v4, "",
			func(in *Instance) bool {
				return in.IPVLANMode == "vepa" && in.VRRP.Source == netip.MustParseAddr("198.18.65.1")
			}},
		{"use_ipvlan IPv6 without an address", head + " use_ipvlan ipv7\n virtual_ipaddress {\n  fd00::7\n }\n}\n", "",
			func(in *Instance) bool { return in.IPVLAN && !in.IPVLANAddr.IsValid() && !in.VRRP.Source.IsValid() }},
		{"use_ipvlan with use_vmac", head + " use_ipvlan ipv7 198.18.65.5\n use_vmac\n" + v4, "the addresses go on the ipvlan",
			func(in *Instance) bool {
				return in.IPVLAN && in.IPVLANAddresses && !in.UseVMAC && in.AddressDev(in.VIPs[0]) == "ipv7"
			}},
		{"vmac_xmit_base with use_ipvlan", head + " use_ipvlan 198.18.65.5\n vmac_xmit_base\n" + v4, "vmac_xmit_base does nothing with use_ipvlan",
			func(in *Instance) bool { return !in.VMACXmitBase }},
		{"address option use_vmac", head + " virtual_ipaddress {\n  198.18.65.10/24 use_vmac\n  198.18.66.10/24 dev eth1 use_vmac\n  198.18.66.11/24 dev eth1\n }\n}\n", "",
			func(in *Instance) bool {
				return !in.UseVMAC && in.VIPs[0].UseVMAC && fmt.Sprint(in.AddrVMACs) == "[{vrrp.7 eth0 00:00:5e:00:01:07} {vrrp1.7 eth1 00:00:5e:00:01:07}]" &&
					devs(in) == "vrrp.7 vrrp1.7 eth1"
			}},
		{"use_vmac_addr", head + " use_vmac\n use_vmac_addr\n virtual_ipaddress {\n  198.18.65.10/24\n  198.18.66.10/24 dev eth1\n }\n" +
			" virtual_ipaddress_excluded {\n  fd00::10\n }\n}\n", "",
			func(in *Instance) bool { return devs(in) == "vrrp.7 vrrp1.7 vrrp6.7" }},
		{"use_vmac_addr with a MAC given", head + " use_vmac 02:00:00:00:00:01\n use_vmac_addr\n virtual_ipaddress {\n  198.18.65.10/24\n }\n" +
			" virtual_ipaddress_excluded {\n  fd00::10\n }\n}\n", "",
			// The IPv6 address has the same MAC and interface: the VMAC's.
			func(in *Instance) bool { return devs(in) == "vrrp.7 vrrp.7" }},
		{"use_vmac with the instance's own", head + " use_vmac\n virtual_ipaddress {\n  198.18.65.10/24 use_vmac\n }\n}\n", "use_vmac does nothing: the instance's use_vmac",
			func(in *Instance) bool { return !in.VIPs[0].UseVMAC && devs(in) == "vrrp.7" }},
		{"use_vmac with use_vmac_addr", head + " use_vmac_addr\n virtual_ipaddress {\n  198.18.66.10/24 dev eth1 use_vmac\n }\n}\n", "use_vmac does nothing: use_vmac_addr",
			func(in *Instance) bool { return !in.VIPs[0].UseVMAC && devs(in) == "vrrp.7" }},
		{"a name another instance gives", "vrrp_instance VI_0 {\n interface eth1\n virtual_router_id 7\n use_vmac vm\n" + v4 + head + " use_vmac vm\n" + v4,
			"names its interface so already; this one gets a name of its own",
			func(in *Instance) bool { return in.VMACName == "vrrp.7" }},
	} {
		cfg, dir, err := load(t, c.conf)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		w := strings.ReplaceAll(fmt.Sprint(cfg.Warnings), dir+"/", "")
		if c.warning != "" && !strings.Contains(w, c.warning) || c.warning == "" && len(cfg.Warnings) > 0 {
			t.Errorf("%s: warnings %v, want %q", c.name, w, c.warning)
		}
		in := cfg.Instances[len(cfg.Instances)-1]
		if !c.check(in) {
			t.Errorf("%s: %+v", c.name, *in)
		}
		roundTrip(t, c.name, cfg)
	}
}

// devs lists where the instance's addresses go, virtual_ipaddress then
// virtual_ipaddress_excluded.
func devs(in *Instance) string {
	var s []string
	for _, v := range append(append([]VIP{}, in.VIPs...), in.Excluded...) {
		s = append(s, in.AddressDev(v))
	}
	return strings.Join(s, " ")
}

func TestVMACErrors(t *testing.T) {
	head := "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 7\n"
	v4 := " virtual_ipaddress {\n  198.18.65.10/24\n }\n}\n"
	for _, c := range []struct{ name, conf, want string }{
		{"a MAC too short", head + " use_vmac aa:bb:cc:dd\n" + v4, "keepalived.conf:4: use_vmac aa:bb:cc:dd: a MAC address needs six octets"},
		{"the VRRP MAC", head + " use_vmac 00:00:5e:00:01:09\n" + v4, "keepalived.conf:4: use_vmac 00:00:5e:00:01:09: a VRRP virtual MAC (RFC 5798) is not allowed"},
		{"two MACs", head + " use_vmac aa:bb:cc:dd:ee:ff 02:bb:cc:dd:ee:ff\n" + v4, "keepalived.conf:4: use_vmac 02:bb:cc:dd:ee:ff: the MAC address is given already"},
		{"two names", head + " use_vmac n5\n use_vmac n6\n" + v4, "keepalived.conf:5: use_vmac n6: the interface is named n5 already"},
		{"a name too long", head + " use_vmac 0123456789abcdef\n" + v4, "keepalived.conf:4: use_vmac 0123456789abcdef: longer than 15 characters"},
		{"a name with a slash", head + " use_ipvlan n/1 198.18.65.5\n" + v4, "keepalived.conf:4: use_ipvlan n/1: not a name Linux gives an interface"},
		{"a MAC in strict mode", head + " strict_mode\n use_vmac 02:00:00:00:00:01\n" + v4, "keepalived.conf:5: use_vmac 02:00:00:00:00:01: strict mode takes the VRRP virtual MAC"},
		{"an IPv4 ipvlan without an address", head + " use_ipvlan\n" + v4, "keepalived.conf:4: use_ipvlan: an IPv4 instance's ipvlan needs an address"},
		{"an ipvlan address of the other family", head + " use_ipvlan fd00::5/64\n" + v4, "keepalived.conf:4: use_ipvlan fd00::5/64: the ipvlan's address is not of the instance's family"},
		{"use_ipvlan twice", head + " use_ipvlan 198.18.65.5\n use_ipvlan n3\n" + v4, "keepalived.conf:5: use_ipvlan is given already (keepalived.conf:4)"},
		{"two ipvlan modes", head + " use_ipvlan bridge vepa 198.18.65.5\n" + v4, "keepalived.conf:4: use_ipvlan vepa: the mode is bridge already"},
		{"two ipvlan addresses", head + " use_ipvlan 198.18.65.5 198.18.65.6\n" + v4, "keepalived.conf:4: use_ipvlan 198.18.65.6: the address is 198.18.65.5/32 already"},
		{"vmac_prefix twice", "global_defs {\n vmac_prefix a\n vmac_prefix b\n}\n" + head + v4, "keepalived.conf:3: vmac_prefix b: given already (a)"},
		{"a vmac_addr_prefix no name can start with", "global_defs {\n vmac_addr_prefix a/b\n}\n" + head + v4, "keepalived.conf:2: vmac_addr_prefix \"a/b\": no interface name can hold '/' or ':'"},
		{"the VMAC of another instance", head + " use_vmac\n" + v4 + "vrrp_instance VI_2 {\n interface eth1\n virtual_router_id 7\n virtual_ipaddress {\n  198.18.65.11 dev eth0 use_vmac\n }\n}\n",
			"keepalived.conf:13: virtual address 198.18.65.11/32: its VMAC on eth0 (MAC 00:00:5e:00:01:07) would be vrrp_instance VI_1's"},
	} {
		_, dir, err := load(t, c.conf)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if got := strings.ReplaceAll(err.Error(), dir+"/", ""); !strings.HasPrefix(got, c.want) {
			t.Errorf("%s: error\n%s\nwant it to start with\n%s", c.name, got, c.want)
		}
	}
}

// Where the addresses of use_vmac.conf (keepalived's maintainer's test of
// these keywords, on eth0..eth2) go, and the VMACs' names: as keepalived
// 2.2.7 put them when run on it.
func TestVMACNames(t *testing.T) {
	cfg, _, err := load(t, `global_defs {
	vmac_prefix VRRP
	vmac_addr_prefix vmac_addr
}
vrrp_instance VI_2 {
	interface eth0
	virtual_router_id 252
	use_vmac
	use_vmac_addr
	virtual_ipaddress {
		198.18.65.100
		198.18.65.101 dev eth0
		198.18.66.107 dev eth1
		198.18.67.108 dev eth2
	}
	virtual_ipaddress_excluded {
		198.18.65.200
		2001:db8:1::100
		2001:db8:1::101 dev eth0
		2001:db8:1::107 dev eth1
	}
}
vrrp_instance VI_3 {
	interface eth0
	virtual_router_id 251
	virtual_ipaddress {
		198.18.65.110
		198.18.65.111 dev eth0
		198.18.65.112 use_vmac
		198.18.65.113 use_vmac dev eth0
		198.18.66.114 use_vmac dev eth1
		198.18.67.115 use_vmac dev eth2
		198.18.66.116 use_vmac dev eth1
		198.18.66.117 dev eth1
	}
	virtual_ipaddress_excluded {
		2001:db8:3::100 use_vmac
		2001:db8:3::101 dev eth1
	}
}
vrrp_instance VI_1 {
	interface eth0
	virtual_router_id 253
	use_vmac
	virtual_ipaddress {
		198.18.65.120
		198.18.66.122 use_vmac dev eth1
	}
	virtual_ipaddress_excluded {
		2001:db8:4::100 use_vmac
	}
}
`)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"VRRP.252: VRRP.252 VRRP.252 vmac_addr.252 vmac_addr1.252 VRRP.252 vmac_addr6.252 vmac_addr6.252 vmac_addr2.252",
		": eth0 eth0 vmac_addr.251 vmac_addr.251 vmac_addr1.251 vmac_addr2.251 vmac_addr1.251 eth1 vmac_addr6.251 eth1",
		"VRRP.253: VRRP.253 vmac_addr.253 vmac_addr6.253",
	}
	for i, in := range cfg.Instances {
		if got := in.VMACName + ": " + devs(in); got != want[i] {
			t.Errorf("%s: %s, want %s", in.VRRP.Name, got, want[i])
		}
	}
	if got := fmt.Sprint(cfg.Instances[0].AddrVMACs); got != "[{vmac_addr.252 eth1 00:00:5e:00:01:fc} {vmac_addr1.252 eth2 00:00:5e:00:01:fc} {vmac_addr6.252 eth0 00:00:5e:00:02:fc} {vmac_addr2.252 eth1 00:00:5e:00:02:fc}]" {
		t.Errorf("VI_2's address VMACs: %s", got)
	}
	roundTrip(t, "use_vmac.conf", cfg)
}

// The corpus's use_vmac.conf and one1m.conf (keepalived's maintainer's
// tests of these keywords) as keepalived 2.2.7 ran them with -i holdout:
// the interface every address went on, and the VMACs' names and MACs,
// copied from its -d dump and ip link.
func TestVMACCorpusFiles(t *testing.T) {
	dir := corpusDir + "/configs/pqarmitage-keepalived-devel-tools/"
	cfg, err := Load(dir+"use_vmac.conf", corpusOptions)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"VI_1: vrrp.253 vrrp.253 vmac_addr.253 vmac_addr1.253 vmac_addr.253 eth2 eth3 vrrp.253 vrrp.253 vmac_addr.253 vmac_addr1.253 vmac_addr.253 eth2 eth3 enp2s0 enp2s0 vmac_addr6.253 vmac_addr6.253 vmac_addr2.253 vmac_addr3.253 vmac_addr2.253 eth2 eth3",
		"VI_2: VRRP.252 VRRP.252 vmac_addr.252 vmac_addr1.252 VRRP.252 VRRP.252 vmac_addr.252 vmac_addr1.252 vmac_addr6.252 vmac_addr6.252 vmac_addr2.252 vmac_addr3.252",
		"VI_3: enp2s0 enp2s0 vmac_addr.251 vmac_addr.251 vmac_addr1.251 vmac_addr2.251 vmac_addr1.251 eth2 eth3 enp2s0 enp2s0 vmac_addr.251 vmac_addr.251 vmac_addr1.251 vmac_addr2.251 vmac_addr1.251 eth2 eth3 enp2s0 enp2s0 vmac_addr6.251 vmac_addr6.251 vmac_addr3.251 vmac_addr4.251 vmac_addr3.251 eth2 eth3",
		"VI_4: enp2s0 enp2s0 vmac_addr.250 vmac_addr.250 vmac_addr1.250 vmac_addr2.250 enp2s0 enp2s0 vmac_addr.250 vmac_addr.250 vmac_addr1.250 vmac_addr2.250 vmac_addr6.250 vmac_addr6.250 vmac_addr3.250 vmac_addr4.250",
		"VI_6: VRRP.25 VRRP.25 VRRP.25",
	}
	for i, in := range cfg.Instances {
		if got := in.VRRP.Name + ": " + devs(in); i >= len(want) || got != want[i] {
			t.Errorf("use_vmac.conf %s", got)
		}
	}
	cfg, err = Load(dir+"one1m.conf", corpusOptions)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, in := range cfg.Instances {
		got = append(got, fmt.Sprintf("%s %s %v", in.VRRP.Name, in.VMACName, in.VirtualMAC(in.VRRP.IPv6)))
	}
	if s := strings.Join(got, ", "); s != "VI_1 vrrp.253 10:21:32:43:54:fd, VI_6 vrrp6.253 10:21:32:43:64:fd" {
		t.Errorf("one1m.conf: %s", s)
	}
	// use_ipvlan: the ipvlan's address is the adverts' source; the
	// addresses stay on the parent.
	for file, want := range map[string]string{
		"oneb.conf": "VI_1 vrrp.253: vrrp.253 vrrp.253 vrrp.253 enp2s0 vrrp.253, " +
			"VI_2 ipvl2 ipvlan 1.2.3.4/32 bridge from 1.2.3.4: eth1 eth1, VI_6 vrrp6.253: vrrp6.253 vrrp6.253 vrrp6.253",
		"1382.conf": "VI_EXT_MP13 vrrp10 ipvlan 169.254.1.212/30 bridge from 169.254.1.212: eth0",
	} {
		cfg, err := Load(dir+file, corpusOptions)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, in := range cfg.Instances {
			s := in.VRRP.Name + " " + in.VMACName
			if in.IPVLAN {
				s += fmt.Sprintf(" ipvlan %v %s from %v", in.IPVLANAddr, in.IPVLANMode, in.VRRP.Source)
			}
			got = append(got, s+": "+devs(in))
		}
		if s := strings.Join(got, ", "); s != want {
			t.Errorf("%s: %s\nwant %s", file, s, want)
		}
	}
}
