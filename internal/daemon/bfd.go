package daemon

import (
	"fmt"
	"strings"

	"github.com/vipd/vipd/internal/bfd"
	"github.com/vipd/vipd/internal/config"
)

// startBFD runs every bfd_instance: keepalived runs them whether or not
// an instance here tracks them, since a neighbour may track its end.
func (d *Daemon) startBFD(cfg *config.Config) error {
	if len(cfg.BFDs) == 0 {
		return nil
	}
	var sessions []bfd.SessionConfig
	for _, f := range cfg.BFDs {
		sessions = append(sessions, bfd.SessionConfig{
			Config:   bfd.Config{Name: f.Name, MinRx: f.MinRx, MinTx: f.MinTx, IdleTx: f.IdleTx, Multiplier: f.Multiplier, Passive: f.Passive},
			Neighbor: f.Neighbor, Source: f.Source, TTL: f.TTL, MaxHops: f.MaxHops,
		})
	}
	r, err := bfd.Start(sessions, d.log)
	if err != nil {
		return err
	}
	d.bfd = r
	return nil
}

// bfdChanged follows a session up or down into every instance tracking
// it, with keepalived's log line.
func (d *Daemon) bfdChanged(c bfd.Change) {
	d.log.Info(fmt.Sprintf("(%s) Entering %s state", c.Name, strings.ToUpper(c.State.String())))
	d.bfdUp[c.Name] = c.Up
	for _, in := range d.instances {
		if in.cfg.TracksBFD(c.Name) {
			d.applyTracking(in)
		}
	}
	if d.director != nil {
		d.director.BFDChanged(c.Name, c.Up)
	}
}
