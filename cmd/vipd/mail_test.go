package main

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vipd/vipd/internal/mailtest"
	"github.com/vipd/vipd/internal/vrrplab"
)

// smtp_alert: r1 (150) mails its instance's and its sync group's states to
// a mail server in its namespace: BACKUP at start, MASTER, and Stopping
// when stopped, with keepalived's subjects and bodies. no_email_faults
// is not set, but no FAULT happens.
func TestSMTPAlert(t *testing.T) {
	t.Parallel()
	vip := netip.MustParseAddr("198.18.46.100")
	var server *mailtest.Server
	l := newLab(t, "vfml", "198.18.46.0/24", false, vipds(2), func(i int, r *vrrplab.Router) vrrplab.Instance {
		in := vrrplab.Instance{VRID: 46, Priority: []int{150, 100}[i], Version: 2, VIP: netip.MustParsePrefix("198.18.46.100/24")}
		if i == 0 {
			var ln net.Listener
			must(t, r.Host.Do(func() (err error) {
				ln, err = net.Listen("tcp", "127.0.0.1:0")
				return err
			}))
			t.Cleanup(func() { ln.Close() })
			server = mailtest.Serve(ln, "250 ok")
			in.Global = []string{"notification_email {", "    ops@example.net", "}", "notification_email_from vipd@r1",
				"smtp_server 127.0.0.1 " + server.Port(), "smtp_connect_timeout 5"}
			in.Top = []string{"vrrp_sync_group G {", "    group {", "        VI_1", "    }", "    smtp_alert", "}"}
			in.Extra = []string{"smtp_alert"}
		}
		return in
	})
	startAll(t, l, vip, "r1")
	must(t, l.Router("r1").Term(10*time.Second))
	_, err := l.WaitHolders(mdi(100)+5*time.Second, "r2")
	must(t, err)
	want := []string{
		"[r1] VRRP Instance VI_1 - Entering BACKUP state|=> VRRP Instance is no longer owning VRRP VIPs <=",
		"[r1] VRRP Group G - Entering BACKUP state|=> All VRRP group instances are now in BACKUP state <=",
		"[r1] VRRP Instance VI_1 - Entering MASTER state|=> VRRP Instance is now owning VRRP VIPs <=",
		"[r1] VRRP Group G - Entering MASTER state|=> All VRRP group instances are now in MASTER state <=",
		"[r1] VRRP Instance VI_1 - Stopping|=> VRRP Instance stopping <=",
		"[r1] VRRP Group G - Stopping|=> All VRRP group instances are now stopping <=",
	}
	var got []string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		got = got[:0]
		for _, m := range server.Messages() {
			var subject string
			for _, h := range strings.Split(m, "\r\n") {
				if s, ok := strings.CutPrefix(h, "Subject: "); ok {
					subject = s
				}
			}
			_, body, _ := strings.Cut(m, "\r\n\r\n")
			got = append(got, subject+"|"+strings.TrimSuffix(body, "\r\n"))
		}
		if strings.Join(got, "\n") == strings.Join(want, "\n") {
			return
		}
	}
	t.Errorf("mails\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
}
