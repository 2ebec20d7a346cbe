package daemon

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/vipd/vipd/internal/iproute"
	"github.com/vipd/vipd/internal/vip"
)

// lost is an address, route or rule the kernel reports deleted: one of
// ours that someone else took out is put back (see putBack).
type lost struct {
	added bool // an address was added, not deleted: see retryWaiting
	addr  netip.Addr
	index int // the address's interface
	route *netlink.Route
	rule  *netlink.Rule
}

// watchLost subscribes to deletions of addresses, routes and rules. Only
// routes and rules of keepalived's protocol (ours) are passed on.
func (d *Daemon) watchLost() (<-chan lost, chan struct{}, error) {
	done := make(chan struct{})
	out := make(chan lost, 64)
	onErr := func(err error) {
		select {
		case <-done: // closing a subscription fails its last read
		default:
			d.log.Error("watching deleted addresses, routes and rules", "err", err)
		}
	}
	addrs := make(chan netlink.AddrUpdate, 64)
	if err := netlink.AddrSubscribeWithOptions(addrs, done, netlink.AddrSubscribeOptions{ErrorCallback: onErr}); err != nil {
		close(done)
		return nil, nil, fmt.Errorf("watching addresses: %w", err)
	}
	routes := make(chan netlink.RouteUpdate, 64)
	if err := netlink.RouteSubscribeWithOptions(routes, done, netlink.RouteSubscribeOptions{ErrorCallback: onErr}); err != nil {
		close(done)
		return nil, nil, fmt.Errorf("watching routes: %w", err)
	}
	// The netlink library has no rule subscription: read the rule
	// groups' messages here.
	rules, err := nl.Subscribe(unix.NETLINK_ROUTE, unix.RTNLGRP_IPV4_RULE, unix.RTNLGRP_IPV6_RULE)
	if err != nil {
		close(done)
		return nil, nil, fmt.Errorf("watching rules: %w", err)
	}
	go func() {
		<-done
		rules.Close()
	}()
	send := func(l lost) {
		select {
		case out <- l:
		case <-done:
		}
	}
	go func() {
		for u := range addrs {
			a, _ := netip.AddrFromSlice(u.LinkAddress.IP)
			send(lost{added: u.NewAddr, addr: a.Unmap(), index: u.LinkIndex})
		}
	}()
	go func() {
		for u := range routes {
			if u.Type == unix.RTM_DELROUTE && u.Route.Protocol == iproute.ProtoKeepalived {
				send(lost{route: &u.Route})
			}
		}
	}()
	go func() {
		for {
			msgs, _, err := rules.Receive()
			if err != nil {
				onErr(err)
				return
			}
			for _, m := range msgs {
				if m.Header.Type != unix.RTM_DELRULE {
					continue
				}
				if r, ok := parseRule(m.Data); ok && r.Protocol == iproute.ProtoKeepalived {
					send(lost{rule: r})
				}
			}
		}
	}()
	return out, done, nil
}

// parseRule reads what matching needs from a rule message: a
// fib_rule_hdr (family, dst_len, src_len, tos, table, two reserved bytes,
// action, flags), then attributes.
func parseRule(b []byte) (*netlink.Rule, bool) {
	const hdr = 12
	if len(b) < hdr {
		return nil, false
	}
	r := &netlink.Rule{Family: int(b[0]), Table: int(b[4]), Type: b[7]}
	attrs, err := nl.ParseRouteAttr(b[hdr:])
	if err != nil {
		return nil, false
	}
	for _, a := range attrs {
		switch {
		case a.Attr.Type == unix.FRA_PRIORITY && len(a.Value) == 4:
			r.Priority = int(binary.NativeEndian.Uint32(a.Value))
		case a.Attr.Type == unix.FRA_TABLE && len(a.Value) == 4:
			r.Table = int(binary.NativeEndian.Uint32(a.Value))
		case a.Attr.Type == unix.FRA_PROTOCOL && len(a.Value) == 1:
			r.Protocol = a.Value[0]
		}
	}
	return r, true
}

// putBack restores what someone else deleted: a tracked virtual address,
// route or rule of a master, or a tracked static one. keepalived makes
// the master step down to BACKUP instead, and win again after
// Master_Down_Interval: an outage the instance can do without. What has
// no_track stays out until the instance next becomes master.
func (d *Daemon) putBack(l lost) {
	if l.added {
		d.retryWaiting(l.index)
		return
	}
	for _, in := range d.instances {
		if !in.holding {
			continue
		}
		name := in.vr.Name()
		switch {
		case l.addr.IsValid():
			for i, a := range in.addrs {
				if a.Prefix.Addr() == l.addr && in.tracked[i] && in.ifIndex(a.Dev) == l.index {
					d.log.Warn(fmt.Sprintf("(%s) virtual address %v was deleted from %s: putting it back", name, l.addr, a.Dev))
					if err := vip.Add(a, in.lifetime()); err != nil {
						d.log.Error(fmt.Sprintf("(%s) putting back virtual address %v", name, l.addr), "err", err)
					}
				}
			}
		case l.route != nil:
			for i := range in.cfg.Routes {
				r := &in.cfg.Routes[i]
				if r.Track && vip.MatchesRoute(&r.Route, *l.route) {
					d.log.Warn(fmt.Sprintf("(%s) virtual route %v was deleted: putting it back", name, &r.Route))
					if err := vip.AddRoute(&r.Route); err != nil {
						d.log.Error(fmt.Sprintf("(%s) putting back virtual route", name), "err", err)
					}
				}
			}
		case l.rule != nil:
			for i := range in.cfg.Rules {
				r := &in.cfg.Rules[i]
				if r.Track && vip.MatchesRule(&r.Rule, *l.rule) {
					d.log.Warn(fmt.Sprintf("(%s) virtual rule %v was deleted: putting it back", name, &r.Rule))
					if err := vip.AddRule(&r.Rule); err != nil {
						d.log.Error(fmt.Sprintf("(%s) putting back virtual rule", name), "err", err)
					}
				}
			}
		}
	}
	d.reinstate("")
}

// retryWaiting attaches the instances waiting for an address on the
// interface that just got one (dynamic_interfaces: an interface that
// came without its address yet).
func (d *Daemon) retryWaiting(index int) {
	for _, in := range d.instances {
		if in.base != nil || in.waiting == nil {
			continue
		}
		if ifi, err := net.InterfaceByName(in.cfg.VRRP.Interface); err != nil || ifi.Index != index {
			continue
		}
		if d.reattach(in) {
			in.linkIsUp = in.linkUp()
			d.applyTracking(in)
		}
	}
}
