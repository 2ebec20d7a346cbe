package check

import (
	"net"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// dnsServer answers queries on 127.0.0.1 with whatever reply makes of
// them (nil: silence); it records the questions.
type dnsServer struct {
	c  net.PacketConn
	mu sync.Mutex
	qs []dnsmessage.Message
}

func newDNSServer(t *testing.T, reply func(q dnsmessage.Message) [][]byte) *dnsServer {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &dnsServer{c: c}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			var q dnsmessage.Message
			if err := q.Unpack(buf[:n]); err != nil {
				continue
			}
			s.mu.Lock()
			s.qs = append(s.qs, q)
			s.mu.Unlock()
			for _, b := range reply(q) {
				c.WriteTo(b, from)
			}
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return s
}

// answer is a response to q with rcode and, if withAnswer, an A record.
func answer(q dnsmessage.Message, rcode dnsmessage.RCode, withAnswer bool) []byte {
	m := dnsmessage.Message{Header: dnsmessage.Header{ID: q.ID, Response: true, RCode: rcode}, Questions: q.Questions}
	if withAnswer {
		m.Answers = []dnsmessage.Resource{{
			Header: dnsmessage.ResourceHeader{Name: q.Questions[0].Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET},
			Body:   &dnsmessage.AResource{A: [4]byte{192, 0, 2, 1}},
		}}
	}
	b, err := m.Pack()
	if err != nil {
		panic(err)
	}
	return b
}

func TestDNS(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		reply func(q dnsmessage.Message) [][]byte
		want  string // "" for OK
	}{
		{"answer", func(q dnsmessage.Message) [][]byte { return [][]byte{answer(q, dnsmessage.RCodeSuccess, true)} }, ""},
		{"empty answer passes", func(q dnsmessage.Message) [][]byte { return [][]byte{answer(q, dnsmessage.RCodeSuccess, false)} }, ""},
		{"nxdomain", func(q dnsmessage.Message) [][]byte { return [][]byte{answer(q, dnsmessage.RCodeNameError, false)} }, "read error occurred. (rcode = 3)"},
		{"servfail", func(q dnsmessage.Message) [][]byte { return [][]byte{answer(q, dnsmessage.RCodeServerFailure, false)} }, "(rcode = 2)"},
		{"others ignored first", func(q dnsmessage.Message) [][]byte {
			wrongID := q
			wrongID.ID++
			query := answer(q, dnsmessage.RCodeNameError, false)
			query[2] &^= 0x80 // QR clear
			return [][]byte{
				{1, 2, 3},              // short
				answer(q, 0, true)[:8], // short, right ID
				answer(wrongID, dnsmessage.RCodeNameError, false),
				query,
				answer(q, dnsmessage.RCodeSuccess, true),
			}
		}, ""},
		{"only others", func(q dnsmessage.Message) [][]byte {
			wrongID := q
			wrongID.ID++
			return [][]byte{answer(wrongID, 0, true), {0xff}}
		}, "read timeout from socket"},
		{"silence", func(q dnsmessage.Message) [][]byte { return nil }, "read timeout from socket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newDNSServer(t, tc.reply)
			d := DNS{Dial: Dial{Addr: addrPort(t, s.c.LocalAddr()), Timeout: 500 * time.Millisecond}}
			r := took(t, 2*time.Second, func() Result { return d.Probe(ctxFor(t, 5*time.Second)) })
			if tc.want == "" {
				wantOK(t, r)
			} else {
				wantFail(t, r, tc.want)
			}
		})
	}
}

// What goes on the wire: recursion desired, class IN, SOA of the root by
// default.
func TestDNSQuery(t *testing.T) {
	s := newDNSServer(t, func(q dnsmessage.Message) [][]byte { return [][]byte{answer(q, 0, false)} })
	addr := addrPort(t, s.c.LocalAddr())
	for _, d := range []DNS{{}, {Name: "example.com", Type: uint16(dnsmessage.TypeAAAA)}, {Name: "example.org.", Type: uint16(dnsmessage.TypeTXT)}} {
		d.Dial = Dial{Addr: addr, Timeout: time.Second}
		wantOK(t, d.Probe(ctxFor(t, 2*time.Second)))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	want := []struct{ name, typ string }{{".", "TypeSOA"}, {"example.com.", "TypeAAAA"}, {"example.org.", "TypeTXT"}}
	if len(s.qs) != len(want) {
		t.Fatalf("%d queries", len(s.qs))
	}
	for i, q := range s.qs {
		if !q.RecursionDesired || q.Response || len(q.Questions) != 1 || q.Questions[0].Class != dnsmessage.ClassINET ||
			q.Questions[0].Name.String() != want[i].name || q.Questions[0].Type.String() != want[i].typ {
			t.Errorf("query %d: %+v", i, q)
		}
	}
	if s.qs[0].ID == s.qs[1].ID && s.qs[1].ID == s.qs[2].ID {
		t.Errorf("the ID never changes")
	}
	// A name that cannot be sent is not the server's fault.
	d := DNS{Dial: Dial{Addr: addr}, Name: string(make([]byte, 300))}
	if r := d.Probe(ctxFor(t, time.Second)); r.OK || !r.LocalError {
		t.Errorf("bad name: %+v", r)
	}
}

func TestDNSRefused(t *testing.T) {
	// Nobody listens: the port unreachable error ends it at once.
	d := DNS{Dial: Dial{Addr: closedPort(t, "udp"), Timeout: 2 * time.Second}}
	wantFail(t, took(t, time.Second, func() Result { return d.Probe(ctxFor(t, 3*time.Second)) }), "failed to read socket")
}

func FuzzDNSReply(f *testing.F) {
	f.Add([]byte{0x12, 0x34, 0x81, 0x83, 0, 0, 0, 0, 0, 0, 0, 0}, uint16(0x1234))
	f.Fuzz(func(t *testing.T, b []byte, id uint16) {
		ok, rcode := dnsReply(b, id)
		if ok && (len(b) < 12 || rcode < 0 || rcode > 15) {
			t.Fatal(ok, rcode)
		}
	})
}
