package check

import (
	"net"
	"sync"
	"testing"
	"time"
)

// udpServer answers each datagram on 127.0.0.1 with reply(datagram)
// (nil: silence) and records what it got.
type udpServer struct {
	c   net.PacketConn
	mu  sync.Mutex
	got [][]byte
}

func newUDPServer(t *testing.T, reply func([]byte) []byte) *udpServer {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &udpServer{c: c}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 70000)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			b := append([]byte(nil), buf[:n]...)
			s.mu.Lock()
			s.got = append(s.got, b)
			s.mu.Unlock()
			if r := reply(b); r != nil {
				c.WriteTo(r, from)
			}
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return s
}

func echo(b []byte) []byte { return b }

func TestUDP(t *testing.T) {
	t.Parallel()
	reply := func(r []byte) func([]byte) []byte { return func([]byte) []byte { return r } }
	silent := func([]byte) []byte { return nil }
	for _, tc := range []struct {
		name   string
		reply  func([]byte) []byte
		u      UDP
		want   string // "" for OK
		maxDur time.Duration
	}{
		{"echo", echo, UDP{}, "", 500 * time.Millisecond},
		{"silence passes without require_reply", silent, UDP{}, "", 2 * time.Second},
		{"echo, reply required", echo, UDP{RequireReply: true}, "", 500 * time.Millisecond},
		{"silence, reply required", silent, UDP{RequireReply: true}, "UDP check no reply", 2 * time.Second},
		{"short reply", reply([]byte("abc")), UDP{RequireReply: true, MinReply: 4}, "reply data mismatch (3 bytes)", 500 * time.Millisecond},
		{"long enough", reply([]byte("abcd")), UDP{RequireReply: true, MinReply: 4}, "", 500 * time.Millisecond},
		{"too long", reply([]byte("abcdef")), UDP{RequireReply: true, MaxReply: 5}, "reply data mismatch (6 bytes)", 500 * time.Millisecond},
		{"default max 255", reply(make([]byte, 256)), UDP{RequireReply: true}, "reply data mismatch (256 bytes)", 500 * time.Millisecond},
		{"at default max", reply(make([]byte, 255)), UDP{RequireReply: true}, "", 500 * time.Millisecond},
		{"data", reply([]byte{0x12, 0x34, 0x56}), UDP{RequireReply: true, Reply: []byte{0x12, 0x34}}, "", 500 * time.Millisecond},
		{"data mismatch", reply([]byte{0x12, 0x35}), UDP{RequireReply: true, Reply: []byte{0x12, 0x34}}, "reply data mismatch", 500 * time.Millisecond},
		{"data: shorter reply compares its own length", reply([]byte{0x12}), UDP{RequireReply: true, Reply: []byte{0x12, 0x34}}, "", 500 * time.Millisecond},
		{"data with x nibbles", reply([]byte{0x1f, 0x34}), UDP{RequireReply: true, Reply: []byte{0x10, 0x34}, ReplyMask: []byte{0x0f, 0}}, "", 500 * time.Millisecond},
		{"data with x nibbles, mismatch", reply([]byte{0x2f, 0x34}), UDP{RequireReply: true, Reply: []byte{0x10, 0x34}, ReplyMask: []byte{0x0f, 0}}, "reply data mismatch", 500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newUDPServer(t, tc.reply)
			u := tc.u
			u.Dial = Dial{Addr: addrPort(t, s.c.LocalAddr()), Timeout: time.Second}
			r := took(t, tc.maxDur, func() Result { return u.Probe(ctxFor(t, 3*time.Second)) })
			if tc.want == "" {
				wantOK(t, r)
			} else {
				wantFail(t, r, tc.want)
			}
		})
	}
}

func TestUDPPayload(t *testing.T) {
	s := newUDPServer(t, echo)
	u := UDP{Dial: Dial{Addr: addrPort(t, s.c.LocalAddr()), Timeout: time.Second}}
	wantOK(t, u.Probe(ctxFor(t, 2*time.Second)))
	u.Payload = []byte{0xde, 0xad}
	wantOK(t, u.Probe(ctxFor(t, 2*time.Second)))
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.got) != 2 || string(s.got[0]) != "keepalived check - keepalived ch" || string(s.got[1]) != "\xde\xad" {
		t.Errorf("server got %q", s.got)
	}
}

// Port unreachable fails at once, reply or not.
func TestUDPUnreachable(t *testing.T) {
	for _, require := range []bool{false, true} {
		u := UDP{Dial: Dial{Addr: closedPort(t, "udp"), Timeout: 2 * time.Second}, RequireReply: require}
		wantFail(t, took(t, time.Second, func() Result { return u.Probe(ctxFor(t, 3*time.Second)) }), "connection refused")
	}
}

func TestUDPContext(t *testing.T) {
	t.Parallel()
	s := newUDPServer(t, func([]byte) []byte { return nil })
	u := UDP{Dial: Dial{Addr: addrPort(t, s.c.LocalAddr()), Timeout: 10 * time.Second}}
	// The context ending is not silence: no pass.
	wantFail(t, took(t, time.Second, func() Result { return u.Probe(ctxFor(t, 100*time.Millisecond)) }), "context deadline exceeded")
}
