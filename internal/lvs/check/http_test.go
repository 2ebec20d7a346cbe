package check

import (
	"context"
	"crypto/md5"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func sum(s string) []byte {
	h := md5.Sum([]byte(s))
	return h[:]
}

// The request text, byte for byte, for each http_protocol and Host
// choice.
func TestHTTPRequest(t *testing.T) {
	v4 := netip.MustParseAddrPort("192.0.2.7:8080")
	v6 := netip.MustParseAddrPort("[2001:db8::7%eth0]:80")
	for _, tc := range []struct {
		h    HTTP
		u    URL
		want string
	}{
		{HTTP{Dial: Dial{Addr: v4}}, URL{Path: "/"},
			"GET / HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 192.0.2.7:8080\r\n\r\n"},
		{HTTP{Dial: Dial{Addr: v4}, Protocol: "1.0C"}, URL{Path: "/a?b"},
			"GET /a?b HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: 192.0.2.7:8080\r\n\r\n"},
		{HTTP{Dial: Dial{Addr: v4}, Protocol: "1.1", VirtualHost: "www.example"}, URL{Path: "/"},
			"GET / HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: www.example\r\n\r\n"},
		{HTTP{Dial: Dial{Addr: v4}, VirtualHost: "www.example"}, URL{Path: "/", VirtualHost: "url.example"},
			"GET / HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: url.example\r\n\r\n"},
		{HTTP{Dial: Dial{Addr: v6}}, URL{Path: "/"},
			"GET / HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: [2001:db8::7]:80\r\n\r\n"},
	} {
		if got := tc.h.request(&tc.u); got != tc.want {
			t.Errorf("%+v %+v:\n got %q\nwant %q", tc.h, tc.u, got, tc.want)
		}
	}
}

// What a real Go HTTP server makes of the request, and that a 1.1
// request with Connection: close ends as it must.
func TestHTTPAgainstNetHTTP(t *testing.T) {
	var mu sync.Mutex
	var seen []*http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r)
		mu.Unlock()
		io.WriteString(w, "hello world")
	}))
	defer srv.Close()
	addr := addrPort(t, srv.Listener.Addr())
	for _, proto := range []string{"", "1.0C", "1.1"} {
		h := HTTP{Dial: Dial{Addr: addr, Timeout: 2 * time.Second}, Protocol: proto,
			URLs: []URL{{Path: "/x", Digest: sum("hello world"), Regex: regexp.MustCompile(`o w`)}}}
		wantOK(t, took(t, time.Second, func() Result { return h.Probe(ctxFor(t, 3*time.Second)) }))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 3 {
		t.Fatalf("%d requests", len(seen))
	}
	for i, r := range seen {
		if r.Method != "GET" || r.URL.Path != "/x" || r.UserAgent() != "KeepAliveClient" || r.Host != addr.String() {
			t.Errorf("request %d: %s %s UA %q Host %q", i, r.Method, r.URL, r.UserAgent(), r.Host)
		}
	}
	if seen[0].Proto != "HTTP/1.0" || seen[0].Close != true || seen[2].Proto != "HTTP/1.1" || !seen[2].Close {
		t.Errorf("protocols: %s close=%v, %s close=%v", seen[0].Proto, seen[0].Close, seen[2].Proto, seen[2].Close)
	}
}

func TestHTTPStatusAndDigest(t *testing.T) {
	t.Parallel()
	page := func(status, body string) string {
		return "HTTP/1.1 " + status + "\r\nContent-Type: text/plain\r\n\r\n" + body
	}
	for _, tc := range []struct {
		name string
		raw  string
		url  URL
		want string // "" for OK
	}{
		{"200 default", page("200 OK", "hi"), URL{}, ""},
		{"299 default", page("299 Whatever", "hi"), URL{}, ""},
		{"301 default", page("301 Moved", "hi"), URL{}, "HTTP status code error (301)"},
		{"503 default", page("503 Unavailable", "hi"), URL{}, "HTTP status code error (503)"},
		{"503 accepted", page("503 Unavailable", "hi"), URL{Status: []StatusRange{{200, 200}, {500, 503}}}, ""},
		{"200 not in list", page("200 OK", "hi"), URL{Status: []StatusRange{{503, 503}}}, "HTTP status code error (200)"},
		{"digest ok", page("200 OK", "hello"), URL{Digest: sum("hello")}, ""},
		{"digest wrong", page("200 OK", "hellO"), URL{Digest: sum("hello")}, "MD5 digest error"},
		// A digest does not widen the default status codes.
		{"digest right status wrong", page("500 Oops", "hello"), URL{Digest: sum("hello")}, "HTTP status code error (500)"},
		{"digest empty body", page("200 OK", ""), URL{Digest: sum("")}, ""},
		// Content-Length bounds the digest, not the read.
		{"digest content-length", "HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhelloTRAILING", URL{Digest: sum("hello")}, ""},
		{"digest content-length longer", "HTTP/1.0 200 OK\r\ncontent-length: 50\r\n\r\nhello", URL{Digest: sum("hello")}, ""},
		// keepalived reads the status as three digits and a space.
		{"no reason phrase", "HTTP/1.0 200\r\n\r\nhi", URL{}, "HTTP status code error (0)"},
		{"four digits", "HTTP/1.0 2000 OK\r\n\r\nhi", URL{}, "HTTP status code error (0)"},
		{"code 099", "HTTP/1.0 099 OK\r\n\r\nhi", URL{Status: []StatusRange{{0, 999}}}, "HTTP status code error (99)"},
		{"bare LF headers", "HTTP/1.0 200 OK\n\nhi", URL{}, "Read, no data received"},
		{"nothing", "", URL{}, "Read, no data received"},
		{"headers too long", "HTTP/1.0 200 OK\r\nX: " + strings.Repeat("a", 5000) + "\r\n\r\nhi", URL{}, "Read, no data received"},
		{"headers just fit", "HTTP/1.0 200 OK\r\nX: " + strings.Repeat("a", maxHeader-len("HTTP/1.0 200 OK\r\nX: \r\n\r\n")) + "\r\n\r\nhi", URL{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newTCPServer(t, "tcp", "127.0.0.1:0", respond(tc.raw))
			tc.url.Path = "/p"
			h := HTTP{Dial: Dial{Addr: srv.addr(t), Timeout: time.Second}, URLs: []URL{tc.url}}
			r := h.Probe(ctxFor(t, 2*time.Second))
			if tc.want == "" {
				wantOK(t, r)
			} else {
				wantFail(t, r, tc.want)
				if !strings.HasSuffix(r.Reason, "url(/p)") {
					t.Errorf("reason %q does not name the URL", r.Reason)
				}
			}
		})
	}
}

func TestHTTPRegex(t *testing.T) {
	t.Parallel()
	body := "aaa foo bbb foo ccc"
	//       0123456789012345678
	for _, tc := range []struct {
		name      string
		re        string
		noMatch   bool
		min, end  int
		wantMatch bool
	}{
		{"match", `b+ f`, false, 0, 0, true},
		{"no match", `zzz`, false, 0, 0, false},
		{"no_match inverted, absent", `zzz`, true, 0, 0, true},
		{"no_match inverted, present", `foo`, true, 0, 0, false},
		{"min skips the first", `foo`, false, 5, 0, true},
		{"min past both", `foo`, false, 13, 0, false},
		{"max before first", `foo`, false, 0, 4, false}, // regex_max_offset 3
		{"max at first", `foo`, false, 0, 5, true},      // regex_max_offset 4
		{"window holds the second", `foo`, false, 5, 13, true},
		{"window misses the second", `foo`, false, 5, 12, false},
		{"min at start, ^ does not match there", `^foo`, false, 4, 0, false},
		{"^ matches at 0", `^aaa`, false, 0, 0, true},
		{"min keeps context for \\b", `\bfoo`, false, 4, 0, true},
		{"min keeps context: no \\b inside a word", `\Boo`, false, 5, 0, true},
		{"match may run past the max", `foo ccc`, false, 0, 13, true},
		{"$ at end", `ccc$`, false, 0, 0, true},
		{"min past end of body", `a`, false, 100, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newTCPServer(t, "tcp", "127.0.0.1:0", respond("HTTP/1.0 200 OK\r\n\r\n"+body))
			h := HTTP{Dial: Dial{Addr: srv.addr(t), Timeout: time.Second}, URLs: []URL{{Path: "/",
				Regex: regexp.MustCompile(tc.re), RegexNoMatch: tc.noMatch, RegexMinOffset: tc.min, RegexEnd: tc.end}}}
			r := h.Probe(ctxFor(t, 2*time.Second))
			if tc.wantMatch {
				wantOK(t, r)
			} else {
				wantFail(t, r, "Regex match failed")
			}
		})
	}
}

// The body streams through the regex and the digest: a match far into a
// large body is found, and the digest covers all of it.
func TestHTTPLargeBody(t *testing.T) {
	body := strings.Repeat("0123456789abcdef", 1<<16) + "NEEDLE" + strings.Repeat("x", 1000)
	srv := newTCPServer(t, "tcp", "127.0.0.1:0", respond("HTTP/1.0 200 OK\r\n\r\n"+body))
	h := HTTP{Dial: Dial{Addr: srv.addr(t), Timeout: time.Second}, URLs: []URL{
		{Path: "/", Regex: regexp.MustCompile(`NEEDLE`), Digest: sum(body)},
		{Path: "/", Regex: regexp.MustCompile(`NEEDLE`), RegexEnd: 1 << 20},
	}}
	wantOK(t, h.ProbeURL(ctxFor(t, 5*time.Second), &h.URLs[0]))
	wantFail(t, h.ProbeURL(ctxFor(t, 5*time.Second), &h.URLs[1]), "Regex match failed")
}

// Every URL must pass; the first failure is reported.
func TestHTTPURLs(t *testing.T) {
	srv := newTCPServer(t, "tcp", "127.0.0.1:0", func(s *tcpServer, c net.Conn) {
		req := readRequest(c)
		if strings.HasPrefix(req, "GET /bad ") {
			io.WriteString(c, "HTTP/1.0 404 Not Found\r\n\r\n")
			return
		}
		io.WriteString(c, "HTTP/1.0 200 OK\r\n\r\nfine")
	})
	h := HTTP{Dial: Dial{Addr: srv.addr(t), Timeout: time.Second}}
	wantOK(t, h.Probe(ctxFor(t, time.Second))) // no URLs
	h.URLs = []URL{{Path: "/a"}, {Path: "/b"}}
	wantOK(t, h.Probe(ctxFor(t, 2*time.Second)))
	h.URLs = []URL{{Path: "/a"}, {Path: "/bad"}, {Path: "/c"}}
	wantFail(t, h.Probe(ctxFor(t, 2*time.Second)), "HTTP status code error (404) url(/bad)")
}

func TestHTTPConnectAndTimeouts(t *testing.T) {
	t.Parallel()
	t.Run("refused", func(t *testing.T) {
		t.Parallel()
		h := HTTP{Dial: Dial{Addr: closedPort(t, "tcp"), Timeout: time.Second}, URLs: []URL{{Path: "/"}}}
		wantFail(t, h.Probe(ctxFor(t, 2*time.Second)), "Connection failed (connection refused)")
	})
	t.Run("no answer", func(t *testing.T) {
		t.Parallel()
		srv := newTCPServer(t, "tcp", "127.0.0.1:0", hang)
		h := HTTP{Dial: Dial{Addr: srv.addr(t), Timeout: 200 * time.Millisecond}, URLs: []URL{{Path: "/"}}}
		r := took(t, time.Second, func() Result { return h.Probe(ctxFor(t, 5*time.Second)) })
		wantFail(t, r, "Timeout HTTP read")
	})
	t.Run("keeps the connection open", func(t *testing.T) {
		t.Parallel()
		// keepalived reads to end of file, whatever Content-Length says.
		srv := newTCPServer(t, "tcp", "127.0.0.1:0", func(s *tcpServer, c net.Conn) {
			readRequest(c)
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
			hang(s, c)
		})
		h := HTTP{Dial: Dial{Addr: srv.addr(t), Timeout: 200 * time.Millisecond}, URLs: []URL{{Path: "/"}}}
		wantFail(t, took(t, time.Second, func() Result { return h.Probe(ctxFor(t, 5*time.Second)) }), "Timeout HTTP read")
	})
	t.Run("timeout is per read", func(t *testing.T) {
		t.Parallel()
		// Six writes 120 ms apart take longer than the 500 ms timeout,
		// but no single wait for a read does.
		srv := newTCPServer(t, "tcp", "127.0.0.1:0", func(s *tcpServer, c net.Conn) {
			readRequest(c)
			for _, part := range []string{"HTTP/1.0 200 OK\r\n", "\r\n", "a", "b", "c", ""} {
				time.Sleep(120 * time.Millisecond)
				io.WriteString(c, part)
			}
		})
		h := HTTP{Dial: Dial{Addr: srv.addr(t), Timeout: 500 * time.Millisecond}, URLs: []URL{{Path: "/", Digest: sum("abc")}}}
		wantOK(t, h.Probe(ctxFor(t, 5*time.Second)))
	})
	t.Run("context deadline", func(t *testing.T) {
		t.Parallel()
		srv := newTCPServer(t, "tcp", "127.0.0.1:0", hang)
		h := HTTP{Dial: Dial{Addr: srv.addr(t), Timeout: 10 * time.Second}, URLs: []URL{{Path: "/"}}}
		r := took(t, time.Second, func() Result { return h.Probe(ctxFor(t, 150*time.Millisecond)) })
		wantFail(t, r, "context deadline exceeded")
	})
	t.Run("context cancelled", func(t *testing.T) {
		t.Parallel()
		srv := newTCPServer(t, "tcp", "127.0.0.1:0", hang)
		h := HTTP{Dial: Dial{Addr: srv.addr(t), Timeout: 10 * time.Second}, URLs: []URL{{Path: "/"}}}
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		wantFail(t, took(t, time.Second, func() Result { return h.Probe(ctx) }), "context canceled")
	})
	t.Run("reset after the response", func(t *testing.T) {
		t.Parallel()
		srv := newTCPServer(t, "tcp", "127.0.0.1:0", func(s *tcpServer, c net.Conn) {
			readRequest(c)
			io.WriteString(c, "HTTP/1.0 200 OK\r\n\r\nhi")
			time.Sleep(50 * time.Millisecond)
			c.(*net.TCPConn).SetLinger(0) // RST
		})
		h := HTTP{Dial: Dial{Addr: srv.addr(t), Timeout: time.Second}, URLs: []URL{{Path: "/"}}}
		wantFail(t, h.Probe(ctxFor(t, 2*time.Second)), "Read error")
	})
}

func TestHTTPS(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var sni []string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "secure")
	}))
	srv.TLS = &tls.Config{GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		mu.Lock()
		sni = append(sni, hello.ServerName)
		mu.Unlock()
		return nil, nil
	}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	addr := addrPort(t, srv.Listener.Addr())
	pool := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs

	probe := func(h HTTP) Result {
		h.Dial = Dial{Addr: addr, Timeout: time.Second}
		h.URLs = []URL{{Path: "/", Digest: sum("secure")}}
		return h.Probe(ctxFor(t, 2*time.Second))
	}
	// keepalived's way: no verification.
	wantOK(t, probe(HTTP{TLS: &tls.Config{InsecureSkipVerify: true}}))
	wantOK(t, probe(HTTP{TLS: &tls.Config{InsecureSkipVerify: true}, SNI: true, VirtualHost: "www.example"}))
	// Verifying: against the address (the test certificate holds
	// 127.0.0.1), or against the SNI name.
	wantOK(t, probe(HTTP{TLS: &tls.Config{RootCAs: pool}}))
	wantOK(t, probe(HTTP{TLS: &tls.Config{RootCAs: pool}, SNI: true, VirtualHost: "example.com"}))
	wantFail(t, probe(HTTP{TLS: &tls.Config{RootCAs: pool}, SNI: true, VirtualHost: "other.example"}), "SSL handshake/communication error")
	wantFail(t, probe(HTTP{TLS: &tls.Config{}}), "SSL handshake/communication error") // unknown CA
	mu.Lock()
	want := []string{"", "www.example", "", "example.com", "other.example", ""}
	if fmt.Sprint(sni) != fmt.Sprint(want) {
		t.Errorf("SNI sent %q, want %q", sni, want)
	}
	mu.Unlock()

	t.Run("plain server", func(t *testing.T) {
		// A plain HTTP server answers the ClientHello with an error page.
		plain := newTCPServer(t, "tcp", "127.0.0.1:0", func(s *tcpServer, c net.Conn) {
			c.Read(make([]byte, 100))
			io.WriteString(c, "HTTP/1.0 400 Bad Request\r\n\r\n")
		})
		h := HTTP{Dial: Dial{Addr: plain.addr(t), Timeout: time.Second}, TLS: &tls.Config{InsecureSkipVerify: true}, URLs: []URL{{Path: "/"}}}
		wantFail(t, h.Probe(ctxFor(t, 2*time.Second)), "SSL handshake/communication error")
	})
	t.Run("handshake never answered", func(t *testing.T) {
		srv := newTCPServer(t, "tcp", "127.0.0.1:0", hang)
		h := HTTP{Dial: Dial{Addr: srv.addr(t), Timeout: 200 * time.Millisecond}, TLS: &tls.Config{InsecureSkipVerify: true}, URLs: []URL{{Path: "/"}}}
		wantFail(t, took(t, time.Second, func() Result { return h.Probe(ctxFor(t, 5*time.Second)) }), "Timeout connecting")
	})
	t.Run("read timeout", func(t *testing.T) {
		hung := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		}))
		hung.StartTLS()
		defer hung.Close()
		h := HTTP{Dial: Dial{Addr: addrPort(t, hung.Listener.Addr()), Timeout: 200 * time.Millisecond},
			TLS: &tls.Config{InsecureSkipVerify: true}, URLs: []URL{{Path: "/"}}}
		wantFail(t, took(t, time.Second, func() Result { return h.Probe(ctxFor(t, 5*time.Second)) }), "Timeout SSL read")
	})
}

// Garbage from the server: never a panic, always an answer in time.
func TestHTTPGarbage(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	raws := []string{
		"\x00\x00\x00\r\n\r\n",
		"HTTP/1.0 \r\n\r\n",
		"HTTP/1.0  200 OK\r\n\r\n",
		" 200 x\r\n\r\n",
		"HTTP/1.0 200 OK\r\nContent-Length: -5\r\n\r\nabc",
		"HTTP/1.0 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\nabc",
		"\r\n\r\n",
		"\r\n\r",
		"HTTP/1.0 2",
	}
	for range 20 {
		b := make([]byte, rng.IntN(6000))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		if rng.IntN(2) == 0 {
			copy(b, "HTTP/1.0 200 OK\r\n\r\n")
		}
		raws = append(raws, string(b))
	}
	for i, raw := range raws {
		srv := newTCPServer(t, "tcp", "127.0.0.1:0", respond(raw))
		h := HTTP{Dial: Dial{Addr: srv.addr(t), Timeout: time.Second}, URLs: []URL{{Path: "/",
			Digest: sum("x"), Regex: regexp.MustCompile(`a.c`), RegexMinOffset: 1}}}
		r := h.Probe(ctxFor(t, 2*time.Second))
		if r.OK {
			t.Errorf("garbage %d passed: %q", i, raw)
		}
	}
}

func TestHTTPParsers(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"HTTP/1.1 200 OK\r\n", 200},
		{"HTTP/1.1 503 \r\n", 503},
		{"anything 404 x", 404},
		{"HTTP/1.1 200\r\n", 0},
		{"HTTP/1.1 20 OK\r\n", 0},
		{"HTTP/1.1 2x0 OK\r\n", 0},
		{"HTTP/1.1\r\n200 OK\r\n", 0},
		{"", 0},
		{" ", 0},
		{"a 123", 0},
	} {
		if got := statusCode([]byte(tc.in)); got != tc.want {
			t.Errorf("StatusCode(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", 12},
		{"HTTP/1.1 200 OK\r\ncontent-length:0\r\n\r\n", 0},
		{"HTTP/1.1 200 OK\r\nX-Content-Length: 5\r\n\r\n", -1},
		{"HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\n", -1},
		{"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", -1},
		{"HTTP/1.1 200 OK\r\n\r\n", -1},
	} {
		if got := contentLength([]byte(tc.in)); got != tc.want {
			t.Errorf("ContentLength(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func FuzzHTTPHeader(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n"))
	f.Add([]byte(" 1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if c := statusCode(b); c < 0 || c > 999 {
			t.Fatalf("status %d", c)
		}
		contentLength(b)
		matchStream(strings.NewReader(string(b)), regexp.MustCompile(`\bx`), len(b)%7, len(b)%11)
	})
}
