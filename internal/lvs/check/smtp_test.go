package check

import (
	"bufio"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"
)

// smtpScript answers a conversation: the banner, then one reply per line
// the client sends; it records the client's lines.
func smtpScript(banner string, replies ...string) func(s *tcpServer, c net.Conn) {
	return func(s *tcpServer, c net.Conn) {
		c.SetDeadline(time.Now().Add(2 * time.Second))
		if banner != "" {
			io.WriteString(c, banner)
		}
		br := bufio.NewReader(c)
		for _, reply := range replies {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			s.record(line)
			if reply == "HANG" {
				io.Copy(io.Discard, br)
				return
			}
			io.WriteString(c, reply)
		}
	}
}

func TestSMTP(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		serve   func(s *tcpServer, c net.Conn)
		want    string // "" for OK
		session []string
	}{
		{"good", smtpScript("220 mx.example ESMTP\r\n", "250 mx.example\r\n", "221 bye\r\n"), "",
			[]string{"HELO smtpchecker.keepalived.org\r\n", "QUIT\r\n"}},
		{"bare LF and no text", smtpScript("220\n", "250\r\n", "221\n"), "", nil},
		{"any QUIT reply", smtpScript("220 hi\r\n", "250 ok\r\n", "500 whatever\r\n"), "", nil},
		{"bad banner", smtpScript("554 go away\r\n"), "Bad greeting banner from server", nil},
		{"banner not a code", smtpScript("hello\r\n"), "Bad greeting banner from server", nil},
		{"banner 2200", smtpScript("2200 x\r\n"), "Bad greeting banner from server", nil},
		// keepalived looks only at the first line of a reply.
		{"multi-line banner", smtpScript("220-first\r\n220 last\r\n"), "Bad greeting banner from server", nil},
		{"bad HELO reply", smtpScript("220 hi\r\n", "501 nope\r\n"), "Bad HELO response from server", nil},
		{"closed after HELO", smtpScript("220 hi\r\n", ""), "Read failure from server", nil},
		{"closed before QUIT reply", smtpScript("220 hi\r\n", "250 ok\r\n", ""), "Read failure from server", nil},
		{"no banner", hang, "Read timeout from server", nil},
		{"no HELO reply", smtpScript("220 hi\r\n", "HANG"), "Read timeout from server", nil},
		{"banner without newline", func(s *tcpServer, c net.Conn) { io.WriteString(c, "220 hi"); hang(s, c) }, "Read timeout from server", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newTCPServer(t, "tcp", "127.0.0.1:0", tc.serve)
			s := SMTP{Dial: Dial{Addr: srv.addr(t), Timeout: 500 * time.Millisecond}}
			r := took(t, 2*time.Second, func() Result { return s.Probe(ctxFor(t, 5*time.Second)) })
			if tc.want == "" {
				wantOK(t, r)
			} else {
				wantFail(t, r, tc.want)
			}
			if tc.session != nil {
				srv.l.Close()
				time.Sleep(20 * time.Millisecond)
				if got := srv.records(); strings.Join(got, "|") != strings.Join(tc.session, "|") {
					t.Errorf("client sent %q, want %q", got, tc.session)
				}
			}
		})
	}
}

func TestSMTPHeloAndRefused(t *testing.T) {
	srv := newTCPServer(t, "tcp", "127.0.0.1:0", smtpScript("220 hi\r\n", "250 ok\r\n", "221 bye\r\n"))
	s := SMTP{Dial: Dial{Addr: srv.addr(t), Timeout: time.Second}, Helo: "lb1.example"}
	wantOK(t, s.Probe(ctxFor(t, 2*time.Second)))
	time.Sleep(20 * time.Millisecond)
	if got := srv.records(); len(got) == 0 || got[0] != "HELO lb1.example\r\n" {
		t.Errorf("sent %q", got)
	}
	s = SMTP{Dial: Dial{Addr: closedPort(t, "tcp"), Timeout: time.Second}}
	wantFail(t, s.Probe(ctxFor(t, 2*time.Second)), "Connection failed (connection refused)")
}

// Garbage: never a panic; a line longer than the buffer is dropped.
func TestSMTPGarbage(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 20 {
		b := make([]byte, rng.IntN(2000))
		for j := range b {
			b[j] = byte(rng.IntN(256))
		}
		srv := newTCPServer(t, "tcp", "127.0.0.1:0", smtpScript(string(b)+"\n", string(b)+"\n", "221\n"))
		s := SMTP{Dial: Dial{Addr: srv.addr(t), Timeout: 100 * time.Millisecond}}
		if r := s.Probe(ctxFor(t, 2*time.Second)); r.OK {
			t.Errorf("garbage %d passed", i)
		}
	}
	long := strings.Repeat("x", smtpBuffer-1)
	srv := newTCPServer(t, "tcp", "127.0.0.1:0", func(s *tcpServer, c net.Conn) {
		io.WriteString(c, long)
		time.Sleep(20 * time.Millisecond) // a read of its own
		smtpScript("220 hi\r\n", "250 ok\r\n", "221 bye\r\n")(s, c)
	})
	s := SMTP{Dial: Dial{Addr: srv.addr(t), Timeout: time.Second}}
	wantOK(t, s.Probe(ctxFor(t, 2*time.Second)))
}

func TestSMTPCode(t *testing.T) {
	for in, want := range map[string]int{
		"220 x": 220, "220": 220, "220\r": 220, "250 ": 250,
		"220-x": -1, "22": -1, "2200": -1, " 220": -1, "+22 x": -1, "": -1, "abc": -1,
	} {
		if got := smtpCode([]byte(in)); got != want {
			t.Errorf("SMTPCode(%q) = %d, want %d", in, got, want)
		}
	}
}

func FuzzSMTPCode(f *testing.F) {
	f.Add([]byte("220 mx\r"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if c := smtpCode(b); c < -1 || c > 999 {
			t.Fatal(c)
		}
	})
}
