package vip

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/vipd/vipd/internal/iproute"
)

// AddRule puts a policy-routing rule in; one already there is not an
// error.
func AddRule(r *iproute.Rule) error {
	req := ruleRequest(unix.RTM_NEWRULE, unix.NLM_F_CREATE|unix.NLM_F_EXCL|unix.NLM_F_ACK, r)
	if _, err := req.Execute(unix.NETLINK_ROUTE, 0); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("adding rule %v: %w", r, err)
	}
	return nil
}

// DeleteRule takes a rule out; one already gone is not an error.
func DeleteRule(r *iproute.Rule) error {
	req := ruleRequest(unix.RTM_DELRULE, unix.NLM_F_ACK, r)
	if _, err := req.Execute(unix.NETLINK_ROUTE, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("deleting rule %v: %w", r, err)
	}
	return nil
}

// ruleRequest encodes a rule: a fib_rule_hdr, which has rtmsg's layout
// with the action where rtmsg has the type, then its attributes.
func ruleRequest(cmd, flags int, r *iproute.Rule) *nl.NetlinkRequest {
	req := nl.NewNetlinkRequest(cmd, flags)
	msg := nl.NewRtMsg()
	msg.Family = unix.AF_INET
	if r.IPv6 {
		msg.Family = unix.AF_INET6
	}
	msg.Protocol, msg.Scope, msg.Table = 0, 0, unix.RT_TABLE_UNSPEC
	msg.Type = r.Action
	msg.Tos = r.TOS
	if r.Invert {
		msg.Flags |= unix.FIB_RULE_INVERT
	}
	if r.From.IsValid() {
		msg.Src_len = uint8(r.From.Bits())
	}
	if r.To.IsValid() {
		msg.Dst_len = uint8(r.To.Bits())
	}
	if r.Action == unix.FR_ACT_TO_TBL && !r.L3mdev && r.Table < 256 {
		msg.Table = uint8(r.Table)
	}
	req.AddData(msg)
	add := func(t int, b []byte) { req.AddData(nl.NewRtAttr(t, b)) }
	if r.Action == unix.FR_ACT_TO_TBL && !r.L3mdev && r.Table >= 256 {
		add(unix.FRA_TABLE, nl.Uint32Attr(r.Table))
	}
	if r.From.IsValid() {
		add(unix.FRA_SRC, r.From.Addr().AsSlice())
	}
	if r.To.IsValid() {
		add(unix.FRA_DST, r.To.Addr().AsSlice())
	}
	add(unix.FRA_PRIORITY, nl.Uint32Attr(r.Priority))
	if r.Mark != nil {
		add(unix.FRA_FWMARK, nl.Uint32Attr(*r.Mark))
	}
	if r.Mask != nil {
		add(unix.FRA_FWMASK, nl.Uint32Attr(*r.Mask))
	}
	if r.Realms != 0 {
		add(unix.FRA_FLOW, nl.Uint32Attr(r.Realms))
	}
	if r.SuppressPrefixLen != nil {
		add(unix.FRA_SUPPRESS_PREFIXLEN, nl.Uint32Attr(*r.SuppressPrefixLen))
	}
	if r.SuppressGroup != nil {
		add(unix.FRA_SUPPRESS_IFGROUP, nl.Uint32Attr(*r.SuppressGroup))
	}
	if r.IIF != "" {
		add(unix.FRA_IIFNAME, nl.ZeroTerminated(r.IIF))
	}
	if r.OIF != "" {
		add(unix.FRA_OIFNAME, nl.ZeroTerminated(r.OIF))
	}
	if r.TunnelID != 0 {
		add(unix.FRA_TUN_ID, nl.BEUint64Attr(r.TunnelID))
	}
	if r.UIDRange != nil {
		add(unix.FRA_UID_RANGE, append(nl.Uint32Attr(r.UIDRange[0]), nl.Uint32Attr(r.UIDRange[1])...))
	}
	if r.L3mdev {
		add(unix.FRA_L3MDEV, nl.Uint8Attr(1))
	}
	add(unix.FRA_PROTOCOL, nl.Uint8Attr(r.Protocol))
	if r.IPProto != nil {
		add(unix.FRA_IP_PROTO, nl.Uint8Attr(*r.IPProto))
	}
	for _, pr := range []struct {
		typ   int
		ports *[2]uint16
	}{{unix.FRA_SPORT_RANGE, r.SPort}, {unix.FRA_DPORT_RANGE, r.DPort}} {
		if pr.ports != nil {
			add(pr.typ, append(nl.Uint16Attr(pr.ports[0]), nl.Uint16Attr(pr.ports[1])...))
		}
	}
	if r.Action == unix.FR_ACT_GOTO {
		add(unix.FRA_GOTO, nl.Uint32Attr(r.Goto))
	}
	return req
}

// RulePresent reports whether the kernel has the rule: one of ours at
// its priority with its action and table.
func RulePresent(r *iproute.Rule) bool {
	fam := netlink.FAMILY_V4
	if r.IPv6 {
		fam = netlink.FAMILY_V6
	}
	list, err := netlink.RuleList(fam)
	if err != nil {
		return false
	}
	for _, k := range list {
		if MatchesRule(r, k) {
			return true
		}
	}
	return false
}

// MatchesRule reports whether a kernel rule is the configured one: same
// priority, protocol and table (for a table action).
func MatchesRule(r *iproute.Rule, k netlink.Rule) bool {
	if uint32(k.Priority) != r.Priority || k.Protocol != r.Protocol {
		return false
	}
	return r.Action != unix.FR_ACT_TO_TBL || r.L3mdev || uint32(k.Table) == r.Table
}
