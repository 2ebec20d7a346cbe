package daemon

import (
	"fmt"
	"log/slog"

	"github.com/vipd/vipd/internal/config"
	"github.com/vipd/vipd/internal/lvs"
	"github.com/vipd/vipd/internal/lvs/director"
	"github.com/vipd/vipd/internal/lvs/nft"
	"github.com/vipd/vipd/internal/lvs/syncd"
	"github.com/vipd/vipd/internal/script"
	"github.com/vipd/vipd/internal/vrrp"
)

// newDirector prepares the virtual servers, if any: their checkers, and
// the nftables dataplane that balances them. Nothing runs until Run.
func (d *Daemon) newDirector(cfg *config.Config) error {
	if len(cfg.VirtualServers) == 0 {
		return nil
	}
	vss, err := director.FromConfig(cfg, func(c *config.Command) (script.Cmd, error) { return command(c, &cfg.Global) })
	if err != nil {
		return err
	}
	for _, vs := range cfg.VirtualServers {
		if to, exact := nft.Approximates(vs.Scheduler); !exact {
			d.log.Warn(fmt.Sprintf("%s: virtual_server %s: lvs_sched %s runs as %s: vipd balances with nftables, which has no %s",
				vs.Pos, vs.Describe(), vs.Scheduler, to, vs.Scheduler))
		}
	}
	// lvs_timeouts bound the idle connections the dataplane balances
	// (IPVS's are for all of IPVS; these are for vipd's services alone).
	nftPlane, err := nft.New(nft.WithTimeouts(cfg.Global.LVSTimeouts))
	if err != nil {
		return fmt.Errorf("virtual servers: %w", err)
	}
	var dp lvs.Dataplane = nftPlane
	if s := cfg.Global.LVSSync; s != nil {
		sd, err := syncd.New(syncd.Options{Interface: s.Interface, Group: s.Group, Port: s.Port, TTL: s.TTL,
			ID: s.ID, MaxLen: s.MaxLen, Logger: d.log})
		if err != nil {
			nftPlane.Close()
			return fmt.Errorf("%s: lvs_sync_daemon: %w", s.Pos, err)
		}
		// Backup until the instance says otherwise, as keepalived
		// starts IPVS's sync daemon.
		sd.Backup()
		d.lvsSync, d.lvsSyncInstance = sd, s.Instance
		dp = &syncedPlane{Dataplane: nftPlane, sync: sd}
	}
	opt := director.Options{Log: d.log, Dataplane: dp, Notifier: d.notifier, Mailer: d.mailer,
		FIFO: d.lvsFIFOLine, InitNotifies: cfg.Global.RSInitNotifies && d.resumed == nil}
	if d.resumed != nil {
		opt.Resumed = d.resumed.health
	}
	d.director = director.New(vss, opt)
	return nil
}

// syncedPlane tells the sync daemon which services the dataplane
// balances after each change: a backup installs only connections to
// them, a master sends only theirs.
type syncedPlane struct {
	lvs.Dataplane
	sync *syncd.Syncd
}

func (p *syncedPlane) Apply(services []lvs.Service) error {
	err := p.Dataplane.Apply(services)
	p.sync.SetServices(services)
	return err
}

// Release stops the sync daemon and lets the dataplane go with what it
// programmed left in place (a reload).
func (p *syncedPlane) Release() {
	p.sync.Close()
	if r, ok := p.Dataplane.(interface{ Release() }); ok {
		r.Release()
	}
}

func (p *syncedPlane) Close() error {
	p.sync.Close()
	return p.Dataplane.Close()
}

// lvsSyncState follows lvs_sync_daemon's instance: its director sends
// while master and installs the master's connections otherwise.
func (d *Daemon) lvsSyncState(name string, state vrrp.State) {
	if d.lvsSync == nil || name != d.lvsSyncInstance {
		return
	}
	if state == vrrp.Master {
		d.lvsSync.Master()
	} else {
		d.lvsSync.Backup()
	}
}

// removeDataplane deletes what vipd programmed for virtual servers, when
// no director is left to do it.
func removeDataplane(log *slog.Logger) {
	p, err := nft.New()
	if err == nil {
		err = p.Close()
	}
	if err != nil {
		log.Error("removing the virtual servers", "err", err)
	}
}
