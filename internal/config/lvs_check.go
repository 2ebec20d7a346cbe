package config

import (
	"encoding/hex"
	"math"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Checker is one health checker of a real server (TCP_CHECK, HTTP_GET,
// SSL_GET, MISC_CHECK, DNS_CHECK, SMTP_CHECK, UDP_CHECK, PING_CHECK,
// FILE_CHECK, BFD_CHECK), with every default settled.
type Checker struct {
	Pos  Pos
	Kind string
	// Connect is where it connects: connect_ip and connect_port, else
	// the real server's address and port.
	Connect  netip.AddrPort
	BindAddr netip.Addr
	BindPort uint16
	BindIf   string
	FWMark   uint32
	// ConnectTimeout bounds one attempt (connect_timeout, 5 s unless the
	// virtual or real server gives one).
	ConnectTimeout time.Duration
	// Retry is how many failed attempts in a row it takes beyond the
	// first before the real server counts as down (retry: 1, DNS 3,
	// MISC 0), DelayBeforeRetry the wait between them.
	Retry            int
	DelayBeforeRetry time.Duration
	// DelayLoop is the time between checks (60 s unless given); Warmup
	// bounds the random delay before the first.
	DelayLoop, Warmup time.Duration
	// Alpha: the checker starts failed, so a real server takes traffic
	// only after a first success.
	Alpha          bool
	LogAllFailures bool

	HTTP *HTTPCheck
	Misc *MiscCheck
	DNS  *DNSCheck
	SMTP *SMTPCheck
	UDP  *UDPCheck
	File *FileCheck
	BFD  string // BFD_CHECK's bfd_instance
}

// HTTPCheck is HTTP_GET, and SSL_GET when TLS.
type HTTPCheck struct {
	TLS         bool
	VirtualHost string // the checker's, else the real server's, else the virtual server's
	Protocol    string // "1.0", "1.0C" or "1.1"
	SNI         bool
	// FastRecovery retries a failed real server at once instead of after
	// delay_loop.
	FastRecovery bool
	URLs         []*URL
}

// URL is an HTTP check's url block.
type URL struct {
	Pos         Pos
	Path        string
	Digest      []byte   // MD5 of the body; nil: not checked
	Status      [][2]int // accepted status code ranges; 200-299 unless given
	VirtualHost string   // overrides the checker's
	Regex       *regexp.Regexp
	// RegexNoMatch fails the check when the regex matches.
	RegexNoMatch bool
	// RegexMinOffset and RegexMaxOffset bound where a match may start
	// (max 0: anywhere).
	RegexMinOffset, RegexMaxOffset int
}

// MiscCheck runs a program; its exit status decides.
type MiscCheck struct {
	Command *Command
	// Timeout kills the program (misc_timeout, else delay_loop).
	Timeout time.Duration
	// Dynamic: exit status 2..255 sets the real server's weight to
	// status-2 (misc_dynamic).
	Dynamic bool
}

// DNSCheck asks the real server for Name's record of Type.
type DNSCheck struct {
	Type string
	Name string
}

// SMTPCheck greets the real server as HELO Helo.
type SMTPCheck struct{ Helo string }

// UDPCheck sends Payload; with RequireReply a reply must come, between
// MinReply and MaxReply bytes long and starting with Reply if given.
type UDPCheck struct {
	Payload      []byte
	RequireReply bool
	Reply        []byte
	// ReplyMask has a 1 bit for each bit of Reply that may differ (an X
	// digit); nil: none may.
	ReplyMask          []byte
	MinReply, MaxReply int
}

// FileCheck sets the real server's weight from a track_file.
type FileCheck struct {
	Name    string
	Weight  int
	Reverse bool
	// WeightSet: a weight was given (else the file's own weight).
	WeightSet bool
}

var checkerKinds = map[string]string{
	"TCP_CHECK": "TCP", "HTTP_GET": "HTTP", "SSL_GET": "HTTPS", "MISC_CHECK": "MISC",
	"DNS_CHECK": "DNS", "SMTP_CHECK": "SMTP", "UDP_CHECK": "UDP", "PING_CHECK": "PING",
	"FILE_CHECK": "FILE", "BFD_CHECK": "BFD",
}

// regexFlags are the PCRE2 options Go's RE2 can honour, as its flags.
var regexFlags = map[string]string{"caseless": "i", "multiline": "m", "dotall": "s", "ungreedy": "U"}

var dnsTypes = []string{"A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA", "RRSIG", "DNSKEY"}

// checker reads one checker block of rs.
func (b *builder) checker(n *Node, vs *VirtualServer, rs *RealServer, d *checkerDefaults) (*Checker, bool) {
	if len(n.Args) > 0 {
		b.errorf(n.Pos, "%s takes a block and no value", n.Keyword)
		return nil, false
	}
	ck := &Checker{Pos: n.Pos, Kind: n.Keyword}
	what := "real_server " + rs.Describe() + " " + n.Keyword
	retry, delayBeforeRetry := 1, time.Second
	useDelayLoop := false // delay_before_retry defaults to the delay loop
	var cd checkerDefaults
	var connectIP netip.Addr
	var connectPort uint16
	ok := true
	switch n.Keyword {
	case "HTTP_GET", "SSL_GET":
		delayBeforeRetry = 3 * time.Second
		ck.HTTP = &HTTPCheck{TLS: n.Keyword == "SSL_GET", Protocol: "1.0"}
	case "MISC_CHECK":
		retry = 0
		ck.Misc = &MiscCheck{}
	case "DNS_CHECK":
		retry, useDelayLoop = 3, true
		ck.DNS = &DNSCheck{Type: "SOA"}
	case "SMTP_CHECK":
		ck.SMTP = &SMTPCheck{}
	case "UDP_CHECK":
		ck.UDP = &UDPCheck{MaxReply: math.MaxUint16}
	case "FILE_CHECK":
		ck.File = &FileCheck{}
	}
	for _, c := range n.Children {
		if b.checkerDefault(c, &cd, what) {
			if c.Keyword == "connect_timeout" && !takesConnectTimeout(ck) {
				b.other(schema.keywords["virtual_server"].block.keywords["real_server"].block.keywords[n.Keyword].block, c)
			}
			continue
		}
		switch c.Keyword {
		case "connect_ip", "bindto":
			if !b.args(c, 1, 1) {
				continue
			}
			a, good := b.addr(c, c.Args[0])
			if !good {
				continue
			}
			other := ck.BindAddr
			if c.Keyword == "bindto" {
				other = connectIP
			}
			if other.IsValid() && other.Is4() != a.Is4() {
				b.errorf(c.Pos, "%s: %s %s is not of the family of %s", what, c.Keyword, a, other)
				continue
			}
			if c.Keyword == "connect_ip" {
				connectIP = a
			} else {
				ck.BindAddr = a
			}
		case "connect_port", "bind_port":
			if v, good := b.uintArg(c, 1, 65535); good {
				if c.Keyword == "connect_port" {
					connectPort = uint16(v)
				} else {
					ck.BindPort = uint16(v)
				}
			}
		case "bind_if":
			if !b.args(c, 1, 1) {
				continue
			}
			if len(c.Args[0]) >= 16 {
				b.errorf(c.Pos, "%s: bind_if %s: an interface name is at most 15 characters", what, c.Args[0])
				continue
			}
			ck.BindIf = c.Args[0]
		case "fwmark":
			if v, good := b.uintArg(c, 0, math.MaxUint32); good {
				ck.FWMark = uint32(v)
			}
		case "alpha", "log_all_failures":
			if v, good := b.optFlag(c); good {
				if c.Keyword == "alpha" {
					cd.alpha = &v
				} else {
					ck.LogAllFailures = v
				}
			}
		default:
			if !b.checkerOwn(c, ck, what) {
				ok = false
			}
		}
	}
	// Defaults: the checker's own, else the real server's (which took
	// the virtual server's), else the checker kind's.
	pick := func(own, rsd *time.Duration, def time.Duration) time.Duration {
		switch {
		case own != nil:
			return *own
		case rsd != nil:
			return *rsd
		}
		return def
	}
	ck.ConnectTimeout = pick(cd.connectTimeout, d.connectTimeout, 5*time.Second)
	ck.DelayLoop = pick(cd.delayLoop, d.delayLoop, 60*time.Second)
	ck.Warmup = pick(cd.warmup, d.warmup, ck.DelayLoop)
	if useDelayLoop {
		delayBeforeRetry = ck.DelayLoop
	}
	ck.DelayBeforeRetry = pick(cd.delayBeforeRetry, d.delayBeforeRetry, delayBeforeRetry)
	switch {
	case cd.retry != nil:
		ck.Retry = *cd.retry
	case d.retry != nil:
		ck.Retry = *d.retry
	default:
		ck.Retry = retry
	}
	ck.Alpha = rs.Alpha
	if cd.alpha != nil {
		ck.Alpha = *cd.alpha
	}
	port := rs.Port
	if port == 0 {
		port = vs.Port
	}
	if connectPort != 0 {
		port = connectPort
	}
	addr := rs.Addr
	if connectIP.IsValid() {
		addr = connectIP
	}
	ck.Connect = netip.AddrPortFrom(addr, port)
	if ck.BindAddr.IsValid() && ck.BindAddr.Is4() != addr.Is4() {
		b.errorf(n.Pos, "%s: bindto %s is not of the family of %s", what, ck.BindAddr, addr)
		ok = false
	}
	if addr.Is6() && addr.IsLinkLocalUnicast() && ck.BindIf == "" && ck.Misc == nil && ck.File == nil && n.Keyword != "BFD_CHECK" {
		b.errorf(n.Pos, "%s: the link-local address %s needs bind_if", what, addr)
		ok = false
	}
	switch {
	case ck.HTTP != nil:
		if len(ck.HTTP.URLs) == 0 {
			b.errorf(n.Pos, "%s has no url", what)
			ok = false
		}
		if ck.HTTP.VirtualHost == "" {
			ck.HTTP.VirtualHost = rs.VirtualHost
		}
		if ck.HTTP.VirtualHost == "" {
			ck.HTTP.VirtualHost = vs.VirtualHost
		}
	case ck.Misc != nil:
		if ck.Misc.Command == nil {
			b.errorf(n.Pos, "%s has no misc_path", what)
			ok = false
		} else if b.defs.scriptSecurity {
			b.checkCommand(ck.Misc.Command, what)
		}
		if ck.Misc.Timeout == 0 {
			ck.Misc.Timeout = ck.DelayLoop
		}
	case ck.SMTP != nil:
		if ck.SMTP.Helo == "" {
			ck.SMTP.Helo = b.cfg.Global.Email.Helo
		}
		if connectPort == 0 && port == 0 {
			ck.Connect = netip.AddrPortFrom(addr, 25)
		}
	case ck.UDP != nil:
		if ck.UDP.MinReply > ck.UDP.MaxReply {
			b.errorf(n.Pos, "%s: min_reply_length %d is above max_reply_length %d, so it always fails", what, ck.UDP.MinReply, ck.UDP.MaxReply)
			ok = false
		}
	case ck.File != nil:
		if ck.File.Name == "" {
			b.errorf(n.Pos, "%s has no track_file", what)
			ok = false
		}
	case n.Keyword == "BFD_CHECK":
		if ck.BFD == "" {
			b.errorf(n.Pos, "%s has no name", what)
			ok = false
		}
	}
	if ck.DNS != nil && ck.Connect.Port() == 0 {
		ck.Connect = netip.AddrPortFrom(addr, 53)
	}
	return ck, ok
}

// checkerOwn reads the keywords of one kind of checker.
func (b *builder) checkerOwn(c *Node, ck *Checker, what string) bool {
	switch {
	case ck.HTTP != nil:
		return b.httpOption(c, ck.HTTP, what)
	case ck.Misc != nil:
		switch c.Keyword {
		case "misc_path":
			argv, good := b.scriptWords(c, what)
			if good {
				ck.Misc.Command = &Command{Pos: c.Pos, Argv: argv}
			}
			return good
		case "misc_timeout":
			v, good := b.uintArg(c, 0, math.MaxUint32/1000000)
			if good {
				ck.Misc.Timeout = time.Duration(v) * time.Second
			}
			return good
		case "misc_dynamic":
			ck.Misc.Dynamic = b.args(c, 0, 0)
			return true
		case "user":
			if !b.args(c, 1, 2) {
				return false
			}
			if ck.Misc.Command == nil {
				b.errorf(c.Pos, "%s: user comes before misc_path", what)
				return false
			}
			ck.Misc.Command.User = c.Args[0]
			if len(c.Args) == 2 {
				ck.Misc.Command.Group = c.Args[1]
			}
			return true
		}
	case ck.DNS != nil:
		switch c.Keyword {
		case "type":
			if !b.args(c, 1, 1) {
				return false
			}
			t := strings.ToUpper(c.Args[0])
			if !contains(dnsTypes, t) {
				b.errorf(c.Pos, "%s: type %q must be one of %s", what, c.Args[0], strings.Join(dnsTypes, ", "))
				return false
			}
			ck.DNS.Type = t
			return true
		case "name":
			if !b.args(c, 1, 1) {
				return false
			}
			name := c.Args[0]
			if ck.DNS.Name != "" {
				b.errorf(c.Pos, "%s: name given twice", what)
				return false
			}
			if name != "." && (strings.HasPrefix(name, ".") || strings.Contains(name, "..")) {
				b.errorf(c.Pos, "%s: name %q has an empty label", what, name)
				return false
			}
			ck.DNS.Name = name
			return true
		}
	case ck.SMTP != nil:
		switch c.Keyword {
		case "helo_name":
			if !b.args(c, 1, 1) {
				return false
			}
			ck.SMTP.Helo = c.Args[0]
			return true
		case "host":
			return true // read by smtpHosts
		}
	case ck.UDP != nil:
		switch c.Keyword {
		case "payload", "require_reply":
			var data, mask []byte
			if len(c.Args) > 0 || c.Keyword == "payload" {
				var good bool
				data, mask, good = parseHexBytes(c.Args, c.Keyword == "require_reply")
				if !good {
					b.errorf(c.Pos, "%s: %s %q: must be hex bytes (XX, or X for any digit in a reply)", what, c.Keyword, strings.Join(c.Args, " "))
					return false
				}
			}
			if c.Keyword == "payload" {
				ck.UDP.Payload = data
			} else {
				ck.UDP.RequireReply, ck.UDP.Reply, ck.UDP.ReplyMask = true, data, mask
			}
			return true
		case "min_reply_length", "max_reply_length":
			v, good := b.uintArg(c, 0, math.MaxUint16)
			if good {
				if c.Keyword == "min_reply_length" {
					ck.UDP.MinReply = int(v)
				} else {
					ck.UDP.MaxReply = int(v)
				}
			}
			return good
		}
	case ck.File != nil:
		switch c.Keyword {
		case "track_file":
			if !b.args(c, 1, 1) {
				return false
			}
			ck.File.Name = c.Args[0]
			return true
		case "weight":
			if !b.args(c, 1, 2) {
				return false
			}
			v, err := strconv.Atoi(c.Args[0])
			if err != nil || v < -65535 || v > 65535 {
				b.errorf(c.Pos, "%s: weight %q must be -65535..65535", what, c.Args[0])
				return false
			}
			ck.File.Weight, ck.File.WeightSet = v, true
			if len(c.Args) == 2 {
				if c.Args[1] != "reverse" {
					b.errorf(c.Pos, "%s: weight %d %s: only reverse may follow", what, v, c.Args[1])
					return false
				}
				ck.File.Reverse = true
			}
			return true
		}
	case ck.Kind == "BFD_CHECK":
		if c.Keyword == "name" {
			if !b.args(c, 1, 1) {
				return false
			}
			if ck.BFD != "" {
				b.errorf(c.Pos, "%s: name given twice", what)
				return false
			}
			ck.BFD = c.Args[0]
			return true
		}
	}
	b.other(schema.keywords["virtual_server"].block.keywords["real_server"].block.keywords[ck.Kind].block, c)
	return false
}

// parseHexBytes reads keepalived's hex strings: words of hex digits, two
// to a byte (a lone digit before a blank is a byte of its own); with
// wildcards an X stands for any digit, and mask marks its bits.
func parseHexBytes(words []string, wildcards bool) (data, mask []byte, ok bool) {
	if len(words) == 0 {
		return nil, nil, false
	}
	digit := func(c byte) (v, m byte, ok bool) {
		switch {
		case c >= '0' && c <= '9':
			return c - '0', 0, true
		case c >= 'a' && c <= 'f':
			return c - 'a' + 10, 0, true
		case c >= 'A' && c <= 'F':
			return c - 'A' + 10, 0, true
		case wildcards && c == 'X':
			return 0, 0xf, true
		}
		return 0, 0, false
	}
	anyMask := false
	for _, w := range words {
		for i := 0; i < len(w); i += 2 {
			v, m, good := digit(w[i])
			if !good {
				return nil, nil, false
			}
			if i+1 < len(w) {
				v2, m2, good := digit(w[i+1])
				if !good {
					return nil, nil, false
				}
				v, m = v<<4|v2, m<<4|m2
			}
			data, mask = append(data, v), append(mask, m)
			anyMask = anyMask || m != 0
		}
	}
	if !anyMask {
		mask = nil
	}
	return data, mask, true
}

// scriptWords splits misc_path as keepalived does: the words of the
// line, with a single quoted word split again.
func (b *builder) scriptWords(n *Node, what string) ([]string, bool) {
	if len(n.Args) == 0 || n.Block {
		b.errorf(n.Pos, "%s: %s takes a program and its arguments", what, n.Keyword)
		return nil, false
	}
	words, ok := b.scriptLine(n, what)
	if !ok {
		return nil, false
	}
	if len(words) == 1 {
		argv, err := SplitWords(words[0])
		if err == nil && len(argv) == 0 {
			b.errorf(n.Pos, "%s: %s is empty", what, n.Keyword)
			return nil, false
		}
		if err != nil {
			b.errorf(n.Pos, "%s: %v", what, err)
			return nil, false
		}
		return argv, true
	}
	return words, true
}

func (b *builder) httpOption(c *Node, h *HTTPCheck, what string) bool {
	switch c.Keyword {
	case "virtualhost":
		if !b.args(c, 1, 1) {
			return false
		}
		h.VirtualHost = c.Args[0]
	case "http_protocol":
		if !b.args(c, 1, 1) {
			return false
		}
		switch c.Args[0] {
		case "1.0", "1.1":
			h.Protocol = c.Args[0]
		case "1.0C", "1.0c":
			h.Protocol = "1.0C"
		default:
			b.errorf(c.Pos, "%s: http_protocol %q must be 1.0, 1.0C or 1.1", what, c.Args[0])
			return false
		}
	case "enable_sni", "fast_recovery":
		v, good := b.optFlag(c)
		if !good {
			return false
		}
		if c.Keyword == "enable_sni" {
			h.SNI = v
		} else {
			h.FastRecovery = v
		}
	case "url":
		u, good := b.url(c, what)
		if good {
			h.URLs = append(h.URLs, u)
		}
		return good
	default:
		b.other(schema.keywords["virtual_server"].block.keywords["real_server"].block.keywords["HTTP_GET"].block, c)
		return false
	}
	return true
}

func (b *builder) url(n *Node, what string) (*URL, bool) {
	u := &URL{Pos: n.Pos}
	if len(n.Args) > 0 || !n.Block {
		b.errorf(n.Pos, "%s: url takes a block", what)
		return nil, false
	}
	ok := true
	var regex string
	var regexAt Pos
	var flags string
	var offsets bool
	for _, c := range n.Children {
		switch c.Keyword {
		case "path":
			if b.args(c, 1, 1) {
				u.Path = c.Args[0]
			} else {
				ok = false
			}
		case "digest":
			if !b.args(c, 1, 1) {
				ok = false
				continue
			}
			v, err := hex.DecodeString(c.Args[0])
			if err != nil || len(v) != 16 {
				b.errorf(c.Pos, "%s: digest %q must be 32 hex digits (an MD5 sum, as genhash prints it)", what, c.Args[0])
				ok = false
				continue
			}
			if u.Digest != nil {
				b.errorf(c.Pos, "%s: digest given twice", what)
				ok = false
				continue
			}
			u.Digest = v
		case "status_code":
			if len(c.Args) == 0 {
				continue
			}
			for _, s := range c.Args {
				lo, hi, isRange := strings.Cut(s, "-")
				if !isRange {
					hi = lo
				}
				l, err1 := strconv.Atoi(lo)
				h, err2 := strconv.Atoi(hi)
				if err1 != nil || err2 != nil || l < 100 || h > 599 || l > h {
					b.errorf(c.Pos, "%s: status_code %q must be a code or a range from 100 to 599", what, s)
					ok = false
					continue
				}
				u.Status = append(u.Status, [2]int{l, h})
			}
		case "virtualhost":
			if b.args(c, 1, 1) {
				u.VirtualHost = c.Args[0]
			} else {
				ok = false
			}
		case "regex":
			words := c.Args
			if c.Raw != "" {
				if w, err := SplitWords(c.Raw); err == nil {
					words = w
				}
			}
			if len(words) != 1 {
				b.errorf(c.Pos, "%s: regex takes one pattern (quote it)", what)
				ok = false
				continue
			}
			regex, regexAt = words[0], c.Pos
		case "regex_no_match":
			u.RegexNoMatch = true
		case "regex_options":
			for _, o := range c.Args {
				f, known := regexFlags[o]
				if !known {
					b.errorf(c.Pos, "%s: regex_options %s: vipd's regular expressions (Go's RE2) take caseless, multiline, dotall and ungreedy", what, o)
					ok = false
					continue
				}
				flags += f
			}
		case "regex_min_offset", "regex_max_offset":
			v, good := b.uintArg(c, 0, math.MaxInt32)
			if !good {
				ok = false
				continue
			}
			offsets = true
			if c.Keyword == "regex_min_offset" {
				u.RegexMinOffset = int(v)
			} else {
				u.RegexMaxOffset = int(v) + 1
			}
		case "regex_stack":
			b.warnf(c.Pos, "%s: regex_stack sizes PCRE2's JIT stack; Go's regular expressions need none", what)
		default:
			b.other(schema.keywords["virtual_server"].block.keywords["real_server"].block.keywords["HTTP_GET"].block.keywords["url"].block, c)
			ok = false
		}
	}
	if u.Path == "" {
		b.errorf(n.Pos, "%s: url has no path", what)
		return nil, false
	}
	if len(u.Status) == 0 {
		u.Status = [][2]int{{200, 299}}
	}
	if regex == "" && (u.RegexNoMatch || offsets || flags != "") {
		b.errorf(n.Pos, "%s: regex options without a regex", what)
		ok = false
	}
	if regex != "" {
		if flags != "" {
			regex = "(?" + flags + ")" + regex
		}
		re, err := regexp.Compile(regex)
		if err != nil {
			b.errorf(regexAt, "%s: regex: %v (vipd uses Go's RE2 syntax, close to PCRE2 without backreferences or lookaround)", what, err)
			ok = false
		}
		u.Regex = re
	}
	if u.RegexMaxOffset > 0 && u.RegexMinOffset >= u.RegexMaxOffset {
		b.errorf(n.Pos, "%s: regex_min_offset %d is not below regex_max_offset %d", what, u.RegexMinOffset, u.RegexMaxOffset-1)
		ok = false
	}
	return u, ok
}

// SSL is the SSL block: the key and certificate SSL_GET checkers present
// and the CA they trust; empty fields: none.
type SSL struct {
	Pos                            Pos
	Password, CA, Certificate, Key string
}

func (b *builder) ssl(blk *Node) {
	if len(blk.Args) > 0 || !blk.Block {
		b.errorf(blk.Pos, "SSL takes a block")
		return
	}
	if b.cfg.SSL.Pos.File != "" {
		b.errorf(blk.Pos, "SSL given twice (first at %s)", b.cfg.SSL.Pos)
		return
	}
	s := SSL{Pos: blk.Pos}
	for _, n := range blk.Children {
		var dst *string
		switch n.Keyword {
		case "password":
			dst = &s.Password
		case "ca":
			dst = &s.CA
		case "certificate":
			dst = &s.Certificate
		case "key":
			dst = &s.Key
		default:
			b.other(schema.keywords["SSL"].block, n)
			continue
		}
		if !b.args(n, 1, 1) {
			continue
		}
		if *dst != "" {
			b.errorf(n.Pos, "SSL %s given twice", n.Keyword)
			continue
		}
		*dst = n.Args[0]
		if n.Keyword == "password" {
			b.notSupportedAt(n.Pos, "SSL password (an encrypted private key)")
		}
	}
	b.cfg.SSL = s
}

// smtpHosts makes an SMTP_CHECK's deprecated host blocks checkers of
// their own, each taking the SMTP_CHECK's settings with its own
// connection settings over them; every host must answer.
func (b *builder) smtpHosts(ck *Checker, n *Node, rs *RealServer) []*Checker {
	var out []*Checker
	for _, h := range n.Children {
		if h.Keyword != "host" {
			continue
		}
		if len(out) == 0 {
			b.warnf(h.Pos, "SMTP_CHECK: host blocks are deprecated: give each host an SMTP_CHECK of its own")
		}
		hc := *ck
		smtp := *ck.SMTP
		hc.SMTP, hc.Pos = &smtp, h.Pos
		addr, port := ck.Connect.Addr(), ck.Connect.Port()
		var d checkerDefaults
		for _, c := range h.Children {
			if b.checkerDefault(c, &d, "SMTP_CHECK") {
				continue
			}
			switch c.Keyword {
			case "connect_ip", "bindto":
				if !b.args(c, 1, 1) {
					continue
				}
				if a, ok := b.addr(c, c.Args[0]); ok {
					if c.Keyword == "connect_ip" {
						addr = a
					} else {
						hc.BindAddr = a
					}
				}
			case "connect_port", "bind_port":
				if v, ok := b.uintArg(c, 1, 65535); ok {
					if c.Keyword == "connect_port" {
						port = uint16(v)
					} else {
						hc.BindPort = uint16(v)
					}
				}
			case "bind_if":
				if b.args(c, 1, 1) {
					hc.BindIf = c.Args[0]
				}
			case "fwmark":
				if v, ok := b.uintArg(c, 0, math.MaxUint32); ok {
					hc.FWMark = uint32(v)
				}
			case "alpha", "log_all_failures":
				if v, ok := b.optFlag(c); ok {
					if c.Keyword == "alpha" {
						hc.Alpha = v
					} else {
						hc.LogAllFailures = v
					}
				}
			default:
				b.other(schema.keywords["virtual_server"].block.keywords["real_server"].block.keywords["SMTP_CHECK"].block.keywords["host"].block, c)
			}
		}
		setIf(&hc.ConnectTimeout, d.connectTimeout)
		setIf(&hc.DelayLoop, d.delayLoop)
		setIf(&hc.Warmup, d.warmup)
		setIf(&hc.DelayBeforeRetry, d.delayBeforeRetry)
		setIf(&hc.Retry, d.retry)
		hc.Connect = netip.AddrPortFrom(addr, port)
		if hc.BindAddr.IsValid() && hc.BindAddr.Is4() != addr.Is4() {
			b.errorf(h.Pos, "real_server %s SMTP_CHECK host: bindto %s is not of the family of %s", rs.Describe(), hc.BindAddr, addr)
			continue
		}
		out = append(out, &hc)
	}
	if len(out) == 0 {
		return []*Checker{ck}
	}
	return out
}

// takesConnectTimeout reports whether the checker's block may set
// connect_timeout: MISC, FILE and BFD checkers connect to nothing.
func takesConnectTimeout(ck *Checker) bool {
	return ck.Misc == nil && ck.File == nil && ck.Kind != "BFD_CHECK"
}
