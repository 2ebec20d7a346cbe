package netlab

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Probe pings an address at a steady rate from a host and remembers, for
// every probe, when it was sent and whether it was answered: the client's
// view of a failover.
type Probe struct {
	mu     sync.Mutex
	sent   []time.Time
	ok     []bool
	conn   *icmp.PacketConn
	stop   chan struct{}
	done   sync.WaitGroup
	target netip.Addr
}

// Answered within this is a success; later is a loss.
const probeTimeout = time.Second

// StartProbe pings target every interval from the host.
func (h *Host) StartProbe(target netip.Addr, every time.Duration) (*Probe, error) {
	p := &Probe{stop: make(chan struct{}), target: target}
	err := h.Do(func() error {
		var err error
		if target.Is4() {
			p.conn, err = icmp.ListenPacket("ip4:icmp", "0.0.0.0")
		} else {
			p.conn, err = icmp.ListenPacket("ip6:ipv6-icmp", "::")
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("probe socket: %w", err)
	}
	p.done.Add(2)
	go p.send(every)
	go p.receive()
	return p, nil
}

var probeID = os.Getpid() & 0xffff

func (p *Probe) send(every time.Duration) {
	defer p.done.Done()
	tick := time.NewTicker(every)
	defer tick.Stop()
	typ := icmp.Type(ipv4.ICMPTypeEcho)
	if p.target.Is6() {
		typ = ipv6.ICMPTypeEchoRequest
	}
	dst := &net.IPAddr{IP: p.target.AsSlice()}
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
		}
		p.mu.Lock()
		seq := len(p.sent)
		p.sent = append(p.sent, time.Now())
		p.ok = append(p.ok, false)
		p.mu.Unlock()
		msg := icmp.Message{Type: typ, Body: &icmp.Echo{ID: probeID, Seq: seq & 0xffff, Data: []byte("vipd-probe")}}
		b, _ := msg.Marshal(nil) // IPv6: the kernel fills in the checksum
		p.conn.WriteTo(b, dst)
	}
}

func (p *Probe) receive() {
	defer p.done.Done()
	proto := 1
	if p.target.Is6() {
		proto = 58
	}
	buf := make([]byte, 1500)
	for {
		n, _, err := p.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		now := time.Now()
		m, err := icmp.ParseMessage(proto, buf[:n])
		if err != nil {
			continue
		}
		echo, ok := m.Body.(*icmp.Echo)
		if !ok || echo.ID != probeID || (m.Type != ipv4.ICMPTypeEchoReply && m.Type != ipv6.ICMPTypeEchoReply) {
			continue
		}
		p.mu.Lock()
		// Sequence numbers wrap at 65536: match the newest probe with them.
		for i := len(p.sent) - 1; i >= 0 && i >= len(p.sent)-65536; i-- {
			if i&0xffff == echo.Seq {
				if now.Sub(p.sent[i]) <= probeTimeout {
					p.ok[i] = true
				}
				break
			}
		}
		p.mu.Unlock()
	}
}

// Stop ends the probe.
func (p *Probe) Stop() {
	select {
	case <-p.stop:
		return
	default:
	}
	close(p.stop)
	time.Sleep(probeTimeout / 2) // let late answers in
	p.conn.Close()
	p.done.Wait()
}

// ProbeStats sum up the probes sent in a time window.
type ProbeStats struct {
	Sent, Lost int
	// LongestGap is the longest time between two answered probes (or the
	// window's edges) with only lost probes in between.
	LongestGap time.Duration
	// FirstLost and LastLost are the send times of the first and the last
	// lost probe (zero without losses).
	FirstLost, LastLost time.Time
}

func (s ProbeStats) String() string {
	return fmt.Sprintf("%d of %d probes lost, longest gap %v", s.Lost, s.Sent, s.LongestGap.Round(time.Millisecond))
}

// Stats covers probes sent from from to to whose answer time has passed.
func (p *Probe) Stats(from, to time.Time) ProbeStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	var s ProbeStats
	lastOK := from
	cutoff := time.Now().Add(-probeTimeout)
	for i, at := range p.sent {
		if at.Before(from) || at.After(to) || at.After(cutoff) {
			continue
		}
		s.Sent++
		if p.ok[i] {
			s.LongestGap = max(s.LongestGap, at.Sub(lastOK))
			lastOK = at
			continue
		}
		s.Lost++
		if s.FirstLost.IsZero() {
			s.FirstLost = at
		}
		s.LastLost = at
	}
	if s.Lost > 0 && !s.LastLost.Before(lastOK) {
		// Lost up to the window's end.
		end := to
		if cutoff.Before(end) {
			end = cutoff
		}
		s.LongestGap = max(s.LongestGap, end.Sub(lastOK))
	}
	return s
}
