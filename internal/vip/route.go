package vip

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/vipd/vipd/internal/iproute"
)

// The netlink library's route calls cannot prepend (keepalived's default)
// nor send RTA_PREF, RTA_EXPIRES, RTA_TTL_PROPAGATE or every metric lock,
// so routes and rules are encoded here with its request builder.

// AddRoute puts a route in. An identical route already there is not an
// error: the goal is reached.
func AddRoute(r *iproute.Route) error {
	flags := unix.NLM_F_CREATE | unix.NLM_F_ACK
	switch r.Create {
	case iproute.Exclusive:
		flags |= unix.NLM_F_EXCL
	case iproute.Append:
		flags |= unix.NLM_F_APPEND
	}
	req, err := routeRequest(unix.RTM_NEWROUTE, flags, r)
	if err != nil {
		return err
	}
	if _, err := req.Execute(unix.NETLINK_ROUTE, 0); err != nil && !(errors.Is(err, unix.EEXIST) && RoutePresent(r)) {
		return fmt.Errorf("adding route %v: %w", r, err)
	}
	return nil
}

// DeleteRoute takes a route out; one already gone is not an error.
func DeleteRoute(r *iproute.Route) error {
	req, err := routeRequest(unix.RTM_DELROUTE, unix.NLM_F_ACK, r)
	if errors.Is(err, errNoLink) {
		return nil // its interface is gone, and the route with it
	}
	if err != nil {
		return err
	}
	if _, err := req.Execute(unix.NETLINK_ROUTE, 0); err != nil && !errors.Is(err, unix.ESRCH) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("deleting route %v: %w", r, err)
	}
	return nil
}

var errNoLink = errors.New("no such interface")

func ifIndex(name string) (uint32, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return 0, fmt.Errorf("interface %s: %w", name, errNoLink)
	}
	return uint32(ifi.Index), nil
}

func routeRequest(cmd, flags int, r *iproute.Route) (*nl.NetlinkRequest, error) {
	req := nl.NewNetlinkRequest(cmd, flags)
	msg := nl.NewRtMsg()
	msg.Family = unix.AF_INET
	if r.IPv6 {
		msg.Family = unix.AF_INET6
	}
	msg.Protocol = r.Protocol
	msg.Type = r.Type
	msg.Scope = r.Scope
	if cmd == unix.RTM_DELROUTE {
		msg.Scope = unix.RT_SCOPE_NOWHERE // any scope
	}
	if r.TOS != nil {
		msg.Tos = *r.TOS
	}
	if r.Onlink {
		msg.Flags |= unix.RTNH_F_ONLINK
	}
	msg.Dst_len = uint8(r.Dst.Bits())
	if r.From.IsValid() {
		msg.Src_len = uint8(r.From.Bits())
	}
	if r.Table < 256 {
		msg.Table = uint8(r.Table)
	} else {
		msg.Table = unix.RT_TABLE_UNSPEC
	}
	req.AddData(msg)
	if r.Table >= 256 {
		req.AddData(nl.NewRtAttr(unix.RTA_TABLE, nl.Uint32Attr(r.Table)))
	}
	if r.Dst.Bits() > 0 {
		req.AddData(nl.NewRtAttr(unix.RTA_DST, r.Dst.Addr().AsSlice()))
	}
	if r.From.IsValid() && r.From.Bits() > 0 {
		req.AddData(nl.NewRtAttr(unix.RTA_SRC, r.From.Addr().AsSlice()))
	}
	if r.Src.IsValid() {
		req.AddData(nl.NewRtAttr(unix.RTA_PREFSRC, r.Src.AsSlice()))
	}
	if r.Via.IsValid() {
		req.AddData(nl.NewRtAttr(unix.RTA_GATEWAY, r.Via.AsSlice()))
	}
	if r.Dev != "" {
		idx, err := ifIndex(r.Dev)
		if err != nil {
			return nil, fmt.Errorf("route %v: %w", r, err)
		}
		req.AddData(nl.NewRtAttr(unix.RTA_OIF, nl.Uint32Attr(idx)))
	}
	if r.Metric != nil {
		req.AddData(nl.NewRtAttr(unix.RTA_PRIORITY, nl.Uint32Attr(*r.Metric)))
	}
	if r.Realms != 0 {
		req.AddData(nl.NewRtAttr(unix.RTA_FLOW, nl.Uint32Attr(r.Realms)))
	}
	if r.Expires != nil {
		req.AddData(nl.NewRtAttr(unix.RTA_EXPIRES, nl.Uint32Attr(*r.Expires)))
	}
	if r.Pref != nil {
		req.AddData(nl.NewRtAttr(unix.RTA_PREF, nl.Uint8Attr(*r.Pref)))
	}
	if r.TTLPropagate != nil {
		req.AddData(nl.NewRtAttr(unix.RTA_TTL_PROPAGATE, nl.Uint8Attr(*r.TTLPropagate)))
	}
	if len(r.Metrics) > 0 || r.Congctl != "" {
		metrics := nl.NewRtAttr(unix.RTA_METRICS, nil)
		keys := make([]uint16, 0, len(r.Metrics))
		for k := range r.Metrics {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			metrics.AddRtAttr(int(k), nl.Uint32Attr(r.Metrics[k]))
		}
		if r.Congctl != "" {
			metrics.AddRtAttr(unix.RTAX_CC_ALGO, []byte(r.Congctl))
		}
		if r.Locked != 0 {
			metrics.AddRtAttr(unix.RTAX_LOCK, nl.Uint32Attr(r.Locked))
		}
		req.AddData(metrics)
	}
	if len(r.Nexthops) > 0 {
		var paths []byte
		for _, h := range r.Nexthops {
			nh := &nl.RtNexthop{}
			if h.Weight > 0 {
				nh.Hops = uint8(h.Weight - 1)
			}
			if h.Onlink {
				nh.Flags |= unix.RTNH_F_ONLINK
			}
			if h.Dev != "" {
				idx, err := ifIndex(h.Dev)
				if err != nil {
					return nil, fmt.Errorf("route %v: nexthop: %w", r, err)
				}
				nh.Ifindex = int32(idx)
			}
			if h.Via.IsValid() {
				nh.Children = append(nh.Children, nl.NewRtAttr(unix.RTA_GATEWAY, h.Via.AsSlice()))
			}
			if h.Realms != 0 {
				nh.Children = append(nh.Children, nl.NewRtAttr(unix.RTA_FLOW, nl.Uint32Attr(h.Realms)))
			}
			paths = append(paths, nh.Serialize()...)
		}
		req.AddData(nl.NewRtAttr(unix.RTA_MULTIPATH, paths))
	}
	return req, nil
}

// RoutePresent reports whether the kernel has a route of ours to the
// route's destination in its table, through its gateway and interface
// where it names them.
func RoutePresent(r *iproute.Route) bool {
	fam := netlink.FAMILY_V4
	if r.IPv6 {
		fam = netlink.FAMILY_V6
	}
	filter := &netlink.Route{Table: int(r.Table)}
	mask := netlink.RT_FILTER_TABLE
	list, err := netlink.RouteListFiltered(fam, filter, mask)
	if err != nil {
		return false
	}
	return slices.ContainsFunc(list, func(k netlink.Route) bool { return MatchesRoute(r, k) })
}

// MatchesRoute reports whether a kernel route is the configured one: same
// table, destination, type and protocol, and the same TOS, metric, gateway
// and interface where the configuration gives them.
func MatchesRoute(r *iproute.Route, k netlink.Route) bool {
	dst := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	if r.IPv6 {
		dst = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	}
	if k.Dst != nil {
		ones, _ := k.Dst.Mask.Size()
		a, _ := netip.AddrFromSlice(k.Dst.IP)
		dst = netip.PrefixFrom(a.Unmap(), ones)
	}
	if dst.Masked() != r.Dst.Masked() || uint32(k.Table) != r.Table || uint8(k.Protocol) != r.Protocol || uint8(k.Type) != r.Type {
		return false
	}
	if r.TOS != nil && uint8(k.Tos) != *r.TOS || r.Metric != nil && uint32(k.Priority) != *r.Metric {
		return false
	}
	if r.Via.IsValid() {
		gw, _ := netip.AddrFromSlice(k.Gw)
		if gw.Unmap() != r.Via {
			return false
		}
	}
	if r.Dev != "" && len(r.Nexthops) == 0 {
		ifi, err := net.InterfaceByName(r.Dev)
		if err != nil || ifi.Index != k.LinkIndex {
			return false
		}
	}
	return true
}
