package syncd

import (
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vipd/vipd/internal/lvs"
)

var testServices = []lvs.Service{
	{Addr: netip.MustParseAddr("198.18.69.100"), Port: 80, Protocol: lvs.TCP, Reals: []lvs.Real{
		{Addr: netip.MustParseAddr("198.18.70.21"), Port: 8080},
		{Addr: netip.MustParseAddr("198.18.70.22")},
	}},
	{Addr: netip.MustParseAddr("fd00::100"), Protocol: lvs.UDP, Reals: []lvs.Real{ // all ports
		{Addr: netip.MustParseAddr("fd00:1::21")},
	}},
	{FWMark: 9, Protocol: lvs.SCTP, Reals: []lvs.Real{
		{Addr: netip.MustParseAddr("198.18.70.22"), Method: lvs.NAT},
		{Addr: netip.MustParseAddr("198.18.70.23"), Method: lvs.DR},
	}},
}

func TestMatcher(t *testing.T) {
	m := newMatcher(testServices)
	other := tcp4
	other.Orig.Dst = ap("198.18.69.100:443")
	dr := sctp4
	dr.Reply.Src = ap("198.18.70.23:38412")
	wrongPort := tcp4
	wrongPort.Reply.Src = ap("198.18.70.21:80")
	samePort := tcp4
	samePort.Reply.Src = ap("198.18.70.22:80")
	otherPort := tcp4
	otherPort.Reply.Src = ap("198.18.70.22:81")
	notNAT := tcp4
	notNAT.Reply.Src = tcp4.Orig.Dst
	stranger := udp6
	stranger.Reply.Src = ap("[fd00:1::99]:53")
	for _, c := range []struct {
		e                  Entry
		match, installable bool
	}{
		{tcp4, true, true}, {udp6, true, true}, {sctp4, true, true}, {other, false, false}, {dr, false, false},
		{wrongPort, true, false}, {samePort, true, true}, {otherPort, true, false}, {notNAT, true, false},
		{stranger, true, false},
	} {
		if got := m.match(&c.e); got != c.match {
			t.Errorf("%v %v: match %v", c.e.Orig, c.e.Reply, got)
		}
		if got := m.installable(&c.e); got != c.installable {
			t.Errorf("%v %v: installable %v", c.e.Orig, c.e.Reply, got)
		}
	}
}

// testSender is a sender whose datagrams go to a socket of the test's.
func testSender(t *testing.T, maxLen int) (*sender, *net.UDPConn) {
	ln, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	snd, err := net.ListenUDP("udp4", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { snd.Close() })
	s := &Syncd{opts: Options{ID: 5}, maxLen: maxLen, send: snd, group: ln.LocalAddr().(*net.UDPAddr), log: slog.Default()}
	s.services.Store(newMatcher(testServices))
	return &sender{s: s, index: map[key]int{}, sent: map[key]sent{}}, ln
}

// received reads datagrams until n entries came, checking each.
func received(t *testing.T, ln *net.UDPConn, n, maxLen int) []Entry {
	t.Helper()
	var got []Entry
	buf := make([]byte, 1<<16)
	for len(got) < n {
		ln.SetReadDeadline(time.Now().Add(2 * time.Second))
		k, err := ln.Read(buf)
		if err != nil {
			t.Fatalf("after %d entries: %v", len(got), err)
		}
		if k > maxLen {
			t.Errorf("datagram of %d bytes, maxlen %d", k, maxLen)
		}
		var m Message
		if err := m.UnmarshalBinary(buf[:k]); err != nil {
			t.Fatal(err)
		}
		if m.SyncID != 5 || len(m.Entries) == 0 {
			t.Errorf("datagram: id %d, %d entries", m.SyncID, len(m.Entries))
		}
		got = append(got, m.Entries...)
	}
	return got
}

// Entries fill datagrams up to maxlen, and a connection queued twice
// before a flush is sent once, as it was last.
func TestBatching(t *testing.T) {
	const maxLen = 300 // 7 IPv4 TCP entries of 40 bytes
	sd, ln := testSender(t, maxLen)
	for i := range 100 {
		e := tcp4
		e.Orig.Src = netip.AddrPortFrom(e.Orig.Src.Addr(), uint16(1000+i))
		sd.queue(e)
	}
	e := tcp4
	e.Orig.Src = netip.AddrPortFrom(e.Orig.Src.Addr(), 1099)
	e.State = 7
	sd.queue(e)
	sd.queue(sctp4)
	sd.queue(udp6)
	sd.flush()
	got := received(t, ln, 102, maxLen)
	if len(got) != 102 {
		t.Fatalf("%d entries", len(got))
	}
	if last := got[99]; last.Orig.Src.Port() != 1099 || last.State != 7 {
		t.Errorf("the replaced entry: %+v", last)
	}
	if sd.s.n.sentDatagrams.Load() != 15 {
		t.Errorf("%d datagrams, want 15 (7 entries each, the IPv6 one fitting with the SCTP one)", sd.s.n.sentDatagrams.Load())
	}
}

// Update events without the protocol state take the one sent; a
// connection never sent is not sent half known; the end of one never
// sent is not sent either.
func TestEvents(t *testing.T) {
	sd, ln := testSender(t, 1400)
	bare := flow{Entry: tcp4}
	sd.event(&bare) // neither state nor timeout: unknown connection
	other := flow{Entry: tcp4, hasState: true, hasTime: true}
	other.Orig.Dst = ap("198.18.69.101:80")
	sd.event(&other) // not a service's
	end := flow{Entry: udp6}
	sd.event(&end) // never sent
	if len(sd.pending) != 0 {
		t.Fatalf("queued %+v", sd.pending)
	}
	full := flow{Entry: tcp4, hasState: true, hasTime: true}
	sd.event(&full)
	bare.State, bare.Timeout, bare.Mark = 0, 0, 8
	sd.event(&bare)
	del := flow{Entry: tcp4}
	del.Op, del.State = OpDelete, 0
	sd.flush()
	sd.event(&del)
	sd.flush()
	got := received(t, ln, 2, 1400)
	want := tcp4
	want.Mark = 8
	if got[0] != want {
		t.Errorf("update: %+v, want %+v", got[0], want)
	}
	if got[1].Op != OpDelete || got[1].Orig != tcp4.Orig {
		t.Errorf("delete: %+v", got[1])
	}
	if len(sd.sent) != 0 {
		t.Errorf("still remembered: %+v", sd.sent)
	}
}

// A resync sends what the backups lack: a connection they never heard
// of, one whose state changed, one whose copy has used up half its
// time; and the end of one that left without an event.
func TestReconcile(t *testing.T) {
	sd, _ := testSender(t, 1400)
	now := time.Unix(1e9, 0)
	udp := udp6
	udp.Op, udp.Timeout = OpUpdate, 120
	flows := func(es ...Entry) []flow {
		var fs []flow
		for _, e := range es {
			fs = append(fs, flow{Entry: e, status: ipsDstNAT, hasState: true, hasTime: true})
		}
		return fs
	}
	keys := func() map[key]Op {
		m := map[key]Op{}
		for _, e := range sd.pending {
			m[keyOf(&e)] = e.Op
		}
		sd.pending, sd.size = sd.pending[:0], 0
		clear(sd.index)
		return m
	}
	sd.reconcile(flows(tcp4, udp), now, false)
	if got := keys(); len(got) != 2 {
		t.Fatalf("first resync sent %v", got)
	}
	// 59 s later the UDP copy has 61 s of 120 left; the TCP one days.
	sd.reconcile(flows(tcp4, udp), now.Add(59*time.Second), false)
	if got := keys(); len(got) != 0 {
		t.Errorf("sent again %v", got)
	}
	sd.reconcile(flows(tcp4, udp), now.Add(61*time.Second), false)
	if got := keys(); len(got) != 1 || got[keyOf(&udp)] != OpUpdate {
		t.Errorf("refresh sent %v, want the UDP flow", got)
	}
	closing := tcp4
	closing.State = 7
	sd.reconcile(flows(closing), now.Add(62*time.Second), false)
	if got := keys(); len(got) != 2 || got[keyOf(&tcp4)] != OpUpdate || got[keyOf(&udp)] != OpDelete {
		t.Errorf("sent %v, want TCP's new state and UDP's end", got)
	}
	sd.reconcile(flows(closing), now.Add(63*time.Second), true)
	if got := keys(); len(got) != 1 {
		t.Errorf("full resend sent %v", got)
	}
	// Not DNATed, or not a service's: not synced.
	plain := flows(tcp4)
	plain[0].status = 0
	sd.reset()
	sd.reconcile(plain, now, true)
	if got := keys(); len(got) != 0 {
		t.Errorf("sent %v", got)
	}
}
