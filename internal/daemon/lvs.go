package daemon

import (
	"fmt"

	"github.com/vipd/vipd/internal/config"
	"github.com/vipd/vipd/internal/lvs/director"
	"github.com/vipd/vipd/internal/lvs/nft"
	"github.com/vipd/vipd/internal/script"
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
	dp, err := nft.New(nft.WithTimeouts(cfg.Global.LVSTimeouts))
	if err != nil {
		return fmt.Errorf("virtual servers: %w", err)
	}
	d.director = director.New(vss, director.Options{Log: d.log, Dataplane: dp, Notifier: d.notifier, Mailer: d.mailer,
		FIFO: d.lvsFIFOLine, InitNotifies: cfg.Global.RSInitNotifies})
	return nil
}
