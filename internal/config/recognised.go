package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// canonicalise renames deprecated aliases to the keywords keepalived
// means by them, with a warning, so that the builder sees one name.
func (b *builder) canonicalise(blk *schemaBlock, n *Node) {
	for _, c := range n.Children {
		k, ok := blk.keywords[c.Keyword]
		if !ok {
			continue
		}
		if k.canonical != "" {
			b.warnf(c.Pos, "%s is deprecated, use %s", c.Keyword, k.canonical)
			c.Keyword = k.canonical
		}
		if k.block != nil {
			b.canonicalise(k.block, c)
		}
	}
}

// other handles a statement the builder does not implement in blk: an
// unknown keyword is an error; a recognised one is an error unless
// running without it changes nothing (see ignorable).
func (b *builder) other(blk *schemaBlock, n *Node) {
	k, ok := blk.keywords[n.Keyword]
	if !ok {
		b.unknown(blk, n)
		return
	}
	why, ok := ignorable[strings.TrimPrefix(blk.path+"/"+n.Keyword, "/")]
	if !ok {
		b.notSupported(n)
		return
	}
	b.warnf(n.Pos, "keyword %s is recognised, not supported yet: %s", n.Keyword, why)
	b.checkIgnoredValue(n)
	b.checkKeywords(k, n)
}

// checkIgnoredValue checks the value of a process-tuning keyword vipd
// does not act on as keepalived checks it: a file keepalived refuses is
// refused here too, whatever vipd would do with it.
func (b *builder) checkIgnoredValue(n *Node) {
	arg := ""
	if len(n.Args) > 0 {
		arg = n.Args[0]
	}
	v, err := strconv.ParseInt(arg, 10, 64)
	switch k := n.Keyword; {
	case strings.HasSuffix(k, "_rt_priority"):
		// keepalived clamps a number to 1..99 and refuses anything else.
		if err != nil {
			b.errorf(n.Pos, "%s %q: must be a whole number (a real-time priority, 1..99)", k, arg)
		}
	case k == "vrrp_priority" || k == "checker_priority" || k == "bfd_priority":
		if err != nil || v < -20 || v > 19 {
			b.errorf(n.Pos, "%s %q: must be a nice value, -20..19", k, arg)
		}
	case strings.HasSuffix(k, "_rlimit_rttime") || strings.HasSuffix(k, "_rlimit_rtime"):
		if err != nil || v < 1 || v > math.MaxUint32 {
			b.errorf(n.Pos, "%s %q: must be a number of microseconds, 1..%d", k, arg, uint32(math.MaxUint32))
		}
	}
}

func (b *builder) unknown(blk *schemaBlock, n *Node) {
	in := "at the top level"
	if blk.path != "" {
		in = "in " + blk.path
	}
	msg := fmt.Sprintf("unknown keyword %s %s", n.Keyword, in)
	if elsewhere := schema.where(n.Keyword); len(elsewhere) > 0 {
		msg += "; keepalived accepts it in " + strings.Join(elsewhere, ", ")
	}
	if n.BraceIgnored {
		msg += "; keepalived ignores the '{' after it and reads the lines that follow " + in
	}
	if n.Keyword == `\` {
		msg += "; a comment line ending in '\\' leaves the '\\' as a word, as keepalived reads it: remove the '\\'"
	}
	b.errorf(n.Pos, "%s", msg)
}

// checkKeywords reports unknown keywords inside a block vipd does not
// build, so that a typo there is still caught.
func (b *builder) checkKeywords(k *schemaKeyword, n *Node) {
	if k.block == nil {
		return
	}
	for _, c := range n.Children {
		ck, ok := k.block.keywords[c.Keyword]
		if !ok {
			b.unknown(k.block, c)
			continue
		}
		b.checkKeywords(ck, c)
	}
}

// ignorable lists, by block/keyword, what vipd recognises without acting
// on it because running without it changes nothing the file asks for,
// and says why. Every other recognised keyword vipd does not build is an
// error: its absence would change behaviour.
var ignorable = func() map[string]string {
	m := map[string]string{}
	add := func(why string, paths ...string) {
		for _, p := range paths {
			m[p] = why
		}
	}
	add("vipd sets no ipsets: it blocks addresses in its own nftables table", "namespace_with_ipsets")
	add("vipd blocks addresses without accept mode in its own nftables table inet vipd",
		"global_defs/vrrp_iptables", "global_defs/vrrp_ipsets", "global_defs/nftables",
		"global_defs/nftables_priority", "global_defs/nftables_ifindex", "global_defs/nftables_counters")
	add("it tunes keepalived's processes; vipd is one process scheduled as the system sets it",
		"global_defs/vrrp_priority", "global_defs/checker_priority", "global_defs/bfd_priority",
		"global_defs/vrrp_no_swap", "global_defs/checker_no_swap", "global_defs/bfd_no_swap",
		"global_defs/vrrp_rt_priority", "global_defs/checker_rt_priority", "global_defs/bfd_rt_priority",
		"global_defs/vrrp_rlimit_rtime", "global_defs/checker_rlimit_rtime", "global_defs/bfd_rlimit_rtime",
		"global_defs/vrrp_rlimit_rttime", "global_defs/checker_rlimit_rttime", "global_defs/bfd_rlimit_rttime",
		"global_defs/vrrp_cpu_affinity", "global_defs/checker_cpu_affinity", "global_defs/bfd_cpu_affinity",
		"global_defs/process_names", "global_defs/process_name", "global_defs/vrrp_process_name",
		"global_defs/checker_process_name", "global_defs/bfd_process_name",
		"global_defs/max_auto_priority", "global_defs/min_auto_priority_delay", "global_defs/child_wait_time",
		"use_pid_dir", "child_wait_time")
	add("it sizes keepalived's socket buffers; vipd sizes its own",
		"global_defs/vrrp_rx_bufs_policy", "global_defs/vrrp_rx_bufs_multiplier",
		"global_defs/vrrp_netlink_cmd_rcv_bufs", "global_defs/vrrp_netlink_cmd_rcv_bufs_force",
		"global_defs/vrrp_netlink_monitor_rcv_bufs", "global_defs/vrrp_netlink_monitor_rcv_bufs_force",
		"global_defs/lvs_netlink_cmd_rcv_bufs", "global_defs/lvs_netlink_cmd_rcv_bufs_force",
		"global_defs/lvs_netlink_monitor_rcv_bufs", "global_defs/lvs_netlink_monitor_rcv_bufs_force",
		"global_defs/process_monitor_rcv_bufs", "global_defs/process_monitor_rcv_bufs_force",
		"vrrp_instance/kernel_rx_buf_size")
	add("vipd has no SNMP or D-Bus agent yet; nothing else changes",
		"global_defs/snmp_socket", "global_defs/enable_snmp_vrrp", "global_defs/enable_snmp_keepalived",
		"global_defs/enable_snmp_checker", "global_defs/enable_snmp_rfc", "global_defs/enable_snmp_rfcv2",
		"global_defs/enable_snmp_rfcv3", "global_defs/enable_traps", "global_defs/enable_dbus",
		"global_defs/dbus_service_name")
	add("it only changes what keepalived logs",
		"global_defs/log_unknown_vrids", "global_defs/checker_log_all_failures",
		"global_defs/vrrp_log_priority_changes", "vrrp_instance/debug", "global_defs/debug")
	add("vipd watches links through netlink, which tells it as soon as polling would",
		"global_defs/linkbeat_use_polling", "vrrp_instance/linkbeat_use_polling", "linkbeat_interfaces")
	add("it names this keepalived instance's files (${_INSTANCE}); vipd's pid file is set with -p",
		"instance")
	return m
}()
