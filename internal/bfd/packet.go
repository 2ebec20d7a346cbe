// Package bfd runs Bidirectional Forwarding Detection sessions (RFC 5880)
// in asynchronous mode over single-hop UDP (RFC 5881), as keepalived's
// bfd_instance does: no echo, no demand mode, no authentication. A
// Session is the protocol, with no I/O; a Runner carries its packets.
package bfd

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// State is a session state (RFC 5880 §4.1).
type State uint8

const (
	AdminDown State = iota
	Down
	Init
	Up
)

func (s State) String() string {
	return [...]string{"AdminDown", "Down", "Init", "Up"}[s&3]
}

// Diagnostic codes (RFC 5880 §4.1) vipd sets.
const (
	DiagNone            = 0
	DiagDetectExpired   = 1 // Control Detection Time Expired
	DiagNeighborDown    = 3 // Neighbor Signaled Session Down
	DiagAdminDown       = 7
	diagMax             = 8
	packetLen           = 24
	version             = 1
	flagPoll, flagFinal = 0x20, 0x10
	flagCPlane, flagA   = 0x08, 0x04
	flagDemand, flagM   = 0x02, 0x01
)

// Packet is a BFD Control packet without authentication.
type Packet struct {
	Diag       uint8
	State      State
	Poll       bool
	Final      bool
	DetectMult uint8
	MyDisc     uint32
	YourDisc   uint32
	// The intervals are in microseconds, as on the wire.
	DesiredMinTx, RequiredMinRx, RequiredMinEchoRx uint32
}

// Errors of a received packet (RFC 5880 §6.8.6).
var (
	ErrShort      = errors.New("bfd: packet too short")
	ErrVersion    = errors.New("bfd: unknown version")
	ErrLength     = errors.New("bfd: length field does not match the packet")
	ErrDetectMult = errors.New("bfd: detect multiplier 0")
	ErrMultipoint = errors.New("bfd: multipoint bit set")
	ErrMyDisc     = errors.New("bfd: my discriminator 0")
	ErrYourDisc   = errors.New("bfd: your discriminator 0 in state Init or Up")
	ErrAuth       = errors.New("bfd: authentication, which is not configured")
	ErrPollFinal  = errors.New("bfd: both poll and final set")
	ErrDiag       = errors.New("bfd: unknown diagnostic")
)

// MarshalBinary encodes the packet.
func (p *Packet) MarshalBinary() ([]byte, error) {
	b := make([]byte, packetLen)
	b[0] = version<<5 | p.Diag&0x1f
	b[1] = byte(p.State) << 6
	if p.Poll {
		b[1] |= flagPoll
	}
	if p.Final {
		b[1] |= flagFinal
	}
	b[2], b[3] = p.DetectMult, packetLen
	be := binary.BigEndian
	be.PutUint32(b[4:], p.MyDisc)
	be.PutUint32(b[8:], p.YourDisc)
	be.PutUint32(b[12:], p.DesiredMinTx)
	be.PutUint32(b[16:], p.RequiredMinRx)
	be.PutUint32(b[20:], p.RequiredMinEchoRx)
	return b, nil
}

// UnmarshalBinary decodes and checks a packet as RFC 5880 §6.8.6 asks.
func (p *Packet) UnmarshalBinary(b []byte) error {
	if len(b) < packetLen {
		return ErrShort
	}
	if b[0]>>5 != version {
		return ErrVersion
	}
	if int(b[3]) != len(b) || b[3] < packetLen {
		return ErrLength
	}
	be := binary.BigEndian
	*p = Packet{
		Diag: b[0] & 0x1f, State: State(b[1] >> 6), Poll: b[1]&flagPoll != 0, Final: b[1]&flagFinal != 0,
		DetectMult: b[2], MyDisc: be.Uint32(b[4:]), YourDisc: be.Uint32(b[8:]),
		DesiredMinTx: be.Uint32(b[12:]), RequiredMinRx: be.Uint32(b[16:]), RequiredMinEchoRx: be.Uint32(b[20:]),
	}
	switch {
	case p.DetectMult == 0:
		return ErrDetectMult
	case b[1]&flagM != 0:
		return ErrMultipoint
	case p.MyDisc == 0:
		return ErrMyDisc
	case p.YourDisc == 0 && p.State != Down && p.State != AdminDown:
		return ErrYourDisc
	case b[1]&flagA != 0:
		return ErrAuth
	case p.Poll && p.Final:
		return ErrPollFinal
	case p.Diag >= diagMax:
		return ErrDiag
	}
	return nil
}

func (p *Packet) String() string {
	return fmt.Sprintf("%v diag=%d P=%v F=%v mult=%d my=%#x your=%#x tx=%dus rx=%dus", p.State, p.Diag, p.Poll, p.Final,
		p.DetectMult, p.MyDisc, p.YourDisc, p.DesiredMinTx, p.RequiredMinRx)
}
