// Command failoverbench runs keepalived and vipd through the same
// failovers on real Linux and prints what a client saw: two routers
// (r1 priority 200, the master; r2 priority 100) and a client probing the
// virtual address every 5 ms, VRRPv3 with 1 s adverts over IPv4, in
// network namespaces (internal/vrrplab). Every scenario starts from a
// clean steady state: a fresh lab where r1 holds the address alone and
// the client's probes are answered (preempting back follows the SIGTERM
// scenario once r2 is steady, the heal follows the cut).
//
//	go run ./cmd/failoverbench                  # as root; builds vipd itself
//	go run ./cmd/failoverbench -runs 3 -impl vipd -scenarios cut,heal
//	go run ./cmd/failoverbench -vipd bin/vipd -logs /tmp/fb   # a built vipd; keep the daemons' logs
//
// SIGKILL kills all of a daemon's processes at once (vrrplab.Router.Kill), and
// the addresses are then watched for -window (15 s).
//
// The machine's noise shows in the figures: the program reports them and
// the targets, it does not judge.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/vipd/vipd/internal/netlab"
	"github.com/vipd/vipd/internal/vrrp"
	"github.com/vipd/vipd/internal/vrrplab"
)

const (
	probeEvery = 5 * time.Millisecond
	// answerWait is how long a probe waits to be judged: its answer time
	// (1 s) and some.
	answerWait = 1100 * time.Millisecond
	masterPrio = 200
	backupPrio = 100
)

// mdi is Master_Down_Interval for a priority with 1 s VRRPv3 adverts.
func mdi(priority int) time.Duration {
	return vrrp.MasterDownInterval(3, vrrp.DefaultDownTimerAdverts, uint8(priority), time.Second)
}

// An implementation under test and the lab it runs in. The labs' names
// and subnets are the benchmark's own: tests run side by side elsewhere.
type implSpec struct {
	impl  vrrplab.Impl
	lab   string
	octet int // the LAN is 198.18.<octet>.0/24
}

var allImpls = []implSpec{
	{vrrplab.Keepalived, "fbk", 41},
	{vrrplab.Vipd, "fbv", 40},
}

// The scenarios, by flag name. Those of a group share a lab: the split
// brain heals the cut it began with, and preempting back restarts the
// master stopped with SIGTERM.
type scenario struct{ key, title, group string }

var scenarios = []scenario{
	{"sigterm", "1 SIGTERM of the master", "handover"},
	{"cut", "2 master cut off (split brain begins)", "split"},
	{"heal", "3 split brain heals", "split"},
	{"preempt", "4 preempt back: r1 restarted", "handover"},
	{"sigkill", "5 SIGKILL of the master's daemon", "sigkill"},
}

type kind int

const (
	count kind = iota
	duration
)

// A figure of the table.
type figure struct {
	scen, name string
	kind       kind
	target     string // vipd's, from the issue
	unended    string // what a lower bound means
}

var figures = []figure{
	{"sigterm", "longest gap", duration, "", ""},
	{"sigterm", "lost probes", count, "0", ""},
	{"cut", "longest gap", duration, fmt.Sprintf("≤ MDI + 20ms = %v", (mdi(backupPrio) + 20*time.Millisecond).Round(time.Millisecond)), ""},
	{"cut", "lost probes", count, "", ""},
	{"heal", "lost probes after the heal", count, "", "still losing"},
	{"heal", "last loss after the heal", duration, "none after heal + 20ms", "still losing"},
	{"preempt", "lost probes", count, "0", ""},
	{"preempt", "longest gap", duration, "", ""},
	{"sigkill", "two routers hold the address", duration, "", "never removed"},
	{"sigkill", "lost probes", count, "", ""},
}

// A sample is one run's value of a figure: a count or nanoseconds.
type sample struct {
	v     int64
	bound bool // it had not ended when the watch did: v is a lower bound
}

type bench struct {
	vipd      string
	window    time.Duration // of the SIGKILL scenario
	logDir    string
	stderr    io.Writer
	scenarios map[string]bool
	results   map[string]map[vrrplab.Impl][]sample // by scen+"/"+figure name
	failures  map[vrrplab.Impl]int
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("failoverbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	vipdPath := fs.String("vipd", "", "the vipd binary (default: build ./cmd/vipd into a temporary directory)")
	implFlag := fs.String("impl", "keepalived,vipd", "the implementations to run, comma-separated")
	runs := fs.Int("runs", 1, "repeat every scenario this many times; the table shows the median and the maximum")
	scenFlag := fs.String("scenarios", "sigterm,cut,heal,preempt,sigkill", "the scenarios to run, comma-separated")
	window := fs.Duration("window", 15*time.Second, "how long to watch the addresses after SIGKILL")
	logDir := fs.String("logs", "", "save every daemon's log in this directory")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	b := &bench{window: *window, logDir: *logDir, stderr: stderr, scenarios: map[string]bool{},
		results: map[string]map[vrrplab.Impl][]sample{}, failures: map[vrrplab.Impl]int{}}
	var impls []implSpec
	for _, name := range strings.Split(*implFlag, ",") {
		i := slices.IndexFunc(allImpls, func(s implSpec) bool { return string(s.impl) == strings.TrimSpace(name) })
		if i < 0 {
			fmt.Fprintf(stderr, "failoverbench: unknown implementation %q (have keepalived, vipd)\n", name)
			return 2
		}
		if !slices.Contains(impls, allImpls[i]) {
			impls = append(impls, allImpls[i])
		}
	}
	for _, name := range strings.Split(*scenFlag, ",") {
		name = strings.TrimSpace(name)
		if !slices.ContainsFunc(scenarios, func(s scenario) bool { return s.key == name }) {
			fmt.Fprintf(stderr, "failoverbench: unknown scenario %q (have sigterm, cut, heal, preempt, sigkill)\n", name)
			return 2
		}
		b.scenarios[name] = true
	}
	if *runs < 1 {
		fmt.Fprintln(stderr, "failoverbench: -runs must be at least 1")
		return 2
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(stderr, "failoverbench builds network namespaces and needs root")
		return 1
	}
	if slices.ContainsFunc(impls, func(s implSpec) bool { return s.impl == vrrplab.Keepalived }) {
		if _, err := exec.LookPath("keepalived"); err != nil {
			fmt.Fprintln(stderr, "failoverbench: keepalived is not installed (bash scripts/deps installs it)")
			return 1
		}
	}
	if b.logDir != "" {
		if err := os.MkdirAll(b.logDir, 0o755); err != nil {
			fmt.Fprintln(stderr, "failoverbench:", err)
			return 1
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b.vipd = *vipdPath
	if b.vipd == "" && slices.ContainsFunc(impls, func(s implSpec) bool { return s.impl == vrrplab.Vipd }) {
		dir, err := os.MkdirTemp("", "failoverbench-")
		if err != nil {
			fmt.Fprintln(stderr, "failoverbench:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		if b.vipd, err = buildVipd(ctx, dir, stderr); err != nil {
			fmt.Fprintln(stderr, "failoverbench:", err)
			return 1
		}
	}

	start := time.Now()
	for n := 1; n <= *runs; n++ {
		for _, spec := range impls {
			for _, group := range []string{"handover", "split", "sigkill"} {
				if !b.wants(group) {
					continue
				}
				err := b.runGroup(ctx, spec, group, n, *runs)
				if ctx.Err() != nil {
					fmt.Fprintln(stderr, "\nfailoverbench: interrupted; its namespaces and daemons are gone")
					return 130
				}
				if err != nil {
					b.failures[spec.impl]++
					fmt.Fprintf(stderr, "failoverbench: %s, %s: %v\n", spec.impl, group, err)
				}
			}
		}
	}
	b.print(stdout, impls, *runs, time.Since(start))
	if len(b.failures) > 0 {
		return 1
	}
	return 0
}

// buildVipd builds ./cmd/vipd of the module the program runs in.
func buildVipd(ctx context.Context, dir string, stderr io.Writer) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("cannot find the vipd module to build vipd (run from its directory, or pass -vipd): %v", err)
	}
	bin := filepath.Join(dir, "vipd")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/vipd")
	cmd.Dir = filepath.Dir(gomod)
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/vipd: %w", err)
	}
	return bin, nil
}

func (b *bench) wants(group string) bool {
	for _, s := range scenarios {
		if s.group == group && b.scenarios[s.key] {
			return true
		}
	}
	return false
}

func (b *bench) record(impl vrrplab.Impl, scen, name string, s sample) {
	if !b.scenarios[scen] {
		return
	}
	key := scen + "/" + name
	if b.results[key] == nil {
		b.results[key] = map[vrrplab.Impl][]sample{}
	}
	b.results[key][impl] = append(b.results[key][impl], s)
}

func (b *bench) progress(spec implSpec, format string, args ...any) {
	fmt.Fprintf(b.stderr, "  %-10s %s\n", spec.impl, fmt.Sprintf(format, args...))
}

// runGroup runs one group of scenarios on a fresh lab.
func (b *bench) runGroup(ctx context.Context, spec implSpec, group string, n, runs int) (err error) {
	fmt.Fprintf(b.stderr, "%s: %s (run %d of %d)\n", spec.impl, group, n, runs)
	subnet := netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(spec.octet), 0}), 24)
	vip := netip.AddrFrom4([4]byte{198, 18, byte(spec.octet), 100})
	l, err := vrrplab.New(vrrplab.Options{Name: spec.lab, Subnet: subnet, Vipd: b.vipd,
		Routers: []vrrplab.Impl{spec.impl, spec.impl}})
	if err != nil {
		return err
	}
	defer func() {
		if err != nil && ctx.Err() == nil {
			for _, r := range l.Routers {
				fmt.Fprintf(b.stderr, "--- %s (%s) log, last lines:\n%s\n", r.Name, r.Impl, tail(r.Log(), 40))
			}
		}
		b.saveLogs(l, spec, group, n)
		if cerr := l.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("closing the lab: %w", cerr)
		}
	}()
	prios := []int{masterPrio, backupPrio}
	for i, r := range l.Routers {
		in := vrrplab.Instance{VRID: uint8(spec.octet), Priority: prios[i], Version: 3, Interval: time.Second,
			VIP: netip.PrefixFrom(vip, 24)}
		if err := r.WriteConfig(in.Config(r.Name)); err != nil {
			return err
		}
	}
	for _, r := range l.Routers {
		if err := r.Start(); err != nil {
			return err
		}
	}
	if err := l.StartProbe(vip, probeEvery); err != nil {
		return err
	}
	if err := waitSteady(ctx, l, 20*time.Second, "r1"); err != nil {
		return fmt.Errorf("start-up: %w", err)
	}
	switch group {
	case "handover":
		return b.handover(ctx, spec, l)
	case "split":
		return b.split(ctx, spec, l)
	default:
		return b.sigkill(ctx, spec, l)
	}
}

// handover: SIGTERM of the master, then the master restarted preempts
// back.
func (b *bench) handover(ctx context.Context, spec implSpec, l *vrrplab.Lab) error {
	r1 := l.Router("r1")
	from := time.Now()
	if err := r1.Term(10 * time.Second); err != nil {
		return err
	}
	settled, err := l.WaitHoldersContext(ctx, 15*time.Second, "r2")
	if err != nil {
		return fmt.Errorf("after SIGTERM: %w", err)
	}
	s, err := settledStats(ctx, l, from, settled)
	if err != nil {
		return err
	}
	b.progress(spec, "SIGTERM of the master: %s", describe(s, from))
	b.record(spec.impl, "sigterm", "longest gap", sample{v: int64(s.LongestGap)})
	b.record(spec.impl, "sigterm", "lost probes", sample{v: int64(s.Lost)})

	if !b.scenarios["preempt"] {
		return nil
	}
	if err := waitSteady(ctx, l, 20*time.Second, "r2"); err != nil {
		return fmt.Errorf("before preempting back: %w", err)
	}
	from = time.Now()
	if err := r1.Start(); err != nil {
		return err
	}
	settled, err = l.WaitHoldersContext(ctx, 15*time.Second, "r1")
	if err != nil {
		return fmt.Errorf("preempting back: %w", err)
	}
	if s, err = settledStats(ctx, l, from, settled); err != nil {
		return err
	}
	b.progress(spec, "r1 restarted, preempting back after %v: %s", settled.Sub(from).Round(time.Millisecond), describe(s, from))
	b.record(spec.impl, "preempt", "lost probes", sample{v: int64(s.Lost)})
	b.record(spec.impl, "preempt", "longest gap", sample{v: int64(s.LongestGap)})
	return nil
}

// split: the master is cut off from the LAN (it keeps its carrier), the
// backup takes over and both hold the address; then the LAN heals.
func (b *bench) split(ctx context.Context, spec implSpec, l *vrrplab.Lab) error {
	r1 := l.Router("r1")
	cut := time.Now()
	if err := r1.Host.Cut(true); err != nil {
		return err
	}
	settled, err := l.WaitHoldersContext(ctx, mdi(backupPrio)+5*time.Second, "r1", "r2")
	if err != nil {
		return fmt.Errorf("after the cut: %w", err)
	}
	s, err := settledStats(ctx, l, cut, settled)
	if err != nil {
		return err
	}
	b.progress(spec, "master cut off: r2 took over after %v; %s (Master_Down_Interval %v)",
		settled.Sub(cut).Round(time.Millisecond), describe(s, cut), mdi(backupPrio).Round(time.Millisecond))
	b.record(spec.impl, "cut", "longest gap", sample{v: int64(s.LongestGap)})
	b.record(spec.impl, "cut", "lost probes", sample{v: int64(s.Lost)})

	if !b.scenarios["heal"] {
		return nil
	}
	healed := time.Now()
	if err := r1.Host.Cut(false); err != nil {
		return err
	}
	settled, err = l.WaitHoldersContext(ctx, 10*time.Second, "r1")
	if err != nil {
		return fmt.Errorf("after the heal: %w", err)
	}
	// The client may lose the address after the holders settled (its
	// neighbour entry still names the backup): wait until it has had its
	// answers for 2 s.
	s, quiet, err := settle(ctx, l, healed, settled, 2*time.Second, 40*time.Second)
	if err != nil {
		return err
	}
	state := ""
	if !quiet {
		state = " (still losing at the end)"
	}
	b.progress(spec, "split brain healed: r2 let go after %v; %s%s", settled.Sub(healed).Round(time.Millisecond), describe(s, healed), state)
	var last time.Duration
	if s.Lost > 0 {
		last = s.LastLost.Sub(healed)
	}
	b.record(spec.impl, "heal", "lost probes after the heal", sample{v: int64(s.Lost), bound: !quiet})
	b.record(spec.impl, "heal", "last loss after the heal", sample{v: int64(last), bound: !quiet})
	return nil
}

// sigkill: the master's daemon dies without cleaning up; how long do two
// routers hold the address?
func (b *bench) sigkill(ctx context.Context, spec implSpec, l *vrrplab.Lab) error {
	r1 := l.Router("r1")
	w := l.Watch(10 * time.Millisecond)
	defer w.Stop()
	killed := time.Now()
	if err := r1.Kill(); err != nil {
		return err
	}
	if err := sleep(ctx, b.window); err != nil {
		return err
	}
	end := killed.Add(b.window)
	w.Stop()
	overlap := w.Overlap(killed, end)
	cs := w.Changes()
	last := cs[len(cs)-1].Holders
	if !slices.Contains(last, "r2") {
		return fmt.Errorf("r2 did not take over within %v of the SIGKILL: holders %v", b.window, last)
	}
	never := len(last) > 1
	if err := sleep(ctx, answerWait); err != nil {
		return err
	}
	s := l.Probe.Stats(killed, end)
	var took time.Duration
	for _, c := range cs {
		if c.At.After(killed) && slices.Contains(c.Holders, "r2") {
			took = c.At.Sub(killed)
			break
		}
	}
	state := "r1's copy expired"
	if never {
		state = fmt.Sprintf("r1's copy still there after %v", b.window)
	}
	b.progress(spec, "SIGKILL of the master's daemon: r2 took over after %v; two holders for %v, %s; %s",
		took.Round(time.Millisecond), overlap.Round(time.Millisecond), state, describe(s, killed))
	b.record(spec.impl, "sigkill", "two routers hold the address", sample{v: int64(overlap), bound: never})
	b.record(spec.impl, "sigkill", "lost probes", sample{v: int64(s.Lost)})
	return nil
}

func describe(s netlab.ProbeStats, from time.Time) string {
	d := s.String()
	if s.Lost > 0 {
		d += fmt.Sprintf(" (lost from +%v to +%v)", s.FirstLost.Sub(from).Round(time.Millisecond), s.LastLost.Sub(from).Round(time.Millisecond))
	}
	return d
}

// waitSteady waits until want alone holds the address and the client has
// had every answer for a second while it did.
func waitSteady(ctx context.Context, l *vrrplab.Lab, timeout time.Duration, want string) error {
	deadline := time.Now().Add(timeout)
	for {
		if _, err := l.WaitHoldersContext(ctx, time.Until(deadline), want); err != nil {
			return err
		}
		if err := sleep(ctx, 500*time.Millisecond); err != nil { // the client learns the MAC
			return err
		}
		from := time.Now()
		alone := true
		for range 10 {
			if err := sleep(ctx, 100*time.Millisecond); err != nil {
				return err
			}
			if h := l.Holders(); len(h) != 1 || h[0] != want {
				alone = false
				break
			}
		}
		if alone {
			if err := sleep(ctx, answerWait); err != nil {
				return err
			}
			s := l.Probe.Stats(from, from.Add(time.Second))
			if s.Sent > 0 && s.Lost == 0 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no steady state with %s holding the address within %v: holders %v", want, timeout, l.Holders())
		}
	}
}

// settle waits until the client has had every answer for quiet since the
// holders settled (judging probes once their answer time has passed), or
// until limit after from, and returns the probe figures from from until
// then, and whether it went quiet.
func settle(ctx context.Context, l *vrrplab.Lab, from, settled time.Time, quiet, limit time.Duration) (netlab.ProbeStats, bool, error) {
	for {
		judged := time.Now().Add(-answerWait)
		if judged.Sub(settled) >= quiet {
			if q := l.Probe.Stats(judged.Add(-quiet), judged); q.Sent > 0 && q.Lost == 0 {
				return l.Probe.Stats(from, judged), true, nil
			}
		}
		if time.Since(from) > limit {
			return l.Probe.Stats(from, judged), false, nil
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return netlab.ProbeStats{}, false, err
		}
	}
}

// settledStats is settle for a step after which the client must recover.
func settledStats(ctx context.Context, l *vrrplab.Lab, from, settled time.Time) (netlab.ProbeStats, error) {
	const limit = 20 * time.Second
	s, quiet, err := settle(ctx, l, from, settled, time.Second, limit)
	if err == nil && !quiet {
		err = fmt.Errorf("the client still lost probes %v later: %s", limit, describe(s, from))
	}
	return s, err
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (b *bench) saveLogs(l *vrrplab.Lab, spec implSpec, group string, n int) {
	if b.logDir == "" {
		return
	}
	for _, r := range l.Routers {
		name := filepath.Join(b.logDir, fmt.Sprintf("%s-%s-run%d-%s.log", spec.impl, group, n, r.Name))
		if err := os.WriteFile(name, []byte(r.Log()), 0o644); err != nil {
			fmt.Fprintln(b.stderr, "failoverbench:", err)
		}
	}
}

func tail(s string, lines int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}

// print writes the table: a column per implementation, a row per figure.
func (b *bench) print(w io.Writer, impls []implSpec, runs int, took time.Duration) {
	fmt.Fprintf(w, "\nfailover benchmark: VRRPv3, advert_int 1s, IPv4; r1 priority %d (master), r2 priority %d (backup, Master_Down_Interval %v);\n",
		masterPrio, backupPrio, mdi(backupPrio).Round(time.Millisecond))
	fmt.Fprintf(w, "a client probes the virtual address every %v (a probe unanswered within 1s is lost); each of 1+4, 2+3 and 5 on a fresh lab.\n", probeEvery)
	if runs > 1 {
		fmt.Fprintf(w, "%d runs: median (max).", runs)
	} else {
		fmt.Fprint(w, "1 run.")
	}
	fmt.Fprintf(w, " Took %v.\n\n", took.Round(time.Second))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header := "scenario\tfigure"
	for _, spec := range impls {
		header += "\t" + string(spec.impl)
	}
	fmt.Fprintln(tw, header+"\tvipd target")
	shown := ""
	for _, f := range figures {
		if !b.scenarios[f.scen] {
			continue
		}
		title := ""
		if f.scen != shown {
			shown = f.scen
			title = scenarioTitle(f.scen)
		}
		line := title + "\t" + f.name
		for _, spec := range impls {
			line += "\t" + b.cell(f, spec.impl, runs)
		}
		fmt.Fprintln(tw, line+"\t"+f.target)
	}
	tw.Flush()
	if b.scenarios["sigkill"] {
		fmt.Fprintf(w, "\nSIGKILL: the addresses are watched for %v after the kill; \"never removed\" means the dead master's copy was still there at the end.\n", b.window)
	}
	for _, spec := range impls {
		if n := b.failures[spec.impl]; n > 0 {
			fmt.Fprintf(w, "%s: %d scenario run(s) failed (see above); their figures are missing.\n", spec.impl, n)
		}
	}
}

func scenarioTitle(key string) string {
	for _, s := range scenarios {
		if s.key == key {
			return s.title
		}
	}
	return key
}

func (b *bench) cell(f figure, impl vrrplab.Impl, runs int) string {
	ss := b.results[f.scen+"/"+f.name][impl]
	if len(ss) == 0 {
		return "error"
	}
	vs := make([]int64, len(ss))
	bound := 0
	for i, s := range ss {
		vs[i] = s.v
		if s.bound {
			bound++
		}
	}
	slices.Sort(vs)
	med, top := vs[len(vs)/2], vs[len(vs)-1]
	if len(vs)%2 == 0 {
		med = (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2
	}
	format := func(v int64) string {
		if f.kind == count {
			return fmt.Sprint(v)
		}
		if v == 0 && f.name == "last loss after the heal" {
			return "none"
		}
		return time.Duration(v).Round(time.Millisecond).String()
	}
	c := format(med)
	if runs > 1 || len(vs) > 1 {
		c += " (" + format(top) + ")"
	}
	if len(vs) < runs {
		c += fmt.Sprintf(" [%d of %d runs]", len(vs), runs)
	}
	if bound > 0 {
		c = "≥ " + c + ", " + f.unended
		if bound < len(ss) {
			c += fmt.Sprintf(" in %d of %d runs", bound, len(ss))
		}
	}
	return c
}
