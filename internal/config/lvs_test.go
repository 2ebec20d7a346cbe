package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vipd/vipd/internal/lvs"
)

// loadLVS loads conf and returns its errors other than "virtual_server
// is not supported yet", and its warnings.
func loadLVS(t *testing.T, conf string) (*Config, []string, []string) {
	t.Helper()
	cfg, _, err := load(t, conf)
	var errs, warns []string
	var list Errors
	if errors.As(err, &list) {
		for _, e := range list {
			var ns *NotSupportedError
			if errors.As(e, &ns) && ns.Keyword == "virtual_server" {
				continue
			}
			errs = append(errs, e.Error())
		}
	} else if err != nil {
		errs = append(errs, err.Error())
	}
	for _, w := range cfg.Warnings {
		warns = append(warns, w.Error())
	}
	return cfg, errs, warns
}

func TestVirtualServerDefaults(t *testing.T) {
	cfg, errs, _ := loadLVS(t, `global_defs {
    smtp_alert_checker false
}
virtual_server 198.18.0.10 80 {
    delay_loop 6
    lb_algo wrr
    lb_kind DR
    protocol TCP
    persistence_timeout
    retry 4
    real_server 198.18.0.11 80 {
        weight 3
        HTTP_GET {
            url {
                path /health
                digest 9b3a0c85a887a256d6939da88aabd8cd
            }
            connect_timeout 2.5
        }
    }
    real_server 198.18.0.12 {
        inhibit_on_failure
        delay_before_retry 0.5
        DNS_CHECK {
            name example.org
        }
        MISC_CHECK {
            misc_path "/bin/check one"
        }
    }
}
`)
	if len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	if len(cfg.VirtualServers) != 1 {
		t.Fatalf("%d virtual servers", len(cfg.VirtualServers))
	}
	vs := cfg.VirtualServers[0]
	if vs.Scheduler != "wrr" || vs.Method != lvs.DR || vs.Protocol != lvs.TCP || vs.Persistence != 360*time.Second || vs.Quorum != 1 {
		t.Errorf("virtual server: %+v", vs)
	}
	r1, r2 := vs.Reals[0], vs.Reals[1]
	if r1.Weight != 3 || r2.Weight != 1 || r2.Port != 80 || !r2.Inhibit || r1.Inhibit || r1.SMTPAlert {
		t.Errorf("reals: %+v %+v", r1, r2)
	}
	http := r1.Checkers[0]
	if http.DelayLoop != 6*time.Second || http.Retry != 4 || http.DelayBeforeRetry != 3*time.Second ||
		http.ConnectTimeout != 2500*time.Millisecond || http.Connect != netip.MustParseAddrPort("198.18.0.11:80") ||
		http.HTTP.URLs[0].Status[0] != [2]int{200, 299} || len(http.HTTP.URLs[0].Digest) != 16 {
		t.Errorf("HTTP_GET: %+v %+v", http, http.HTTP.URLs[0])
	}
	dns, misc := r2.Checkers[0], r2.Checkers[1]
	if dns.Connect.Port() != 80 || dns.Retry != 4 || dns.DelayBeforeRetry != 500*time.Millisecond || dns.DNS.Type != "SOA" {
		t.Errorf("DNS_CHECK: %+v %+v", dns, dns.DNS)
	}
	if fmt.Sprint(misc.Misc.Command.Argv) != "[/bin/check one]" || misc.Misc.Timeout != 6*time.Second {
		t.Errorf("MISC_CHECK: %+v %+v", misc, misc.Misc)
	}
}

// What keepalived fills in and says so is a warning; what it cannot
// read is an error.
func TestVirtualServerMessages(t *testing.T) {
	vs := func(body string) string {
		return "virtual_server 198.18.0.10 80 {\n" + body + "\n}\n"
	}
	const rs = " real_server 198.18.0.11 80 {\n  TCP_CHECK {\n  }\n }\n"
	const full = " protocol TCP\n lvs_sched rr\n lvs_method NAT\n"
	cases := []struct {
		name, conf  string
		errs, warns string // substrings of the first error, warning; "" none
	}{
		{"fine", vs(full + rs), "", ""},
		{"no protocol", vs(" lvs_sched rr\n lvs_method NAT\n" + rs), "", "no protocol: balancing UDP"},
		{"no scheduler", vs(" protocol TCP\n lvs_method NAT\n" + rs), "", "no lvs_sched: using wlc"},
		{"no method", vs(" protocol TCP\n lvs_sched rr\n" + rs), "", "no lvs_method: using NAT"},
		{"no reals", vs(full), "", "has no real servers"},
		{"bad scheduler", vs(full + " lvs_sched fastest\n" + rs), "lvs_sched \"fastest\"", ""},
		{"lower-case method", vs(full + " lvs_method nat\n" + rs), "", "keepalived knows only NAT, DR and TUN"},
		{"unknown method", vs(full + " lvs_method dr\n" + rs), "must be NAT, DR or TUN", ""},
		{"quorum too high", vs(full + " quorum 5\n" + rs), "", "quorum 5 is above the real servers' total weight 1"},
		{"DR port mismatch", vs(" protocol TCP\n lvs_sched rr\n lvs_method DR\n real_server 198.18.0.11 81 {\n }\n"), "", "only NAT changes ports"},
		{"gue without port", vs(full + " lvs_method TUN type gue\n" + rs), "a gue tunnel needs a port", ""},
		{"checker retry 0", vs(full + " real_server 198.18.0.11 80 {\n  TCP_CHECK {\n   retry 0\n  }\n }\n"), "", ""},
		{"server retry 0", vs(full + " retry 0\n" + rs), "retry \"0\"", ""},
		{"http without url", vs(full + " real_server 198.18.0.11 80 {\n  HTTP_GET {\n  }\n }\n"), "has no url", ""},
		{"bad digest", vs(full + " real_server 198.18.0.11 80 {\n  HTTP_GET {\n   url {\n    path /\n    digest abc\n   }\n  }\n }\n"), "must be 32 hex digits", ""},
		{"bad status", vs(full + " real_server 198.18.0.11 80 {\n  HTTP_GET {\n   url {\n    path /\n    status_code 200-99\n   }\n  }\n }\n"), "status_code \"200-99\"", ""},
		{"link-local needs bind_if", vs(full + " real_server 198.18.0.11 80 {\n  TCP_CHECK {\n   connect_ip fe80::1\n  }\n }\n"), "needs bind_if", ""},
		{"unknown group", "virtual_server group nope {\n" + full + rs + "}\n", "no virtual_server_group nope", ""},
		{"unknown track_file", vs(full + " real_server 198.18.0.11 80 {\n  FILE_CHECK {\n   track_file f\n  }\n }\n"), "no track_file f", ""},
		{"notify_up twice", vs(full + " real_server 198.18.0.11 80 {\n  notify_up /bin/a\n  notify_up /bin/b\n }\n"), "notify_up given twice", ""},
		{"misspelt", vs(full + " real_server 198.18.0.11 80 {\n  TCP_CHECK {\n   conect_port 81\n  }\n }\n"), "unknown keyword conect_port", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, errs, warns := loadLVS(t, c.conf)
			check := func(kind string, got []string, want string) {
				if want == "" {
					// Only errors must be absent; warnings may come.
					if kind == "error" && len(got) > 0 {
						t.Errorf("unexpected %s: %v", kind, got)
					}
					return
				}
				for _, g := range got {
					if strings.Contains(g, want) {
						return
					}
				}
				t.Errorf("no %s containing %q in %v", kind, want, got)
			}
			check("error", errs, c.errs)
			check("warning", warns, c.warns)
		})
	}
}

// A link-local real server needs bind_if for its checkers too.
func TestCheckerLinkLocal(t *testing.T) {
	_, errs, _ := loadLVS(t, "virtual_server fe80::10 80 {\n protocol TCP\n lvs_sched rr\n lvs_method NAT\n real_server fe80::11 80 {\n  TCP_CHECK {\n  }\n }\n}\n")
	if len(errs) == 0 || !strings.Contains(errs[0], "needs bind_if") {
		t.Errorf("errors %v, want one asking for bind_if", errs)
	}
}

func TestVirtualServerGroupEntries(t *testing.T) {
	cfg, errs, _ := loadLVS(t, `virtual_server_group G {
    198.18.0.1-5 80
    198.18.1.0/30 443
    198.18.2.1-198.18.2.9 8080
    fd00::1-1f 53
    fwmark 7 inet
}
virtual_server group G {
    protocol TCP
    lvs_sched rr
    lvs_method NAT
    real_server 198.18.0.20 80 {
    }
}
`)
	if len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	g := cfg.VirtualServerGroups[0]
	var got []string
	for _, r := range g.Ranges {
		got = append(got, fmt.Sprintf("%s-%s:%d", r.First, r.Last, r.Port))
	}
	want := "[198.18.0.1-198.18.0.5:80 198.18.1.0-198.18.1.3:443 198.18.2.1-198.18.2.9:8080 fd00::1-fd00::1f:53]"
	if fmt.Sprint(got) != want {
		t.Errorf("ranges %v, want %v", got, want)
	}
	if len(g.FWMarks) != 1 || g.FWMarks[0] != (GroupFWMark{Pos: g.FWMarks[0].Pos, Mark: 7, Family: 4}) {
		t.Errorf("fwmarks %+v", g.FWMarks)
	}
	if cfg.VirtualServers[0].Group != g {
		t.Error("the virtual server does not point at its group")
	}
	for _, bad := range []string{"198.18.0.5-1", "198.18.1.1/30", "198.18.0.1-fd00::1", "nonsense"} {
		_, errs, _ := loadLVS(t, "virtual_server_group G {\n "+bad+" 80\n}\n")
		if len(errs) == 0 {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestHexBytes(t *testing.T) {
	for _, c := range []struct {
		in         string
		wild       bool
		data, mask string
		ok         bool
	}{
		{"0a0b", false, "0a0b", "", true},
		{"a 0b0c", false, "0a0b0c", "", true},
		{"1X", true, "10", "0f", true},
		{"1X", false, "", "", false},
		{"zz", false, "", "", false},
	} {
		data, mask, ok := parseHexBytes(strings.Fields(c.in), c.wild)
		if ok != c.ok || fmt.Sprintf("%x", data) != c.data || fmt.Sprintf("%x", mask) != c.mask {
			t.Errorf("%q: %x %x %v, want %s %s %v", c.in, data, mask, ok, c.data, c.mask, c.ok)
		}
	}
}

// SMTP_CHECK's deprecated host blocks become checkers of their own.
func TestSMTPHosts(t *testing.T) {
	cfg, errs, warns := loadLVS(t, `virtual_server 198.18.0.10 25 {
    protocol TCP
    lvs_sched rr
    lvs_method NAT
    real_server 198.18.0.11 25 {
        SMTP_CHECK {
            helo_name me
            host {
                connect_ip 198.18.0.12
            }
            host {
                connect_ip 198.18.0.13
                connect_port 2525
            }
        }
    }
}
`)
	if len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	cks := cfg.VirtualServers[0].Reals[0].Checkers
	if len(cks) != 2 || cks[0].Connect.String() != "198.18.0.12:25" || cks[1].Connect.String() != "198.18.0.13:2525" || cks[1].SMTP.Helo != "me" {
		t.Errorf("checkers %+v", cks)
	}
	if len(warns) == 0 || !strings.Contains(strings.Join(warns, "\n"), "deprecated") {
		t.Errorf("no deprecation warning in %v", warns)
	}
}

// persistence_granularity alone makes a service persistent (360 s), as
// keepalived's parser does, so port 0 needs no persistence_timeout.
func TestGranularityImpliesPersistence(t *testing.T) {
	cfg, errs, warns := loadLVS(t, "virtual_server 198.18.0.10 0 {\n protocol TCP\n lvs_sched rr\n lvs_method DR\n persistence_granularity 255.255.255.0\n real_server 198.18.0.11 {\n }\n}\n")
	if len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	for _, w := range warns {
		if strings.Contains(w, "port 0") {
			t.Errorf("warning %q", w)
		}
	}
	if vs := cfg.VirtualServers[0]; vs.Persistence != 360*time.Second || vs.PersistenceBits != 24 {
		t.Errorf("persistence %v /%d", vs.Persistence, vs.PersistenceBits)
	}
}

// A non-contiguous IPv4 granularity is kept as a mask (IPVS masks bit
// by bit), 0.0.0.0 too (every client is one).
func TestGranularityMask(t *testing.T) {
	conf := func(mask string) string {
		return "virtual_server 198.18.0.10 80 {\n protocol TCP\n lvs_sched rr\n lvs_method DR\n persistence_granularity " + mask + "\n real_server 198.18.0.11 80 {\n }\n}\n"
	}
	cfg, errs, _ := loadLVS(t, conf("255.255.0.255"))
	if len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	if vs := cfg.VirtualServers[0]; vs.PersistenceMask != netip.MustParseAddr("255.255.0.255") || vs.PersistenceBits != 0 {
		t.Errorf("mask %v, bits %d", vs.PersistenceMask, vs.PersistenceBits)
	}
	if cfg, errs, _ := loadLVS(t, conf("0.0.0.0")); len(errs) > 0 || cfg.VirtualServers[0].PersistenceMask != netip.IPv4Unspecified() {
		t.Errorf("0.0.0.0: errors %v, mask %v", errs, cfg.VirtualServers[0].PersistenceMask)
	}
}
