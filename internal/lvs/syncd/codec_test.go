package syncd

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

var (
	tcp4 = Entry{Op: OpUpdate, Proto: ProtoTCP, State: 3, Assured: true, SeenReply: true, Timeout: 431999, Mark: 7,
		Orig:  Tuple{ap("198.18.69.2:40000"), ap("198.18.69.100:80")},
		Reply: Tuple{ap("198.18.70.21:8080"), ap("198.18.69.2:40000")}}
	udp6 = Entry{Op: OpDelete, Proto: ProtoUDP,
		Orig:  Tuple{ap("[fd00::2]:5353"), ap("[fd00::100]:53")},
		Reply: Tuple{ap("[fd00:1::21]:53"), ap("[fd00::2]:5353")}}
	sctp4 = Entry{Op: OpUpdate, Proto: ProtoSCTP, State: 4, Timeout: 210, HasVTags: true, VTagOrig: 0xdeadbeef, VTagReply: 1,
		Orig:  Tuple{ap("198.18.69.2:9"), ap("198.18.69.100:38412")},
		Reply: Tuple{ap("198.18.70.22:38412"), ap("198.18.69.2:9")}}
)

// golden is tcp4 alone with sync id 9, byte by byte.
const golden = "7673" + "01" + "09" + "0001" + "0000" +
	"01" + "04" + "06" + "03" + "03" + "000000" + "0006977f" + "00000007" +
	"c6124502" + "c6124564" + "9c40" + "0050" +
	"c6124615" + "c6124502" + "1f90" + "9c40"

func goldenBytes(t *testing.T) []byte {
	b, err := hex.DecodeString(golden)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMarshalGolden(t *testing.T) {
	b, err := (&Message{SyncID: 9, Entries: []Entry{tcp4}}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if want := goldenBytes(t); !bytes.Equal(b, want) {
		t.Fatalf("got  %x\nwant %x", b, want)
	}
	if len(b) != headerLen+tcp4.size() {
		t.Errorf("length %d, size says %d", len(b), headerLen+tcp4.size())
	}
}

func TestRoundTrip(t *testing.T) {
	for _, m := range []Message{
		{SyncID: 0},
		{SyncID: 255, Flags: FlagRequest},
		{SyncID: 1, Entries: []Entry{tcp4}},
		{SyncID: 2, Entries: []Entry{udp6, sctp4, tcp4}},
	} {
		b, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("%+v: %v", m, err)
		}
		size := headerLen
		for i := range m.Entries {
			size += m.Entries[i].size()
		}
		if len(b) != size {
			t.Errorf("%d bytes, sizes say %d", len(b), size)
		}
		var got Message
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatalf("%x: %v", b, err)
		}
		if d := cmp.Diff(m, got, cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); d != "" {
			t.Errorf("round trip (-sent +got):\n%s", d)
		}
	}
}

func TestUnmarshalErrors(t *testing.T) {
	good := goldenBytes(t)
	edit := func(f func(b []byte) []byte) []byte { return f(append([]byte{}, good...)) }
	for name, c := range map[string]struct {
		b    []byte
		want error
	}{
		"empty":         {nil, ErrShort},
		"header only":   {good[:7], ErrShort},
		"magic":         {edit(func(b []byte) []byte { b[0] = 'x'; return b }), ErrMagic},
		"version":       {edit(func(b []byte) []byte { b[2] = 2; return b }), ErrVersion},
		"unknown flag":  {edit(func(b []byte) []byte { b[7] = 2; return b }), ErrMalformed},
		"request+entry": {edit(func(b []byte) []byte { b[7] = 1; return b }), ErrMalformed},
		"count high":    {edit(func(b []byte) []byte { b[5] = 2; return b }), ErrShort},
		"count huge":    {edit(func(b []byte) []byte { b[4] = 0xff; return b }), ErrShort},
		"count low":     {edit(func(b []byte) []byte { b[5] = 0; return b }), ErrMalformed},
		"truncated":     {good[:len(good)-1], ErrShort},
		"trailing":      {append(append([]byte{}, good...), 0), ErrMalformed},
		"op":            {edit(func(b []byte) []byte { b[8] = 3; return b }), ErrMalformed},
		"family":        {edit(func(b []byte) []byte { b[9] = 5; return b }), ErrMalformed},
		"family 6":      {edit(func(b []byte) []byte { b[9] = 6; return b }), ErrShort},
		"protocol":      {edit(func(b []byte) []byte { b[10] = 1; return b }), ErrMalformed},
		"tcp state 0":   {edit(func(b []byte) []byte { b[11] = 0; return b }), ErrMalformed},
		"tcp state 16":  {edit(func(b []byte) []byte { b[11] = 16; return b }), ErrMalformed},
		"udp state":     {edit(func(b []byte) []byte { b[10] = ProtoUDP; return b }), ErrMalformed},
		"entry flag":    {edit(func(b []byte) []byte { b[12] |= 0x80; return b }), ErrMalformed},
		"tcp vtags":     {edit(func(b []byte) []byte { b[12] |= entrySCTPTags; return append(b, 0, 0, 0, 0, 0, 0, 0, 0) }), ErrMalformed},
		"reserved":      {edit(func(b []byte) []byte { b[14] = 1; return b }), ErrMalformed},
	} {
		var m Message
		if err := m.UnmarshalBinary(c.b); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", name, err, c.want)
		}
	}
}

func TestMarshalErrors(t *testing.T) {
	mixed := tcp4
	mixed.Reply.Src = ap("[fd00::21]:80")
	mapped := tcp4
	mapped.Orig.Src = ap("[::ffff:198.18.69.2]:1")
	icmp := tcp4
	icmp.Proto = 1
	for name, e := range map[string]Entry{"mixed families": mixed, "mapped": mapped, "icmp": icmp, "no op": {Proto: ProtoUDP}} {
		if _, err := (&Message{Entries: []Entry{e}}).MarshalBinary(); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v", name, err)
		}
	}
}

// FuzzUnmarshalMessage: the decoder never panics, allocates no more than
// the datagram justifies, and is canonical (what it accepts encodes back
// to the same bytes).
func FuzzUnmarshalMessage(f *testing.F) {
	for _, m := range []Message{{SyncID: 3, Flags: FlagRequest}, {SyncID: 1, Entries: []Entry{tcp4, udp6, sctp4}}} {
		b, err := m.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Message
		if err := m.UnmarshalBinary(b); err != nil {
			return
		}
		if len(m.Entries)*(entryFixed+24) > len(b) {
			t.Fatalf("%d entries from %d bytes", len(m.Entries), len(b))
		}
		back, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", m, err)
		}
		if !bytes.Equal(back, b) {
			t.Fatalf("not canonical:\n in %x\nout %x", b, back)
		}
	})
}
