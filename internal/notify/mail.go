package notify

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/smtp"
	"os"
	"os/user"
	"strings"
	"time"
)

// MailConfig is where and how alerts are mailed.
type MailConfig struct {
	Server  string // host name or address
	Port    string
	Helo    string // "": the host name
	From    string // "": USER@HOST
	To      []string
	Timeout time.Duration // connecting, then the whole exchange
	// RouterID starts every subject, "[ID] ...", as keepalived writes it.
	RouterID string
}

// Mail is one alert.
type Mail struct {
	Subject, Body string
}

// Mailer sends alerts one after another from a queue, so that a slow or
// dead mail server never holds up the daemon; alerts beyond the queue's
// room are dropped with a log line.
type Mailer struct {
	cfg   MailConfig
	log   *slog.Logger
	queue chan Mail
	done  chan struct{}
	now   func() time.Time // the Date header's clock

}

// mailQueue is how many alerts may wait: a flapping instance sends one
// per state change.
const mailQueue = 64

// NewMailer starts a mailer. The From address and HELO name default as
// keepalived's do: USER@HOST and the host name.
func NewMailer(cfg MailConfig, log *slog.Logger) *Mailer {
	host, _ := os.Hostname()
	if cfg.Helo == "" {
		cfg.Helo = host
	}
	if cfg.From == "" {
		name := "root"
		if u, err := user.Current(); err == nil {
			name = u.Username
		}
		cfg.From = name + "@" + host
	}
	if cfg.RouterID == "" {
		cfg.RouterID = host
	}
	m := &Mailer{cfg: cfg, log: log, queue: make(chan Mail, mailQueue), done: make(chan struct{}), now: time.Now}
	go m.run()
	return m
}

// Send queues an alert; the subject gets the "[ROUTER_ID] " prefix.
func (m *Mailer) Send(subject, body string) {
	mail := Mail{Subject: "[" + m.cfg.RouterID + "] " + subject, Body: body}
	select {
	case m.queue <- mail:
	default:
		m.log.Warn("e-mail alert dropped: too many waiting", "subject", mail.Subject)
	}
}

// Close sends what is queued, for at most wait, then stops.
func (m *Mailer) Close(wait time.Duration) {
	close(m.queue)
	select {
	case <-m.done:
	case <-time.After(wait):
		m.log.Warn("stopped before every e-mail alert was sent")
	}
}

func (m *Mailer) run() {
	defer close(m.done)
	for mail := range m.queue {
		if err := m.deliver(mail); err != nil {
			m.log.Error("sending e-mail alert", "subject", mail.Subject, "server", net.JoinHostPort(m.cfg.Server, m.cfg.Port), "err", err)
			continue
		}
		m.log.Info("SMTP alert successfully sent", "subject", mail.Subject)
	}
}

// deliver runs one SMTP exchange, as keepalived's: HELO, MAIL FROM, one
// RCPT TO per recipient, DATA with Date, From, Subject, X-Mailer and To
// headers, QUIT.
func (m *Mailer) deliver(mail Mail) error {
	ctx, cancel := context.WithTimeout(context.Background(), m.cfg.Timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(m.cfg.Server, m.cfg.Port))
	if err != nil {
		return err
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	}
	c, err := smtp.NewClient(conn, m.cfg.Server)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello(m.cfg.Helo); err != nil {
		return err
	}
	if err := c.Mail(m.cfg.From); err != nil {
		return err
	}
	for _, to := range m.cfg.To {
		if err := c.Rcpt(to); err != nil {
			return fmt.Errorf("RCPT TO %s: %w", to, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("Date: %s\r\nFrom: %s\r\nSubject: %s\r\nX-Mailer: vipd\r\nTo: %s\r\n\r\n%s\r\n",
		m.now().Format(time.RFC1123Z), m.cfg.From, mail.Subject, strings.Join(m.cfg.To, ", "), mail.Body)
	if _, err := w.Write([]byte(msg)); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}
