package check

import (
	"bytes"
	"context"
	"io"
	"net"
	"time"
)

// SMTP is SMTP_CHECK: read the greeting, which must be 220; send
// "HELO <helo_name>\r\n", whose reply must be 250; send "QUIT\r\n" and
// read one more line, whatever it says. A reply's code is the first line
// of what the server sent, which must start with three digits followed
// by a space or the end of the line; so, as in keepalived, a multi-line
// reply ("220-...") fails. Each read and write has connect_timeout.
type SMTP struct {
	Dial
	// Helo is helo_name; "": DefaultHelo.
	Helo string
}

// DefaultHelo is keepalived's helo_name.
const DefaultHelo = "smtpchecker.keepalived.org"

// smtpBuffer is keepalived's line buffer: a line longer than this less
// one is dropped and reading goes on as if it had not been sent.
const smtpBuffer = 512

// Probe holds the conversation.
func (s *SMTP) Probe(ctx context.Context) Result {
	conn, r := s.dialTCP(ctx, "Connection")
	if r != nil {
		return *r
	}
	defer conn.Close()
	stop := closeOnDone(ctx, conn)
	defer stop()
	helo := s.Helo
	if helo == "" {
		helo = DefaultHelo
	}
	sm := smtpConn{c: conn, timeout: s.timeout()}
	steps := []struct {
		send string // before reading
		want int    // 0: any line
		bad  string
	}{
		{"", 220, "Bad greeting banner from server"},
		{"HELO " + helo + "\r\n", 250, "Bad HELO response from server"},
		{"QUIT\r\n", 0, ""},
	}
	for _, st := range steps {
		if st.send != "" {
			if err := sm.write(st.send); err != nil {
				return ioFailure(ctx, "Write timeout to server", "Write failure to server", err)
			}
		}
		line, err := sm.readLine()
		if err != nil {
			return ioFailure(ctx, "Read timeout from server", "Read failure from server", err)
		}
		if st.want != 0 && smtpCode(line) != st.want {
			return fail("%s (%q)", st.bad, truncate(line, 64))
		}
	}
	return ok()
}

type smtpConn struct {
	c       net.Conn
	timeout time.Duration
}

func (s *smtpConn) write(line string) error {
	s.c.SetWriteDeadline(time.Now().Add(s.timeout))
	_, err := io.WriteString(s.c, line)
	return err
}

// readLine reads until the data holds a newline and returns what comes
// before it. Like keepalived it starts afresh for each line, so anything
// the server sent after that newline in the same read is dropped.
func (s *smtpConn) readLine() ([]byte, error) {
	buf := make([]byte, smtpBuffer-1)
	n := 0
	for {
		if n == len(buf) {
			n = 0 // too long: wrap, as keepalived does
		}
		s.c.SetReadDeadline(time.Now().Add(s.timeout))
		m, err := s.c.Read(buf[n:])
		n += m
		if i := bytes.IndexByte(buf[:n], '\n'); i >= 0 {
			return buf[:i], nil
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

// smtpCode is a reply line's code: three digits followed by a space or
// the end of the line (a final CR aside), else -1.
func smtpCode(line []byte) int {
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) < 3 || len(line) > 3 && line[3] != ' ' {
		return -1
	}
	code := 0
	for _, b := range line[:3] {
		if b < '0' || b > '9' {
			return -1
		}
		code = code*10 + int(b-'0')
	}
	return code
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
