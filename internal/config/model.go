package config

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vipd/vipd/internal/iproute"
	"github.com/vipd/vipd/internal/lvs"
	"github.com/vipd/vipd/internal/vrrp"
)

// Config is the typed form of a keepalived.conf.
type Config struct {
	Global     Global
	Instances  []*Instance
	SyncGroups []*SyncGroup
	// Scripts are the vrrp_script definitions; only tracked ones run.
	Scripts []*Script
	// TrackFiles are the track_file definitions; only tracked ones are
	// watched.
	TrackFiles []*TrackFile
	// TrackProcesses are the vrrp_track_process definitions.
	TrackProcesses []*TrackProcess
	// BFDs are the bfd_instance sessions.
	BFDs []*BFD
	// Static are the addresses, routes and rules vipd keeps in place
	// whatever the instances' states (static_ipaddress, static_routes,
	// static_rules).
	Static Static
	// TrackGroups are the track_group blocks: instances that watch the
	// interfaces of the static items naming the group.
	TrackGroups []*TrackGroup
	// VirtualServers are the virtual_server blocks that survived their
	// checks, VirtualServerGroups the groups they may name.
	VirtualServers      []*VirtualServer
	VirtualServerGroups []*VirtualServerGroup
	// SSL is the SSL block: what SSL_GET checkers present and trust.
	SSL SSL
	// GARPGroups are the garp_group blocks: announcement spacing for
	// their interfaces instead of global_defs'.
	GARPGroups []*GARPGroup
	// LinkDelays are the interface_up_down_delays lines, one per
	// interface (EffectiveLinkDelay is what runs).
	LinkDelays []LinkDelay
	// Warnings are problems keepalived tolerates; they do not fail -t.
	Warnings []*Error
}

// Global is global_defs.
type Global struct {
	RouterID string // empty: the host name
	// Umask is the file mode mask for what vipd creates (its pid file);
	// -1: leave the inherited one. The -u flag overrides it.
	Umask int
	// GARPInterval and GNAInterval are the least time between two
	// gratuitous ARPs, or two unsolicited neighbour advertisements, on
	// one interface (vrrp_garp_interval, vrrp_gna_interval); 0: none.
	GARPInterval, GNAInterval time.Duration
	// ScriptUser and ScriptGroup run scripts that name no user of their
	// own (script_user); empty: keepalived_script if that user exists,
	// else root.
	ScriptUser, ScriptGroup string
	// ScriptSecurity: run no script that a user other than root could
	// change (enable_script_security).
	ScriptSecurity bool
	// MulticastGroup4 and MulticastGroup6 are the advert groups of
	// instances without mcast_dst_ip (vrrp_mcast_group4/6, else RFC's).
	MulticastGroup4, MulticastGroup6 netip.Addr
	// NotifyFIFO, VRRPNotifyFIFO and LVSNotifyFIFO get a line per state
	// change (notify_fifo, vrrp_notify_fifo, lvs_notify_fifo); nil: none.
	NotifyFIFO, VRRPNotifyFIFO, LVSNotifyFIFO *FIFO
	// Email is where e-mail alerts go (smtp_alert).
	Email Email
	// NetNamespace is the network namespace vipd runs in (net_namespace,
	// a name under /run/netns as ip netns makes them); "": its own.
	NetNamespace string
	// DynamicInterfaces lets an instance's interface be missing at start
	// (dynamic_interfaces): the instance waits for it in FAULT.
	DynamicInterfaces bool
	// StartupDelay holds every instance in INIT this long after start
	// (vrrp_startup_delay), for hosts whose network comes up late.
	StartupDelay time.Duration
	// LVSTimeouts bound idle balanced connections (lvs_timeouts).
	LVSTimeouts lvs.Timeouts
	// LVSFlushOnStop is lvs_flush_on_stop: "" (not given), "ALL" or "VS".
	// vipd removes its own tables at stop whatever it says, which is
	// what either form leaves behind when the tables are only vipd's.
	LVSFlushOnStop string
	// LVSFlush is lvs_flush: start from empty balancing tables, as vipd
	// always does.
	LVSFlush bool
	// LVSSync is lvs_sync_daemon; nil: none.
	LVSSync *LVSSync
	// RSInitNotifies runs notify_up for the real servers up at start
	// (rs_init_notifies).
	RSInitNotifies bool
	// Reload is how SIGHUP reloads go (reload_check_config,
	// reload_time_file, reload_repeat, reload_file,
	// fifo_write_vrrp_states_on_reload).
	Reload Reload
	// VMACPrefix and VMACAddrPrefix start the names of the VMACs and
	// ipvlans vipd names itself (vmac_prefix, default "vrrp"), and of
	// the address VMACs (vmac_addr_prefix, default VMACPrefix).
	VMACPrefix, VMACAddrPrefix string
}

// Email is global_defs' e-mail settings.
type Email struct {
	To     []string // notification_email
	From   string   // notification_email_from; "": USER@HOST, found at start
	Server string   // smtp_server: a host name or an address; "": no mail goes out
	Port   string   // its port, 25 unless given
	Helo   string   // smtp_helo_name; "": the host name
	// Timeout bounds connecting to the server and the whole exchange
	// (smtp_connect_timeout, 30 s unless given).
	Timeout time.Duration
	// NoFaults sends no mail for FAULT (no_email_faults).
	NoFaults bool
}

// Configured reports whether alerts can go anywhere: keepalived sends
// none without a server and a recipient.
func (e *Email) Configured() bool { return e.Server != "" && len(e.To) > 0 }

// Instance is a vrrp_instance: the protocol settings and what the daemon
// needs to carry them out on the host.
type Instance struct {
	Pos  Pos
	VRRP vrrp.Config // Source is left unset unless unicast_src_ip or mcast_src_ip gave it

	VIPs     []VIP // virtual_ipaddress
	Excluded []VIP // virtual_ipaddress_excluded: added and removed, not advertised
	// Routes and Rules go in with the addresses and out with them
	// (virtual_routes, virtual_rules).
	Routes           []Route
	Rules            []Rule
	UnicastPeers     []netip.Addr
	DontTrackPrimary bool
	// Accept is the accept mode in effect: accept/no_accept, else true
	// unless in strict mode, where only the address owner accepts.
	Accept   bool
	UseVMAC  bool   // use_vmac: a macvlan with the VRRP virtual MAC (or VMACAddr)
	VMACName string // its name, or the ipvlan's; default vmac_prefix.VRID as keepalived picks it
	// VMACAddr is the MAC address use_vmac gives the VMAC and the address
	// VMACs (five octets take the VRID as the sixth); nil: the VRRP
	// virtual MAC of each address's family.
	VMACAddr net.HardwareAddr
	// IPVLAN is use_ipvlan: an L2 ipvlan named VMACName on the interface,
	// carrying IPVLANAddr (the adverts' source unless one is configured)
	// with the parent's own MAC; IPVLANMode is bridge, private or vepa.
	// The addresses stay on the parent, as keepalived 2.2.7 puts them,
	// unless use_vmac is given too (IPVLANAddresses): then they go on the
	// ipvlan.
	IPVLAN          bool
	IPVLANMode      string
	IPVLANAddr      netip.Prefix
	IPVLANAddresses bool
	// UseVMACAddr is use_vmac_addr: an address on another interface than
	// the instance's, or of the other family, goes on a VMAC of its own
	// interface, as an address with the use_vmac option does.
	UseVMACAddr bool
	// AddrVMACs are those VMACs, named as keepalived names them.
	AddrVMACs []AddrVMAC
	// VMACXmitBase sends adverts from the interface the VMAC is on, with
	// its own MAC (vmac_xmit_base; set for unicast with use_vmac).
	VMACXmitBase bool
	// UnicastTTL is the TTL (hop limit) of unicast adverts (unicast_ttl),
	// 255 unless given.
	UnicastTTL uint8
	// PromoteSecondaries sets promote_secondaries on the interface while
	// vipd runs, so that removing one address keeps the others of its
	// subnet (promote_secondaries).
	PromoteSecondaries bool
	// ExtraAnnounce repeats announcements this often while master on the
	// VMAC, or with ExtraAnnounceAll on every interface carrying the
	// addresses (garp_extra_if), so that switches keep the MAC; 0: never.
	ExtraAnnounce    time.Duration
	ExtraAnnounceAll bool
	// TrackInterfaces are the interfaces whose state moves the instance
	// (track_interface), besides its own; TrackScripts the vrrp_scripts
	// (track_script). Both include its sync group's.
	TrackInterfaces []Tracked
	TrackScripts    []Tracked
	TrackFiles      []Tracked // track_file, and its sync group's
	TrackProcesses  []Tracked // track_process, and its sync group's
	TrackBFDs       []Tracked // track_bfd, and its sync group's
	Notify          Notify
	// NotifyPriorityChanges writes a line to the notify FIFOs when the
	// priority changes (notify_priority_changes, else the sync group's,
	// else global_defs' vrrp_notify_priority_changes).
	NotifyPriorityChanges bool
	// SMTPAlert mails every state change (smtp_alert, else global_defs'
	// smtp_alert_vrrp or smtp_alert).
	SMTPAlert bool
}

// TracksFile reports whether the instance tracks the track_file.
func (in *Instance) TracksFile(name string) bool {
	return slices.ContainsFunc(in.TrackFiles, func(t Tracked) bool { return t.Name == name })
}

// TracksFile reports whether an instance or a FILE_CHECK tracks the
// track_file.
func (c *Config) TracksFile(name string) bool {
	for _, in := range c.Instances {
		if in.TracksFile(name) {
			return true
		}
	}
	for _, vs := range c.VirtualServers {
		for _, rs := range vs.Reals {
			for _, ck := range rs.Checkers {
				if ck.File != nil && ck.File.Name == name {
					return true
				}
			}
		}
	}
	return false
}

// TracksBFD reports whether the instance tracks the bfd_instance.
func (in *Instance) TracksBFD(name string) bool {
	return slices.ContainsFunc(in.TrackBFDs, func(t Tracked) bool { return t.Name == name })
}

// joinGroupTracking adds what a sync group tracks to a member's own
// lines; the group's line wins over the member's for one name.
func (b *builder) joinGroupTracking(in *Instance, g *SyncGroup, keyword string, own, group []Tracked) []Tracked {
	for _, t := range group {
		if i := slices.IndexFunc(own, func(o Tracked) bool { return o.Name == t.Name }); i >= 0 {
			b.warnf(own[i].Pos, "vrrp_instance %s: %s %s is tracked by vrrp_sync_group %s too: the group's line (%s) is used; remove this one", in.VRRP.Name, keyword, t.Name, g.Name, t.Pos)
			own = slices.Delete(own, i, i+1)
		}
		own = append(own, t)
	}
	return own
}

// TracksProcess reports whether the instance tracks the vrrp_track_process.
func (in *Instance) TracksProcess(name string) bool {
	return slices.ContainsFunc(in.TrackProcesses, func(t Tracked) bool { return t.Name == name })
}

// TakesTraffic reports whether a master of this instance takes in
// packets addressed to its virtual addresses: it is their owner
// (priority 255) or in accept mode (RFC 5798 §6.4.3). One that does not
// must have them dropped.
func (in *Instance) TakesTraffic() bool {
	return in.Accept || in.VRRP.Priority == vrrp.PriorityOwner
}

// AddressDev is the interface an address of the instance goes on. With
// use_vmac, keepalived puts an address of the instance's family on the
// VMAC when it names no interface or the instance's own; an address of the
// other family without one stays on the instance's interface, unless
// use_vmac_addr or its own option use_vmac puts it on an address VMAC
// (AddrVMACs). With use_ipvlan alone the addresses stay on the parent.
func (in *Instance) AddressDev(v VIP) string {
	dev := cmp.Or(v.Dev, in.VRRP.Interface)
	switch {
	case dev == in.VRRP.Interface && v.Prefix.Addr().Is6() == in.VRRP.IPv6 && in.vmacBit():
		return in.VMACName
	case in.onAddrVMAC(v):
		mac := in.VirtualMAC(v.Prefix.Addr().Is6()).String()
		for _, a := range in.AddrVMACs {
			if a.Parent == dev && a.MAC.String() == mac {
				return a.Name
			}
		}
	}
	return dev
}

// VIP is one line of virtual_ipaddress, virtual_ipaddress_excluded or
// static_ipaddress: ip address's words ("IP[/LEN] [brd IP|+|-] [dev IF]
// [scope SCOPE] [label LABEL] [peer IP] ..."). Dev is empty for an
// address of an instance's own interface.
type VIP struct {
	Pos Pos
	iproute.Address
	// Track: an address deleted by someone else is put back (static) or
	// takes its instance out of MASTER; no_track turns it off.
	Track      bool
	TrackGroup string // static addresses: the track_group whose instances watch its interface
	// UseVMAC is the option use_vmac: the address goes on a VMAC of its
	// interface (Instance.AddrVMACs).
	UseVMAC bool
}

// Static is what static_ipaddress, static_routes and static_rules keep
// in place while vipd runs.
type Static struct {
	Addresses []VIP
	Routes    []Route
	Rules     []Rule
}

// TrackGroup is a track_group: the instances that go to FAULT when the
// interface of a static address, route or rule naming the group goes
// down.
type TrackGroup struct {
	Pos     Pos
	Name    string
	Members []string
}

// Errors is every error found in a file, in file order.
type Errors []error

func (e Errors) Error() string {
	s := make([]string, len(e))
	for i, err := range e {
		s[i] = err.Error()
	}
	return strings.Join(s, "\n")
}

// NotSupportedError is a keyword keepalived may know that vipd does not
// implement yet. It is an error: a keyword silently ignored would leave
// the configuration not in effect as written.
type NotSupportedError struct {
	Pos     Pos
	Keyword string
}

func (e *NotSupportedError) Error() string {
	return fmt.Sprintf("keyword %s (%s) is not supported yet", e.Keyword, e.Pos)
}

// Load reads, checks and types a keepalived.conf. The error lists every
// problem found, each with its file:line; with it comes the configuration
// as far as it was understood, for its warnings.
func Load(path string, o Options) (*Config, error) {
	tree, err := ReadTree(path, o)
	if err != nil && (tree == nil || tree.unreadable) {
		if tree != nil {
			return &Config{Warnings: tree.Warnings}, err
		}
		return nil, err
	}
	b := &builder{resolveHost: o.Resolve, cfg: &Config{Global: Global{Umask: -1, Email: Email{Port: "25", Timeout: 30 * time.Second}}, Warnings: tree.Warnings},
		weighted: map[Pos]bool{}, smtpAlertSet: map[*bool]bool{},
		groupPriorityChanges: map[*SyncGroup]bool{}, instPriorityChanges: map[*Instance]bool{},
		disabled: map[string]string{}, lvsSMTPSet: map[*bool]bool{}, lvsRSMethod: map[*RealServer]bool{}}
	b.errs = append(b.errs, tree.Problems...)
	b.canonicalise(schema, tree.Root)
	b.top(tree.Root)
	if len(b.errs) > 0 {
		return b.cfg, b.errs
	}
	return b.cfg, nil
}

// builder walks the tree, collecting every error rather than stopping at
// the first, as keepalived -t reports them all.
type builder struct {
	resolveHost func(host string) error // Options.Resolve
	cfg         *Config
	errs        Errors
	version     uint8 // vrrp_version from global_defs, 0 if unset
	defs        globalDefaults
	// broken are the instances with errors of their own, left out of
	// the checks across instances.
	broken map[*Instance]bool
	// weighted are the track_script lines that give a weight, which
	// overrides the vrrp_script's.
	weighted map[Pos]bool
	// nextRulePriority numbers the rules that give no preference, IPv4
	// then IPv6 (0: not started).
	nextRulePriority [2]uint32
	// smtpAlert is global_defs' default for instances and groups
	// (smtp_alert_vrrp, else smtp_alert), nil if neither is given;
	// smtpAlertSet are the instances and groups that give their own.
	smtpAlert    *bool
	smtpAlertSet map[*bool]bool
	// priorityChanges is global_defs' vrrp_notify_priority_changes, nil
	// if not given; groupPriorityChanges a sync group's.
	priorityChanges      *bool
	groupPriorityChanges map[*SyncGroup]bool
	instPriorityChanges  map[*Instance]bool // the instances that give their own
	// firewall is the last vrrp_iptables or nftables line: keepalived
	// refuses an nftables after either.
	firewall *Node
	// lvsSyncDefaultID: lvs_sync_daemon gave no id.
	lvsSyncDefaultID bool
	// disabled are the definitions dropped for want of what makes them
	// work, by "KIND NAME", with why.
	disabled map[string]string
	// LVS: groups by name, virtual servers awaiting the checks after the
	// whole file, the smtp_alert settings given, the real servers naming
	// their own lvs_method, and global_defs' checker alert defaults.
	lvsGroups        map[string]*VirtualServerGroup
	lvsPending       []pendingVS
	lvsSMTPSet       map[*bool]bool
	lvsRSMethod      map[*RealServer]bool
	smtpAlertChecker *bool
	smtpAlertPlain   *bool
}

// globalDefaults are global_defs settings that instances inherit.
type globalDefaults struct {
	group4, group6                       netip.Addr
	garpDelay, garpRefresh, lowDelay     *time.Duration
	garpRepeat, refreshRepeat, lowRepeat *int
	skipCheckAdvAddr, lowerPrioNoAdvert  bool
	checksumAsV2                         bool
	strict                               bool // vrrp_strict
	scriptSecurity                       bool // enable_script_security
	extraIf                              extraIf
	iface                                string // default_interface
	checkUnicastSrc                      bool   // vrrp_check_unicast_src
}

// extraIf is garp_extra_if: "[all] SECONDS" in either order.
type extraIf struct {
	every time.Duration
	all   bool
}

func (b *builder) errorf(pos Pos, format string, args ...any) {
	b.errs = append(b.errs, errorf(pos, format, args...))
}

func (b *builder) warnf(pos Pos, format string, args ...any) {
	b.cfg.Warnings = append(b.cfg.Warnings, errorf(pos, format, args...))
}

func (b *builder) notSupported(n *Node) { b.notSupportedAt(n.Pos, n.Keyword) }

// notSupportedAt refuses a form of a keyword ("auth_type AH") not built yet.
func (b *builder) notSupportedAt(pos Pos, what string) {
	b.errs = append(b.errs, &NotSupportedError{Pos: pos, Keyword: what})
}

func (b *builder) top(root *Node) {
	// global_defs first: instances inherit from it wherever it is.
	for _, n := range root.Children {
		if n.Keyword == "global_defs" {
			b.globalDefs(n)
		}
	}
	for _, n := range root.Children {
		switch n.Keyword {
		case "global_defs":
		case "vrrp_instance":
			b.instance(n)
		case "vrrp_sync_group":
			b.syncGroup(n)
		case "vrrp_script":
			b.script(n)
		case "static_ipaddress":
			b.cfg.Static.Addresses = b.vips(n, b.cfg.Static.Addresses, true)
		case "static_routes":
			b.cfg.Static.Routes = b.routes(n, true, b.cfg.Static.Routes)
		case "static_rules":
			b.cfg.Static.Rules = b.rules(n, true, b.cfg.Static.Rules)
		case "track_group":
			b.trackGroup(n)
		case "track_file":
			b.trackFile(n)
		case "vrrp_track_process":
			b.trackProcess(n)
		case "bfd_instance":
			b.bfdInstance(n)
		case "virtual_server_group":
			b.virtualServerGroup(n)
		case "virtual_server":
			b.virtualServer(n)
		case "SSL":
			b.ssl(n)
		case "garp_group":
			b.garpGroup(n)
		case "interface_up_down_delays":
			b.linkDelays(n)
		case "net_namespace":
			switch {
			case !b.args(n, 1, 1):
			case b.cfg.Global.NetNamespace != "":
				b.errorf(n.Pos, "net_namespace %s: given twice (first %s)", n.Args[0], b.cfg.Global.NetNamespace)
			case strings.ContainsAny(n.Args[0], "/") || n.Args[0] == "." || n.Args[0] == "..":
				b.errorf(n.Pos, "net_namespace %q: a namespace name as ip netns knows it, not a path", n.Args[0])
			default:
				b.cfg.Global.NetNamespace = n.Args[0]
			}
		default:
			b.other(schema, n)
		}
	}
	b.cfg.Global.MulticastGroup4, b.cfg.Global.MulticastGroup6 = vrrp.GroupIPv4, vrrp.GroupIPv6
	setIf(&b.cfg.Global.MulticastGroup4, validOrNil(b.defs.group4))
	setIf(&b.cfg.Global.MulticastGroup6, validOrNil(b.defs.group6))
	b.checkSyncGroups()
	b.staticTracking()
	b.smtpDefaults()
	b.settleFIFOs()
	b.priorityChangeDefaults()
	for _, in := range b.cfg.Instances {
		in.TrackScripts = b.resolveScripts("vrrp_instance "+in.VRRP.Name, in.TrackScripts)
		for _, t := range in.TrackScripts {
			if t.Weight != 0 && in.VRRP.Priority == vrrp.PriorityOwner {
				b.warnf(t.Pos, "vrrp_instance %s: track_script %s: a weight does not move the address owner's priority 255", in.VRRP.Name, t.Name)
			}
		}
	}
	b.shareGroupTracking()
	b.nameVMACs()
	b.crossCheck()
	b.settleVirtualServers()
	b.settleLVSSync()
}

func validOrNil(a netip.Addr) *netip.Addr {
	if a.IsValid() {
		return &a
	}
	return nil
}

// args checks a statement's argument count.
func (b *builder) args(n *Node, min, max int) bool {
	if len(n.Args) < min || len(n.Args) > max {
		switch {
		case min == max && min == 0:
			b.errorf(n.Pos, "%s takes no value", n.Keyword)
		case min == max:
			b.errorf(n.Pos, "%s takes %d value(s), got %d", n.Keyword, min, len(n.Args))
		default:
			b.errorf(n.Pos, "%s takes %d to %d values, got %d", n.Keyword, min, max, len(n.Args))
		}
		return false
	}
	if n.Block {
		b.errorf(n.Pos, "%s does not take a block", n.Keyword)
		return false
	}
	return true
}

func (b *builder) int(n *Node, lo, hi int) (int, bool) {
	if !b.args(n, 1, 1) {
		return 0, false
	}
	v, err := strconv.Atoi(n.Args[0])
	if err != nil || v < lo || v > hi {
		b.errorf(n.Pos, "%s %q: must be a whole number %d..%d", n.Keyword, n.Args[0], lo, hi)
		return 0, false
	}
	return v, true
}

// seconds parses a duration in (possibly fractional) seconds.
func (b *builder) seconds(n *Node, lo, hi float64) (time.Duration, bool) {
	if !b.args(n, 1, 1) {
		return 0, false
	}
	v, err := strconv.ParseFloat(n.Args[0], 64)
	if err != nil || math.IsNaN(v) || v < lo || v > hi {
		b.errorf(n.Pos, "%s %q: must be %g..%g seconds", n.Keyword, n.Args[0], lo, hi)
		return 0, false
	}
	return time.Duration(math.Round(v * float64(time.Second))), true
}

// optWholeSeconds reads a whole number of seconds (keepalived reads the
// GARP delays as integers and ignores "1.5" with an error), or nil.
func (b *builder) optWholeSeconds(n *Node) *time.Duration {
	if v, ok := b.int(n, 0, math.MaxInt32); ok {
		d := time.Duration(v) * time.Second
		return &d
	}
	return nil
}

// optInt reads a setting that overrides a default, or nil.
func (b *builder) optInt(n *Node) *int {
	if v, ok := b.int(n, 0, math.MaxInt32); ok {
		return &v
	}
	return nil
}

func (b *builder) addr(n *Node, arg string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(arg)
	if err != nil || a.Zone() != "" {
		b.errorf(n.Pos, "%s: %q is not an IP address", n.Keyword, arg)
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func (b *builder) globalDefs(g *Node) {
	d := &b.defs
	var smtpVRRP *Node
	for _, n := range g.Children {
		switch n.Keyword {
		case "router_id":
			if b.args(n, 1, 1) {
				b.cfg.Global.RouterID = n.Args[0]
			}
		case "vrrp_version":
			if v, ok := b.int(n, 2, 3); ok {
				b.version = uint8(v)
			}
		case "vrrp_mcast_group4", "vrrp_mcast_group6":
			if !b.args(n, 1, 1) {
				continue
			}
			a, ok := b.addr(n, n.Args[0])
			switch v6 := n.Keyword == "vrrp_mcast_group6"; {
			case !ok:
			case !a.IsMulticast() || a.Is6() != v6:
				b.errorf(n.Pos, "%s %v is not an %s multicast address", n.Keyword, a, family(v6))
			case v6:
				d.group6 = a
			default:
				d.group4 = a
			}
		case "vrrp_garp_master_delay":
			d.garpDelay = b.optWholeSeconds(n)
		case "vrrp_garp_master_refresh":
			d.garpRefresh = b.optWholeSeconds(n)
		case "vrrp_garp_lower_prio_delay":
			d.lowDelay = b.optWholeSeconds(n)
		case "vrrp_garp_master_repeat":
			d.garpRepeat = b.optInt(n)
		case "vrrp_garp_master_refresh_repeat":
			d.refreshRepeat = b.optInt(n)
		case "vrrp_garp_lower_prio_repeat":
			d.lowRepeat = b.optInt(n)
		case "vrrp_skip_check_adv_addr":
			d.skipCheckAdvAddr = b.args(n, 0, 0)
		case "vrrp_lower_prio_no_advert":
			d.lowerPrioNoAdvert = b.flag(n)
		case "v3_checksum_as_v2":
			d.checksumAsV2 = b.args(n, 0, 0)
		case "vrrp_garp_extra_if", "vrrp_vmac_garp_intvl":
			if v, ok := b.extraIf(n); ok {
				d.extraIf = v
			}
		case "vrrp_min_garp":
			// One message per address on becoming master and no second
			// burst; a later vrrp_garp_master_* still overrides.
			if b.flag(n) {
				one, none := 1, time.Duration(0)
				d.garpRepeat, d.garpDelay = &one, &none
			}
		case "vrrp_garp_interval", "vrrp_gna_interval":
			// 0 is the default, yet keepalived calls it invalid.
			v, ok := b.seconds(n, 0, 4294.967295)
			switch {
			case ok && v == 0:
				b.errorf(n.Pos, "%s 0: must be 0.000001..4294.967295 seconds; 0 (no spacing) is the default, remove the line", n.Keyword)
			case ok && n.Keyword == "vrrp_garp_interval":
				b.cfg.Global.GARPInterval = v
			case ok:
				b.cfg.Global.GNAInterval = v
			}
		case "vrrp_strict":
			d.strict = b.args(n, 0, 0)
		case "umask":
			if v, ok := b.umask(n); ok {
				b.cfg.Global.Umask = v
			}
		case "enable_script_security":
			d.scriptSecurity = b.flag(n)
			b.cfg.Global.ScriptSecurity = d.scriptSecurity
		case "vrrp_startup_delay":
			if v, ok := b.seconds(n, 0.001, 4294.967295); ok {
				b.cfg.Global.StartupDelay = v
			}
		case "vrrp_check_unicast_src":
			d.checkUnicastSrc = b.args(n, 0, 0)
		case "vrrp_higher_prio_send_advert":
			b.higherPrioSendAdvert(n)
		case "dynamic_interfaces":
			// allow_if_changes lets keepalived accept an interface
			// that comes back as another kind; vipd looks interfaces
			// up by name whatever they are.
			if b.args(n, 0, 1) {
				if len(n.Args) == 1 && n.Args[0] != "allow_if_changes" {
					b.errorf(n.Pos, "dynamic_interfaces %q: the only option is allow_if_changes", n.Args[0])
					break
				}
				b.cfg.Global.DynamicInterfaces = true
			}
		case "notification_email":
			if b.listBlock(n) {
				for _, m := range n.Children {
					b.cfg.Global.Email.To = append(b.cfg.Global.Email.To, m.Keyword)
					b.cfg.Global.Email.To = append(b.cfg.Global.Email.To, m.Args...)
				}
			}
		case "notification_email_from":
			if b.args(n, 1, 1) {
				b.cfg.Global.Email.From = n.Args[0]
			}
		case "smtp_server":
			if b.args(n, 1, 2) {
				b.smtpServer(n)
			}
		case "smtp_helo_name":
			if b.args(n, 1, 1) {
				b.cfg.Global.Email.Helo = n.Args[0]
			}
		case "smtp_connect_timeout":
			switch v, ok := b.int(n, 0, math.MaxInt32/1000000); {
			case ok && v == 0:
				b.warnf(n.Pos, "smtp_connect_timeout 0: 1 s is used, as keepalived does")
				b.cfg.Global.Email.Timeout = time.Second
			case ok:
				b.cfg.Global.Email.Timeout = time.Duration(v) * time.Second
			}
		case "no_email_faults":
			b.cfg.Global.Email.NoFaults = b.args(n, 0, 0)
		case "notify_fifo":
			b.fifo(n, &b.cfg.Global.NotifyFIFO)
		case "vrrp_notify_fifo":
			b.fifo(n, &b.cfg.Global.VRRPNotifyFIFO)
		case "notify_fifo_script":
			b.fifoScript(n, &b.cfg.Global.NotifyFIFO)
		case "vrrp_notify_fifo_script":
			b.fifoScript(n, &b.cfg.Global.VRRPNotifyFIFO)
		case "lvs_notify_fifo":
			b.fifo(n, &b.cfg.Global.LVSNotifyFIFO)
		case "lvs_notify_fifo_script":
			b.fifoScript(n, &b.cfg.Global.LVSNotifyFIFO)
		case "vrrp_notify_priority_changes":
			v := b.flag(n)
			b.priorityChanges = &v
		case "smtp_alert_checker":
			v := b.flag(n)
			b.smtpAlertChecker = &v
		case "smtp_alert", "smtp_alert_vrrp":
			v := b.flag(n)
			if n.Keyword == "smtp_alert" {
				b.smtpAlertPlain = &v
			}
			// smtp_alert_vrrp wins over smtp_alert wherever it is.
			if n.Keyword == "smtp_alert" && smtpVRRP != nil {
				continue
			}
			b.smtpAlert = &v
			if n.Keyword == "smtp_alert_vrrp" {
				smtpVRRP = n
			}
		case "default_interface":
			if b.args(n, 1, 1) {
				b.defs.iface = n.Args[0]
			}
		case "vmac_prefix", "vmac_addr_prefix":
			b.vmacPrefix(n)
		case "vrrp_iptables", "nftables":
			// keepalived (built with nftables, as Debian's is) reads
			// either as the table to use; vrrp_iptables replaces it
			// with a warning, a second nftables is refused.
			if b.firewall != nil && n.Keyword == "nftables" {
				b.errorf(n.Pos, "%s: the firewall table is already given by %s at %s, and keepalived ignores this line; keep one", n.Keyword, b.firewall.Keyword, b.firewall.Pos)
			}
			b.firewall = n
			b.other(schemaGlobal, n)
		case "lvs_timeouts":
			b.lvsTimeouts(n)
		case "lvs_sync_daemon":
			b.lvsSync(n)
		case "lvs_flush":
			b.cfg.Global.LVSFlush = b.args(n, 0, 0)
		case "rs_init_notifies":
			b.cfg.Global.RSInitNotifies = b.flag(n)
		case "reload_check_config", "reload_time_file", "reload_repeat", "reload_file", "fifo_write_vrrp_states_on_reload":
			b.reloadKeyword(n)
		case "lvs_flush_on_stop":
			switch {
			case !b.args(n, 0, 1):
			case len(n.Args) == 0:
				b.cfg.Global.LVSFlushOnStop = "ALL"
			case n.Args[0] == "VS":
				b.cfg.Global.LVSFlushOnStop = "VS"
			default:
				b.errorf(n.Pos, "lvs_flush_on_stop %s: the only option is VS", n.Args[0])
			}
		case "random_seed":
			// The lexer seeds ${_RANDOM} with it from this line on.
			b.int(n, 0, math.MaxUint32)
		case "script_user":
			if b.args(n, 1, 2) {
				b.cfg.Global.ScriptUser = n.Args[0]
				if len(n.Args) == 2 {
					b.cfg.Global.ScriptGroup = n.Args[1]
				}
			}
		default:
			b.other(schemaGlobal, n)
		}
	}
}

// umaskBits are the names keepalived's umask takes, "IWGRP | IWOTH".
var umaskBits = map[string]int{
	"IRUSR": 0o400, "IWUSR": 0o200, "IXUSR": 0o100,
	"IRGRP": 0o040, "IWGRP": 0o020, "IXGRP": 0o010,
	"IROTH": 0o004, "IWOTH": 0o002, "IXOTH": 0o001,
}

// umask reads a number (0077) or names joined by '|'.
func (b *builder) umask(n *Node) (int, bool) {
	spec := strings.Join(n.Args, "")
	if v, err := strconv.ParseUint(spec, 0, 12); err == nil {
		return int(v), true
	}
	mask := 0
	for _, name := range strings.Split(spec, "|") {
		bit, ok := umaskBits[name]
		if !ok {
			b.errorf(n.Pos, "umask %q: want a number such as 0027 or names such as IWGRP | IWOTH", strings.Join(n.Args, " "))
			return 0, false
		}
		mask |= bit
	}
	return mask, true
}

func (b *builder) extraIf(n *Node) (extraIf, bool) {
	if !b.args(n, 1, 2) {
		return extraIf{}, false
	}
	var v extraIf
	var secs string
	for _, a := range n.Args {
		if a == "all" {
			v.all = true
		} else {
			secs = a
		}
	}
	s, err := strconv.Atoi(secs)
	if err != nil || s < 1 || s > 86400 {
		b.errorf(n.Pos, "%s: want [all] SECONDS, seconds a whole number 1..86400", n.Keyword)
		return extraIf{}, false
	}
	v.every = time.Duration(s) * time.Second
	return v, true
}

// flag reads a keyword that may be followed by true/false (keepalived's
// boolean keywords); without a value it is true.
func (b *builder) flag(n *Node) bool {
	if !b.args(n, 0, 1) {
		return false
	}
	if len(n.Args) == 0 {
		return true
	}
	switch strings.ToLower(n.Args[0]) {
	case "true", "on", "yes":
		return true
	case "false", "off", "no":
		return false
	}
	b.errorf(n.Pos, "%s %q: must be true or false", n.Keyword, n.Args[0])
	return false
}

func family(v6 bool) string {
	if v6 {
		return "IPv6"
	}
	return "IPv4"
}

// SyncGroup is a vrrp_sync_group: instances that move between MASTER,
// BACKUP and FAULT together.
type SyncGroup struct {
	Pos Pos
	vrrp.GroupConfig
	// What the group tracks is tracked by every member: one member in
	// FAULT takes the group there.
	TrackInterfaces []Tracked
	TrackScripts    []Tracked
	TrackFiles      []Tracked
	TrackProcesses  []Tracked
	TrackBFDs       []Tracked
	Notify          Notify
	SMTPAlert       bool // as an instance's
	// TrackingWeight keeps the weights of what members track themselves
	// (sync_group_tracking_weight); without it keepalived drops their
	// weighted track_script lines.
	TrackingWeight bool
}

// GroupConfigs are the sync groups as the protocol core takes them.
func (c *Config) GroupConfigs() []vrrp.GroupConfig {
	out := make([]vrrp.GroupConfig, len(c.SyncGroups))
	for i, g := range c.SyncGroups {
		out[i] = g.GroupConfig
	}
	return out
}

// groupOf is the sync group an instance belongs to, or nil.
func (c *Config) groupOf(name string) *SyncGroup {
	for _, g := range c.SyncGroups {
		if slices.Contains(g.Members, name) {
			return g
		}
	}
	return nil
}

func (b *builder) syncGroup(blk *Node) {
	if len(blk.Args) != 1 || !blk.Block {
		b.errorf(blk.Pos, "vrrp_sync_group takes a name and a block")
		return
	}
	g := &SyncGroup{Pos: blk.Pos, GroupConfig: vrrp.GroupConfig{Name: blk.Args[0]}}
	owner := "vrrp_sync_group " + g.Name
	for _, n := range blk.Children {
		switch n.Keyword {
		case "group":
			if !n.Block || len(n.Args) > 0 {
				b.errorf(n.Pos, "group takes a block of instance names")
				continue
			}
			for _, m := range n.Children {
				g.Members = append(g.Members, m.Keyword)
				g.Members = append(g.Members, m.Args...)
			}
		case "track_interface":
			g.TrackInterfaces = b.track(n, g.TrackInterfaces)
		case "track_script":
			g.TrackScripts = b.track(n, g.TrackScripts)
		case "track_file":
			g.TrackFiles = b.resolveFiles(owner, b.track(n, nil))
		case "track_process":
			g.TrackProcesses = b.resolveProcesses(owner, b.track(n, nil))
		case "track_bfd":
			g.TrackBFDs = b.resolveBFDs(owner, b.track(n, nil))
		case "smtp_alert":
			g.SMTPAlert = b.flag(n)
			b.smtpAlertSet[&g.SMTPAlert] = true
		case "notify_priority_changes":
			b.groupPriorityChanges[g] = b.flag(n)
		case "sync_group_tracking_weight", "global_tracking":
			if n.Keyword == "global_tracking" {
				b.warnf(n.Pos, "global_tracking is deprecated: use sync_group_tracking_weight (the same here)")
			}
			g.TrackingWeight = b.args(n, 0, 0)
		default:
			if !b.notify(n, owner, &g.Notify) {
				b.other(schemaSyncGroup, n)
			}
		}
	}
	b.cfg.SyncGroups = append(b.cfg.SyncGroups, g)
}

// shareGroupTracking resolves what each sync group tracks and gives it to
// its members, as keepalived does: what the group tracks keeps its
// weight, while unless the group has sync_group_tracking_weight a
// member's own weighted scripts are dropped and its weighted interfaces
// lose their weight.
func (b *builder) shareGroupTracking() {
	for _, g := range b.cfg.SyncGroups {
		owner := "vrrp_sync_group " + g.Name
		g.TrackScripts = b.resolveScripts(owner, g.TrackScripts)
		for _, in := range b.cfg.Instances {
			if !slices.Contains(g.Members, in.VRRP.Name) {
				continue
			}
			if !g.TrackingWeight {
				in.TrackScripts = slices.DeleteFunc(in.TrackScripts, func(t Tracked) bool {
					if t.Weight != 0 {
						b.warnf(t.Pos, "vrrp_instance %s: track_script %s has a weight, which a member of vrrp_sync_group %s cannot use: the line is ignored, as keepalived ignores it (use weight 0, or sync_group_tracking_weight in the group)", in.VRRP.Name, t.Name, g.Name)
					}
					return t.Weight != 0
				})
			}
			if !g.TrackingWeight {
				for i, t := range in.TrackInterfaces {
					if t.Weight != 0 {
						b.warnf(t.Pos, "vrrp_instance %s: track_interface %s has a weight, which a member of vrrp_sync_group %s cannot use: the interface is tracked without it (down means FAULT), as keepalived does (use sync_group_tracking_weight in the group to keep it)", in.VRRP.Name, t.Name, g.Name)
						in.TrackInterfaces[i].Weight, in.TrackInterfaces[i].Reverse = 0, false
					}
				}
			}
			if !g.TrackingWeight {
				b.unweightFiles(in, "by a member of vrrp_sync_group "+g.Name)
			}
			for _, t := range g.TrackFiles {
				if in.VRRP.Priority == vrrp.PriorityOwner && t.Weight != 0 {
					b.warnf(t.Pos, "vrrp_sync_group %s: track_file %s: member %s is the address owner (priority 255), so the weight is 0 for it, as keepalived has it", g.Name, t.Name, in.VRRP.Name)
					t.Weight = 0
				}
				if i := slices.IndexFunc(in.TrackFiles, func(o Tracked) bool { return o.Name == t.Name }); i >= 0 {
					b.warnf(in.TrackFiles[i].Pos, "vrrp_instance %s: track_file %s is tracked by vrrp_sync_group %s too: the group's line (%s) is used; remove this one", in.VRRP.Name, t.Name, g.Name, t.Pos)
					in.TrackFiles = slices.Delete(in.TrackFiles, i, i+1)
				}
				in.TrackFiles = append(in.TrackFiles, t)
			}
			in.TrackProcesses = b.joinGroupTracking(in, g, "track_process", in.TrackProcesses, g.TrackProcesses)
			in.TrackBFDs = b.joinGroupTracking(in, g, "track_bfd", in.TrackBFDs, g.TrackBFDs)
			in.TrackInterfaces = append(in.TrackInterfaces, g.TrackInterfaces...)
			for _, t := range g.TrackScripts {
				if i := slices.IndexFunc(in.TrackScripts, func(o Tracked) bool { return o.Name == t.Name }); i >= 0 {
					b.warnf(in.TrackScripts[i].Pos, "vrrp_instance %s: track_script %s is tracked by vrrp_sync_group %s too: the group's line (%s) is used; remove this one", in.VRRP.Name, t.Name, g.Name, t.Pos)
					in.TrackScripts = slices.Delete(in.TrackScripts, i, i+1)
				}
				in.TrackScripts = append(in.TrackScripts, t)
			}
		}
	}
}

func (b *builder) checkSyncGroups() {
	for _, g := range b.cfg.SyncGroups {
		for _, m := range g.Members {
			if !slices.ContainsFunc(b.cfg.Instances, func(in *Instance) bool { return in.VRRP.Name == m }) {
				b.errorf(g.Pos, "vrrp_sync_group %s: no vrrp_instance %s", g.Name, m)
			}
		}
	}
}

// Validate runs the protocol core's own checks on every instance and sync
// group, with a placeholder for a source address only the interface can
// give (the daemon validates again with the real one).
func (c *Config) Validate() error {
	var errs Errors
	cfgs := make([]vrrp.Config, len(c.Instances))
	for i, in := range c.Instances {
		cfgs[i] = in.VRRP
		if !cfgs[i].Source.IsValid() {
			cfgs[i].Source = netip.MustParseAddr("192.0.2.1")
			if cfgs[i].IPv6 {
				cfgs[i].Source = netip.MustParseAddr("fe80::1")
			}
		}
		if err := cfgs[i].Validate(); err != nil {
			errs = append(errs, errorf(in.Pos, "%v", errors.Unwrap(err)))
		}
	}
	if len(errs) == 0 {
		if _, err := vrrp.NewRouter(cfgs, c.GroupConfigs()); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}
