package config

import (
	"slices"
	"strings"

	"github.com/vipd/vipd/internal/vrrp"
)

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
	// NotifyDeleted (notify_deleted, instances only): an instance a
	// reload removes notifies DELETED, running Deleted if given, rather
	// than FAULT.
	NotifyDeleted bool
	Deleted       *Command
}

// notifySlot is a notify keyword and the field it sets.
type notifySlot struct {
	keyword string
	cmd     **Command
}

// slots are the notify keywords, in the order the dump writes them.
func (n *Notify) slots() []notifySlot {
	return []notifySlot{{"notify_master", &n.Master}, {"notify_backup", &n.Backup}, {"notify_fault", &n.Fault},
		{"notify_stop", &n.Stop}, {"notify", &n.Generic}, {"notify_master_rx_lower_pri", &n.MasterRxLowerPri},
		{"notify_deleted", &n.Deleted}}
}

// ForState is the script for entering a state, or nil.
func (n *Notify) ForState(s vrrp.State) *Command {
	switch s {
	case vrrp.Master:
		return n.Master
	case vrrp.Backup:
		return n.Backup
	case vrrp.Fault:
		return n.Fault
	case vrrp.Stop:
		return n.Stop
	}
	return nil
}

// notify reads one notify keyword into nt; it reports false for a
// keyword that is not one.
func (b *builder) notify(n *Node, owner string, nt *Notify) bool {
	i := slices.IndexFunc(nt.slots(), func(s notifySlot) bool { return s.keyword == n.Keyword })
	if i < 0 || n.Keyword == "notify_deleted" && !strings.HasPrefix(owner, "vrrp_instance") {
		return false
	}
	what := owner + " " + n.Keyword
	if n.Keyword == "notify_deleted" {
		if nt.NotifyDeleted {
			b.errorf(n.Pos, "%s is given twice; keepalived ignores this one", what)
			return true
		}
		nt.NotifyDeleted = true
		if len(n.Args) == 0 {
			return true // DELETED rather than FAULT, with no script of its own
		}
	}
	if c, ok := b.command(n, what, true); ok {
		if b.defs.scriptSecurity {
			b.checkCommand(c, what)
		}
		*nt.slots()[i].cmd = c
	}
	return true
}

// Commands are the notify scripts that are set.
func (n *Notify) Commands() []*Command {
	var out []*Command
	for _, s := range n.slots() {
		if *s.cmd != nil {
			out = append(out, *s.cmd)
		}
	}
	return out
}

// TrackedScripts are the vrrp_scripts some instance tracks: keepalived
// runs no other.
func (c *Config) TrackedScripts() []*Script {
	var out []*Script
	for _, s := range c.Scripts {
		if slices.ContainsFunc(c.Instances, func(in *Instance) bool {
			return slices.ContainsFunc(in.TrackScripts, func(t Tracked) bool { return t.Name == s.Name })
		}) {
			out = append(out, s)
		}
	}
	return out
}

// Commands are the scripts a run of this configuration may start: the
// tracked vrrp_scripts and every notify script.
func (c *Config) Commands() []*Command {
	var out []*Command
	for _, s := range c.TrackedScripts() {
		out = append(out, &s.Command)
	}
	for _, in := range c.Instances {
		out = append(out, in.Notify.Commands()...)
	}
	for _, g := range c.SyncGroups {
		out = append(out, g.Notify.Commands()...)
	}
	for _, f := range c.Global.FIFOs() {
		if f.Script != nil {
			out = append(out, f.Script)
		}
	}
	return out
}
