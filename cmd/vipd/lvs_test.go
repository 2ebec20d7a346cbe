package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"

	"github.com/vipd/vipd/internal/netlab"
)

// The LVS lab: a client and the director on 198.18.61.0/24, real servers
// on 198.18.62.0/24 routed through the director (NAT replies must come
// back through it), all on one bridge. vipd on the director holds the
// virtual address with VRRP and balances it.
const (
	lvsVIP    = "198.18.61.100"
	lvsClient = "198.18.61.9"
)

// backend is a real server's web server, which the test stops and starts
// to make its health checks fail and pass.
type backend struct {
	t    *testing.T
	host *netlab.Host
	name string
	mu   sync.Mutex
	ln   net.Listener
	srv  *http.Server
}

func (b *backend) start() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var ln net.Listener
	must(b.t, b.host.Do(func() error {
		var err error
		ln, err = net.Listen("tcp4", ":80")
		return err
	}))
	b.ln = ln
	b.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, b.name)
	})}
	go b.srv.Serve(ln)
}

func (b *backend) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.srv != nil {
		b.srv.Close()
		b.srv = nil
	}
}

// fetch asks the virtual server for a page from the client, on a new
// connection; "" when it gets no answer.
func fetch(client *netlab.Host, addr string) string {
	var body string
	client.Do(func() error {
		c, err := net.DialTimeout("tcp4", addr, time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		fmt.Fprintf(c, "GET / HTTP/1.0\r\nHost: vip\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var sb strings.Builder
		buf := make([]byte, 64)
		for {
			n, err := resp.Body.Read(buf)
			sb.Write(buf[:n])
			if err != nil {
				break
			}
		}
		body = sb.String()
		return nil
	})
	return body
}

// servedBy fetches n pages and counts who served them.
func servedBy(client *netlab.Host, n int) map[string]int {
	seen := map[string]int{}
	for range n {
		seen[fetch(client, lvsVIP+":80")]++
	}
	return seen
}

// waitServed waits until n fetches in a row are served by exactly the
// named real servers.
func waitServed(t *testing.T, client *netlab.Host, d *netlab.Proc, names ...string) {
	t.Helper()
	var seen map[string]int
	for deadline := time.Now().Add(20 * time.Second); ; {
		seen = servedBy(client, 6)
		ok := len(seen) == len(names)
		for _, n := range names {
			ok = ok && seen[n] > 0
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("served by %v, want exactly %v; vipd's log:\n%s", seen, names, d.Output())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func waitOutput(t *testing.T, p *netlab.Proc, line string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(p.Output(), line); {
		if done, err := p.Exited(); done {
			t.Fatalf("vipd ended (%v) before logging %q:\n%s", err, line, p.Output())
		}
		if time.Now().After(deadline) {
			t.Fatalf("vipd's log lacks %q after 20s:\n%s", line, p.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A director end to end: vipd holds the virtual address with VRRP and
// balances it over NAT to two real servers checked by HTTP_GET and
// TCP_CHECK. A real server that fails leaves the pool and comes back;
// losing the quorum hands the traffic to the sorry server; notify and
// quorum scripts run; stopping vipd removes its tables.
func TestDirectorNAT(t *testing.T) {
	t.Parallel()
	netlab.NeedRoot(t)
	lab, err := netlab.New("vflvs")
	must(t, err)
	t.Cleanup(func() { lab.Close() })
	pfx := netip.MustParsePrefix
	client, err := lab.AddHost("c", pfx(lvsClient+"/24"))
	must(t, err)
	director, err := lab.AddHost("d", pfx("198.18.61.1/24"), pfx("198.18.62.1/24"))
	must(t, err)
	must(t, director.Do(func() error {
		return netlab.Sysctls(map[string]string{"ipv4/ip_forward": "1", "ipv4/conf/all/send_redirects": "0", "ipv4/conf/eth0/send_redirects": "0"})
	}))
	backends := map[string]*backend{}
	for i, name := range []string{"r1", "r2", "sorry"} {
		h, err := lab.AddHost(name, pfx(fmt.Sprintf("198.18.62.%d/24", 11+i)))
		must(t, err)
		must(t, h.Do(func() error {
			return netlink.RouteAdd(&netlink.Route{Gw: net.ParseIP("198.18.62.1")})
		}))
		b := &backend{t: t, host: h, name: name}
		b.start()
		t.Cleanup(b.stop)
		backends[name] = b
	}

	dir := t.TempDir()
	events := filepath.Join(dir, "events")
	note := filepath.Join(dir, "note.sh")
	must(t, os.WriteFile(note, []byte("#!/bin/sh\necho \"$*\" >> "+events+"\n"), 0o755))
	// The FIFO's script is started with the FIFO's path last.
	fifoLines := filepath.Join(dir, "fifo-lines")
	reader := filepath.Join(dir, "fifo.sh")
	must(t, os.WriteFile(reader, []byte("#!/bin/sh\nwhile read -r line; do echo \"$line\" >> "+fifoLines+"; done < \"$1\"\n"), 0o755))
	conf := filepath.Join(dir, "keepalived.conf")
	must(t, os.WriteFile(conf, []byte(`global_defs {
    router_id director
    enable_script_security
    script_user root
    rs_init_notifies
    lvs_notify_fifo `+filepath.Join(dir, "fifo")+`
    lvs_notify_fifo_script `+reader+`
}
vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 61
    priority 150
    advert_int 1
    virtual_ipaddress {
        `+lvsVIP+`/24
    }
}
virtual_server `+lvsVIP+` 80 {
    delay_loop 1
    lvs_sched rr
    lvs_method NAT
    protocol TCP
    quorum 2
    quorum_up "`+note+` quorum up"
    quorum_down "`+note+` quorum down"
    sorry_server 198.18.62.13 80
    real_server 198.18.62.11 80 {
        weight 2
        notify_up "`+note+` r1 up"
        notify_down "`+note+` r1 down"
        HTTP_GET {
            url {
                path /
                status_code 200
            }
            connect_timeout 1
            retry 0
        }
    }
    real_server 198.18.62.12 80 {
        weight 1
        notify_up "`+note+` r2 up"
        notify_down "`+note+` r2 down"
        TCP_CHECK {
            connect_timeout 1
            retry 1
            delay_before_retry 0.5
        }
    }
}
`), 0o644))

	p, err := director.Start(os.Args[0], "-n", "-l", "-D", "-f", conf, "-p", filepath.Join(dir, "vipd.pid"))
	must(t, err)
	t.Cleanup(func() { p.Stop(5 * time.Second) })
	waitOutput(t, p, "(VI_1) Entering MASTER STATE")
	waitServed(t, client, p, "r1", "r2")

	backends["r2"].stop()
	waitOutput(t, p, "Removing service [198.18.62.12]:tcp:80 from VS [198.18.61.100]:tcp:80")
	waitServed(t, client, p, "r1")
	backends["r2"].start()
	waitOutput(t, p, "Adding service [198.18.62.12]:tcp:80 to VS [198.18.61.100]:tcp:80")
	waitServed(t, client, p, "r1", "r2")

	// r1 carries weight 2 of the quorum of 2: without it the sorry
	// server takes over.
	backends["r1"].stop()
	waitOutput(t, p, "Lost quorum 2-0=2 > 1 for VS [198.18.61.100]:tcp:80")
	waitServed(t, client, p, "sorry")
	backends["r1"].start()
	waitOutput(t, p, "Gained quorum 2+0=2 <= 3 for VS [198.18.61.100]:tcp:80")
	waitServed(t, client, p, "r1", "r2")

	// rs_init_notifies: r1 and r2, up at start, say so then too.
	waitLineSet(t, events, []string{"r1 up", "r2 up", "r2 down", "r2 up", "r1 down", "quorum down", "r1 up", "quorum up"})
	// The LVS FIFO gets keepalived's RS and VS lines, and no VRRP ones.
	r1, r2, vs := "[198.18.62.11]:tcp:80", "[198.18.62.12]:tcp:80", "[198.18.61.100]:tcp:80"
	waitLineSet(t, fifoLines, []string{"RS " + r1 + " " + vs + " UP", "RS " + r2 + " " + vs + " UP",
		"RS " + r2 + " " + vs + " DOWN", "RS " + r2 + " " + vs + " UP", "RS " + r1 + " " + vs + " DOWN",
		"VS " + vs + " DOWN", "RS " + r1 + " " + vs + " UP", "VS " + vs + " UP"})

	// A reload that takes r2 out: r2 leaves the pool, r1 stays without
	// a notify, and a connection open across the reload goes on.
	conn := openHTTP(t, client)
	defer conn.Close()
	first := conn.get(t)
	text, err := os.ReadFile(conf)
	must(t, err)
	i := strings.Index(string(text), "    real_server 198.18.62.12 80 {")
	must(t, os.WriteFile(conf, []byte(string(text[:i])+"}\n"), 0o644))
	must(t, p.Signal(syscall.SIGHUP))
	waitOutput(t, p, "Reload done")
	waitServed(t, client, p, "r1")
	if again := conn.get(t); again != first {
		t.Errorf("the connection open across the reload was served by %s, then %s", first, again)
	}
	time.Sleep(time.Second) // notify scripts a reload ran by mistake would have written by now
	waitLineSet(t, events, []string{"r1 up", "r2 up", "r2 down", "r2 up", "r1 down", "quorum down", "r1 up", "quorum up"})

	must(t, p.Signal(syscall.SIGTERM))
	if !p.Wait(10 * time.Second) {
		t.Fatalf("vipd did not stop:\n%s", p.Output())
	}
	must(t, director.Do(func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		tables, err := c.ListTables()
		if err != nil {
			return err
		}
		for _, tb := range tables {
			if strings.HasPrefix(tb.Name, "vipd") {
				t.Errorf("table %s left after vipd stopped", tb.Name)
			}
		}
		return nil
	}))
	if got := fetch(client, lvsVIP+":80"); got != "" {
		t.Errorf("after vipd stopped, the virtual server still answers (%q)", got)
	}
}

// waitLineSet waits until the file holds exactly these lines, in any
// order: scripts for different servers run independently.
func waitLineSet(t *testing.T, path string, want []string) {
	t.Helper()
	want = slices.Sorted(slices.Values(want))
	var got []string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		b, _ := os.ReadFile(path)
		got = slices.Sorted(slices.Values(strings.Split(strings.TrimSpace(string(b)), "\n")))
		if slices.Equal(got, want) {
			return
		}
	}
	t.Fatalf("%s holds %q, want %q", path, got, want)
}

// httpConn is a kept-alive HTTP/1.1 connection to the virtual server.
type httpConn struct {
	net.Conn
	r *bufio.Reader
}

func openHTTP(t *testing.T, client *netlab.Host) *httpConn {
	t.Helper()
	var c net.Conn
	must(t, client.Do(func() error {
		var err error
		c, err = net.DialTimeout("tcp4", lvsVIP+":80", time.Second)
		return err
	}))
	return &httpConn{Conn: c, r: bufio.NewReader(c)}
}

// get asks for a page on the connection and returns who served it.
func (c *httpConn) get(t *testing.T) string {
	t.Helper()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: vip\r\n\r\n")
	resp, err := http.ReadResponse(c.r, nil)
	must(t, err)
	defer resp.Body.Close()
	var sb strings.Builder
	_, err = bufio.NewReader(resp.Body).WriteTo(&sb)
	must(t, err)
	return sb.String()
}
