package daemon

import (
	"github.com/vipd/vipd/internal/config"
	"github.com/vipd/vipd/internal/notify"
	"github.com/vipd/vipd/internal/vrrp"
)

// newMailer starts the e-mail alerts if some instance, group or server asks for
// them and global_defs says where they go; nil otherwise.
func (d *Daemon) newMailer(cfg *config.Config) *notify.Mailer {
	e := &cfg.Global.Email
	if !e.Configured() {
		return nil
	}
	asked := false
	for _, in := range cfg.Instances {
		asked = asked || in.SMTPAlert
	}
	for _, g := range cfg.SyncGroups {
		asked = asked || g.SMTPAlert
	}
	for _, vs := range cfg.VirtualServers {
		asked = asked || vs.SMTPAlert
		for _, rs := range vs.Reals {
			asked = asked || rs.SMTPAlert
		}
	}
	if !asked {
		return nil
	}
	return notify.NewMailer(notify.MailConfig{Server: e.Server, Port: e.Port, Helo: e.Helo, From: e.From, To: e.To,
		Timeout: e.Timeout, RouterID: cfg.Global.RouterID}, d.log)
}

// mailLines are keepalived's subject and body for each state, for an
// instance and for a sync group.
var mailLines = map[vrrp.State][2][2]string{
	vrrp.Master: {{"Entering MASTER state", "=> VRRP Instance is now owning VRRP VIPs <="},
		{"Entering MASTER state", "=> All VRRP group instances are now in MASTER state <="}},
	vrrp.Backup: {{"Entering BACKUP state", "=> VRRP Instance is no longer owning VRRP VIPs <="},
		{"Entering BACKUP state", "=> All VRRP group instances are now in BACKUP state <="}},
	vrrp.Fault: {{"Entering FAULT state", "=> VRRP Instance is no longer owning VRRP VIPs <="},
		{"Entering FAULT state", "=> All VRRP group instances are now in FAULT state <="}},
	vrrp.Stop: {{"Stopping", "=> VRRP Instance stopping <="},
		{"Stopping", "=> All VRRP group instances are now stopping <="}},
}

// mailState mails a state change of an instance ("VRRP Instance NAME")
// or group ("VRRP Group NAME") once per state, as keepalived does: not
// again for the state last mailed, and not FAULT with no_email_faults.
func (d *Daemon) mailState(what string, group bool, state vrrp.State, last *vrrp.State) {
	lines, ok := mailLines[state]
	if d.mailer == nil || !ok || state == *last || state == vrrp.Fault && d.noMailFaults {
		return
	}
	*last = state
	i := 0
	if group {
		i = 1
	}
	d.mailer.Send(what+" - "+lines[i][0], lines[i][1])
}
