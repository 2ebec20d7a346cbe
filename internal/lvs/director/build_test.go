package director

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vipd/vipd/internal/config"
	"github.com/vipd/vipd/internal/lvs/check"
	"github.com/vipd/vipd/internal/script"
)

func load(t *testing.T, text string) *config.Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keepalived.conf")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func resolveAsIs(c *config.Command) (script.Cmd, error) { return script.Cmd{Argv: c.Argv}, nil }

// A group becomes a service per address and mark; each checker becomes
// its prober with the settings keepalived resolves.
func TestFromConfig(t *testing.T) {
	cfg := load(t, `
virtual_server_group web {
    198.18.0.10-12 80
    fwmark 7
}
virtual_server group web {
    lvs_sched wrr
    lvs_method NAT
    protocol TCP
    persistence_timeout 30
    sorry_server 198.18.1.99 80
    real_server 198.18.1.11 80 {
        weight 3
        HTTP_GET {
            url {
                path /health
                status_code 200-204
            }
            connect_timeout 2
            delay_loop 4
            retry 2
        }
        MISC_CHECK {
            misc_path "/bin/check 1"
            misc_dynamic
        }
    }
}
virtual_server fwmark 9 {
    lvs_sched rr
    lvs_method DR
    real_server 198.18.1.12 0 {
        DNS_CHECK {
            type A
            name example.com
        }
    }
}
`)
	vss, err := FromConfig(cfg, resolveAsIs)
	if err != nil {
		t.Fatal(err)
	}
	if len(vss) != 2 {
		t.Fatalf("%d virtual servers", len(vss))
	}
	web := vss[0]
	if web.Name != "[web]:0" {
		t.Errorf("name %q", web.Name)
	}
	var svcs []string
	for _, s := range web.Services {
		if s.FWMark != 0 {
			svcs = append(svcs, "fwmark")
		} else {
			svcs = append(svcs, s.Addr.String())
		}
		if s.Scheduler != "wrr" || s.Persistence != 30*time.Second || s.PersistenceBits != 32 {
			t.Errorf("service %+v", s)
		}
	}
	if got := strings.Join(svcs, " "); got != "198.18.0.10 198.18.0.11 198.18.0.12 fwmark" {
		t.Errorf("services %s", got)
	}
	if web.Sorry == nil || web.Sorry.Addr.String() != "198.18.1.99" || web.SorryName != "[198.18.1.99]:tcp:80" {
		t.Errorf("sorry %+v %q", web.Sorry, web.SorryName)
	}
	rs := web.Reals[0]
	if rs.Name != "[198.18.1.11]:tcp:80" || rs.Real.Weight != 3 || len(rs.Checkers) != 2 {
		t.Fatalf("real server %+v", rs)
	}
	h, ok := rs.Checkers[0].Prober.(*check.HTTP)
	if !ok {
		t.Fatalf("HTTP_GET prober %T", rs.Checkers[0].Prober)
	}
	if h.Addr.String() != "198.18.1.11:80" || h.Timeout != 2*time.Second || h.TLS != nil ||
		len(h.URLs) != 1 || h.URLs[0].Path != "/health" || h.URLs[0].Status[0] != (check.StatusRange{Min: 200, Max: 204}) {
		t.Errorf("HTTP prober %+v", h)
	}
	if tm := rs.Checkers[0].Timing; tm.DelayLoop != 4*time.Second || tm.Retry != 2 {
		t.Errorf("HTTP timing %+v", tm)
	}
	m, ok := rs.Checkers[1].Prober.(*check.Misc)
	if !ok || strings.Join(m.Argv, "|") != "/bin/check|1" || !m.Dynamic || !rs.Checkers[1].Dynamic {
		t.Errorf("MISC prober %+v", rs.Checkers[1])
	}
	dns, ok := vss[1].Reals[0].Checkers[0].Prober.(*check.DNS)
	if !ok || dns.Type != 1 || dns.Name != "example.com" || dns.Addr.Port() != 53 {
		t.Errorf("DNS prober %+v", vss[1].Reals[0].Checkers[0].Prober)
	}
	if s := vss[1].Services[0]; s.FWMark != 9 || vss[1].Name != "FWM 9" {
		t.Errorf("fwmark service %+v", s)
	}
}

// An SSL block with a password is refused at start, not ignored.
func TestClientTLS(t *testing.T) {
	if _, err := clientTLS(&config.SSL{Password: "x", Certificate: "c", Key: "k"}); err == nil {
		t.Error("password accepted")
	}
	if _, err := clientTLS(&config.SSL{Certificate: "c"}); err == nil {
		t.Error("a certificate without a key accepted")
	}
	tc, err := clientTLS(&config.SSL{})
	if err != nil || !tc.InsecureSkipVerify {
		t.Errorf("no SSL block: %+v, %v", tc, err)
	}
}
