// Package mailtest is a minimal SMTP server for tests: it answers the
// commands a mail client sends and records them and each message.
package mailtest

import (
	"bufio"
	"io"
	"net"
	"strings"
	"sync"
)

// Server records what clients sent.
type Server struct {
	ln        net.Listener
	rcptReply string

	mu       sync.Mutex
	commands []string
	messages []string
}

// Serve answers on ln until it is closed. rcptReply is the reply to RCPT
// TO ("250 ok" to take every recipient). EHLO is refused, so clients fall
// back to HELO as keepalived's speaks it.
func Serve(ln net.Listener, rcptReply string) *Server {
	s := &Server{ln: ln, rcptReply: rcptReply}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

// Port is the port the server listens on.
func (s *Server) Port() string {
	_, port, _ := net.SplitHostPort(s.ln.Addr().String())
	return port
}

// Commands are the command lines received, in order.
func (s *Server) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.commands...)
}

// Messages are the messages received (the DATA, lines ending in CRLF).
func (s *Server) Messages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.messages...)
}

func (s *Server) record(list *[]string, v string) {
	s.mu.Lock()
	*list = append(*list, v)
	s.mu.Unlock()
}

func (s *Server) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	io.WriteString(c, "220 mailtest ESMTP\r\n")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.TrimRight(line, "\r\n")
		s.record(&s.commands, cmd)
		switch strings.ToUpper(strings.Fields(cmd + " x")[0]) {
		case "EHLO":
			io.WriteString(c, "502 not here\r\n")
		case "RCPT":
			io.WriteString(c, s.rcptReply+"\r\n")
		case "DATA":
			io.WriteString(c, "354 go on\r\n")
			var data strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				data.WriteString(l)
			}
			s.record(&s.messages, data.String())
			io.WriteString(c, "250 queued\r\n")
		case "QUIT":
			io.WriteString(c, "221 bye\r\n")
			return
		default:
			io.WriteString(c, "250 ok\r\n")
		}
	}
}
