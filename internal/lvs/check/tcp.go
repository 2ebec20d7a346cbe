package check

import "context"

// TCP is TCP_CHECK: the real server passes when a TCP connection to it
// completes within connect_timeout. Nothing is sent; the connection is
// closed at once.
type TCP struct {
	Dial
}

// Probe connects and closes.
func (t *TCP) Probe(ctx context.Context) Result {
	c, r := t.dialTCP(ctx, "TCP connection")
	if r != nil {
		return *r
	}
	c.Close()
	return ok()
}
