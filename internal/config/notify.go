package config

import "slices"

// Notify is what an instance or sync group runs when its state changes:
// notify_master, notify_backup, notify_fault and notify_stop with no
// arguments of their own, then the generic notify with four appended:
// "INSTANCE|GROUP NAME STATE PRIORITY".
type Notify struct {
	Master, Backup, Fault, Stop *Command
	Generic                     *Command // notify
	// MasterRxLowerPri runs when a master hears a lower-priority master
	// (instances only).
	MasterRxLowerPri *Command
}

// Empty reports whether nothing is to run.
func (n *Notify) Empty() bool {
	return n.Master == nil && n.Backup == nil && n.Fault == nil && n.Stop == nil && n.Generic == nil && n.MasterRxLowerPri == nil
}

// notify reads one notify keyword into nt; it reports false for a
// keyword that is not one.
func (b *builder) notify(n *Node, owner string, nt *Notify) bool {
	var slot **Command
	switch n.Keyword {
	case "notify_master":
		slot = &nt.Master
	case "notify_backup":
		slot = &nt.Backup
	case "notify_fault":
		slot = &nt.Fault
	case "notify_stop":
		slot = &nt.Stop
	case "notify":
		slot = &nt.Generic
	case "notify_master_rx_lower_pri":
		slot = &nt.MasterRxLowerPri
	default:
		return false
	}
	what := owner + " " + n.Keyword
	if c, ok := b.command(n, what, true); ok {
		if b.defs.scriptSecurity {
			b.checkCommand(c, what)
		}
		*slot = c
	}
	return true
}

// commands are the notify scripts that are set.
func (n *Notify) commands() []*Command {
	var out []*Command
	for _, c := range []*Command{n.Master, n.Backup, n.Fault, n.Stop, n.Generic, n.MasterRxLowerPri} {
		if c != nil {
			out = append(out, c)
		}
	}
	return out
}

// Commands are the scripts a run of this configuration may start: the
// tracked vrrp_scripts and every notify script.
func (c *Config) Commands() []*Command {
	var out []*Command
	for _, s := range c.Scripts {
		for _, in := range c.Instances {
			if slices.ContainsFunc(in.TrackScripts, func(t Tracked) bool { return t.Name == s.Name }) {
				out = append(out, &s.Command)
				break
			}
		}
	}
	for _, in := range c.Instances {
		out = append(out, in.Notify.commands()...)
	}
	for _, g := range c.SyncGroups {
		out = append(out, g.Notify.commands()...)
	}
	return out
}
