// Package lvs is the load-balancing half of vipd: virtual services and
// their real servers as the kernel should balance them, the health
// checkers that decide which real servers take traffic (package check),
// and the dataplanes that program the kernel (package nft).
package lvs

import (
	"fmt"
	"net/netip"
	"time"
)

// Protocol is a virtual service's transport protocol.
type Protocol uint8

// Protocols a virtual service balances.
const (
	TCP Protocol = iota
	UDP
	SCTP
)

func (p Protocol) String() string {
	switch p {
	case TCP:
		return "TCP"
	case UDP:
		return "UDP"
	case SCTP:
		return "SCTP"
	}
	return fmt.Sprintf("Protocol(%d)", uint8(p))
}

// Method is how packets reach a real server (lvs_method).
type Method uint8

// Forwarding methods.
const (
	// NAT rewrites the destination to the real server's address and
	// port; replies must come back through this host.
	NAT Method = iota
	// DR (direct routing) hands the packet unchanged to the real
	// server's MAC address on a shared link; the real server holds the
	// virtual address itself and replies directly.
	DR
	// TUN encapsulates the packet to the real server (IP-in-IP).
	TUN
)

func (m Method) String() string {
	switch m {
	case NAT:
		return "NAT"
	case DR:
		return "DR"
	case TUN:
		return "TUN"
	}
	return fmt.Sprintf("Method(%d)", uint8(m))
}

// Service is one virtual service as the dataplane sees it: what traffic
// it takes, how it balances, and the real servers that take traffic now.
// A virtual_server_group becomes one Service per address (and port) it
// holds; the manager, not the dataplane, decides which real servers are
// in Reals and with what weight.
type Service struct {
	// Addr and Port match the traffic; Port 0 matches every port (a
	// persistent service for all ports). Unset Addr: a fwmark service.
	Addr     netip.Addr
	Port     uint16
	Protocol Protocol
	// FWMark matches packets by firewall mark instead of address; IPv6
	// says which family a fwmark service balances.
	FWMark uint32
	IPv6   bool
	// Scheduler is lvs_sched: rr, wrr, lc, wlc, lblc, lblcr, dh, sh,
	// mh, sed, nq, fo, ovf, twos.
	Scheduler string
	// Scheduler flags: sh-port/mh-port hash the source port too,
	// sh-fallback/mh-fallback skip a real server of weight 0, and ops
	// (one-packet scheduling) balances each UDP datagram on its own.
	HashPort, Fallback, OnePacket bool
	// Persistence sends a client back to the same real server for this
	// long after its last connection; 0: no persistence.
	Persistence time.Duration
	// PersistenceBits is the prefix length that counts as one client
	// for persistence (persistence_granularity); 32 or 128 unless given.
	PersistenceBits int
	// PersistenceMask is a non-contiguous IPv4 granularity (IPVS masks
	// bit by bit); invalid: PersistenceBits says.
	PersistenceMask netip.Addr
	Reals           []Real
}

// Real is a real server taking traffic for a Service.
type Real struct {
	Addr netip.Addr
	Port uint16 // 0: the service's port
	// Weight shares new connections; 0 takes no new connections but
	// keeps the ones it has (as inhibit_on_failure asks).
	Weight int
	Method Method
	// Upper and lower connection thresholds (uthreshold, lthreshold);
	// 0: none. Only IPVS honours them.
	UpperThreshold, LowerThreshold uint32
	// Tunnel is how TUN encapsulates; zero for NAT and DR.
	Tunnel Tunnel
}

// Tunnel is lvs_method TUN's encapsulation: Type "ipip" (or ""), "gue"
// (with Port) or "gre"; Checksum "nocsum" (or ""), "csum" or "remcsum".
type Tunnel struct {
	Type     string
	Port     uint16
	Checksum string
}

// Timeouts are how long the dataplane keeps an idle connection's real
// server (lvs_timeouts); 0 leaves the kernel's default.
type Timeouts struct {
	TCP    time.Duration // an established TCP connection
	TCPFin time.Duration // a TCP connection after its FIN
	UDP    time.Duration // a UDP flow
}

// Dataplane programs the kernel to balance services.
type Dataplane interface {
	// Apply makes the kernel balance exactly these services, replacing
	// whatever an earlier Apply programmed, in one step where the
	// kernel allows it. Established connections keep their real server.
	Apply(services []Service) error
	// Close removes everything the dataplane programmed.
	Close() error
}
