// Package check holds the probes keepalived's health checkers run
// against real servers (TCP_CHECK, HTTP_GET, SSL_GET, MISC_CHECK,
// DNS_CHECK, SMTP_CHECK, UDP_CHECK, PING_CHECK), with keepalived 2.2.7's
// idea of what one attempt sends and what counts as success.
//
// A Prober makes exactly one attempt per call. Scheduling (delay_loop,
// retry, delay_before_retry, warmup, alpha/omega, quorum) belongs to the
// caller, as does resolving configuration defaults (connect_ip falls back
// to the real server, connect_timeout to the real or virtual server's,
// virtualhost to the real or virtual server's).
//
// Every Probe returns by its context's deadline or cancellation, and
// closes what it opened: sockets, and for MISC_CHECK the program's whole
// process group.
package check

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultTimeout is connect_timeout when nothing sets it: keepalived's
// default for a virtual server, which real servers and checkers inherit.
const DefaultTimeout = 5 * time.Second

// Dial says where and how a checker connects: connect_ip/connect_port
// (or the real server), bindto, bind_port, bind_if, fwmark and
// connect_timeout.
type Dial struct {
	// Addr is the real server, or connect_ip/connect_port.
	Addr netip.AddrPort
	// BindAddr is bindto; the zero Addr leaves the source address to
	// the kernel.
	BindAddr netip.Addr
	// BindPort is bind_port; 0: any. keepalived only binds when bindto
	// is set, so it ignores bind_port alone; Probe binds whatever it is
	// given (the wildcard address with this port) and leaves that choice
	// to the configuration layer.
	BindPort uint16
	// BindIf is bind_if: SO_BINDTODEVICE, which a link-local IPv6
	// destination needs.
	BindIf string
	// FWMark is fwmark: SO_MARK on the checker's socket, so policy
	// routing or the firewall can tell checks apart.
	FWMark uint32
	// Timeout is connect_timeout (0: DefaultTimeout). As in keepalived it
	// bounds each step, not the attempt: the connect (with the TLS
	// handshake), each write, and the wait for each read; for DNS,
	// UDP and PING checks, which have one exchange, the whole of it. The
	// context bounds the attempt as a whole.
	Timeout time.Duration
}

// Result is one attempt's outcome.
type Result struct {
	// OK is true when the real server passed.
	OK bool
	// Reason says why it failed (or could not run), in words fit for a
	// log line, close to keepalived's.
	Reason string
	// LocalError is true when the attempt could not be made at all
	// because of this host (socket creation, bind, SO_BINDTODEVICE or
	// SO_MARK failed, or connect() refused locally, e.g. EADDRNOTAVAIL):
	// it says nothing about the real server. keepalived logs
	// "Rescheduling", counts no failure and tries again after
	// delay_loop. OK is false.
	LocalError bool
	// Weight, when HasWeight, is the real server's new weight: MISC_CHECK
	// with misc_dynamic exiting 2..255 sets it to the status less 2.
	Weight    int
	HasWeight bool
}

// Prober runs one check attempt. Probe returns by ctx's deadline or
// cancellation and leaks no goroutine, socket or process.
type Prober interface {
	Probe(ctx context.Context) Result
}

func ok() Result { return Result{OK: true} }

func fail(format string, args ...any) Result {
	return Result{Reason: fmt.Sprintf(format, args...)}
}

func local(format string, args ...any) Result {
	return Result{Reason: fmt.Sprintf(format, args...), LocalError: true}
}

func (d *Dial) timeout() time.Duration {
	if d.Timeout > 0 {
		return d.Timeout
	}
	return DefaultTimeout
}

// setupError is a failure to prepare the checker's own socket.
type setupError struct{ err error }

func (e *setupError) Error() string { return e.err.Error() }
func (e *setupError) Unwrap() error { return e.err }

// control sets the socket options a Dial asks for before bind and
// connect; recvErr also asks for ICMP errors (IP_RECVERR), as keepalived's
// UDP_CHECK does.
func (d *Dial) control(recvErr bool) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			s := int(fd)
			if d.FWMark != 0 {
				if err := unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_MARK, int(d.FWMark)); err != nil {
					serr = fmt.Errorf("setting fwmark %d: %w", d.FWMark, err)
					return
				}
			}
			if d.BindIf != "" {
				if err := unix.BindToDevice(s, d.BindIf); err != nil {
					serr = fmt.Errorf("binding to device %s: %w", d.BindIf, err)
					return
				}
			}
			if recvErr {
				if strings.HasSuffix(network, "6") {
					serr = unix.SetsockoptInt(s, unix.SOL_IPV6, unix.IPV6_RECVERR, 1)
				} else {
					serr = unix.SetsockoptInt(s, unix.SOL_IP, unix.IP_RECVERR, 1)
				}
			}
		})
		if err == nil {
			err = serr
		}
		if err != nil {
			return &setupError{err}
		}
		return nil
	}
}

// network is "tcp4", "udp6", ... for the destination's family.
func (d *Dial) network(proto string) string {
	if d.Addr.Addr().Unmap().Is4() {
		return proto + "4"
	}
	return proto + "6"
}

func (d *Dial) dialer(recvErr bool) *net.Dialer {
	nd := &net.Dialer{Timeout: d.timeout(), Control: d.control(recvErr)}
	if d.BindAddr.IsValid() || d.BindPort != 0 {
		var ip net.IP
		zone := d.BindAddr.Zone()
		if d.BindAddr.IsValid() {
			ip = d.BindAddr.AsSlice()
			if zone == "" && d.BindAddr.Is6() && d.BindAddr.IsLinkLocalUnicast() {
				zone = d.BindIf
			}
		}
		nd.LocalAddr = &net.TCPAddr{IP: ip, Port: int(d.BindPort), Zone: zone}
	}
	return nd
}

// dst is the destination with the zone bind_if implies for a link-local
// address that names none.
func (d *Dial) dst() string {
	a := d.Addr.Addr()
	if a.Is6() && a.Zone() == "" && d.BindIf != "" && (a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast()) {
		a = a.WithZone(d.BindIf)
	}
	return netip.AddrPortFrom(a, d.Addr.Port()).String()
}

// dialTCP connects as keepalived's checkers do. A Result is returned
// when it did not: failed (refused, unreachable, timed out) or not tried
// (local).
func (d *Dial) dialTCP(ctx context.Context, what string) (net.Conn, *Result) {
	if !d.Addr.IsValid() {
		r := local("%s: no address to connect to", what)
		return nil, &r
	}
	if r := d.checkFamily(what); r != nil {
		return nil, r
	}
	c, err := d.dialer(false).DialContext(ctx, d.network("tcp"), d.dst())
	if err == nil {
		return c, nil
	}
	r := dialFailure(ctx, what, err)
	return nil, &r
}

// dialUDP makes a connected UDP socket.
func (d *Dial) dialUDP(ctx context.Context, what string, recvErr bool) (*net.UDPConn, *Result) {
	if !d.Addr.IsValid() {
		r := local("%s: no address to connect to", what)
		return nil, &r
	}
	if r := d.checkFamily(what); r != nil {
		return nil, r
	}
	nd := d.dialer(recvErr)
	if la, ok := nd.LocalAddr.(*net.TCPAddr); ok {
		nd.LocalAddr = &net.UDPAddr{IP: la.IP, Port: la.Port, Zone: la.Zone}
	}
	c, err := nd.DialContext(ctx, d.network("udp"), d.dst())
	if err == nil {
		return c.(*net.UDPConn), nil
	}
	r := dialFailure(ctx, what, err)
	return nil, &r
}

// checkFamily refuses a bindto of the other family than the destination
// (keepalived's configuration drops such a bindto).
func (d *Dial) checkFamily(what string) *Result {
	if d.BindAddr.IsValid() && d.BindAddr.Unmap().Is4() != d.Addr.Addr().Unmap().Is4() {
		r := local("%s: bindto %v and destination %v differ in family", what, d.BindAddr, d.Addr.Addr())
		return &r
	}
	return nil
}

// connectFailures are the connect() errors keepalived takes as the real
// server failing; any other error at connect time means the check could
// not be made.
var connectFailures = []syscall.Errno{
	unix.ENETUNREACH, unix.EHOSTUNREACH, unix.ECONNREFUSED, unix.EHOSTDOWN,
	unix.ENETDOWN, unix.ECONNRESET, unix.ECONNABORTED, unix.ETIMEDOUT,
}

// dialFailure classifies a failed connect as keepalived does.
func dialFailure(ctx context.Context, what string, err error) Result {
	if ctx.Err() != nil {
		return fail("%s: %v", what, ctx.Err())
	}
	if isTimeout(err) {
		return fail("%s timeout", what)
	}
	var se *setupError
	if errors.As(err, &se) {
		return local("%s: %v", what, se.err)
	}
	var sys *os.SyscallError
	if errors.As(err, &sys) {
		if sys.Syscall != "connect" {
			return local("%s: %v", what, sys)
		}
		var errno syscall.Errno
		if errors.As(sys.Err, &errno) {
			for _, e := range connectFailures {
				if errno == e {
					return fail("%s failed (%v)", what, errno)
				}
			}
			return local("%s: connect: %v", what, errno)
		}
	}
	return fail("%s failed (%v)", what, err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// closeOnDone closes c when ctx ends, so that any blocked read or write
// returns; the returned function stops that and must be called.
func closeOnDone(ctx context.Context, c interface{ Close() error }) (stop func() bool) {
	return context.AfterFunc(ctx, func() { c.Close() })
}

// ioFailure words a failed read or write: a timeout (the step's own, or
// the context's), or another error.
func ioFailure(ctx context.Context, timeoutMsg, errMsg string, err error) Result {
	if ctx.Err() != nil {
		return fail("%s: %v", timeoutMsg, ctx.Err())
	}
	if isTimeout(err) {
		return fail("%s", timeoutMsg)
	}
	return fail("%s (%v)", errMsg, err)
}

// fill is keepalived's filler for payloads nobody configured: "keepalived
// check - " repeated to n bytes, so nothing else leaks onto the wire.
func fill(n int) []byte {
	const s = "keepalived check - "
	b := make([]byte, n)
	for i := range b {
		b[i] = s[i%len(s)]
	}
	return b
}
