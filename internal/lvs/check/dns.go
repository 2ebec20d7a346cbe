package check

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// DNS is DNS_CHECK: one query over UDP, recursion desired, class IN. The
// server passes when a response with the query's ID arrives with rcode
// NOERROR; the answer section is not looked at, so an empty answer
// passes and NXDOMAIN fails. Datagrams that are not a response to the
// query (short, another ID, QR clear) are ignored. The whole exchange
// has connect_timeout.
type DNS struct {
	Dial
	// Type is the query type (type); 0: SOA, keepalived's default.
	Type uint16
	// Name is the name queried (name); "": the root, keepalived's
	// default. A final dot is optional.
	Name string
}

// dnsBufferSize is keepalived's receive buffer: longer replies are cut,
// which does not matter since only the header is read.
const dnsBufferSize = 768

// query is the query message for id.
func (d *DNS) query(id uint16) ([]byte, error) {
	name := d.Name
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	n, err := dnsmessage.NewName(name)
	if err != nil {
		return nil, err
	}
	typ := dnsmessage.Type(d.Type)
	if typ == 0 {
		typ = dnsmessage.TypeSOA
	}
	msg := dnsmessage.Message{
		Header:    dnsmessage.Header{ID: id, RecursionDesired: true},
		Questions: []dnsmessage.Question{{Name: n, Type: typ, Class: dnsmessage.ClassINET}},
	}
	return msg.Pack()
}

// Probe sends the query and waits for its response.
func (d *DNS) Probe(ctx context.Context) Result {
	id := uint16(rand.Uint32())
	q, err := d.query(id)
	if err != nil {
		return local("DNS query for %q: %v", d.Name, err)
	}
	c, r := d.dialUDP(ctx, "DNS connection", false)
	if r != nil {
		return *r
	}
	defer c.Close()
	stop := closeOnDone(ctx, c)
	defer stop()
	c.SetDeadline(time.Now().Add(d.timeout()))
	if _, err := c.Write(q); err != nil {
		return ioFailure(ctx, "write timeout to socket", "failed to write socket", err)
	}
	buf := make([]byte, dnsBufferSize)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return ioFailure(ctx, "read timeout from socket", "failed to read socket", err)
		}
		if ok, rcode := dnsReply(buf[:n], id); ok {
			if rcode != 0 {
				return fail("read error occurred. (rcode = %d)", rcode)
			}
			return Result{OK: true}
		}
	}
}

// dnsReply reports whether msg is a response to query id (a full header,
// that ID, QR set) and its rcode.
func dnsReply(msg []byte, id uint16) (isReply bool, rcode int) {
	if len(msg) < 12 || binary.BigEndian.Uint16(msg) != id {
		return false, 0
	}
	flags := binary.BigEndian.Uint16(msg[2:])
	if flags&0x8000 == 0 {
		return false, 0
	}
	return true, int(flags & 0xf)
}
