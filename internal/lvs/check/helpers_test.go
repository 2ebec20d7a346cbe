package check

import (
	"context"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// addrPort is a listener's address as a netip.AddrPort.
func addrPort(t testing.TB, a net.Addr) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

// ctxFor is a context that gives a probe d to finish.
func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// closedPort is a local TCP (or UDP) address nothing listens on.
func closedPort(t testing.TB, network string) netip.AddrPort {
	t.Helper()
	var a net.Addr
	switch network {
	case "tcp":
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		a = l.Addr()
		l.Close()
	default:
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		a = c.LocalAddr()
		c.Close()
	}
	return addrPort(t, a)
}

// tcpServer accepts connections on 127.0.0.1 and hands each to serve; it
// stops, and waits for its handlers, at the end of the test.
type tcpServer struct {
	l  net.Listener
	wg sync.WaitGroup
	mu sync.Mutex
	// got collects what handlers record (requests, addresses).
	got []string
}

func newTCPServer(t testing.TB, network, addr string, serve func(s *tcpServer, c net.Conn)) *tcpServer {
	t.Helper()
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	return startTCPServer(t, l, serve)
}

func startTCPServer(t testing.TB, l net.Listener, serve func(s *tcpServer, c net.Conn)) *tcpServer {
	s := &tcpServer{l: l}
	done := make(chan struct{})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				finished := make(chan struct{})
				defer close(finished)
				go func() { // unblock a handler when the test ends
					select {
					case <-done:
						c.Close()
					case <-finished:
					}
				}()
				serve(s, c)
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		close(done)
		s.wg.Wait()
	})
	return s
}

func (s *tcpServer) record(v string) {
	s.mu.Lock()
	s.got = append(s.got, v)
	s.mu.Unlock()
}

func (s *tcpServer) records() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

func (s *tcpServer) addr(t testing.TB) netip.AddrPort { return addrPort(t, s.l.Addr()) }

// readRequest reads an HTTP request's head (to the empty line).
func readRequest(c net.Conn) string {
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	var b []byte
	buf := make([]byte, 512)
	for !strings.Contains(string(b), "\r\n\r\n") {
		n, err := c.Read(buf)
		b = append(b, buf[:n]...)
		if err != nil {
			break
		}
	}
	return string(b)
}

// respond is an HTTP server that answers every request with raw bytes
// and closes.
func respond(raw string) func(s *tcpServer, c net.Conn) {
	return func(s *tcpServer, c net.Conn) {
		s.record(readRequest(c))
		io.WriteString(c, raw)
	}
}

// hang reads what comes and never answers (until the test ends).
func hang(s *tcpServer, c net.Conn) {
	io.Copy(io.Discard, c)
}

func wantOK(t testing.TB, r Result) {
	t.Helper()
	if !r.OK || r.LocalError {
		t.Fatalf("want OK, got %+v", r)
	}
}

func wantFail(t testing.TB, r Result, reason string) {
	t.Helper()
	if r.OK || r.LocalError {
		t.Fatalf("want a failure (%q), got %+v", reason, r)
	}
	if !strings.Contains(r.Reason, reason) {
		t.Fatalf("want a failure saying %q, got %q", reason, r.Reason)
	}
}

// took fails the test unless f's probe returned within limit.
func took(t testing.TB, limit time.Duration, f func() Result) Result {
	t.Helper()
	start := time.Now()
	r := f()
	if d := time.Since(start); d > limit {
		t.Fatalf("probe took %v, want at most %v (%+v)", d, limit, r)
	}
	return r
}
