package config

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vipd/vipd/internal/vrrp"
)

// Dump writes the configuration as vipd understood it, in keepalived.conf
// syntax with every default spelled out, so that a user sees what each
// instance will do; reading the dump back gives the same configuration.
func (c *Config) Dump(w io.Writer) error {
	d := &dumper{cfg: c}
	if c.Global.NetNamespace != "" {
		d.line(0, "net_namespace %s", quote(c.Global.NetNamespace))
	}
	d.line(0, "global_defs {")
	if c.Global.RouterID != "" {
		d.line(1, "router_id %s", quote(c.Global.RouterID))
	} else {
		d.line(1, "# router_id: the host name")
	}
	if c.Global.Umask >= 0 {
		d.line(1, "umask %#o", c.Global.Umask)
	}
	d.line(1, "vrrp_mcast_group4 %v", c.Global.MulticastGroup4)
	d.line(1, "vrrp_mcast_group6 %v", c.Global.MulticastGroup6)
	for _, iv := range []struct {
		keyword string
		every   time.Duration
	}{{"vrrp_garp_interval", c.Global.GARPInterval}, {"vrrp_gna_interval", c.Global.GNAInterval}} {
		if iv.every > 0 {
			d.line(1, "%s %s", iv.keyword, secs(iv.every))
		} else {
			d.line(1, "# %s: none (announcements are not spaced)", iv.keyword)
		}
	}
	if c.Global.DynamicInterfaces {
		d.line(1, "dynamic_interfaces")
	}
	if c.Global.VMACPrefix != "" {
		d.line(1, "vmac_prefix %s", quote(c.Global.VMACPrefix))
	}
	if c.Global.VMACAddrPrefix != "" {
		d.line(1, "vmac_addr_prefix %s", quote(c.Global.VMACAddrPrefix))
	}
	d.email(&c.Global.Email)
	for _, f := range []struct {
		keyword string
		fifo    *FIFO
	}{{"notify_fifo", c.Global.NotifyFIFO}, {"vrrp_notify_fifo", c.Global.VRRPNotifyFIFO}, {"lvs_notify_fifo", c.Global.LVSNotifyFIFO}} {
		if f.fifo == nil {
			continue
		}
		line := quote(f.fifo.Path)
		if f.fifo.User != "" {
			line += " " + userGroup(f.fifo.User, f.fifo.Group)
		}
		d.line(1, "%s %s", f.keyword, line)
		if sc := f.fifo.Script; sc != nil {
			script := scriptText(sc.Argv)
			if sc.User != "" {
				script += " " + userGroup(sc.User, sc.Group)
			}
			d.line(1, "%s_script %s", f.keyword, script)
		}
	}
	if c.Global.StartupDelay > 0 {
		d.line(1, "vrrp_startup_delay %s", secs(c.Global.StartupDelay))
	}
	d.reload(&c.Global.Reload)
	if c.Global.ScriptUser != "" {
		d.line(1, "script_user %s", userGroup(c.Global.ScriptUser, c.Global.ScriptGroup))
	} else {
		d.line(1, "# script_user: keepalived_script if that user exists, else root")
	}
	if c.Global.ScriptSecurity {
		d.line(1, "enable_script_security")
	}
	d.lvsGlobal(&c.Global)
	d.line(0, "}")
	for _, s := range c.Scripts {
		d.script(s)
	}
	// Before the instances and groups: keepalived resolves a tracked
	// file's name as it reads the line.
	for _, f := range c.TrackFiles {
		d.line(0, "track_file %s {", quote(f.Name))
		d.line(1, "file %s", quote(f.Path))
		if f.Reverse {
			d.line(1, "weight %d reverse", f.Weight)
		} else {
			d.line(1, "weight %d", f.Weight)
		}
		if f.Init {
			init := "init_file " + strconv.Itoa(f.InitValue)
			if f.Overwrite {
				init += " overwrite"
			}
			d.line(1, "%s", init)
		}
		d.line(0, "}")
	}
	for _, p := range c.TrackProcesses {
		d.trackProcess(p)
	}
	for _, f := range c.BFDs {
		d.bfd(f)
	}
	d.disabledBFDs(c)
	for _, g := range c.SyncGroups {
		d.line(0, "vrrp_sync_group %s {", quote(g.Name))
		d.group(g.Members)
		d.tracked("track_interface", g.TrackInterfaces, nil)
		if g.TrackingWeight {
			d.line(1, "sync_group_tracking_weight")
		}
		d.tracked("track_script", g.TrackScripts, nil)
		d.tracked("track_file", g.TrackFiles, nil)
		d.tracked("track_process", g.TrackProcesses, nil)
		d.tracked("track_bfd", g.TrackBFDs, nil)
		d.notify(&g.Notify)
		d.line(1, "smtp_alert %v", g.SMTPAlert)
		d.line(0, "}")
	}
	for _, g := range c.TrackGroups {
		d.line(0, "track_group %s {", quote(g.Name))
		d.group(g.Members)
		d.line(0, "}")
	}
	d.garpGroupsAndLinkDelays(c)
	d.depth = -1
	d.vips("static_ipaddress", c.Static.Addresses)
	d.routes("static_routes", c.Static.Routes)
	d.rules("static_rules", c.Static.Rules)
	d.depth = 0
	for _, in := range c.Instances {
		g := c.groupOf(in.VRRP.Name)
		if g == nil {
			g = &SyncGroup{}
		}
		d.instance(in, g)
	}
	d.lvs(c)
	_, err := w.Write(d.buf.Bytes())
	return err
}

// dumper writes lines indented by depth levels; blocks of data lines
// (addresses, routes, rules) are written one level below the block they
// are in, which for the static ones is the top level (depth -1).
type dumper struct {
	buf   bytes.Buffer
	depth int
	cfg   *Config
}

func (d *dumper) line(depth int, format string, args ...any) {
	d.buf.WriteString(strings.Repeat("    ", depth))
	fmt.Fprintf(&d.buf, format, args...)
	d.buf.WriteByte('\n')
}

// instance writes one vrrp_instance; what its sync group tracks is
// written in the group.
func (d *dumper) instance(in *Instance, g *SyncGroup) {
	c := &in.VRRP
	d.line(0, "vrrp_instance %s {", quote(c.Name))
	d.line(1, "# %s, VRRPv%d", family(c.IPv6), c.Version)
	state := "BACKUP"
	if c.WantMaster {
		state = "MASTER"
	}
	d.line(1, "state %s", state)
	d.line(1, "interface %s", quote(c.Interface))
	d.line(1, "virtual_router_id %d", c.VRID)
	d.line(1, "version %d", c.Version)
	d.line(1, "priority %d", c.Priority)
	d.line(1, "advert_int %s", secs(c.Interval))
	if c.NoPreempt {
		d.line(1, "nopreempt")
	}
	d.line(1, "preempt_delay %s", secs(c.PreemptDelay))
	if in.Accept {
		d.line(1, "accept")
	} else {
		d.line(1, "no_accept")
	}
	if c.Source.IsValid() {
		d.line(1, "unicast_src_ip %v", c.Source)
	}
	if c.AuthType != vrrp.AuthNone {
		d.line(1, "authentication {")
		d.line(2, "auth_type %s", map[vrrp.AuthType]string{vrrp.AuthPass: "PASS", vrrp.AuthAH: "AH"}[c.AuthType])
		d.line(2, "auth_pass %s", quote(string(bytes.TrimRight(c.AuthPass[:], "\x00"))))
		d.line(1, "}")
	}
	if c.SkipCheckAdvAddr {
		d.line(1, "skip_check_adv_addr")
	}
	d.line(1, "lower_prio_no_advert %t", c.LowerPrioNoAdvert)
	d.line(1, "v3_checksum_as_v2 %t", c.ChecksumAsV2)
	d.line(1, "down_timer_adverts %d", c.DownTimerAdverts)
	d.line(1, "garp_master_delay %s", secs(c.GARPMasterDelay))
	d.line(1, "garp_master_repeat %d", c.GARPMasterRepeat)
	d.line(1, "garp_master_refresh %s", secs(c.GARPMasterRefresh))
	d.line(1, "garp_master_refresh_repeat %d", c.GARPMasterRefreshRepeat)
	d.line(1, "garp_lower_prio_delay %s", secs(c.GARPLowerPrioDelay))
	d.line(1, "garp_lower_prio_repeat %d", c.GARPLowerPrioRepeat)
	if in.ExtraAnnounce > 0 {
		all := ""
		if in.ExtraAnnounceAll {
			all = " all"
		}
		d.line(1, "garp_extra_if%s %s", all, secs(in.ExtraAnnounce))
	}
	mac := ""
	if in.VMACAddr != nil {
		mac = " " + in.VMACAddr.String()
	}
	switch {
	case in.UseVMAC:
		d.line(1, "use_vmac %s%s", quote(in.VMACName), mac)
	case in.IPVLAN:
		addr := ""
		if in.IPVLANAddr.IsValid() {
			addr = " " + in.IPVLANAddr.String()
		}
		d.line(1, "use_ipvlan %s%s %s", quote(in.VMACName), addr, in.IPVLANMode)
		if in.IPVLANAddresses {
			d.line(1, "use_vmac%s", mac) // after use_ipvlan, which names the interface
		}
	}
	if in.VMACXmitBase {
		d.line(1, "vmac_xmit_base")
	}
	if in.UseVMACAddr {
		d.line(1, "use_vmac_addr")
	}
	for _, v := range in.AddrVMACs {
		d.line(1, "# address VMAC %s on %s, MAC %s", v.Name, v.Parent, v.MAC)
	}
	if c.IPv6 && len(in.VIPs) == 0 {
		d.line(1, "native_ipv6")
	}
	if global := map[bool]netip.Addr{false: d.cfg.Global.MulticastGroup4, true: d.cfg.Global.MulticastGroup6}[c.IPv6]; c.Group != global {
		d.line(1, "mcast_dst_ip %v", c.Group)
	}
	if len(c.AcceptFrom) > 0 {
		d.line(1, "check_unicast_src")
	}
	if in.UnicastTTL != vrrp.TTL {
		d.line(1, "unicast_ttl %d", in.UnicastTTL)
	}
	if in.PromoteSecondaries {
		d.line(1, "promote_secondaries")
	}
	if in.DontTrackPrimary {
		d.line(1, "dont_track_primary")
	}
	d.tracked("track_interface", in.TrackInterfaces, g.TrackInterfaces)
	d.tracked("track_script", in.TrackScripts, g.TrackScripts)
	d.tracked("track_file", in.TrackFiles, g.TrackFiles)
	d.tracked("track_process", in.TrackProcesses, g.TrackProcesses)
	d.tracked("track_bfd", in.TrackBFDs, g.TrackBFDs)
	d.notify(&in.Notify)
	d.line(1, "smtp_alert %v", in.SMTPAlert)
	d.line(1, "notify_priority_changes %v", in.NotifyPriorityChanges)
	d.vips("virtual_ipaddress", in.VIPs)
	d.vips("virtual_ipaddress_excluded", in.Excluded)
	d.routes("virtual_routes", in.Routes)
	d.rules("virtual_rules", in.Rules)
	if len(in.UnicastPeers) > 0 {
		d.line(1, "unicast_peer {")
		for _, p := range in.UnicastPeers {
			d.line(2, "%v", p)
		}
		d.line(1, "}")
	}
	d.line(0, "}")
}

// scriptText writes a script's words in double quotes so that keepalived's
// two readings of a script line (SplitWords, twice) give them back: each
// blank, quote or backslash in a word is escaped for the second reading,
// and that escape again for the first.
func scriptText(argv []string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i, w := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		if w == "" {
			b.WriteString("''")
		}
		for j := 0; j < len(w); j++ {
			switch c := w[j]; c {
			case '\\':
				b.WriteString(`\\\\`)
			case ' ', '\'':
				b.WriteString(`\\`)
				b.WriteByte(c)
			default:
				if c < 0x20 || c == 0x7f || c == '"' {
					// Octal, for the second reading: the lexer ends a
					// quoted string at any '"'.
					fmt.Fprintf(&b, `\\%03o`, c)
				} else {
					b.WriteByte(c)
				}
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// userGroup writes "USER [GROUP]".
func userGroup(user, group string) string {
	if group == "" {
		return quote(user)
	}
	return quote(user) + " " + quote(group)
}

// tracked writes a track_interface or track_script block, leaving out
// the lines in skip (a sync group's, written in the group). A script line
// always says its weight: without one, it would take the vrrp_script's.
func (d *dumper) tracked(keyword string, ts, skip []Tracked) {
	var lines []string
	for _, t := range ts {
		if slices.Contains(skip, t) {
			continue
		}
		line := quote(t.Name)
		if t.Weight != 0 || keyword != "track_interface" {
			line += " weight " + strconv.Itoa(t.Weight)
			if t.Reverse {
				line += " reverse"
			}
		}
		lines = append(lines, line)
	}
	if len(lines) == 0 {
		return
	}
	d.line(1, "%s {", keyword)
	for _, l := range lines {
		d.line(2, "%s", l)
	}
	d.line(1, "}")
}

func (d *dumper) script(s *Script) {
	d.line(0, "vrrp_script %s {", quote(s.Name))
	d.line(1, "script %s", scriptText(s.Command.Argv))
	d.line(1, "interval %s", secs(s.Interval))
	d.line(1, "timeout %s", secs(s.Timeout))
	if s.Reverse {
		d.line(1, "weight %d reverse", s.Weight)
	} else {
		d.line(1, "weight %d", s.Weight)
	}
	d.line(1, "rise %d", s.Rise)
	d.line(1, "fall %d", s.Fall)
	if s.Command.User != "" {
		d.line(1, "user %s", userGroup(s.Command.User, s.Command.Group))
	}
	if s.InitFail {
		d.line(1, "init_fail")
	}
	d.line(0, "}")
}

func (d *dumper) reload(r *Reload) {
	if r.CheckConfig {
		d.line(1, "reload_check_config %s", quote(r.CheckLog))
	}
	if r.TimeFile != "" {
		d.line(1, "reload_time_file %s", quote(r.TimeFile))
	}
	if r.Repeat {
		d.line(1, "reload_repeat")
	}
	if r.File != "" {
		d.line(1, "reload_file %s", quote(r.File))
	}
	if r.WriteStates {
		d.line(1, "fifo_write_vrrp_states_on_reload")
	}
}

func (d *dumper) notify(n *Notify) {
	if n.NotifyDeleted && n.Deleted == nil {
		d.line(1, "notify_deleted")
	}
	for _, s := range n.slots() {
		c := *s.cmd
		if c == nil {
			continue
		}
		line := scriptText(c.Argv)
		if c.User != "" {
			line += " " + userGroup(c.User, c.Group)
		}
		d.line(1, "%s %s", s.keyword, line)
	}
}

func (d *dumper) vips(keyword string, vips []VIP) {
	d.list(keyword, len(vips), func(i int) string {
		v := &vips[i]
		w := []string{v.Prefix.String()}
		for _, opt := range [][2]string{{"brd", v.Broadcast}, {"dev", v.Dev}, {"scope", v.Scope}, {"label", v.Label}, {"track_group", v.TrackGroup}} {
			if opt[1] != "" {
				w = append(w, opt[0], quote(opt[1]))
			}
		}
		if v.Peer.IsValid() {
			w = append(w, "peer", v.Peer.String())
		}
		for _, f := range []struct {
			on   bool
			word string
		}{{v.Home, "home"}, {v.DAD, "-nodad"}, {v.MngTmpAddr, "mngtmpaddr"}, {v.NoPrefixRoute, "noprefixroute"}, {v.AutoJoin, "autojoin"}, {!v.Track, "no_track"}, {v.UseVMAC, "use_vmac"}} {
			if f.on {
				w = append(w, f.word)
			}
		}
		if v.Prefix.Addr().Is6() {
			if v.PreferredLft == nil {
				w = append(w, "preferred_lft", "forever")
			} else {
				w = append(w, "preferred_lft", strconv.FormatUint(uint64(*v.PreferredLft), 10))
			}
		}
		return strings.Join(w, " ")
	})
}

func (d *dumper) routes(keyword string, routes []Route) {
	d.list(keyword, len(routes), func(i int) string {
		r := &routes[i]
		return r.Format(tracking(r.Track, r.TrackGroup)...)
	})
}

func (d *dumper) rules(keyword string, rules []Rule) {
	d.list(keyword, len(rules), func(i int) string {
		r := &rules[i]
		return strings.Join(append([]string{r.String()}, tracking(r.Track, r.TrackGroup)...), " ")
	})
}

// tracking writes the keepalived words for how a route or rule is tracked.
func tracking(track bool, group string) []string {
	var w []string
	if !track {
		w = append(w, "no_track")
	}
	if group != "" {
		w = append(w, "track_group", quote(group))
	}
	return w
}

// trackProcess writes a vrrp_track_process block.
func (d *dumper) trackProcess(p *TrackProcess) {
	d.line(0, "vrrp_track_process %s {", quote(p.Name))
	words := []string{quote(p.Process)}
	for _, a := range p.Params {
		words = append(words, quote(a))
	}
	d.line(1, "process %s", strings.Join(words, " "))
	switch p.ParamMatch {
	case ParamsExact:
		d.line(1, "param_match")
	case ParamsPartial:
		d.line(1, "param_match partial")
	case ParamsInitial:
		d.line(1, "param_match initial")
	}
	if p.FullCommand {
		d.line(1, "full_command")
	}
	if p.Reverse {
		d.line(1, "weight %d reverse", p.Weight)
	} else {
		d.line(1, "weight %d", p.Weight)
	}
	for _, q := range quorumText(p) {
		d.line(1, "%s", q)
	}
	if p.ForkDelay > 0 {
		d.line(1, "fork_delay %s", secs(p.ForkDelay))
	}
	if p.TerminateDelay > 0 {
		d.line(1, "terminate_delay %s", secs(p.TerminateDelay))
	}
	d.line(0, "}")
}

// bfd writes a bfd_instance block.
func (d *dumper) bfd(f *BFD) {
	d.line(0, "bfd_instance %s {", quote(f.Name))
	d.line(1, "neighbor_ip %v", f.Neighbor)
	if f.Source.IsValid() {
		d.line(1, "source_ip %v", f.Source)
	}
	ms := func(t time.Duration) string {
		return strconv.FormatFloat(float64(t)/float64(time.Millisecond), 'f', -1, 64)
	}
	d.line(1, "min_rx %s", ms(f.MinRx))
	d.line(1, "min_tx %s", ms(f.MinTx))
	d.line(1, "idle_tx %s", ms(f.IdleTx))
	d.line(1, "multiplier %d", f.Multiplier)
	if f.Passive {
		d.line(1, "passive")
	}
	d.line(1, "ttl %d", f.TTL)
	d.line(1, "max_hops %d", f.MaxHops)
	if f.Reverse {
		d.line(1, "weight %d reverse", f.Weight)
	} else {
		d.line(1, "weight %d", f.Weight)
	}
	d.line(0, "}")
}

// email writes global_defs' e-mail settings.
func (d *dumper) email(e *Email) {
	if len(e.To) > 0 {
		d.line(1, "notification_email {")
		for _, to := range e.To {
			d.line(2, "%s", quote(to))
		}
		d.line(1, "}")
	}
	if e.From != "" {
		d.line(1, "notification_email_from %s", quote(e.From))
	} else {
		d.line(1, "# notification_email_from: USER@HOST")
	}
	if e.Server != "" {
		d.line(1, "smtp_server %s %s", quote(e.Server), e.Port)
	} else {
		d.line(1, "# smtp_server: none (no e-mail alerts)")
	}
	if e.Helo != "" {
		d.line(1, "smtp_helo_name %s", quote(e.Helo))
	}
	d.line(1, "smtp_connect_timeout %d", e.Timeout/time.Second)
	if e.NoFaults {
		d.line(1, "no_email_faults")
	}
}

// group writes the "group { NAMES }" of a sync group or track group.
func (d *dumper) group(members []string) {
	d.line(1, "group {")
	for _, m := range members {
		d.line(2, "%s", quote(m))
	}
	d.line(1, "}")
}

// list writes a block of n data lines.
func (d *dumper) list(keyword string, n int, line func(int) string) {
	if n == 0 {
		return
	}
	d.line(d.depth+1, "%s {", keyword)
	for i := range n {
		d.line(d.depth+2, "%s", line(i))
	}
	d.line(d.depth+1, "}")
}

// secs writes a duration as keepalived's (possibly fractional) seconds.
func secs(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}

// quote writes a word so that the lexer reads it back as it was. No word
// the lexer produced holds a '"' (one ends a quoted string and splits an
// unquoted word), and a quoted string is taken as it is.
func quote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\"'#!{}$~@\\") {
		return s
	}
	return `"` + s + `"`
}
