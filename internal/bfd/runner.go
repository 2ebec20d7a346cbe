package bfd

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// ControlPort is where BFD Control packets go (RFC 5881).
const ControlPort = 3784

// SessionConfig is a session and where it runs.
type SessionConfig struct {
	Config
	Neighbor, Source netip.Addr
	TTL, MaxHops     uint8
}

// Change is a session going up or down.
type Change struct {
	Name  string
	Up    bool
	State State
}

// Runner runs sessions: it receives on the control port, sends from a
// port of each session's own (49152-65535, RFC 5881) with the session's
// TTL, and reports every change of up or down.
type Runner struct {
	log      *slog.Logger
	sessions []*runSession
	rx       []net.PacketConn // IPv4, IPv6 control port sockets
	in       chan received
	changes  chan Change
	stop     chan struct{}
	done     chan struct{}
	epoch    time.Time
}

type runSession struct {
	cfg  SessionConfig
	s    *Session
	tx   net.PacketConn
	up   bool
	to   net.Addr
	drop uint64 // packets for it refused (TTL, decoding)
}

type received struct {
	p        Packet
	src, dst netip.Addr
	ttl      int
	err      error
}

// Start opens the sockets and starts every session in Down.
func Start(cfgs []SessionConfig, log *slog.Logger) (*Runner, error) {
	r := &Runner{log: log, in: make(chan received, 64), changes: make(chan Change, len(cfgs)+4),
		stop: make(chan struct{}), done: make(chan struct{}), epoch: time.Now()}
	fail := func(err error) (*Runner, error) {
		r.closeSockets()
		return nil, err
	}
	families := map[bool]bool{}
	for i, c := range cfgs {
		tx, err := txSocket(c)
		if err != nil {
			return fail(fmt.Errorf("bfd_instance %s: %w", c.Name, err))
		}
		disc := uint32(i+1)<<16 | uint32(rand.N(1<<16)) | 1
		r.sessions = append(r.sessions, &runSession{cfg: c, s: NewSession(c.Config, disc, rand.Float64), tx: tx,
			to: &net.UDPAddr{IP: c.Neighbor.AsSlice(), Port: ControlPort}})
		families[c.Neighbor.Is6()] = true
	}
	for v6 := range families {
		conn, err := rxSocket(v6)
		if err != nil {
			return fail(err)
		}
		r.rx = append(r.rx, conn)
		go r.read(conn, v6)
	}
	go r.run()
	return r, nil
}

// Changes delivers the sessions' ups and downs.
func (r *Runner) Changes() <-chan Change { return r.changes }

// Close takes every session administratively down, telling each
// neighbour, and stops.
func (r *Runner) Close() {
	close(r.stop)
	<-r.done
	for _, rs := range r.sessions {
		p := rs.s.AdminDown()
		if b, err := p.MarshalBinary(); err == nil {
			rs.tx.WriteTo(b, rs.to)
		}
	}
	r.closeSockets()
}

func (r *Runner) closeSockets() {
	for _, c := range r.rx {
		c.Close()
	}
	for _, rs := range r.sessions {
		rs.tx.Close()
	}
}

func txSocket(c SessionConfig) (net.PacketConn, error) {
	network, host := "udp4", "0.0.0.0"
	if c.Neighbor.Is6() {
		network, host = "udp6", "::"
	}
	if c.Source.IsValid() {
		host = c.Source.String()
	}
	var err error
	start := 49152 + rand.N(16384)
	for i := range 64 {
		port := 49152 + (start-49152+i)%16384
		var conn net.PacketConn
		if conn, err = net.ListenPacket(network, net.JoinHostPort(host, strconv.Itoa(port))); err != nil {
			continue
		}
		if c.Neighbor.Is6() {
			err = ipv6.NewPacketConn(conn).SetHopLimit(int(c.TTL))
		} else {
			err = ipv4.NewPacketConn(conn).SetTTL(int(c.TTL))
		}
		if err != nil {
			conn.Close()
			return nil, err
		}
		return conn, nil
	}
	return nil, fmt.Errorf("no source port: %w", err)
}

func rxSocket(v6 bool) (net.PacketConn, error) {
	network, addr := "udp4", "0.0.0.0:"+strconv.Itoa(ControlPort)
	if v6 {
		network, addr = "udp6", "[::]:"+strconv.Itoa(ControlPort)
	}
	conn, err := net.ListenPacket(network, addr)
	if err != nil {
		return nil, fmt.Errorf("bfd: listening on %s %s: %w", network, addr, err)
	}
	if v6 {
		err = ipv6.NewPacketConn(conn).SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagDst, true)
	} else {
		err = ipv4.NewPacketConn(conn).SetControlMessage(ipv4.FlagTTL|ipv4.FlagDst, true)
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

func (r *Runner) read(conn net.PacketConn, v6 bool) {
	buf := make([]byte, 512)
	p4, p6 := ipv4.NewPacketConn(conn), ipv6.NewPacketConn(conn)
	for {
		var (
			n    int
			src  net.Addr
			err  error
			rcv  received
			addr *net.UDPAddr
		)
		if v6 {
			var cm *ipv6.ControlMessage
			n, cm, src, err = p6.ReadFrom(buf)
			if cm != nil {
				rcv.ttl = cm.HopLimit
				rcv.dst, _ = netip.AddrFromSlice(cm.Dst)
			}
		} else {
			var cm *ipv4.ControlMessage
			n, cm, src, err = p4.ReadFrom(buf)
			if cm != nil {
				rcv.ttl = cm.TTL
				rcv.dst, _ = netip.AddrFromSlice(cm.Dst)
			}
		}
		if err != nil {
			return
		}
		if addr, _ = src.(*net.UDPAddr); addr == nil {
			continue
		}
		rcv.src, _ = netip.AddrFromSlice(addr.IP)
		rcv.src, rcv.dst = rcv.src.Unmap(), rcv.dst.Unmap()
		rcv.err = rcv.p.UnmarshalBinary(buf[:n])
		select {
		case r.in <- rcv:
		case <-r.stop:
			return
		}
	}
}

func (r *Runner) now() time.Duration { return time.Since(r.epoch) }

func (r *Runner) run() {
	defer close(r.done)
	wake := time.NewTimer(0)
	defer wake.Stop()
	for {
		select {
		case <-r.stop:
			return
		case rcv := <-r.in:
			r.receive(rcv)
		case <-wake.C:
		}
		next := r.now() + time.Hour
		for _, rs := range r.sessions {
			p, changed := rs.s.Tick(r.now())
			if changed {
				r.report(rs)
			}
			if p != nil {
				b, _ := p.MarshalBinary()
				if _, err := rs.tx.WriteTo(b, rs.to); err != nil {
					r.log.Debug("bfd: sending", "session", rs.cfg.Name, "err", err)
				}
			}
			next = min(next, rs.s.NextDeadline())
		}
		wake.Reset(max(0, next-r.now()))
	}
}

// receive hands a packet to its session: the one it names (your
// discriminator), else the one with its source as neighbour.
func (r *Runner) receive(rcv received) {
	var rs *runSession
	for _, c := range r.sessions {
		if rcv.p.YourDisc != 0 && c.s.Disc() == rcv.p.YourDisc ||
			rcv.p.YourDisc == 0 && c.cfg.Neighbor == rcv.src && (!c.cfg.Source.IsValid() || c.cfg.Source == rcv.dst) {
			rs = c
			break
		}
	}
	switch {
	case rs == nil:
		return // not ours
	case rcv.err != nil:
		rs.drop++
		return
	case rcv.ttl > 0 && int(rs.cfg.MaxHops)+rcv.ttl < int(rs.cfg.TTL):
		// RFC 5881's TTL check (GTSM), with keepalived's max_hops.
		rs.drop++
		return
	case rcv.src != rs.cfg.Neighbor:
		rs.drop++
		return
	}
	if rs.s.Receive(r.now(), &rcv.p) {
		r.report(rs)
	}
}

// report passes on a change of up or down (Init is still down).
func (r *Runner) report(rs *runSession) {
	up := rs.s.State() == Up
	if up == rs.up {
		return
	}
	rs.up = up
	select {
	case r.changes <- Change{Name: rs.cfg.Name, Up: up, State: rs.s.State()}:
	case <-r.stop:
	}
}
