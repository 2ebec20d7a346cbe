package vrrp

import "time"

// GroupConfig names a vrrp_sync_group and the instances in it.
type GroupConfig struct {
	Name    string
	Members []string
}

// SyncGroup moves its instances between MASTER, BACKUP and FAULT together,
// as keepalived's vrrp_sync_group does: one member failing puts them all in
// FAULT, one member beaten by a higher priority takes them all to BACKUP,
// and they take over only once every member's master has gone quiet.
type SyncGroup struct {
	name    string
	members []*Instance
}

// Name is the group's configured name.
func (g *SyncGroup) Name() string { return g.name }

// Members are the group's instances, in configuration order.
func (g *SyncGroup) Members() []*Instance { return g.members }

// State summarises the members: FAULT if any is in fault, MASTER if all
// are masters, BACKUP otherwise (INIT and STOP when all are).
func (g *SyncGroup) State() State {
	count := [Stop + 1]int{}
	for _, m := range g.members {
		count[m.state]++
	}
	switch n := len(g.members); {
	case count[Fault] > 0:
		return Fault
	case count[Master] == n:
		return Master
	case count[Init] == n:
		return Init
	case count[Stop] == n:
		return Stop
	}
	return Backup
}

// faulty reports whether any member's own resources are down.
func (g *SyncGroup) faulty() bool {
	for _, m := range g.members {
		if m.fault {
			return true
		}
	}
	return false
}

// allStartMaster reports whether every member is an owner that starts as
// master: only then does the group skip listening as BACKUP.
func (g *SyncGroup) allStartMaster() bool {
	for _, m := range g.members {
		if !m.cfg.StartsMaster() {
			return false
		}
	}
	return true
}

// allResumedMaster reports whether every member was master before the
// reload: a group resumes mastership whole or not at all.
func (g *SyncGroup) allResumedMaster() bool {
	for _, m := range g.members {
		if m.resumed != Master {
			return false
		}
	}
	return true
}

// canGoMaster is the vote: in may take over only when every other member
// is master already or has also stopped hearing its master.
func (g *SyncGroup) canGoMaster(in *Instance) bool {
	for _, m := range g.members {
		if m == in {
			continue
		}
		if m.state != Master && (m.state != Backup || !m.wantMaster) {
			return false
		}
	}
	return true
}

// start leaves INIT for every member together.
func (g *SyncGroup) start(now time.Duration) {
	if g.faulty() {
		for _, m := range g.members {
			m.enterFault(now, reasonFor(m, ReasonStartup))
		}
		return
	}
	owners := g.allStartMaster()
	for _, m := range g.members {
		m.start(now, owners)
	}
}

// memberBecameMaster takes the rest of the group along.
func (g *SyncGroup) memberBecameMaster(now time.Duration, in *Instance) {
	for _, m := range g.members {
		if m != in && m.state == Backup {
			m.becomeMaster(now, ReasonSyncGroup)
		}
	}
}

// memberSteppedDown takes the rest of the group to BACKUP. They advertise
// priority 0 so that their own backups take over without waiting.
func (g *SyncGroup) memberSteppedDown(now time.Duration, in *Instance) {
	for _, m := range g.members {
		if m != in && m.state == Master && !m.stopping {
			m.stepDown(now, ReasonSyncGroup, in.masterSrc)
		}
	}
}

// setFault records a member's own fault and moves the group.
func (g *SyncGroup) setFault(now time.Duration, in *Instance, fault bool) {
	in.fault = fault
	if fault {
		for _, m := range g.members {
			m.enterFault(now, reasonFor(m, ReasonFault))
		}
		return
	}
	if g.faulty() {
		return
	}
	owners := g.allStartMaster()
	for _, m := range g.members {
		if m.state == Fault {
			m.leaveFault(now, owners)
		}
	}
}

// reasonFor is the reason a group move gives a member: its own, or the
// group's when another member caused it.
func reasonFor(m *Instance, own Reason) Reason {
	if m.fault {
		return own
	}
	return ReasonSyncGroup
}
