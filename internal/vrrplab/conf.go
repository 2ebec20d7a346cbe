// Package vrrplab runs VRRP routers (vipd or keepalived) on a netlab LAN
// with a client probing the virtual address: the ground for the failover
// tests, the interop tests, the demo and the failover benchmark.
package vrrplab

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Instance describes the one vrrp_instance a lab router runs.
type Instance struct {
	Name      string // default VI_1
	VRID      uint8
	Priority  int
	Version   int           // 2 or 3
	Interval  time.Duration // default 1s
	NoPreempt bool
	AuthPass  string // VRRPv2 authentication, if set: PASS unless AuthType says AH
	AuthType  string
	VIP       netip.Prefix
	Source    netip.Addr   // unicast_src_ip, with Peers
	Peers     []netip.Addr // unicast_peer
	UseVMAC   bool
	Extra     []string // more lines for the instance block
	Global    []string // more lines for global_defs
	Top       []string // more top-level lines (vrrp_script blocks)
}

// Config is the keepalived.conf for one router.
func (in Instance) Config(routerID string) string {
	var b strings.Builder
	name := in.Name
	if name == "" {
		name = "VI_1"
	}
	interval := in.Interval
	if interval == 0 {
		interval = time.Second
	}
	fmt.Fprintf(&b, "global_defs {\n    router_id %s\n", routerID)
	for _, l := range in.Global {
		fmt.Fprintf(&b, "    %s\n", l)
	}
	b.WriteString("}\n\n")
	for _, l := range in.Top {
		fmt.Fprintf(&b, "%s\n", l)
	}
	fmt.Fprintf(&b, "vrrp_instance %s {\n", name)
	state := "BACKUP"
	if !in.NoPreempt && in.Priority == 255 {
		state = "MASTER"
	}
	fmt.Fprintf(&b, "    state %s\n    interface eth0\n    virtual_router_id %d\n    priority %d\n", state, in.VRID, in.Priority)
	fmt.Fprintf(&b, "    advert_int %s\n    version %d\n", seconds(interval), in.Version)
	if in.NoPreempt {
		b.WriteString("    nopreempt\n")
	}
	if in.AuthPass != "" {
		kind := in.AuthType
		if kind == "" {
			kind = "PASS"
		}
		fmt.Fprintf(&b, "    authentication {\n        auth_type %s\n        auth_pass %s\n    }\n", kind, in.AuthPass)
	}
	if in.UseVMAC {
		b.WriteString("    use_vmac\n")
	}
	if len(in.Peers) > 0 {
		fmt.Fprintf(&b, "    unicast_src_ip %v\n    unicast_peer {\n", in.Source)
		for _, p := range in.Peers {
			fmt.Fprintf(&b, "        %v\n", p)
		}
		b.WriteString("    }\n")
	}
	for _, l := range in.Extra {
		fmt.Fprintf(&b, "    %s\n", l)
	}
	fmt.Fprintf(&b, "    virtual_ipaddress {\n        %v\n    }\n}\n", in.VIP)
	return b.String()
}

func seconds(d time.Duration) string {
	s := fmt.Sprintf("%.2f", d.Seconds())
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}
