package director

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/vipd/vipd/internal/config"
	"github.com/vipd/vipd/internal/lvs"
	"github.com/vipd/vipd/internal/lvs/check"
	"github.com/vipd/vipd/internal/script"
)

// Resolver turns a configured script line into what runs (its user and
// group looked up as global_defs says).
type Resolver func(*config.Command) (script.Cmd, error)

// maxServices bounds how many services one virtual server's group may
// expand to: an IPv6 range can name 65536 addresses, and each is a
// service of its own.
const maxServices = 4096

// FromConfig makes the configuration's virtual servers ready to run.
func FromConfig(cfg *config.Config, resolve Resolver) ([]VirtualServer, error) {
	var tlsConfig *tls.Config // made once, for every SSL_GET
	var out []VirtualServer
	for _, cv := range cfg.VirtualServers {
		vs := VirtualServer{Name: vsName(cv), Quorum: cv.Quorum, Hysteresis: cv.Hysteresis, Omega: cv.Omega, SMTPAlert: cv.SMTPAlert}
		fail := func(err error) error { return fmt.Errorf("%s: virtual_server %s: %w", cv.Pos, vs.Name, err) }
		var err error
		if vs.Services, err = services(cv); err != nil {
			return nil, fail(err)
		}
		if cv.HASuspend && cv.Addr.IsValid() {
			vs.Suspend = []netip.Addr{cv.Addr}
		}
		if vs.QuorumUp, err = resolveOpt(resolve, cv.QuorumUp); err != nil {
			return nil, fail(err)
		}
		if vs.QuorumDown, err = resolveOpt(resolve, cv.QuorumDown); err != nil {
			return nil, fail(err)
		}
		if s := cv.Sorry; s != nil {
			vs.Sorry = &lvs.Real{Addr: s.Addr, Port: s.Port, Weight: s.Weight, Method: s.Method, Tunnel: tunnel(s),
				UpperThreshold: s.UpperThreshold, LowerThreshold: s.LowerThreshold}
			vs.SorryName, vs.SorryInhibit = trio(s.Addr, cv.Protocol, s.Port), s.Inhibit
		}
		for _, cr := range cv.Reals {
			rs := RealServer{Name: trio(cr.Addr, cv.Protocol, cr.Port), Inhibit: cr.Inhibit, SMTPAlert: cr.SMTPAlert,
				Real: lvs.Real{Addr: cr.Addr, Port: cr.Port, Weight: cr.Weight, Method: cr.Method, Tunnel: tunnel(cr),
					UpperThreshold: cr.UpperThreshold, LowerThreshold: cr.LowerThreshold}}
			failRS := func(err error) error { return fmt.Errorf("%s: real_server %s: %w", cr.Pos, rs.Name, err) }
			if rs.NotifyUp, err = resolveOpt(resolve, cr.NotifyUp); err != nil {
				return nil, failRS(err)
			}
			if rs.NotifyDown, err = resolveOpt(resolve, cr.NotifyDown); err != nil {
				return nil, failRS(err)
			}
			for _, ck := range cr.Checkers {
				c, err := checker(cfg, ck, &tlsConfig, resolve)
				if err != nil {
					return nil, fmt.Errorf("%s: %s: %w", ck.Pos, ck.Kind, err)
				}
				rs.Checkers = append(rs.Checkers, c)
			}
			vs.Reals = append(vs.Reals, rs)
		}
		out = append(out, vs)
	}
	return out, nil
}

// tunnel is a TUN real server's encapsulation.
func tunnel(rs *config.RealServer) lvs.Tunnel {
	if rs.Method != lvs.TUN {
		return lvs.Tunnel{}
	}
	return rs.Tunnel
}

func resolveOpt(resolve Resolver, c *config.Command) (*script.Cmd, error) {
	if c == nil {
		return nil, nil
	}
	cmd, err := resolve(c)
	if err != nil {
		return nil, err
	}
	return &cmd, nil
}

// vsName names a virtual server as keepalived's logs do.
func vsName(vs *config.VirtualServer) string {
	switch {
	case vs.GroupName != "":
		return fmt.Sprintf("[%s]:%d", vs.GroupName, vs.Port)
	case vs.HasFWMark:
		return fmt.Sprintf("FWM %d", vs.FWMark)
	}
	return trio(vs.Addr, vs.Protocol, vs.Port)
}

// trio is keepalived's "[address]:proto:port".
func trio(a netip.Addr, p lvs.Protocol, port uint16) string {
	return fmt.Sprintf("[%s]:%s:%d", a, strings.ToLower(p.String()), port)
}

// services are the virtual services a virtual server takes traffic for:
// its address, its firewall mark, or each address and mark of its group.
func services(vs *config.VirtualServer) ([]lvs.Service, error) {
	base := lvs.Service{Protocol: vs.Protocol, Scheduler: vs.Scheduler, HashPort: vs.HashPort, Fallback: vs.Fallback,
		OnePacket: vs.OnePack, Persistence: vs.Persistence, PersistenceBits: vs.PersistenceBits,
		PersistenceMask: vs.PersistenceMask, IPv6: vs.IPv6}
	if vs.Group == nil {
		s := base
		if vs.HasFWMark {
			s.FWMark = vs.FWMark
		} else {
			s.Addr, s.Port, s.IPv6 = vs.Addr, vs.Port, vs.Addr.Is6()
		}
		return []lvs.Service{fullBits(s)}, nil
	}
	var out []lvs.Service
	for _, r := range vs.Group.Ranges {
		for a := r.First; ; a = a.Next() {
			if len(out) == maxServices {
				return nil, fmt.Errorf("virtual_server_group %s holds more than %d addresses, more than vipd balances", vs.Group.Name, maxServices)
			}
			s := base
			s.Addr, s.Port, s.IPv6 = a, r.Port, a.Is6()
			out = append(out, fullBits(s))
			if a == r.Last || !a.IsValid() {
				break
			}
		}
	}
	for _, f := range vs.Group.FWMarks {
		s := base
		s.FWMark = f.Mark
		if f.Family != 0 {
			s.IPv6 = f.Family == 6
		}
		out = append(out, fullBits(s))
	}
	return out, nil
}

// fullBits makes a persistent service without a granularity count each
// client address alone.
func fullBits(s lvs.Service) lvs.Service {
	if s.PersistenceBits == 0 {
		s.PersistenceBits = 32
		if s.IPv6 {
			s.PersistenceBits = 128
		}
	}
	return s
}

// dnsTypes are the query types DNS_CHECK accepts, by name.
var dnsTypes = map[string]uint16{"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "MX": 15, "TXT": 16, "AAAA": 28, "RRSIG": 46, "DNSKEY": 48}

// checker makes a configured checker ready to run.
func checker(cfg *config.Config, ck *config.Checker, tlsConfig **tls.Config, resolve Resolver) (Checker, error) {
	timeout := ck.ConnectTimeout
	if timeout <= 0 {
		timeout = check.DefaultTimeout
	}
	c := Checker{Kind: ck.Kind, Alpha: ck.Alpha, LogAllFailures: ck.LogAllFailures,
		Timing: lvs.Timing{DelayLoop: ck.DelayLoop, Retry: ck.Retry, DelayBeforeRetry: ck.DelayBeforeRetry, Warmup: ck.Warmup},
		Limit:  3 * timeout}
	dial := check.Dial{Addr: ck.Connect, BindAddr: ck.BindAddr, BindPort: ck.BindPort, BindIf: ck.BindIf, FWMark: ck.FWMark, Timeout: timeout}
	switch {
	case ck.HTTP != nil:
		h := &check.HTTP{Dial: dial, VirtualHost: ck.HTTP.VirtualHost, SNI: ck.HTTP.SNI, Protocol: ck.HTTP.Protocol}
		for _, u := range ck.HTTP.URLs {
			cu := check.URL{Path: u.Path, Digest: u.Digest, VirtualHost: u.VirtualHost, Regex: u.Regex,
				RegexNoMatch: u.RegexNoMatch, RegexMinOffset: u.RegexMinOffset, RegexEnd: u.RegexMaxOffset}
			for _, st := range u.Status {
				cu.Status = append(cu.Status, check.StatusRange{Min: st[0], Max: st[1]})
			}
			h.URLs = append(h.URLs, cu)
		}
		if ck.HTTP.TLS {
			if *tlsConfig == nil {
				t, err := clientTLS(&cfg.SSL)
				if err != nil {
					return c, err
				}
				*tlsConfig = t
			}
			h.TLS = *tlsConfig
		}
		// Connect, send, then a read step per header and body.
		c.Limit = timeout * time.Duration(4*max(1, len(h.URLs)))
		c.Prober = h
	case ck.Misc != nil:
		cmd, err := resolve(ck.Misc.Command)
		if err != nil {
			return c, err
		}
		c.Dynamic = ck.Misc.Dynamic
		c.Prober = &check.Misc{Argv: cmd.Argv, Credential: cmd.Cred, Timeout: ck.Misc.Timeout, Dynamic: ck.Misc.Dynamic}
		// The program has its timeout, then a grace before SIGKILL.
		c.Limit = 0
	case ck.DNS != nil:
		c.Prober = &check.DNS{Dial: dial, Type: dnsTypes[ck.DNS.Type], Name: ck.DNS.Name}
	case ck.SMTP != nil:
		c.Prober = &check.SMTP{Dial: dial, Helo: ck.SMTP.Helo}
		// Banner, HELO and QUIT: a step each after the connect.
		c.Limit = 5 * timeout
	case ck.UDP != nil:
		u := ck.UDP
		c.Prober = &check.UDP{Dial: dial, Payload: u.Payload, RequireReply: u.RequireReply, Reply: u.Reply,
			ReplyMask: u.ReplyMask, MinReply: u.MinReply, MaxReply: u.MaxReply}
	case ck.File != nil:
		f := &FileTrack{Name: ck.File.Name, Weight: ck.File.Weight, Reverse: ck.File.Reverse}
		if !ck.File.WeightSet {
			for _, tf := range cfg.TrackFiles {
				if tf.Name == f.Name {
					f.Weight, f.Reverse = tf.Weight, tf.Reverse
				}
			}
		}
		c.File, c.Alpha, c.Limit = f, false, 0
	case ck.BFD != "":
		c.BFD, c.Limit = ck.BFD, 0
		c.NoSession = cfg.BFD(ck.BFD) == nil
	case ck.Kind == "PING_CHECK":
		c.Prober = &check.Ping{Dial: dial}
	case ck.Kind == "TCP_CHECK":
		c.Prober = &check.TCP{Dial: dial}
	default:
		return c, fmt.Errorf("%s is not supported yet", ck.Kind)
	}
	return c, nil
}

// clientTLS is what SSL_GET checkers use: keepalived presents the SSL
// block's certificate and key, and never verifies the real server's
// certificate, even with a CA file (it loads it and leaves verification
// off), so neither does vipd.
func clientTLS(s *config.SSL) (*tls.Config, error) {
	t := &tls.Config{InsecureSkipVerify: true} // #nosec G402 -- keepalived does not verify real servers
	if s.CA != "" {
		pem, err := os.ReadFile(s.CA)
		if err != nil {
			return nil, fmt.Errorf("SSL ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("SSL ca %s: no certificate in it", s.CA)
		}
		t.RootCAs = pool
	}
	if s.Certificate == "" && s.Key == "" {
		return t, nil
	}
	if s.Password != "" {
		return nil, errors.New("SSL password (an encrypted private key) is not supported yet: give an unencrypted keyfile")
	}
	if s.Certificate == "" || s.Key == "" {
		return nil, errors.New("the SSL block needs both certificate and key to present a client certificate")
	}
	certFile, keyFile := s.Certificate, s.Key
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("SSL certificate and key: %w", err)
	}
	t.Certificates = []tls.Certificate{cert}
	return t, nil
}
