package syncd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// The wire format, version 1. IPVS's own sync format describes IPVS
// connections (and needs IPVS to read it), so vipd directors speak this
// one among themselves. All integers are big-endian.
//
// A datagram is a header and Count entries, nothing after them:
//
//	0      2        3       4      6       8
//	| "vs" | version | sync id | count | flags |
//
// flags bit 0 (FlagRequest): a director that has just become backup asks
// the master to send every connection again; such a datagram has no
// entries. The other bits must be zero.
//
// An entry is a conntrack entry (or its end) as the master sees it:
//
//	0    1        2       3       4       5          8         12     16
//	| op | family | proto | state | flags | reserved | timeout | mark |
//	then the original tuple: source address, destination address,
//	source port, destination port; then the reply tuple likewise;
//	then, if flags has entrySCTPTags, the SCTP verification tags of the
//	original and reply directions (4 bytes each).
//
// family is 4 or 6 (addresses of 4 or 16 bytes), proto 6 (TCP), 17 (UDP)
// or 132 (SCTP), state conntrack's protocol state (enum tcp_conntrack,
// sctp_conntrack; 0 for UDP), timeout the seconds the entry has left.
// Reserved bytes must be zero: a reader of version 1 rejects what it
// could misread, and a change of layout takes a new version.
const (
	magic0, magic1 = 'v', 's'
	// Version is the format this package writes and reads.
	Version    = 1
	headerLen  = 8
	entryFixed = 16
)

// Datagram flags.
const (
	// FlagRequest asks the master for a full resend.
	FlagRequest = 1 << 0
	knownFlags  = FlagRequest
)

// Entry flags.
const (
	entryAssured   = 1 << 0
	entrySeenReply = 1 << 1
	entrySCTPTags  = 1 << 2
	knownEntry     = entryAssured | entrySeenReply | entrySCTPTags
)

// Transport protocols an entry carries.
const (
	ProtoTCP  = 6
	ProtoUDP  = 17
	ProtoSCTP = 132
)

// Decoding errors: datagrams that fail with them are dropped and counted.
var (
	ErrShort     = errors.New("syncd: datagram truncated")
	ErrMagic     = errors.New("syncd: not a vipd sync datagram")
	ErrVersion   = errors.New("syncd: unknown sync format version")
	ErrMalformed = errors.New("syncd: malformed sync datagram")
)

// Op is what an entry asks of the backup.
type Op uint8

// Entry operations.
const (
	// OpUpdate installs the connection, or updates its state and
	// timeout.
	OpUpdate Op = 1
	// OpDelete removes it: the master's conntrack has let it go.
	OpDelete Op = 2
)

// Tuple is one direction of a connection.
type Tuple struct {
	Src, Dst netip.AddrPort
}

// Entry is one connection's state.
type Entry struct {
	Op    Op
	Proto uint8
	// State is the protocol's conntrack state (TCP, SCTP); 0 for UDP.
	State              uint8
	Assured, SeenReply bool
	// Timeout is the seconds the master's entry has left.
	Timeout uint32
	Mark    uint32
	// Orig is the client's tuple (client to virtual service), Reply
	// the real server's (real server to client): they differ by the
	// DNAT the backup must repeat.
	Orig, Reply Tuple
	// HasVTags: SCTP verification tags follow (SCTP conntrack drops
	// packets whose tag it does not know).
	HasVTags            bool
	VTagOrig, VTagReply uint32
}

// Message is one datagram.
type Message struct {
	SyncID  uint8
	Flags   uint16
	Entries []Entry
}

func (e *Entry) is6() bool { return e.Orig.Src.Addr().Is6() }

// size is the entry's length on the wire.
func (e *Entry) size() int {
	n := entryFixed + 2*(2*4+4)
	if e.is6() {
		n = entryFixed + 2*(2*16+4)
	}
	if e.HasVTags {
		n += 8
	}
	return n
}

// maxEntryLen is the longest entry: IPv6 with SCTP tags.
const maxEntryLen = entryFixed + 2*(2*16+4) + 8

// MinMaxLen is the smallest datagram length that holds any one entry.
const MinMaxLen = headerLen + maxEntryLen

func (e *Entry) check() error {
	six := e.is6()
	for _, a := range []netip.Addr{e.Orig.Src.Addr(), e.Orig.Dst.Addr(), e.Reply.Src.Addr(), e.Reply.Dst.Addr()} {
		// IPv4-mapped IPv6 addresses would not survive the round trip
		// as such; conntrack has none.
		if !a.IsValid() || a.Is6() != six || a.Is4In6() || a.Zone() != "" {
			return fmt.Errorf("%w: addresses %v %v", ErrMalformed, e.Orig, e.Reply)
		}
	}
	if e.Op != OpUpdate && e.Op != OpDelete {
		return fmt.Errorf("%w: op %d", ErrMalformed, e.Op)
	}
	switch e.Proto {
	case ProtoTCP, ProtoSCTP:
		// Conntrack has fewer than 16 states for either.
		if e.State >= 16 || (e.State == 0 && e.Op == OpUpdate) {
			return fmt.Errorf("%w: protocol %d state %d", ErrMalformed, e.Proto, e.State)
		}
	case ProtoUDP:
		if e.State != 0 {
			return fmt.Errorf("%w: UDP with state %d", ErrMalformed, e.State)
		}
	default:
		return fmt.Errorf("%w: protocol %d", ErrMalformed, e.Proto)
	}
	if e.HasVTags && e.Proto != ProtoSCTP {
		return fmt.Errorf("%w: verification tags for protocol %d", ErrMalformed, e.Proto)
	}
	return nil
}

// MarshalBinary encodes the datagram.
func (m *Message) MarshalBinary() ([]byte, error) {
	return m.AppendBinary(nil)
}

// AppendBinary appends the encoded datagram to b.
func (m *Message) AppendBinary(b []byte) ([]byte, error) {
	if m.Flags&^knownFlags != 0 {
		return nil, fmt.Errorf("%w: flags %#x", ErrMalformed, m.Flags)
	}
	if len(m.Entries) > 0xffff {
		return nil, fmt.Errorf("%w: %d entries", ErrMalformed, len(m.Entries))
	}
	b = append(b, magic0, magic1, Version, m.SyncID)
	b = binary.BigEndian.AppendUint16(b, uint16(len(m.Entries)))
	b = binary.BigEndian.AppendUint16(b, m.Flags)
	for i := range m.Entries {
		e := &m.Entries[i]
		if err := e.check(); err != nil {
			return nil, err
		}
		fam := byte(4)
		if e.is6() {
			fam = 6
		}
		var flags byte
		if e.Assured {
			flags |= entryAssured
		}
		if e.SeenReply {
			flags |= entrySeenReply
		}
		if e.HasVTags {
			flags |= entrySCTPTags
		}
		b = append(b, byte(e.Op), fam, e.Proto, e.State, flags, 0, 0, 0)
		b = binary.BigEndian.AppendUint32(b, e.Timeout)
		b = binary.BigEndian.AppendUint32(b, e.Mark)
		for _, t := range []Tuple{e.Orig, e.Reply} {
			b = append(b, t.Src.Addr().AsSlice()...)
			b = append(b, t.Dst.Addr().AsSlice()...)
			b = binary.BigEndian.AppendUint16(b, t.Src.Port())
			b = binary.BigEndian.AppendUint16(b, t.Dst.Port())
		}
		if e.HasVTags {
			b = binary.BigEndian.AppendUint32(b, e.VTagOrig)
			b = binary.BigEndian.AppendUint32(b, e.VTagReply)
		}
	}
	return b, nil
}

// UnmarshalBinary decodes a datagram, which must hold exactly its
// entries. Decoding is canonical: MarshalBinary gives back the bytes.
func (m *Message) UnmarshalBinary(b []byte) error {
	if len(b) < headerLen {
		return ErrShort
	}
	if b[0] != magic0 || b[1] != magic1 {
		return ErrMagic
	}
	if b[2] != Version {
		return fmt.Errorf("%w %d", ErrVersion, b[2])
	}
	*m = Message{SyncID: b[3], Flags: binary.BigEndian.Uint16(b[6:])}
	if m.Flags&^knownFlags != 0 {
		return fmt.Errorf("%w: flags %#x", ErrMalformed, m.Flags)
	}
	n := int(binary.BigEndian.Uint16(b[4:]))
	if m.Flags&FlagRequest != 0 && n != 0 {
		return fmt.Errorf("%w: request with entries", ErrMalformed)
	}
	b = b[headerLen:]
	// Every entry takes at least this much, so a lying count cannot
	// make us allocate more than the datagram justifies.
	if n > len(b)/(entryFixed+2*12) {
		return ErrShort
	}
	if n > 0 {
		m.Entries = make([]Entry, 0, n)
	}
	for range n {
		var e Entry
		rest, err := e.decode(b)
		if err != nil {
			return err
		}
		m.Entries = append(m.Entries, e)
		b = rest
	}
	if len(b) != 0 {
		return fmt.Errorf("%w: %d bytes after the last entry", ErrMalformed, len(b))
	}
	return nil
}

func (e *Entry) decode(b []byte) ([]byte, error) {
	if len(b) < entryFixed {
		return nil, ErrShort
	}
	if b[5] != 0 || b[6] != 0 || b[7] != 0 || b[4]&^knownEntry != 0 {
		return nil, fmt.Errorf("%w: entry flags %#x, reserved %x", ErrMalformed, b[4], b[5:8])
	}
	alen := 4
	switch b[1] {
	case 4:
	case 6:
		alen = 16
	default:
		return nil, fmt.Errorf("%w: family %d", ErrMalformed, b[1])
	}
	*e = Entry{Op: Op(b[0]), Proto: b[2], State: b[3],
		Assured: b[4]&entryAssured != 0, SeenReply: b[4]&entrySeenReply != 0, HasVTags: b[4]&entrySCTPTags != 0,
		Timeout: binary.BigEndian.Uint32(b[8:]), Mark: binary.BigEndian.Uint32(b[12:])}
	need := entryFixed + 2*(2*alen+4)
	if e.HasVTags {
		need += 8
	}
	if len(b) < need {
		return nil, ErrShort
	}
	p := b[entryFixed:need]
	addr := func() netip.Addr {
		a, _ := netip.AddrFromSlice(p[:alen])
		p = p[alen:]
		return a
	}
	for _, t := range []*Tuple{&e.Orig, &e.Reply} {
		src, dst := addr(), addr()
		t.Src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(p))
		t.Dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(p[2:]))
		p = p[4:]
	}
	if e.HasVTags {
		e.VTagOrig, e.VTagReply = binary.BigEndian.Uint32(p), binary.BigEndian.Uint32(p[4:])
	}
	if err := e.check(); err != nil {
		return nil, err
	}
	return b[need:], nil
}
