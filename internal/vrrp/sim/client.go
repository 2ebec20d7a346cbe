package sim

import (
	"net/netip"
	"time"
)

const clientName = "client"

// ARPRetry is how long the client keeps sending to a neighbour that does
// not answer before it resolves the address again by broadcast. Linux
// takes about this long (DELAY then PROBE states) before giving up on a
// stale entry.
const ARPRetry = 5 * time.Second

// Client is a host on the LAN that sends a probe to a virtual address at
// a fixed rate, through its ARP cache as a real client would: a probe
// reaches the host the cache names, and the cache changes only when a host
// announces the address (gratuitous ARP / unsolicited NA) or after ARPRetry
// of silence.
type Client struct {
	sim       *Sim
	vip       netip.Addr
	every     time.Duration
	nextProbe time.Duration

	arp          map[netip.Addr]string
	failingSince time.Duration
	failing      bool

	// ProbeStats since the last Reset.
	Stats ProbeStats
}

// ProbeStats are what the client saw.
type ProbeStats struct {
	Sent, Lost int
	LongestGap time.Duration // longest run of lost probes, in time
	gapStart   time.Duration
	inGap      bool
	// HeldTogether is how long two or more running hosts held the address
	// at once, sampled at each probe.
	HeldTogether time.Duration
}

func newClient(s *Sim) *Client {
	return &Client{sim: s, arp: map[netip.Addr]string{}}
}

// Probe starts probing vip every interval (0 stops probing).
func (c *Client) Probe(vip netip.Addr, every time.Duration) {
	c.vip, c.every = vip, every
	c.nextProbe = c.sim.now + every
	c.Reset()
}

// Reset clears the statistics.
func (c *Client) Reset() { c.Stats = ProbeStats{} }

// Owner is the host the client's ARP cache names for vip, if any.
func (c *Client) Owner(vip netip.Addr) string { return c.arp[vip] }

func (c *Client) announced(h *Host, vips []netip.Addr) {
	if !c.sim.connected(h.Name, clientName) {
		return
	}
	for _, v := range vips {
		c.arp[v] = h.Name
		if v == c.vip {
			c.failing = false
		}
	}
}

func (c *Client) probe() {
	s := c.sim
	c.nextProbe = s.now + c.every
	st := &c.Stats
	st.Sent++
	holders := 0
	for _, h := range s.hosts {
		if h.Holds(c.vip) {
			holders++
		}
	}
	if holders > 1 {
		st.HeldTogether += c.every
	}
	if c.served() {
		c.failing = false
		if st.inGap {
			st.inGap = false
			st.LongestGap = max(st.LongestGap, s.now-st.gapStart)
		}
		return
	}
	st.Lost++
	if !st.inGap {
		st.inGap, st.gapStart = true, s.now-c.every
	}
	if !c.failing {
		c.failing, c.failingSince = true, s.now
	}
	if _, known := c.arp[c.vip]; !known || s.now-c.failingSince >= ARPRetry {
		c.resolve()
	}
}

// served reports whether a probe sent now reaches a host with the address.
func (c *Client) served() bool {
	name, ok := c.arp[c.vip]
	if !ok {
		return false
	}
	h := c.sim.byName[name]
	return h.Holds(c.vip) && c.sim.connected(name, clientName)
}

// resolve asks the LAN who has the address (ARP request / neighbour
// solicitation): the first reachable host holding it answers.
func (c *Client) resolve() {
	for _, h := range c.sim.hosts {
		if h.Holds(c.vip) && c.sim.connected(h.Name, clientName) {
			c.arp[c.vip] = h.Name
			c.failing = false
			return
		}
	}
}

// Finish closes a gap still open at the end of a measurement.
func (c *Client) Finish() ProbeStats {
	st := c.Stats
	if st.inGap {
		st.LongestGap = max(st.LongestGap, c.sim.now-st.gapStart)
	}
	return st
}
