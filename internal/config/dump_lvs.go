package config

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/vipd/vipd/internal/lvs"
)

// lvsGlobal writes global_defs' balancing settings.
func (d *dumper) lvsGlobal(g *Global) {
	t := g.LVSTimeouts
	if t != (lvs.Timeouts{}) {
		line := "lvs_timeouts"
		for _, o := range []struct {
			name string
			v    time.Duration
		}{{"tcp", t.TCP}, {"tcpfin", t.TCPFin}, {"udp", t.UDP}} {
			if o.v > 0 {
				line += fmt.Sprintf(" %s %d", o.name, o.v/time.Second)
			}
		}
		d.line(1, "%s", line)
	}
	if g.LVSFlush {
		d.line(1, "lvs_flush")
	}
	if g.RSInitNotifies {
		d.line(1, "rs_init_notifies")
	}
	if s := g.LVSSync; s != nil {
		line := fmt.Sprintf("lvs_sync_daemon %s inst %s id %d", s.Interface, quote(s.Instance), s.ID)
		if s.MaxLen > 0 {
			line += fmt.Sprintf(" maxlen %d", s.MaxLen)
		}
		if s.Port > 0 {
			line += fmt.Sprintf(" port %d", s.Port)
		}
		if s.TTL > 0 {
			line += fmt.Sprintf(" ttl %d", s.TTL)
		}
		if s.Group.IsValid() {
			line += fmt.Sprintf(" group %s", s.Group)
		}
		d.line(1, "%s", line)
	}
	switch g.LVSFlushOnStop {
	case "ALL":
		d.line(1, "lvs_flush_on_stop")
	case "VS":
		d.line(1, "lvs_flush_on_stop VS")
	}
}

// disabledBFDs writes, empty, each bfd_instance that a BFD_CHECK names
// but that was disabled for want of a neighbour, so that the dump reads
// back with the same checkers.
func (d *dumper) disabledBFDs(c *Config) {
	written := map[string]bool{}
	for _, vs := range c.VirtualServers {
		for _, rs := range vs.Reals {
			for _, ck := range rs.Checkers {
				if ck.BFD == "" || c.BFD(ck.BFD) != nil || written[ck.BFD] {
					continue
				}
				written[ck.BFD] = true
				d.line(0, "bfd_instance %s {", quote(ck.BFD))
				d.line(1, "# disabled: it has no neighbor_ip")
				d.line(0, "}")
			}
		}
	}
}

// lvs writes the SSL block, the virtual server groups and the virtual
// servers, every setting resolved: each checker says its own timing, so
// nothing depends on what it would inherit.
func (d *dumper) lvs(c *Config) {
	if s := c.SSL; s.Password+s.CA+s.Certificate+s.Key != "" {
		d.line(0, "SSL {")
		for _, kv := range [][2]string{{"password", s.Password}, {"ca", s.CA}, {"certificate", s.Certificate}, {"key", s.Key}} {
			if kv[1] != "" {
				d.line(1, "%s %s", kv[0], quote(kv[1]))
			}
		}
		d.line(0, "}")
	}
	for _, g := range c.VirtualServerGroups {
		d.line(0, "virtual_server_group %s {", quote(g.Name))
		for _, r := range g.Ranges {
			what := r.First.String()
			if r.Last != r.First {
				what += "-" + r.Last.String()
			}
			d.line(1, "%s %d", what, r.Port)
		}
		for _, m := range g.FWMarks {
			d.line(1, "fwmark %d%s", m.Mark, map[int]string{4: " inet", 6: " inet6"}[m.Family])
		}
		d.line(0, "}")
	}
	for _, vs := range c.VirtualServers {
		d.virtualServer(vs)
	}
}

func (d *dumper) virtualServer(vs *VirtualServer) {
	switch {
	case vs.GroupName != "":
		d.line(0, "virtual_server group %s {", quote(vs.GroupName))
	case vs.HasFWMark:
		d.line(0, "virtual_server fwmark %d {", vs.FWMark)
	default:
		d.line(0, "virtual_server %s %d {", vs.Addr, vs.Port)
	}
	if !vs.Addr.IsValid() {
		d.line(1, "ip_family %s", map[bool]string{false: "inet", true: "inet6"}[vs.IPv6])
	}
	if vs.HasProtocol {
		d.line(1, "protocol %s", vs.Protocol)
	}
	d.line(1, "lvs_sched %s", vs.Scheduler)
	for i, on := range vs.SchedFlags {
		if on {
			d.line(1, "flag-%d", i+1)
		}
	}
	if vs.HashPort {
		d.line(1, "%s-port", vs.Scheduler)
	}
	if vs.Fallback {
		d.line(1, "%s-fallback", vs.Scheduler)
	}
	if vs.OnePack {
		d.line(1, "ops")
	}
	d.line(1, "lvs_method %s", methodText(vs.Method, vs.Tunnel))
	if vs.PersistenceEngine != "" {
		d.line(1, "persistence_engine %s", quote(vs.PersistenceEngine))
	}
	if vs.Persistence > 0 {
		d.line(1, "persistence_timeout %d", int(vs.Persistence.Seconds()))
	}
	if vs.PersistenceMask.IsValid() {
		d.line(1, "persistence_granularity %s", vs.PersistenceMask)
	}
	if vs.PersistenceBits > 0 {
		if vs.IPv6 {
			d.line(1, "persistence_granularity %d", vs.PersistenceBits)
		} else {
			mask := netip.AddrFrom4([4]byte(netipMask(vs.PersistenceBits)))
			d.line(1, "persistence_granularity %s", mask)
		}
	}
	for _, f := range []struct {
		on      bool
		keyword string
	}{{vs.HASuspend, "ha_suspend"}, {vs.Alpha, "alpha"}, {vs.Omega, "omega"}} {
		if f.on {
			d.line(1, "%s", f.keyword)
		}
	}
	if vs.Quorum > 0 {
		d.line(1, "quorum %d", vs.Quorum)
	}
	d.line(1, "hysteresis %d", vs.Hysteresis)
	d.serverScript("quorum_up", vs.QuorumUp)
	d.serverScript("quorum_down", vs.QuorumDown)
	if vs.VirtualHost != "" {
		d.line(1, "virtualhost %s", quote(vs.VirtualHost))
	}
	d.line(1, "smtp_alert %v", vs.SMTPAlert)
	if s := vs.Sorry; s != nil {
		d.line(1, "sorry_server %s %d", s.Addr, s.Port)
		if s.Inhibit {
			d.line(1, "sorry_server_inhibit")
		}
		d.line(1, "sorry_server_lvs_method %s", methodText(s.Method, s.Tunnel))
	}
	for _, rs := range vs.Reals {
		d.realServer(rs)
	}
	d.line(0, "}")
}

// netipMask is a 4-byte netmask of n ones.
func netipMask(n int) []byte {
	m := make([]byte, 4)
	for i := range m {
		switch {
		case n >= 8:
			m[i], n = 0xff, n-8
		case n > 0:
			m[i], n = byte(0xff<<(8-n)), 0
		}
	}
	return m
}

func methodText(m lvs.Method, t lvs.Tunnel) string {
	if m != lvs.TUN {
		return m.String()
	}
	w := []string{"TUN", "type", t.Type}
	if t.Type == "gue" {
		w = append(w, "port", strconv.Itoa(int(t.Port)))
	}
	if t.Checksum != "" {
		w = append(w, t.Checksum)
	}
	return strings.Join(w, " ")
}

func (d *dumper) serverScript(keyword string, c *Command) {
	if c == nil {
		return
	}
	line := scriptText(c.Argv)
	if c.User != "" {
		line += " " + userGroup(c.User, c.Group)
	}
	d.line(d.depth+1, "%s %s", keyword, line)
}

func (d *dumper) realServer(rs *RealServer) {
	d.depth = 1
	defer func() { d.depth = 0 }()
	d.line(1, "real_server %s %d {", rs.Addr, rs.Port)
	d.line(2, "weight %d", rs.Weight)
	d.line(2, "lvs_method %s", methodText(rs.Method, rs.Tunnel))
	if rs.UpperThreshold > 0 {
		d.line(2, "uthreshold %d", rs.UpperThreshold)
	}
	if rs.LowerThreshold > 0 {
		d.line(2, "lthreshold %d", rs.LowerThreshold)
	}
	d.line(2, "inhibit_on_failure %v", rs.Inhibit)
	d.line(2, "alpha %v", rs.Alpha)
	d.serverScript("notify_up", rs.NotifyUp)
	d.serverScript("notify_down", rs.NotifyDown)
	d.line(2, "smtp_alert %v", rs.SMTPAlert)
	if rs.VirtualHost != "" {
		d.line(2, "virtualhost %s", quote(rs.VirtualHost))
	}
	// What the checkers that take no connect_timeout keep from the
	// real server.
	for _, ck := range rs.Checkers {
		if !takesConnectTimeout(ck) {
			d.line(2, "connect_timeout %s", secs(ck.ConnectTimeout))
			break
		}
	}
	for _, ck := range rs.Checkers {
		d.checker(ck)
	}
	d.line(1, "}")
}

func (d *dumper) checker(ck *Checker) {
	d.line(2, "%s {", ck.Kind)
	if ck.Connect.Addr().IsValid() {
		d.line(3, "connect_ip %s", ck.Connect.Addr())
	}
	if ck.Connect.Port() != 0 {
		d.line(3, "connect_port %d", ck.Connect.Port())
	}
	if ck.BindAddr.IsValid() {
		d.line(3, "bindto %s", ck.BindAddr)
	}
	if ck.BindPort != 0 {
		d.line(3, "bind_port %d", ck.BindPort)
	}
	if ck.BindIf != "" {
		d.line(3, "bind_if %s", quote(ck.BindIf))
	}
	if ck.FWMark != 0 {
		d.line(3, "fwmark %d", ck.FWMark)
	}
	if takesConnectTimeout(ck) {
		d.line(3, "connect_timeout %s", secs(ck.ConnectTimeout))
	}
	d.line(3, "retry %d", ck.Retry)
	d.line(3, "delay_before_retry %s", secs(ck.DelayBeforeRetry))
	d.line(3, "delay_loop %s", secs(ck.DelayLoop))
	d.line(3, "warmup %s", secs(ck.Warmup))
	d.line(3, "alpha %v", ck.Alpha)
	d.line(3, "log_all_failures %v", ck.LogAllFailures)
	switch {
	case ck.HTTP != nil:
		h := ck.HTTP
		if h.VirtualHost != "" {
			d.line(3, "virtualhost %s", quote(h.VirtualHost))
		}
		d.line(3, "http_protocol %s", h.Protocol)
		d.line(3, "enable_sni %v", h.SNI)
		d.line(3, "fast_recovery %v", h.FastRecovery)
		for _, u := range h.URLs {
			d.url(u)
		}
	case ck.Misc != nil:
		m := ck.Misc
		if m.Command != nil {
			d.line(3, "misc_path %s", scriptText(m.Command.Argv))
			if m.Command.User != "" {
				d.line(3, "user %s", userGroup(m.Command.User, m.Command.Group))
			}
		}
		if m.Timeout > 0 {
			d.line(3, "misc_timeout %d", int(m.Timeout.Seconds()))
		}
		if m.Dynamic {
			d.line(3, "misc_dynamic")
		}
	case ck.DNS != nil:
		d.line(3, "type %s", ck.DNS.Type)
		if ck.DNS.Name != "" {
			d.line(3, "name %s", quote(ck.DNS.Name))
		}
	case ck.SMTP != nil:
		if ck.SMTP.Helo != "" {
			d.line(3, "helo_name %s", quote(ck.SMTP.Helo))
		}
	case ck.UDP != nil:
		u := ck.UDP
		if u.Payload != nil {
			d.line(3, "payload %s", hex.EncodeToString(u.Payload))
		}
		if u.RequireReply {
			d.line(3, "require_reply %s", maskedHex(u.Reply, u.ReplyMask))
		}
		d.line(3, "min_reply_length %d", u.MinReply)
		d.line(3, "max_reply_length %d", u.MaxReply)
	case ck.File != nil:
		d.line(3, "track_file %s", quote(ck.File.Name))
		if ck.File.WeightSet {
			if ck.File.Reverse {
				d.line(3, "weight %d reverse", ck.File.Weight)
			} else {
				d.line(3, "weight %d", ck.File.Weight)
			}
		}
	case ck.BFD != "":
		d.line(3, "name %s", quote(ck.BFD))
	}
	d.line(2, "}")
}

// maskedHex writes a reply pattern: a nibble the mask sets (any value
// passes) is X.
func maskedHex(data, mask []byte) string {
	var b strings.Builder
	for i, c := range data {
		var m byte
		if i < len(mask) {
			m = mask[i]
		}
		for _, n := range []struct {
			v, m byte
		}{{c >> 4, m >> 4}, {c & 0xf, m & 0xf}} {
			if n.m == 0xf {
				b.WriteByte('X')
			} else {
				fmt.Fprintf(&b, "%x", n.v)
			}
		}
	}
	return b.String()
}

func (d *dumper) url(u *URL) {
	d.line(3, "url {")
	d.line(4, "path %s", quote(u.Path))
	if u.Digest != nil {
		d.line(4, "digest %s", hex.EncodeToString(u.Digest))
	}
	var codes []string
	for _, s := range u.Status {
		if s[0] == s[1] {
			codes = append(codes, strconv.Itoa(s[0]))
		} else {
			codes = append(codes, fmt.Sprintf("%d-%d", s[0], s[1]))
		}
	}
	d.line(4, "status_code %s", strings.Join(codes, " "))
	if u.VirtualHost != "" {
		d.line(4, "virtualhost %s", quote(u.VirtualHost))
	}
	if u.Regex != nil {
		// The options are in the pattern already, as (?flags).
		d.line(4, "regex %s", regexText(u.Regex.String()))
		if u.RegexNoMatch {
			d.line(4, "regex_no_match")
		}
		d.line(4, "regex_min_offset %d", u.RegexMinOffset)
		if u.RegexMaxOffset > 0 {
			d.line(4, "regex_max_offset %d", u.RegexMaxOffset-1)
		}
	}
	d.line(3, "}")
}

// regexText quotes a pattern for the one reading a regex line gets
// (its raw text split as a script line is, not read by the lexer
// first): backslashes doubled, and a '"' (which would end the lexer's
// quoted string) and control characters in octal.
func regexText(p string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '\\':
			b.WriteString(`\\`)
		case c < 0x20 || c == 0x7f || c == '"':
			fmt.Fprintf(&b, `\%03o`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
