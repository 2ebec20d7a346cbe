package check

import (
	"net"
	"net/netip"
	"os"
	"regexp"
	"runtime"
	"testing"
	"time"
)

func TestTCP(t *testing.T) {
	srv := newTCPServer(t, "tcp", "127.0.0.1:0", func(s *tcpServer, c net.Conn) { s.record(c.RemoteAddr().String()) })
	tc := TCP{Dial{Addr: srv.addr(t), Timeout: time.Second}}
	wantOK(t, tc.Probe(ctxFor(t, 2*time.Second)))

	tc = TCP{Dial{Addr: closedPort(t, "tcp"), Timeout: time.Second}}
	wantFail(t, tc.Probe(ctxFor(t, 2*time.Second)), "TCP connection failed (connection refused)")

	// bindto and bind_port reach the socket.
	port := closedPort(t, "tcp").Port()
	tc = TCP{Dial{Addr: srv.addr(t), BindAddr: netip.MustParseAddr("127.0.0.2"), BindPort: port, Timeout: time.Second}}
	wantOK(t, tc.Probe(ctxFor(t, 2*time.Second)))
	deadline := time.Now().Add(time.Second)
	for len(srv.records()) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	// Each connection is recorded by its own handler, so the order is not fixed.
	want := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), port).String()
	if got := srv.records(); len(got) != 2 || (got[0] != want && got[1] != want) {
		t.Errorf("server saw %q, want %s among two", got, want)
	}

	// A socket the checker cannot set up is not the server's failure.
	for _, d := range []Dial{
		{Addr: srv.addr(t), BindIf: "nosuchdev0"},
		{Addr: srv.addr(t), BindAddr: netip.MustParseAddr("192.0.2.55")}, // not ours: EADDRNOTAVAIL
		{Addr: srv.addr(t), BindAddr: netip.MustParseAddr("::1")},        // wrong family
		{},
	} {
		d.Timeout = time.Second
		tc = TCP{d}
		if r := tc.Probe(ctxFor(t, 2*time.Second)); r.OK || !r.LocalError {
			t.Errorf("%+v: %+v", d, r)
		}
	}
}

func TestTCPv6(t *testing.T) {
	l, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skip("no IPv6 loopback:", err)
	}
	srv := startTCPServer(t, l, func(s *tcpServer, c net.Conn) {})
	tc := TCP{Dial{Addr: srv.addr(t), Timeout: time.Second}}
	wantOK(t, tc.Probe(ctxFor(t, 2*time.Second)))
	h := HTTP{Dial: Dial{Addr: srv.addr(t)}}
	if want := "Host: [::1]:"; !regexp.MustCompile(regexp.QuoteMeta(want)).MatchString(h.request(&URL{Path: "/"})) {
		t.Errorf("request %q", h.request(&URL{Path: "/"}))
	}
}

func TestPingLoopback(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("PING_CHECK needs a raw socket: run as root")
	}
	p := Ping{Dial{Addr: netip.MustParseAddrPort("127.0.0.1:0"), Timeout: 3 * time.Second}}
	wantOK(t, took(t, 1500*time.Millisecond, func() Result { return p.Probe(ctxFor(t, 2*time.Second)) }))
	if c, err := net.ListenPacket("udp", "[::1]:0"); err == nil {
		c.Close()
		p = Ping{Dial{Addr: netip.MustParseAddrPort("[::1]:0"), Timeout: 3 * time.Second}}
		wantOK(t, took(t, 1500*time.Millisecond, func() Result { return p.Probe(ctxFor(t, 2*time.Second)) }))
	}
	p = Ping{Dial{Addr: netip.MustParseAddrPort("127.0.0.1:0"), BindIf: "nosuchdev0"}}
	if r := p.Probe(ctxFor(t, 2*time.Second)); r.OK || !r.LocalError {
		t.Errorf("bad bind_if: %+v", r)
	}
}

func TestPingReply(t *testing.T) {
	echoReply := []byte{0, 0, 0, 0, 0x12, 0x34, 0, 7, 'x'}
	if got := pingReply(echoReply, true, 0x1234, 7); got != pingEchoReply {
		t.Errorf("echo reply: %d", got)
	}
	if got := pingReply(echoReply, true, 0x1234, 8); got != pingOther {
		t.Errorf("other seq: %d", got)
	}
	request := append([]byte{8}, echoReply[1:]...)
	if got := pingReply(request, true, 0x1234, 7); got != pingOther {
		t.Errorf("our own request: %d", got)
	}
	ip := []byte{0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2}
	unreach := append([]byte{3, 1, 0, 0, 0, 0, 0, 0}, ip...)
	unreach = append(unreach, 8, 0, 0, 0, 0x12, 0x34, 0, 7)
	if got := pingReply(unreach, true, 0x1234, 7); got != pingUnreachable {
		t.Errorf("unreachable: %d", got)
	}
	if got := pingReply(unreach, true, 0x1235, 7); got != pingOther {
		t.Errorf("someone else's unreachable: %d", got)
	}
	for i := range unreach {
		pingReply(unreach[:i], true, 0x1234, 7)
		pingReply(unreach[:i], false, 0x1234, 7)
	}
}

func FuzzPingReply(f *testing.F) {
	f.Add([]byte{3, 1, 0, 0, 0, 0, 0, 0, 0x45, 0, 0, 0}, true)
	f.Add([]byte{129, 0, 0, 0, 0x12, 0x34, 0, 7}, false)
	f.Fuzz(func(t *testing.T, b []byte, v4 bool) { pingReply(b, v4, 0x1234, 7) })
}

// Probes that fail every way leave no goroutine or descriptor behind.
func TestNoLeaks(t *testing.T) {
	hangSrv := newTCPServer(t, "tcp", "127.0.0.1:0", hang)
	silent := newUDPServer(t, func([]byte) []byte { return nil })
	probers := []Prober{
		&TCP{Dial{Addr: closedPort(t, "tcp")}},
		&HTTP{Dial: Dial{Addr: hangSrv.addr(t), Timeout: 50 * time.Millisecond}, URLs: []URL{{Path: "/"}}},
		&HTTP{Dial: Dial{Addr: hangSrv.addr(t), Timeout: 5 * time.Second}, URLs: []URL{{Path: "/"}}}, // context ends it
		&SMTP{Dial: Dial{Addr: hangSrv.addr(t), Timeout: 50 * time.Millisecond}},
		&DNS{Dial: Dial{Addr: addrPort(t, silent.c.LocalAddr()), Timeout: 50 * time.Millisecond}},
		&UDP{Dial: Dial{Addr: addrPort(t, silent.c.LocalAddr()), Timeout: 5 * time.Second}},
		&Ping{Dial{Addr: netip.MustParseAddrPort("127.0.0.1:0")}},
		&Misc{Argv: sh("sleep 5"), Timeout: 50 * time.Millisecond},
	}
	run := func() {
		for _, p := range probers {
			p.Probe(ctxFor(t, 100*time.Millisecond))
		}
	}
	run() // warm up whatever the runtime keeps
	time.Sleep(50 * time.Millisecond)
	g0, fd0 := runtime.NumGoroutine(), countFDs(t)
	for range 2 {
		run()
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		g, fd := runtime.NumGoroutine(), countFDs(t)
		if g <= g0 && fd <= fd0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines %d → %d, descriptors %d → %d", g0, g, fd0, fd)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func countFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
