package daemon

import (
	"errors"
	"fmt"

	"github.com/vipd/vipd/internal/config"
	"github.com/vipd/vipd/internal/vip"
)

// addRoutes puts the instance's virtual routes, then its virtual rules,
// in: after its addresses, which a route's src may name.
func (in *instance) addRoutes() error {
	var errs []error
	for i := range in.cfg.Routes {
		errs = append(errs, vip.AddRoute(&in.cfg.Routes[i].Route))
	}
	for i := range in.cfg.Rules {
		errs = append(errs, vip.AddRule(&in.cfg.Rules[i].Rule))
	}
	return errors.Join(errs...)
}

// removeRoutes takes the rules, then the routes out: before the
// addresses go.
func (in *instance) removeRoutes() error {
	var errs []error
	for i := range in.cfg.Rules {
		errs = append(errs, vip.DeleteRule(&in.cfg.Rules[i].Rule))
	}
	for i := range in.cfg.Routes {
		errs = append(errs, vip.DeleteRoute(&in.cfg.Routes[i].Route))
	}
	return errors.Join(errs...)
}

// removeStaleRoutes takes out configured routes and rules found at
// start-up, left by a daemon that died while master.
func (in *instance) removeStaleRoutes() (removed []string, err error) {
	var errs []error
	for i := range in.cfg.Rules {
		r := &in.cfg.Rules[i].Rule
		if vip.RulePresent(r) {
			if err := vip.DeleteRule(r); err != nil {
				errs = append(errs, err)
				continue
			}
			removed = append(removed, "rule "+r.String())
		}
	}
	for i := range in.cfg.Routes {
		r := &in.cfg.Routes[i].Route
		if vip.RoutePresent(r) {
			if err := vip.DeleteRoute(r); err != nil {
				errs = append(errs, err)
				continue
			}
			removed = append(removed, "route "+r.String())
		}
	}
	return removed, errors.Join(errs...)
}

// statics is what static_ipaddress, static_routes and static_rules keep
// in place from start to stop, and which of them vipd put there (only
// those it takes out when it stops, as keepalived does).
type statics struct {
	cfg                        *config.Static
	addrSet, routeSet, ruleSet []bool
}

func newStatics(cfg *config.Static) *statics {
	return &statics{
		cfg:      cfg,
		addrSet:  make([]bool, len(cfg.Addresses)),
		routeSet: make([]bool, len(cfg.Routes)),
		ruleSet:  make([]bool, len(cfg.Rules)),
	}
}

// set puts in every static item missing (all of them with dev "" , or
// only those on dev), addresses first, then routes, then rules. It
// returns what it put in, for the log.
func (s *statics) set(dev string) (added []string, err error) {
	var errs []error
	for i := range s.cfg.Addresses {
		a := &s.cfg.Addresses[i]
		if dev != "" && a.Dev != dev || !a.Track && s.addrSet[i] {
			continue
		}
		if ok, _ := vip.Present(a.Address); ok {
			continue
		}
		if err := vip.Add(a.Address, vip.Forever); err != nil {
			errs = append(errs, err)
			continue
		}
		s.addrSet[i] = true
		added = append(added, "address "+a.Address.String())
	}
	for i := range s.cfg.Routes {
		r := &s.cfg.Routes[i]
		if dev != "" && r.Dev != dev || !r.Track && s.routeSet[i] || vip.RoutePresent(&r.Route) {
			continue
		}
		if err := vip.AddRoute(&r.Route); err != nil {
			errs = append(errs, err)
			continue
		}
		s.routeSet[i] = true
		added = append(added, "route "+r.Route.String())
	}
	for i := range s.cfg.Rules {
		r := &s.cfg.Rules[i]
		if dev != "" && r.IIF != dev || !r.Track && s.ruleSet[i] || vip.RulePresent(&r.Rule) {
			continue
		}
		if err := vip.AddRule(&r.Rule); err != nil {
			errs = append(errs, err)
			continue
		}
		s.ruleSet[i] = true
		added = append(added, "rule "+r.Rule.String())
	}
	return added, errors.Join(errs...)
}

// clear takes out what set put in: rules, routes, then addresses.
func (s *statics) clear() error {
	var errs []error
	for i := range s.cfg.Rules {
		if s.ruleSet[i] {
			errs = append(errs, vip.DeleteRule(&s.cfg.Rules[i].Rule))
			s.ruleSet[i] = false
		}
	}
	for i := range s.cfg.Routes {
		if s.routeSet[i] {
			errs = append(errs, vip.DeleteRoute(&s.cfg.Routes[i].Route))
			s.routeSet[i] = false
		}
	}
	for i := range s.cfg.Addresses {
		if s.addrSet[i] {
			errs = append(errs, vip.Remove(s.cfg.Addresses[i].Address))
			s.addrSet[i] = false
		}
	}
	return errors.Join(errs...)
}

// reinstate puts back the tracked static items the kernel lost (someone
// deleted them, or their interface went down and came back), and logs it.
func (d *Daemon) reinstate(dev string) {
	if d.static == nil {
		return
	}
	added, err := d.static.set(dev)
	for _, what := range added {
		d.log.Warn(fmt.Sprintf("Restoring deleted static %s", what))
	}
	if err != nil {
		d.log.Error("restoring static addresses, routes and rules", "err", err)
	}
}

// setStatics puts the static addresses, routes and rules in at start.
func (d *Daemon) setStatics() {
	if d.static == nil {
		return
	}
	added, err := d.static.set("")
	for _, what := range added {
		d.log.Info(fmt.Sprintf("Added static %s", what))
	}
	if err != nil {
		d.log.Error("adding static addresses, routes and rules", "err", err)
	}
}

// clearStatics takes out the static items vipd put in, at stop. Their
// deletions must not bring them back: the watch sees none from here on.
func (d *Daemon) clearStatics() {
	st := d.static
	d.static = nil
	if st == nil {
		return
	}
	if err := st.clear(); err != nil {
		d.log.Error("removing static addresses, routes and rules", "err", err)
	}
}
