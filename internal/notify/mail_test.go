package notify

import (
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/vipd/vipd/internal/mailtest"
)

func newFakeSMTP(t *testing.T, rcptReply string) *mailtest.Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return mailtest.Serve(ln, rcptReply)
}

// An alert goes out as keepalived sends one: HELO, MAIL FROM, a RCPT TO
// per recipient, and the headers keepalived writes.
func TestMailer(t *testing.T) {
	f := newFakeSMTP(t, "250 ok")
	m := NewMailer(MailConfig{Server: "127.0.0.1", Port: f.Port(), Helo: "lb1", From: "vipd@lb1", To: []string{"a@x", "b@x"},
		Timeout: 5 * time.Second, RouterID: "LVS_DEVEL"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	m.now = func() time.Time { return time.Date(2026, 11, 24, 9, 44, 8, 0, time.UTC) }
	m.Send("VRRP Instance VI_1 - Entering MASTER state", "=> VRRP Instance is now owning VRRP VIPs <=")
	m.Close(5 * time.Second)
	cmds := f.Commands()
	want := []string{"EHLO lb1", "HELO lb1", "MAIL FROM:<vipd@lb1>", "RCPT TO:<a@x>", "RCPT TO:<b@x>", "DATA", "QUIT"}
	if strings.Join(cmds, "|") != strings.Join(want, "|") {
		t.Errorf("commands %q, want %q", cmds, want)
	}
	msgs := f.Messages()
	if len(msgs) != 1 {
		t.Fatalf("messages %q, want one", msgs)
	}
	want1 := "Date: Tue, 24 Nov 2026 09:44:08 +0000\r\nFrom: vipd@lb1\r\nSubject: [LVS_DEVEL] VRRP Instance VI_1 - Entering MASTER state\r\n" +
		"X-Mailer: vipd\r\nTo: a@x, b@x\r\n\r\n=> VRRP Instance is now owning VRRP VIPs <=\r\n"
	if msgs[0] != want1 {
		t.Errorf("message\n%q\nwant\n%q", msgs[0], want1)
	}
}

// A refused recipient or a server that is not there is logged, and the
// next alert still goes.
func TestMailerErrors(t *testing.T) {
	f := newFakeSMTP(t, "550 no such user")
	var logged strings.Builder
	log := slog.New(slog.NewTextHandler(&logged, nil))
	m := NewMailer(MailConfig{Server: "127.0.0.1", Port: f.Port(), To: []string{"nobody@x"}, Timeout: 2 * time.Second}, log)
	m.Send("one", "1")
	m.Close(5 * time.Second)
	if !strings.Contains(logged.String(), "RCPT TO nobody@x: 550") {
		t.Errorf("log: %s", logged.String())
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	_, deadPort, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	logged.Reset()
	m = NewMailer(MailConfig{Server: "127.0.0.1", Port: deadPort, To: []string{"a@x"}, Timeout: 2 * time.Second}, log)
	m.Send("two", "2")
	m.Close(5 * time.Second)
	if !strings.Contains(logged.String(), "connection refused") {
		t.Errorf("log: %s", logged.String())
	}
}
