package vrrp

import (
	"fmt"
	"net/netip"
)

// ActionKind says what an Action asks the daemon to do.
type ActionKind uint8

// The things the protocol core asks of the world. The daemon carries them
// out in the order they are returned.
const (
	// SendAdvert: send an advert with Action.Priority to the multicast
	// group or to every unicast peer. Encode it with Instance.AppendAdvert.
	SendAdvert ActionKind = iota + 1
	// AddAddresses: put the instance's virtual addresses on the interface.
	AddAddresses
	// RemoveAddresses: take them off.
	RemoveAddresses
	// Announce: send Action.Repeat rounds of gratuitous ARP / unsolicited
	// neighbour advertisements for every virtual address.
	Announce
	// Transition: the instance changed state (log it, run notify scripts).
	Transition
	// HeardLowerPriority: a master heard a lower-priority master at
	// Action.Peer (keepalived's notify_master_rx_lower_pri).
	HeardLowerPriority
)

func (k ActionKind) String() string {
	switch k {
	case SendAdvert:
		return "send-advert"
	case AddAddresses:
		return "add-addresses"
	case RemoveAddresses:
		return "remove-addresses"
	case Announce:
		return "announce"
	case Transition:
		return "transition"
	case HeardLowerPriority:
		return "heard-lower-priority"
	}
	return fmt.Sprintf("action-%d", uint8(k))
}

// Reason says why a transition happened or an advert was sent.
type Reason uint8

// Reasons.
const (
	ReasonNone           Reason = iota
	ReasonStartup               // the instance started
	ReasonOwner                 // priority 255 owns the addresses
	ReasonMasterDown            // no advert heard for Master_Down_Interval
	ReasonHigherPriority        // a higher-priority master was heard
	ReasonFault                 // a tracked resource failed
	ReasonRecovered             // the fault cleared
	ReasonSyncGroup             // another member of the sync group moved
	ReasonStop                  // the instance was stopped
	ReasonTimer                 // periodic advert or announcement
	ReasonPriorityZero          // answering a priority-0 advert
	ReasonLowerPriority         // answering a lower-priority master
	ReasonSteppingDown          // a master leaving tells the others
	ReasonHandover              // a hand-over to a new master ended
	ReasonReload                // the configuration was reloaded
)

func (r Reason) String() string {
	switch r {
	case ReasonNone:
		return ""
	case ReasonStartup:
		return "startup"
	case ReasonOwner:
		return "owner"
	case ReasonMasterDown:
		return "master-down"
	case ReasonHigherPriority:
		return "higher-priority"
	case ReasonFault:
		return "fault"
	case ReasonRecovered:
		return "recovered"
	case ReasonSyncGroup:
		return "sync-group"
	case ReasonStop:
		return "stop"
	case ReasonTimer:
		return "timer"
	case ReasonPriorityZero:
		return "priority-zero"
	case ReasonLowerPriority:
		return "lower-priority"
	case ReasonSteppingDown:
		return "stepping-down"
	case ReasonHandover:
		return "handover"
	case ReasonReload:
		return "reload"
	}
	return fmt.Sprintf("reason-%d", uint8(r))
}

// Action is one thing the daemon must do for an instance. Only the fields
// its Kind names are set.
type Action struct {
	Kind     ActionKind
	Instance *Instance
	Reason   Reason
	Priority uint8      // SendAdvert, HeardLowerPriority
	From, To State      // Transition
	Repeat   int        // Announce
	Peer     netip.Addr // HeardLowerPriority, and Transition caused by a packet
}

func (a Action) String() string {
	s := a.Instance.Name() + " " + a.Kind.String()
	switch a.Kind {
	case SendAdvert:
		s += fmt.Sprintf(" prio=%d", a.Priority)
	case Transition:
		s += fmt.Sprintf(" %v->%v", a.From, a.To)
	case Announce:
		s += fmt.Sprintf(" x%d", a.Repeat)
	case HeardLowerPriority:
		s += fmt.Sprintf(" from=%v prio=%d", a.Peer, a.Priority)
	}
	if a.Reason != ReasonNone {
		s += " (" + a.Reason.String() + ")"
	}
	return s
}
