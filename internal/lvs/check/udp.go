package check

import (
	"context"
	"time"
)

// UDP is UDP_CHECK: send one datagram and wait connect_timeout for an
// answer. An ICMP error (port, host or network unreachable) fails the
// attempt. Without require_reply, silence until the timeout passes (so
// a passing attempt takes the whole timeout) and any reply passes. With
// it, a reply must come, its length must lie in [MinReply, MaxReply],
// and if Reply is set its first min(len(reply), len(Reply)) bytes must
// equal Reply's, bits set in ReplyMask excepted.
//
// Two departures from keepalived 2.2.7's code: it applies the length
// limits only when require_reply gives data (its manual says they apply
// whenever a reply is required, which is what Probe does); and it takes
// ICMP errors other than destination unreachable (time exceeded, say) as
// a pass and ignores bind_if, where Probe fails on any ICMP error and
// binds to the device.
type UDP struct {
	Dial
	// Payload is payload; nil: 32 bytes of keepalived's filler text.
	Payload []byte
	// RequireReply is require_reply.
	RequireReply bool
	// Reply is require_reply's data; nil: any content.
	Reply []byte
	// ReplyMask has a bit set for each bit of Reply to ignore (the x
	// nibbles of require_reply's hex string); nil: none.
	ReplyMask []byte
	// MinReply and MaxReply are min_reply_length and max_reply_length;
	// MaxReply 0 means 255, keepalived's default.
	MinReply, MaxReply int
}

// DefaultMaxReply is max_reply_length when unset.
const DefaultMaxReply = 255

// Probe sends the datagram and waits.
func (u *UDP) Probe(ctx context.Context) Result {
	c, r := u.dialUDP(ctx, "UDP connection", true)
	if r != nil {
		// Unlike the TCP checkers, keepalived fails a UDP check that
		// could not set its options, bind or connect.
		r.LocalError = false
		return *r
	}
	defer c.Close()
	stop := closeOnDone(ctx, c)
	defer stop()
	c.SetDeadline(time.Now().Add(u.timeout()))
	payload := u.Payload
	if payload == nil {
		payload = fill(32)
	}
	if _, err := c.Write(payload); err != nil {
		return ioFailure(ctx, "UDP send timeout", "UDP send failed", err)
	}
	maxLen := u.MaxReply
	if maxLen <= 0 {
		maxLen = DefaultMaxReply
	}
	buf := make([]byte, maxLen+1) // a longer reply reads as too long
	n, err := c.Read(buf)
	if err != nil {
		if ctx.Err() == nil && isTimeout(err) {
			if u.RequireReply {
				return fail("UDP check no reply")
			}
			return ok()
		}
		return ioFailure(ctx, "UDP connection timeout", "UDP connection failed", err)
	}
	if u.RequireReply && !u.replyMatches(buf[:n], maxLen) {
		return fail("UDP check reply data mismatch (%d bytes)", n)
	}
	return ok()
}

func (u *UDP) replyMatches(got []byte, maxLen int) bool {
	if len(got) < u.MinReply || len(got) > maxLen {
		return false
	}
	for i := 0; i < len(got) && i < len(u.Reply); i++ {
		var mask byte
		if i < len(u.ReplyMask) {
			mask = u.ReplyMask[i]
		}
		if (got[i]^u.Reply[i])&^mask != 0 {
			return false
		}
	}
	return true
}
