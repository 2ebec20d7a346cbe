package vrrp

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Multicast groups VRRP advertises to (RFC 9568 §5.1.1.2, §5.1.2.2).
var (
	GroupIPv4 = netip.MustParseAddr("224.0.0.18")
	GroupIPv6 = netip.MustParseAddr("ff02::12")
)

// Config is what the protocol core needs to know about one virtual router
// instance. It is the typed, defaulted form: the config package turns a
// keepalived.conf vrrp_instance into one of these. Start from DefaultConfig.
type Config struct {
	Name      string // instance name, as in "(VI_1) Entering MASTER STATE"
	Interface string // receive packets arrive tagged with this interface
	VRID      uint8
	Version   uint8 // 2 or 3
	IPv6      bool  // IPv6 instances are always VRRPv3

	Priority uint8 // base priority, 1..255; 255 owns the addresses
	// Interval is advert_int: whole seconds for VRRPv2, a multiple of 10 ms
	// up to 40.95 s for VRRPv3.
	Interval time.Duration
	// WantMaster is keepalived's "state MASTER". It is only a hint: an
	// owner starts as master at once, anyone else starts as backup.
	WantMaster   bool
	NoPreempt    bool          // nopreempt; keepalived requires state BACKUP with it
	PreemptDelay time.Duration // preempt_delay, counted from the first lower-priority advert

	// Addrs are the virtual addresses carried in adverts (virtual_ipaddress).
	Addrs []netip.Addr
	// Source is this router's address on the interface: adverts are sent
	// from it and equal priorities are broken by comparing it.
	Source netip.Addr
	// Unicast: adverts go to unicast peers, not Group. Instances on one
	// interface may share an id when their groups differ, or one is
	// unicast.
	Unicast bool
	// AcceptFrom, when set, are the only sources adverts are taken from
	// (keepalived's check_unicast_src with unicast peers).
	AcceptFrom []netip.Addr
	// Group is the multicast destination (vrrp_mcast_group4/6).
	Group netip.Addr

	AuthType AuthType // VRRPv2 only: AuthNone, AuthPass or AuthAH
	AuthPass [8]byte  // zero-padded password (AuthPass), or the ICV key (AuthAH)

	ChecksumAsV2      bool // v3_checksum_as_v2: no IPv4 pseudo-header in VRRPv3
	SkipCheckAdvAddr  bool // skip_check_adv_addr: do not compare address lists
	LowerPrioNoAdvert bool // lower_prio_no_advert: a master ignores lower priorities
	DownTimerAdverts  int  // the "3" in Master_Down_Interval (1..100)

	// Gratuitous ARP / unsolicited NA bursts. A burst of Repeat rounds is
	// sent on becoming master and again after Delay (0: no second burst);
	// Refresh (0: off) repeats RefreshRepeat rounds while master.
	GARPMasterDelay         time.Duration
	GARPMasterRepeat        int
	GARPMasterRefresh       time.Duration
	GARPMasterRefreshRepeat int
	// The same when a master hears a lower priority (a healed split brain).
	GARPLowerPrioDelay  time.Duration
	GARPLowerPrioRepeat int

	// ReleaseGrace is how long a master that is handing over keeps its
	// addresses after it has heard the new master, so that the new
	// master's announcements reach clients first even when the new master
	// advertises before it announces (keepalived does).
	ReleaseGrace time.Duration
}

// DefaultConfig returns keepalived's defaults for an IPv4 VRRPv2 instance.
func DefaultConfig() Config {
	return Config{
		Version:                 2,
		Priority:                PriorityDefault,
		Interval:                time.Second,
		Group:                   GroupIPv4,
		DownTimerAdverts:        DefaultDownTimerAdverts,
		GARPMasterDelay:         5 * time.Second,
		GARPMasterRepeat:        5,
		GARPMasterRefreshRepeat: 1,
		GARPLowerPrioDelay:      5 * time.Second,
		GARPLowerPrioRepeat:     5,
		ReleaseGrace:            50 * time.Millisecond,
	}
}

// ConfigError says what is wrong with a Config.
type ConfigError struct {
	Instance string
	Err      error
}

func (e *ConfigError) Error() string { return fmt.Sprintf("instance %s: %v", e.Instance, e.Err) }
func (e *ConfigError) Unwrap() error { return e.Err }

// Validation errors that callers may want to recognise.
var (
	ErrNoPreemptMaster = errors.New("nopreempt needs state BACKUP: with state MASTER it would never take effect")
)

// Validate checks the config for values the protocol cannot work with.
func (c *Config) Validate() error {
	err := c.validate()
	if err != nil {
		return &ConfigError{Instance: c.Name, Err: err}
	}
	return nil
}

func (c *Config) validate() error {
	switch {
	case c.Name == "":
		return errors.New("no name")
	case c.VRID == 0:
		return errors.New("virtual_router_id must be 1..255")
	case c.Priority == 0:
		return errors.New("priority must be 1..255")
	case c.Version != 2 && c.Version != 3:
		return fmt.Errorf("version %d: must be 2 or 3", c.Version)
	case c.IPv6 && c.Version != 3:
		return errors.New("IPv6 instances use VRRP version 3")
	case c.DownTimerAdverts < 1 || c.DownTimerAdverts > 100:
		return fmt.Errorf("down_timer_adverts %d: must be 1..100", c.DownTimerAdverts)
	case c.NoPreempt && c.WantMaster:
		return ErrNoPreemptMaster
	case c.PreemptDelay < 0 || c.PreemptDelay > 1000*time.Second:
		return fmt.Errorf("preempt_delay %v: must be 0..1000s", c.PreemptDelay)
	case len(c.Addrs) > MaxAddrs:
		return fmt.Errorf("%d virtual addresses: an advert carries at most %d", len(c.Addrs), MaxAddrs)
	case c.GARPMasterRepeat < 0 || c.GARPMasterRefreshRepeat < 0 || c.GARPLowerPrioRepeat < 0:
		return errors.New("gratuitous ARP repeat counts must not be negative")
	case c.ReleaseGrace < 0:
		return errors.New("release grace must not be negative")
	}
	if err := c.validateInterval(); err != nil {
		return err
	}
	if err := c.validateAuth(); err != nil {
		return err
	}
	for _, a := range c.Addrs {
		if !a.IsValid() || a.Is4() == c.IPv6 || a.Is4In6() {
			return fmt.Errorf("virtual address %v is not of the instance's family", a)
		}
	}
	for name, a := range map[string]netip.Addr{"source": c.Source, "multicast group": c.Group} {
		if !a.IsValid() || a.Is4() == c.IPv6 {
			return fmt.Errorf("%s address %v is missing or not of the instance's family", name, a)
		}
	}
	if !c.Group.IsMulticast() {
		return fmt.Errorf("multicast group %v is not a multicast address", c.Group)
	}
	return nil
}

func (c *Config) validateInterval() error {
	if c.Version == 2 {
		if c.Interval%time.Second != 0 || c.Interval < time.Second || c.Interval > 255*time.Second {
			return fmt.Errorf("advert_int %v: VRRPv2 needs whole seconds, 1..255", c.Interval)
		}
		return nil
	}
	if c.Interval%Centisecond != 0 || c.Interval < Centisecond || c.Interval > MaxIntervalV3*Centisecond {
		return fmt.Errorf("advert_int %v: VRRPv3 needs a multiple of 10ms, 0.01..40.95s", c.Interval)
	}
	return nil
}

func (c *Config) validateAuth() error {
	switch c.AuthType {
	case AuthNone:
		return nil
	case AuthPass:
		if c.Version != 2 {
			return errors.New("authentication exists in VRRP version 2 only")
		}
		return nil
	case AuthAH:
		if c.Version != 2 || c.IPv6 {
			return errors.New("auth_type AH exists for VRRPv2 over IPv4 only")
		}
		return nil
	}
	return fmt.Errorf("unknown auth type %d", c.AuthType)
}

// wireInterval is the interval as the advert carries it.
func (c *Config) wireInterval() uint16 {
	if c.Version == 2 {
		return uint16(c.Interval / time.Second)
	}
	return uint16(c.Interval / Centisecond)
}

// owner reports whether this router owns the addresses (priority 255).
func (c *Config) owner() bool { return c.Priority == PriorityOwner }

// StartsMaster reports whether the instance goes straight to MASTER on
// start-up and on leaving FAULT: an owner that is also "state MASTER".
// keepalived 2.2.7 keeps an owner configured "state BACKUP" in BACKUP for
// a Master_Down_Interval first (checked against its log); so does vipd.
func (c *Config) StartsMaster() bool { return c.owner() && c.WantMaster }
