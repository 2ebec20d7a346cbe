// Package vrrp is the VRRP protocol, free of I/O: the advert codec (RFC 3768
// VRRPv2, RFC 5798/9568 VRRPv3, IPv4 and IPv6, keepalived's checksum rules),
// the receive checks, and the instance and sync-group state machines.
//
// A Router owns every instance of a process. The daemon's event loop feeds
// it events with the current time, one method per kind of event, and
// carries out the Actions each call returns, in order:
//
//	Start(now)                     instances leave INIT
//	Receive(now, packet)           an advert arrived (checked, counted)
//	Tick(now)                      a timer is due; NextDeadline says when
//	SetFault(now, name, bool)      link watch and trackers in fault mode
//	SetPriority(now, name, prio)   trackers with weights
//	Stop(now)                      graceful stop, with make-before-break
//
// Nothing here reads a clock, sleeps or touches a socket, so the simulator
// in package sim drives the same code the daemon does, exactly.
package vrrp
