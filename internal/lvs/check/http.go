package check

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/tls"
	"fmt"
	"hash"
	"io"
	"net"
	"regexp"
	"strconv"
	"time"
)

// HTTP is HTTP_GET, or SSL_GET when TLS is set: a GET of each URL, each
// on a connection of its own, which the server must answer with an
// accepted status (and digest, and regex) and then close.
//
// On the wire, as keepalived sends it:
//
//	GET <path> HTTP/1.0            (HTTP/1.1 for http_protocol 1.1)
//	User-Agent: KeepAliveClient
//	Connection: close              (http_protocol 1.0C and 1.1 only)
//	Host: <virtualhost>            (none: <address>:<port>, [v6]:<port>)
//
// The response is read to end of file: keepalived does not understand
// Content-Length for framing (only to bound the digest) nor chunked
// encoding, so a server that keeps the connection open fails by timeout
// and the digest of a chunked body covers the chunk framing.
type HTTP struct {
	Dial
	// TLS makes this SSL_GET; nil is plain HTTP. keepalived never
	// verifies the server's certificate, not even when the SSL block
	// names a cafile (it loads it but leaves OpenSSL's verify mode off),
	// so a config mirroring it sets InsecureSkipVerify, with certfile and
	// keyfile as the client certificate. A config without
	// InsecureSkipVerify verifies (against RootCAs) as Go does. Probe
	// sets ServerName itself (see SNI).
	TLS *tls.Config
	// VirtualHost is the checker's virtualhost, or the real or virtual
	// server's the caller falls back to; a URL's own overrides it.
	VirtualHost string
	// SNI is enable_sni: send the effective virtual host as the TLS
	// server name (and verify against it). Without it, or without a
	// virtual host, no SNI is sent and a verifying config checks the
	// address. (keepalived's SNI falls back from the URL's and the
	// checker's virtualhost to the virtual server's, skipping the real
	// server's; the caller chooses what VirtualHost holds.)
	SNI bool
	// Protocol is http_protocol: "1.0" (or ""), "1.0C" ("1.0c": 1.0 with
	// Connection: close) or "1.1" (which also sends Connection: close).
	Protocol string
	// URLs are checked in order; the first failure fails the attempt.
	// None at all passes, as in keepalived.
	URLs []URL
}

// StatusRange is an accepted range of HTTP status codes, both ends
// included.
type StatusRange struct{ Min, Max int }

// defaultStatus is what a URL accepts when it names no status_code,
// whether or not it has a digest.
var defaultStatus = []StatusRange{{200, 299}}

// URL is one url block.
type URL struct {
	Path string
	// Digest is the MD5 the body must have (digest); nil: not checked.
	// With a Content-Length header only that many body bytes count.
	Digest []byte
	// Status is status_code; nil: 200-299. Codes outside 100..599
	// never pass.
	Status []StatusRange
	// VirtualHost overrides HTTP.VirtualHost for this URL.
	VirtualHost string
	// Regex (regex) must match the body, or with RegexNoMatch must not.
	// It is Go's RE2, not PCRE2: no backreferences or lookaround, input
	// is taken as UTF-8, and regex_options map onto flags such as (?i),
	// (?m), (?s) and (?U). The body is streamed through it, so its size
	// is no limit.
	Regex        *regexp.Regexp
	RegexNoMatch bool
	// RegexMinOffset is regex_min_offset: a match must start at or after
	// this body offset (earlier bytes still count as context for \b and
	// the like; ^ does not match there).
	RegexMinOffset int
	// RegexEnd is regex_max_offset + 1, as keepalived keeps it: a match
	// must start before this body offset; 0: anywhere.
	RegexEnd int
}

// maxHeader bounds the status line and headers: keepalived reads the
// response into a 4096-byte buffer (one byte kept for a terminator), and
// a response whose headers have not ended when it is full reads as one
// without data.
const maxHeader = 4095

// Probe checks every URL in order, each on a new connection.
func (h *HTTP) Probe(ctx context.Context) Result {
	for i := range h.URLs {
		if r := h.ProbeURL(ctx, &h.URLs[i]); !r.OK {
			return r
		}
	}
	return ok()
}

// ProbeURL checks one URL. keepalived itself checks one URL per
// delay_loop, moving to the next on success; a caller wanting that
// cadence calls this instead of Probe.
func (h *HTTP) ProbeURL(ctx context.Context, u *URL) Result {
	r := h.get(ctx, u)
	if !r.OK {
		r.Reason += " url(" + u.Path + ")"
	}
	return r
}

func (h *HTTP) vhost(u *URL) string {
	if u.VirtualHost != "" {
		return u.VirtualHost
	}
	return h.VirtualHost
}

// request is the request text for u, as keepalived words it.
func (h *HTTP) request(u *URL) string {
	minor, conn := 0, ""
	switch h.Protocol {
	case "1.1":
		minor, conn = 1, "Connection: close\r\n"
	case "1.0C", "1.0c":
		conn = "Connection: close\r\n"
	}
	host := h.vhost(u)
	if host == "" {
		a := h.Addr.Addr().Unmap().WithZone("")
		if a.Is6() {
			host = fmt.Sprintf("[%s]:%d", a, h.Addr.Port())
		} else {
			host = fmt.Sprintf("%s:%d", a, h.Addr.Port())
		}
	}
	return fmt.Sprintf("GET %s HTTP/1.%d\r\nUser-Agent: KeepAliveClient\r\n%sHost: %s\r\n\r\n", u.Path, minor, conn, host)
}

func (h *HTTP) tlsConfig(u *URL) *tls.Config {
	cfg := h.TLS.Clone()
	cfg.ServerName = ""
	if vh := h.vhost(u); h.SNI && vh != "" {
		cfg.ServerName = vh
	}
	if cfg.ServerName == "" && !cfg.InsecureSkipVerify {
		// Verify against the address; Go sends no SNI for an IP.
		cfg.ServerName = h.Addr.Addr().Unmap().WithZone("").String()
	}
	return cfg
}

func (h *HTTP) get(ctx context.Context, u *URL) Result {
	start := time.Now()
	conn, r := h.dialTCP(ctx, "Connection")
	if r != nil {
		return *r
	}
	defer conn.Close()
	stop := closeOnDone(ctx, conn)
	defer stop()
	timeout := h.timeout()

	var c net.Conn = conn
	if h.TLS != nil {
		// The handshake has what is left of connect_timeout.
		conn.SetDeadline(start.Add(timeout))
		tc := tls.Client(conn, h.tlsConfig(u))
		if err := tc.Handshake(); err != nil {
			return ioFailure(ctx, "Timeout connecting", "SSL handshake/communication error", err)
		}
		c = tc
	}

	c.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(c, h.request(u)); err != nil {
		return ioFailure(ctx, "Timeout WEB write", "Cannot send get request", err)
	}

	rd := &stepReader{c: c, timeout: timeout, lenient: h.TLS != nil}
	timeoutMsg, errMsg := "Timeout HTTP read", "Read error"
	if h.TLS != nil {
		timeoutMsg, errMsg = "Timeout SSL read", "SSL read error"
	}
	readFailure := func() Result {
		if ctx.Err() != nil {
			return fail("%s: %v", timeoutMsg, ctx.Err())
		}
		if isTimeout(rd.err) {
			return fail("%s", timeoutMsg)
		}
		return fail("%s (%v)", errMsg, rd.err)
	}

	// The status line and headers.
	buf := make([]byte, maxHeader)
	n, end := 0, -1
	for end < 0 {
		if n == len(buf) {
			return fail("Read, no data received (no end of headers in %d bytes)", maxHeader)
		}
		m, err := rd.Read(buf[n:])
		from := max(n-3, 0)
		n += m
		if i := bytes.Index(buf[from:n], []byte("\r\n\r\n")); i >= 0 {
			end = from + i + 4
			break
		}
		if err != nil {
			if rd.err != nil || ctx.Err() != nil {
				return readFailure()
			}
			return fail("Read, no data received")
		}
	}
	header := buf[:end]
	status := statusCode(header)
	clen := contentLength(header)

	// The body, to end of file.
	var body io.Reader = io.MultiReader(bytes.NewReader(buf[end:n]), rd)
	var md hash.Hash
	if u.Digest != nil {
		md = md5.New()
		body = io.TeeReader(body, &limitWriter{w: md, n: clen})
	}
	matched := false
	if u.Regex != nil {
		matched = matchStream(body, u.Regex, u.RegexMinOffset, u.RegexEnd)
	}
	io.Copy(io.Discard, body)
	if rd.err != nil || ctx.Err() != nil {
		return readFailure()
	}

	if !statusAccepted(status, u.Status) {
		return fail("HTTP status code error (%d)", status)
	}
	if md != nil && !bytes.Equal(md.Sum(nil), u.Digest) {
		return fail("MD5 digest error")
	}
	if u.Regex != nil && matched == u.RegexNoMatch {
		return fail("Regex match failed")
	}
	return ok()
}

func statusAccepted(code int, ranges []StatusRange) bool {
	if code < 100 || code > 599 {
		return false
	}
	if ranges == nil {
		ranges = defaultStatus
	}
	for _, r := range ranges {
		if code >= r.Min && code <= r.Max {
			return true
		}
	}
	return false
}

// statusCode is the status of a response's header as keepalived reads
// it: the three digits after the first space of the first line, which
// must be followed by a space; 0 if there are none.
func statusCode(header []byte) int {
	line := header
	if i := bytes.IndexByte(line, '\r'); i >= 0 {
		line = line[:i]
	}
	sp := bytes.IndexByte(line, ' ')
	if sp < 0 {
		return 0
	}
	rest := header[sp+1:]
	if len(rest) < 4 || rest[3] != ' ' {
		return 0
	}
	code := 0
	for _, b := range rest[:3] {
		if b < '0' || b > '9' {
			return 0
		}
		code = code*10 + int(b-'0')
	}
	return code
}

// contentLength is the Content-Length header's value, or -1 if there is
// none (or it is not a number).
func contentLength(header []byte) int64 {
	const name = "content-length:"
	for line := range bytes.SplitSeq(header, []byte("\n")) {
		if len(line) < len(name) || !bytes.EqualFold(line[:len(name)], []byte(name)) {
			continue
		}
		v := bytes.TrimSpace(line[len(name):])
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil || n < 0 {
			return -1
		}
		return n
	}
	return -1
}

// stepReader reads with a fresh timeout for each read, as keepalived
// re-arms connect_timeout for each. It reports every end as io.EOF and
// keeps in err whatever ended reading otherwise.
type stepReader struct {
	c       net.Conn
	timeout time.Duration
	// lenient takes an error other than a timeout as end of file, as
	// keepalived's SSL reader does.
	lenient bool
	done    bool
	err     error
}

func (r *stepReader) Read(p []byte) (int, error) {
	if r.done {
		return 0, io.EOF
	}
	r.c.SetReadDeadline(time.Now().Add(r.timeout))
	n, err := r.c.Read(p)
	if err != nil {
		r.done = true
		if err != io.EOF && (!r.lenient || isTimeout(err)) {
			r.err = err
		}
		return n, io.EOF
	}
	return n, nil
}

// limitWriter passes on the first n bytes (all if n < 0) and swallows
// the rest.
type limitWriter struct {
	w io.Writer
	n int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	q := p
	if l.n >= 0 {
		if int64(len(q)) > l.n {
			q = q[:l.n]
		}
		l.n -= int64(len(q))
	}
	if len(q) > 0 {
		l.w.Write(q)
	}
	return len(p), nil
}

// matchStream reports whether re matches the stream starting at an
// offset in [from, end) (end 0: no limit). It reads only as far as the
// match needs.
func matchStream(r io.Reader, re *regexp.Regexp, from, end int) bool {
	br := bufio.NewReader(r)
	if from <= 0 {
		loc := re.FindReaderIndex(br)
		return loc != nil && (end <= 0 || loc[0] < end)
	}
	// Start one byte early and let that byte be consumed as context, so
	// that \b and the like see it and ^ does not match at from.
	ctxRe, err := regexp.Compile(`(?s:.)(` + re.String() + `)`)
	if err != nil {
		return false
	}
	skip := from - 1
	if _, err := io.CopyN(io.Discard, br, int64(skip)); err != nil {
		return false
	}
	loc := ctxRe.FindReaderSubmatchIndex(br)
	if loc == nil || loc[2] < 0 {
		return false
	}
	start := skip + loc[2]
	return end <= 0 || start < end
}
