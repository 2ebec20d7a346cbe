package config

import (
	"net/netip"
	"strconv"
	"strings"
)

// smtpServer reads "smtp_server HOST|ADDRESS [PORT]". A host name is
// resolved when a mail goes out: whether it resolves here says nothing
// of the host vipd will run on.
func (b *builder) smtpServer(n *Node) {
	e := &b.cfg.Global.Email
	host := n.Args[0]
	if !strings.ContainsAny(host, "-/") {
		if _, err := netip.ParseAddr(host); err != nil && strings.Trim(host, "0123456789.") == "" {
			b.errorf(n.Pos, "smtp_server %q is not an IP address", host)
			return
		}
	}
	if len(n.Args) == 2 {
		if p, err := strconv.Atoi(n.Args[1]); err != nil || p < 1 || p > 65535 {
			b.errorf(n.Pos, "smtp_server port %q must be 1..65535", n.Args[1])
			return
		}
		e.Port = n.Args[1]
	}
	if _, err := netip.ParseAddr(host); err != nil && b.resolveHost != nil {
		if err := b.resolveHost(host); err != nil {
			b.errorf(n.Pos, "smtp_server %s does not resolve on this host (%v), which keepalived reports as an invalid server: fix the name, or give an address", host, err)
			return
		}
	}
	e.Server = host
}

// smtpDefaults gives instances and groups without smtp_alert of their
// own global_defs' default, and warns where alerts are asked for but
// cannot go anywhere.
func (b *builder) smtpDefaults() {
	def := b.smtpAlert != nil && *b.smtpAlert
	var asked []Pos
	for _, in := range b.cfg.Instances {
		if !b.smtpAlertSet[&in.SMTPAlert] {
			in.SMTPAlert = def
		}
		if in.SMTPAlert {
			asked = append(asked, in.Pos)
		}
	}
	for _, g := range b.cfg.SyncGroups {
		if !b.smtpAlertSet[&g.SMTPAlert] {
			g.SMTPAlert = def
		}
		if g.SMTPAlert {
			asked = append(asked, g.Pos)
		}
	}
	if len(asked) > 0 && !b.cfg.Global.Email.Configured() {
		b.warnf(asked[0], "smtp_alert is on but global_defs has no smtp_server or no notification_email: no mail goes out, as with keepalived")
	}
}
