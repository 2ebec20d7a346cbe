package config

// FIFO is a notify FIFO (notify_fifo, vrrp_notify_fifo, lvs_notify_fifo):
// vipd writes a line there for every state change, as keepalived does:
// "INSTANCE|GROUP "NAME" STATE PRIORITY" for VRRP (notify_fifo and
// vrrp_notify_fifo), "RS REAL VS UP|DOWN" and "VS VS UP|DOWN" for the
// virtual servers (notify_fifo and lvs_notify_fifo).
type FIFO struct {
	Pos         Pos
	Path        string
	User, Group string   // who owns it when vipd makes it; "": the script user
	Script      *Command // notify_fifo_script: started at start with the path as last argument
}

// fifo reads notify_fifo PATH [USER [GROUP]].
func (b *builder) fifo(n *Node, f **FIFO) {
	if !b.args(n, 1, 3) {
		return
	}
	if *f != nil && (*f).Path != "" {
		b.errorf(n.Pos, "%s is given twice (first %s at %s)", n.Keyword, (*f).Path, (*f).Pos)
		return
	}
	if *f == nil {
		*f = &FIFO{}
	}
	(*f).Pos, (*f).Path = n.Pos, n.Args[0]
	if len(n.Args) > 1 {
		(*f).User = n.Args[1]
	}
	if len(n.Args) > 2 {
		(*f).Group = n.Args[2]
	}
}

// fifoScript reads notify_fifo_script SCRIPT [USER [GROUP]].
func (b *builder) fifoScript(n *Node, f **FIFO) {
	if *f != nil && (*f).Script != nil {
		b.errorf(n.Pos, "%s is given twice (first at %s)", n.Keyword, (*f).Script.Pos)
		return
	}
	c, ok := b.command(n, "global_defs "+n.Keyword, true)
	if !ok {
		return
	}
	if b.defs.scriptSecurity {
		b.checkCommand(c, "global_defs "+n.Keyword)
	}
	if *f == nil {
		*f = &FIFO{}
	}
	(*f).Script = c
}

// settleFIFOs drops a script without a FIFO and a vrrp_notify_fifo that
// is the notify_fifo (keepalived would write every line twice), with
// warnings as keepalived gives them.
func (b *builder) settleFIFOs() {
	g := &b.cfg.Global
	for _, f := range []**FIFO{&g.NotifyFIFO, &g.VRRPNotifyFIFO, &g.LVSNotifyFIFO} {
		if *f != nil && (*f).Path == "" {
			b.warnf((*f).Script.Pos, "a notify FIFO script without its FIFO does nothing: ignored, as keepalived ignores it")
			*f = nil
		}
	}
	if g.NotifyFIFO != nil && g.VRRPNotifyFIFO != nil && g.NotifyFIFO.Path == g.VRRPNotifyFIFO.Path {
		b.warnf(g.VRRPNotifyFIFO.Pos, "vrrp_notify_fifo %s is the notify_fifo too: ignored, as keepalived ignores it (each line would be written twice)", g.VRRPNotifyFIFO.Path)
		g.VRRPNotifyFIFO = nil
	}
	if g.NotifyFIFO != nil && g.LVSNotifyFIFO != nil && g.NotifyFIFO.Path == g.LVSNotifyFIFO.Path {
		b.warnf(g.LVSNotifyFIFO.Pos, "lvs_notify_fifo %s is the notify_fifo too: ignored, as keepalived ignores it (each line would be written twice)", g.LVSNotifyFIFO.Path)
		g.LVSNotifyFIFO = nil
	}
}

// FIFOs are the notify FIFOs set: notify_fifo, vrrp_notify_fifo,
// lvs_notify_fifo.
func (g *Global) FIFOs() []*FIFO {
	var out []*FIFO
	for _, f := range []*FIFO{g.NotifyFIFO, g.VRRPNotifyFIFO, g.LVSNotifyFIFO} {
		if f != nil {
			out = append(out, f)
		}
	}
	return out
}

// priorityChangeDefaults gives instances without notify_priority_changes
// their sync group's setting, else global_defs'.
func (b *builder) priorityChangeDefaults() {
	for _, in := range b.cfg.Instances {
		if b.instPriorityChanges[in] {
			continue
		}
		if g := b.cfg.groupOf(in.VRRP.Name); g != nil {
			if v, ok := b.groupPriorityChanges[g]; ok {
				in.NotifyPriorityChanges = v
				continue
			}
		}
		if b.priorityChanges != nil {
			in.NotifyPriorityChanges = *b.priorityChanges
		}
	}
}
