package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/vipd/vipd/internal/vrrplab"
)

// demo is the failover story on real Linux: three vipd processes and a
// client in network namespaces on a bridge. The master is stopped,
// another is killed with SIGKILL, both come back; the timeline shows who
// held the address and what the client lost at each step.
func demo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vipd demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quiet := fs.Bool("q", false, "do not print the generated configuration")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(stderr, "vipd demo builds network namespaces and needs root (try: sudo vipd demo)")
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runDemo(ctx, stdout, *quiet); err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(stderr, "\nvipd demo: interrupted; everything it made has been removed")
			return 130
		}
		fmt.Fprintln(stderr, "vipd demo:", err)
		return 1
	}
	return 0
}

const demoProbeEvery = 10 * time.Millisecond

func runDemo(ctx context.Context, w io.Writer, quiet bool) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	vip := netip.MustParseAddr("198.18.60.100")
	l, err := vrrplab.New(vrrplab.Options{Name: "vipddemo", Subnet: netip.MustParsePrefix("198.18.60.0/24"), Vipd: self,
		Routers: []vrrplab.Impl{vrrplab.Vipd, vrrplab.Vipd, vrrplab.Vipd}})
	if err != nil {
		return err
	}
	defer l.Close()
	prios := []int{200, 150, 100}
	for i, r := range l.Routers {
		conf := vrrplab.Instance{VRID: 60, Priority: prios[i], Version: 3, VIP: netip.MustParsePrefix("198.18.60.100/24")}.Config(r.Name)
		if err := r.WriteConfig(conf); err != nil {
			return err
		}
		if i == 0 && !quiet {
			fmt.Fprintf(w, "keepalived.conf of r1 (r2 and r3 differ only in router_id and priority 150, 100):\n\n%s\n", indent(conf))
		}
	}
	fmt.Fprintf(w, "LAN 198.18.60.0/24 in network namespaces: r1 %v, r2 %v, r3 %v (vipd each); client %v probes %v every %v\n",
		l.Routers[0].Addr, l.Routers[1].Addr, l.Routers[2].Addr, "198.18.60.250", vip, demoProbeEvery)

	epoch := time.Now()
	logs := newLogTail(l.Routers)
	step := func(title string, do func() error, holders ...string) error {
		fmt.Fprintf(w, "\n== %s\n", title)
		from := time.Now()
		watch := l.Watch(5 * time.Millisecond)
		if err := do(); err != nil {
			watch.Stop()
			return err
		}
		_, err := l.WaitHoldersContext(ctx, 15*time.Second, holders...)
		// Settle: let stale copies expire, clients follow, answers come in.
		sleepCtx(ctx, 2*time.Second)
		watch.Stop()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		timeline := logs.next()
		for _, c := range watch.Changes() {
			h := strings.Join(c.Holders, " and ")
			if h == "" {
				h = "nobody"
			}
			timeline = append(timeline, logLine{at: c.At, msg: fmt.Sprintf("%v held by %s", vip, h)})
		}
		sortLines(timeline)
		for _, line := range timeline {
			fmt.Fprintf(w, "  %s\n", line.format(epoch))
		}
		s := l.Probe.Stats(from, time.Now().Add(-time.Second))
		fmt.Fprintf(w, "  client: %v", s)
		if overlap := watch.Overlap(from, time.Now()); overlap > 0 {
			fmt.Fprintf(w, "; two routers held the address together for %v", overlap.Round(time.Millisecond))
		}
		fmt.Fprintln(w)
		return err
	}
	r1, r2 := l.Routers[0], l.Routers[1]
	steps := []struct {
		title   string
		do      func() error
		holders []string
	}{
		{"start vipd on r1, r2 and r3: the highest priority (r1) becomes master after Master_Down_Interval; until then nobody answers", func() error {
			for _, r := range l.Routers {
				if err := r.Start(); err != nil {
					return err
				}
			}
			return l.StartProbe(vip, demoProbeEvery)
		}, []string{"r1"}},
		{"stop r1 with SIGTERM: it hands over to r2 before letting go", func() error { return r1.Term(10 * time.Second) }, []string{"r2"}},
		{"kill r2 with SIGKILL: r3 takes over after Master_Down_Interval; r2's address expires by itself", r2.Kill, []string{"r3"}},
		{"start r2 again: it preempts r3", r2.Start, []string{"r2"}},
		{"start r1 again: it preempts r2", r1.Start, []string{"r1"}},
	}
	for _, st := range steps {
		if err := step(st.title, st.do, st.holders...); err != nil {
			return err
		}
	}
	fmt.Fprintln(w, "\nstopping the daemons and removing the namespaces")
	return nil
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// logTail hands out the routers' new log lines about state changes.
type logTail struct {
	routers []*vrrplab.Router
	seen    map[*vrrplab.Proc]int // per daemon run
}

type logLine struct {
	at     time.Time
	router string
	msg    string
}

func (l logLine) format(epoch time.Time) string {
	if l.router == "" {
		return fmt.Sprintf("%8.3fs  %s", l.at.Sub(epoch).Seconds(), l.msg)
	}
	return fmt.Sprintf("%8.3fs  %s: %s", l.at.Sub(epoch).Seconds(), l.router, l.msg)
}

func newLogTail(rs []*vrrplab.Router) *logTail {
	return &logTail{routers: rs, seen: map[*vrrplab.Proc]int{}}
}

// next returns the new interesting lines of every router.
func (t *logTail) next() []logLine {
	var out []logLine
	for _, r := range t.routers {
		p := r.Proc()
		if p == nil {
			continue
		}
		text := p.Output()
		fresh := text[t.seen[p]:]
		t.seen[p] = len(text)
		for _, line := range strings.Split(fresh, "\n") {
			ll, ok := parseLogLine(line)
			if !ok {
				continue
			}
			ll.router = r.Name
			out = append(out, ll)
		}
	}
	return out
}

func sortLines(ls []logLine) {
	sort.SliceStable(ls, func(i, j int) bool { return ls[i].at.Before(ls[j].at) })
}

// parseLogLine picks time and message out of a vipd console line
// (time=... level=... msg="..."), keeping state changes and stops.
func parseLogLine(line string) (logLine, bool) {
	ts, rest, ok := strings.Cut(strings.TrimPrefix(line, "time="), " ")
	if !ok {
		return logLine{}, false
	}
	at, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return logLine{}, false
	}
	_, msg, ok := strings.Cut(rest, "msg=")
	if !ok {
		return logLine{}, false
	}
	msg = strings.TrimPrefix(msg, `"`)
	if i := strings.Index(msg, `"`); i >= 0 {
		msg = msg[:i]
	}
	if !strings.Contains(msg, "Entering") && !strings.Contains(msg, "Stopp") && !strings.Contains(msg, "lower priority") {
		return logLine{}, false
	}
	return logLine{at: at, msg: msg}, true
}
