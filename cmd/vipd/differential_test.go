package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vipd/vipd/internal/config"
	"github.com/vipd/vipd/internal/iproute"
	"github.com/vipd/vipd/internal/netlab"
	"github.com/vipd/vipd/internal/vrrp"
)

// TestDifferential reads generated keepalived.conf files with vipd's
// config reader and with Debian's keepalived 2.2.7, and compares them:
//
//   - the verdict: where "keepalived -t" exits 0, vipd's Load and Validate
//     must accept the file too, unless every error vipd reports is one of
//     its documented deliberate differences (deliberateDifferences). Where
//     keepalived refuses the file, vipd's verdict is only counted.
//   - the values: for each file both accept, keepalived runs in the
//     foreground with -d just long enough to dump the configuration it
//     parsed to its log; that dump is compared with what vipd read,
//     instance by instance.
//
// keepalived needs the interfaces a configuration names, so it runs in
// namespaces dif-k0… (lab "dif", subnet 198.18.38.0/24) with eth0, eth1
// and eth2, each cut off from the others.
//
// -difseed picks another set of files (the seed used is logged), -diffiles
// how many; -difkeep DIR keeps the files and keepalived's output there.
func TestDifferential(t *testing.T) {
	t.Parallel()
	needKeepalived(t)
	start := time.Now()
	seed := *difSeed
	if seed == 0 {
		seed = 38
	}
	t.Logf("seed %d (-difseed %d to repeat), %d files", seed, seed, *difFiles)

	dir := *difKeep
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	gen := &difGen{rnd: rand.New(rand.NewSource(seed))}
	files := make([]*difFile, *difFiles)
	for i := range files {
		f := gen.file()
		f.path = filepath.Join(dir, fmt.Sprintf("dif%03d.conf", i))
		if err := os.WriteFile(f.path, []byte(f.text), 0o644); err != nil {
			t.Fatal(err)
		}
		files[i] = f
	}

	lab := newDifLab(t, "dif", difHosts)

	// keepalived -t on every file, and vipd's reader.
	lab.each(len(files), func(h *netlab.Host, i int) {
		f := files[i]
		f.kaCode, f.kaCheck = keepalivedCheck(h, f.path)
		cfg, err := config.Load(f.path, config.Options{ConfigID: "x"})
		if err == nil {
			err = cfg.Validate()
		}
		f.vipd, f.vipdErr = cfg, err
	})

	var (
		bothAccept, agree, kaRejects, vipdRejectsToo int
		deliberateFiles, unexplainedFiles            int
		deliberate                                   = map[string]int{} // files, by reason
		toDump                                       []*difFile
	)
	for _, f := range files {
		switch {
		case f.kaCode != 0:
			kaRejects++
			if f.vipdErr != nil {
				vipdRejectsToo++
			} else {
				t.Logf("%s: keepalived -t exits %d, vipd accepts it (mutation: %s); keepalived says: %s",
					f.name(), f.kaCode, f.mutationName(), firstComplaint(f.kaCheck))
			}
		case f.vipdErr == nil:
			bothAccept++
			toDump = append(toDump, f)
		default:
			reasons, unexplained := classify(f.vipdErr)
			if len(unexplained) > 0 {
				unexplainedFiles++
				t.Errorf("%s: keepalived -t accepts it, vipd refuses it for no documented reason:\n%s\n--- file (mutation: %s):\n%s",
					f.name(), strings.Join(unexplained, "\n"), f.mutationName(), f.text)
				continue
			}
			deliberateFiles++
			for _, r := range reasons {
				deliberate[r]++
			}
		}
	}

	// keepalived's own reading of the files both accept.
	lab.each(len(toDump), func(h *netlab.Host, i int) {
		f := toDump[i]
		f.kaDump, f.kaDumpErr = keepalivedDump(t, h, f.path, filepath.Join(lab.dir, h.Name))
	})
	byField := map[string]int{} // files where a value disagrees, by value
	for _, f := range toDump {
		if f.kaDumpErr != nil {
			t.Errorf("%s: keepalived's dump: %v\n--- file:\n%s", f.name(), f.kaDumpErr, f.text)
			continue
		}
		ka, err := parseKeepalivedDump(f.kaDump)
		if err != nil {
			t.Errorf("%s: reading keepalived's dump: %v\n%s", f.name(), err, f.kaDump)
			continue
		}
		diffs := compareDump(ka, f.vipd)
		if len(diffs) == 0 {
			agree++
			continue
		}
		// The file in full the first time a value disagrees; after that
		// the disagreements only.
		fresh := false
		seen := map[string]bool{}
		for _, d := range diffs {
			field := difField(d)
			if seen[field] {
				continue
			}
			seen[field] = true
			if byField[field] == 0 {
				fresh = true
			}
			byField[field]++
		}
		if !fresh {
			t.Errorf("%s: keepalived and vipd read it differently (keepalived's value first):\n  %s", f.name(), strings.Join(diffs, "\n  "))
			continue
		}
		var dump bytes.Buffer
		f.vipd.Dump(&dump)
		t.Errorf("%s: keepalived and vipd read it differently (keepalived's value first):\n  %s\n--- file:\n%s--- vipd's dump:\n%s",
			f.name(), strings.Join(diffs, "\n  "), f.text, dump.String())
	}
	if *difKeep != "" {
		for _, f := range files {
			os.WriteFile(f.path+".keepalived", []byte(fmt.Sprintf("exit %d\n%s\n--- dump:\n%s", f.kaCode, f.kaCheck, f.kaDump)), 0o644)
		}
	}

	var reasons []string
	for r, n := range deliberate {
		reasons = append(reasons, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(reasons)
	t.Logf("%d files in %v: both accept %d, agree on values %d; keepalived rejects %d (vipd rejects %d of them, accepts %d); keepalived accepts, vipd rejects: %d for deliberate differences%s, %d for no documented reason",
		len(files), time.Since(start).Round(100*time.Millisecond), bothAccept, agree, kaRejects, vipdRejectsToo, kaRejects-vipdRejectsToo,
		deliberateFiles, func() string {
			if len(reasons) == 0 {
				return ""
			}
			return " (" + strings.Join(reasons, "; ") + ")"
		}(), unexplainedFiles)
	if len(byField) > 0 {
		var fields []string
		for k, n := range byField {
			fields = append(fields, fmt.Sprintf("%s %d", k, n))
		}
		sort.Strings(fields)
		t.Errorf("values keepalived and vipd disagree on (files): %s", strings.Join(fields, ", "))
	}
	if kaRejects > len(files)*2/3 || bothAccept < len(files)/4 {
		t.Errorf("the generator makes too many files keepalived refuses (%d of %d): the comparison proves little", kaRejects, len(files))
	}
}

var (
	difSeed  = flag.Int64("difseed", 0, "TestDifferential: the seed of the generated configurations (0: the default, 38)")
	difFiles = flag.Int("diffiles", 150, "TestDifferential: how many configurations to generate")
	difKeep  = flag.String("difkeep", "", "TestDifferential: keep the generated files and keepalived's output in this directory")
)

// difHosts is how many namespaces run keepalived side by side: stopping
// one takes a second, most of it waiting.
const difHosts = 8

// deliberateDifferences are the errors vipd raises where keepalived 2.2.7
// warns, or carries on, and what vipd means by each (internal/config
// explains them where it raises them; README.md says AH is refused). A
// file keepalived accepts and vipd refuses must have every one of vipd's
// errors in this list, or be a keyword vipd does not support yet. Some
// never count here because keepalived -t, warning, exits non-zero too
// (auth_pass over 8 characters, authentication in VRRPv3); they stay
// listed as what they are.
var deliberateDifferences = []struct {
	re     *regexp.Regexp
	reason string
}{
	{regexp.MustCompile(`auth_pass is longer than 8 characters`),
		"auth_pass over 8 characters (keepalived truncates it)"},
	{regexp.MustCompile(`virtual address \S+ is in vrrp_instance \S+ and in`),
		"an address in two virtual routers"},
	{regexp.MustCompile(`virtual address \S+ is listed twice in vrrp_instance`),
		"an address listed twice in one instance"},
	{regexp.MustCompile(`share virtual_router_id \d+ and address \S+ but list different addresses`),
		"one virtual router, two address lists"},
	{regexp.MustCompile(`IPv6 needs VRRP version 3`),
		"IPv6 with version 2 (keepalived runs VRRPv2 over IPv6)"},
	{regexp.MustCompile(`auth_type AH exists for VRRPv2 over IPv4 only`),
		"auth_type AH with VRRPv3 or IPv6 (keepalived ignores it)"},
	{regexp.MustCompile(`authentication exists in VRRP version 2 only`),
		"authentication with VRRPv3 (keepalived ignores it)"},
	{regexp.MustCompile(`is defined twice`),
		"two instances of one name"},
	{regexp.MustCompile(`instances on one interface need different ids`),
		"two instances of one VRID on an interface"},
	{regexp.MustCompile(`strict mode needs at least one address`),
		"strict mode without addresses"},
	{regexp.MustCompile(`strict mode allows no unicast_peer`),
		"strict mode with unicast peers"},
}

// consequences are errors that follow from a deliberate difference made
// in the same file: vipd, having made an IPv6 instance VRRPv3, finds its
// VRRPv2 advert_int (up to 255s) out of range.
var consequences = map[string]*regexp.Regexp{
	"IPv6 with version 2 (keepalived runs VRRPv2 over IPv6)": regexp.MustCompile(`VRRPv3 advertisement interval must be`),
}

// classify names the deliberate differences behind vipd's errors, and
// returns the errors that are none.
func classify(err error) (reasons, unexplained []string) {
	reasons, unexplained = classifyEach(err)
	for _, r := range reasons {
		if re := consequences[r]; re != nil {
			unexplained = slices.DeleteFunc(unexplained, re.MatchString)
		}
	}
	return reasons, unexplained
}

func classifyEach(err error) (reasons, unexplained []string) {
	var errs config.Errors
	if !errors.As(err, &errs) {
		errs = config.Errors{err}
	}
	for _, e := range errs {
		var ns *config.NotSupportedError
		if errors.As(e, &ns) {
			reasons = append(reasons, "not built: "+ns.Keyword)
			continue
		}
		i := slices.IndexFunc(deliberateDifferences, func(d struct {
			re     *regexp.Regexp
			reason string
		}) bool {
			return d.re.MatchString(e.Error())
		})
		if i < 0 {
			unexplained = append(unexplained, e.Error())
			continue
		}
		if r := deliberateDifferences[i].reason; !slices.Contains(reasons, r) {
			reasons = append(reasons, r)
		}
	}
	return reasons, unexplained
}

// difFile is one generated configuration and what each side made of it.
type difFile struct {
	path, text string
	mutation   string // the deliberate mistake in it, if any

	kaCode  int    // keepalived -t's exit status
	kaCheck string // and its output
	vipd    *config.Config
	vipdErr error

	kaDump    string
	kaDumpErr error
}

func (f *difFile) name() string { return filepath.Base(f.path) }

func (f *difFile) mutationName() string {
	if f.mutation == "" {
		return "none"
	}
	return f.mutation
}

// difField is the value a disagreement line of compareDump is about.
func difField(d string) string {
	if _, rest, ok := strings.Cut(d, ") "); ok && strings.HasPrefix(d, "(") {
		d = rest
	}
	field, _, _ := strings.Cut(d, ":")
	return field
}

// firstComplaint is the first line keepalived -t printed, without the
// file name.
func firstComplaint(out string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
	return regexp.MustCompile(`^\(\S+: `).ReplaceAllString(line, "(")
}

// ---- the namespaces

// The interfaces every generated file chooses from, and their addresses.
var difIfaces = []struct {
	name   string
	v4, v6 netip.Prefix
}{
	{"eth0", netip.MustParsePrefix("198.18.38.1/26"), netip.MustParsePrefix("fd00:198:18:38::1/64")},
	{"eth1", netip.MustParsePrefix("198.18.38.65/26"), netip.MustParsePrefix("fd00:198:18:38:1::1/64")},
	{"eth2", netip.MustParsePrefix("198.18.38.129/26"), netip.MustParsePrefix("fd00:198:18:38:2::1/64")},
}

type difLab struct {
	lab   *netlab.Lab
	hosts []*netlab.Host
	dir   string // private pid files, one directory per host
}

// newDifLab makes n namespaces, each with eth0 (on the lab's bridge, but
// cut off from it), eth1 and eth2 (veths whose peers stay in the
// namespace), all up with their addresses.
func newDifLab(t *testing.T, name string, n int) *difLab {
	t.Helper()
	l, err := netlab.New(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	d := &difLab{lab: l, dir: t.TempDir()}
	for i := 0; i < n; i++ {
		h, err := l.AddHost(fmt.Sprintf("k%d", i), difIfaces[0].v4, difIfaces[0].v6)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Cut(true); err != nil {
			t.Fatal(err)
		}
		err = h.Do(func() error {
			for _, ifc := range difIfaces[1:] {
				veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: ifc.name}, PeerName: ifc.name + "p"}
				if err := netlink.LinkAdd(veth); err != nil {
					return fmt.Errorf("%s: %w", ifc.name, err)
				}
				for _, name := range []string{ifc.name, ifc.name + "p"} {
					link, err := netlink.LinkByName(name)
					if err != nil {
						return err
					}
					if name == ifc.name {
						for _, p := range []netip.Prefix{ifc.v4, ifc.v6} {
							a, err := netlink.ParseAddr(p.String())
							if err != nil {
								return err
							}
							if p.Addr().Is6() {
								a.Flags = unix.IFA_F_NODAD
							}
							if err := netlink.AddrAdd(link, a); err != nil {
								return fmt.Errorf("%s %v: %w", name, p, err)
							}
						}
					}
					if err := netlink.LinkSetUp(link); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(d.dir, h.Name), 0o755); err != nil {
			t.Fatal(err)
		}
		d.hosts = append(d.hosts, h)
	}
	return d
}

// each runs job(host, i) for i in 0..n-1, one job at a time per host.
func (d *difLab) each(n int, job func(h *netlab.Host, i int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for _, h := range d.hosts {
		wg.Add(1)
		go func(h *netlab.Host) {
			defer wg.Done()
			for i := range next {
				job(h, i)
			}
		}(h)
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
}

// ---- keepalived

// keepalivedCheck is "keepalived -t" in the host's namespace: its exit
// status and what it said.
func keepalivedCheck(h *netlab.Host, path string) (int, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", h.NSName, "keepalived", "-t", "-f", path, "-l", "-D", "-i", "x").CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &ee) && ee.Exited():
		return ee.ExitCode(), string(out)
	}
	return -1, fmt.Sprintf("%v\n%s", err, out)
}

// keepalivedDump runs keepalived (VRRP process only) in the host's
// namespace with -d until it has logged its configuration, stops it, and
// returns its log.
func keepalivedDump(t *testing.T, h *netlab.Host, path, dir string) (string, error) {
	for _, f := range []string{"k.pid", "v.pid", "c.pid"} {
		os.Remove(filepath.Join(dir, f))
	}
	p, err := h.Start("keepalived", "-n", "-l", "-D", "-d", "--vrrp", "-i", "x", "-f", path,
		"-p", filepath.Join(dir, "k.pid"), "-r", filepath.Join(dir, "v.pid"), "-c", filepath.Join(dir, "c.pid"))
	if err != nil {
		return "", err
	}
	defer func() {
		p.Stop(5 * time.Second)
		stopChild(t, filepath.Join(dir, "v.pid"), path)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := p.Output()
		if i := strings.Index(out, "------< VRRP Topology >------"); i >= 0 && strings.Contains(out[i:], "------< Interfaces >------") {
			return out, nil
		}
		if done, err := p.Exited(); done {
			return out, fmt.Errorf("keepalived ended (%v) before dumping its configuration", err)
		}
		if time.Now().After(deadline) {
			return out, errors.New("no configuration dump after 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stopChild kills keepalived's VRRP process if it outlived its parent
// (it would, were the parent killed): the pid file names it, and its
// command line, naming our configuration file, shows it is the process
// this test started.
func stopChild(t *testing.T, pidFile, conf string) {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.Contains(cmdline, []byte("\x00"+conf+"\x00")) {
		return
	}
	t.Logf("keepalived's VRRP process %d outlived its parent: killing it", pid)
	syscall.Kill(pid, syscall.SIGKILL)
}

// kaInstance is one instance of keepalived's configuration dump.
type kaInstance struct {
	name   string
	fields map[string]string // "Priority" → "100"; flag lines → ""
	vips   []string          // the lines under "Virtual IP (n):"
	evips  []string          // under "Virtual IP Excluded :"
	peers  []string          // under "Unicast Peer :"
}

type kaDump struct {
	global    map[string]string
	instances []*kaInstance
}

var kaLogPrefix = regexp.MustCompile(`^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}: `)

// parseKeepalivedDump reads the "Global definitions" and "VRRP Topology"
// sections of keepalived's -d log (keepalived/vrrp/vrrp_data.c dump_vrrp).
func parseKeepalivedDump(log string) (*kaDump, error) {
	d := &kaDump{global: map[string]string{}}
	section := ""
	var cur *kaInstance
	var list *[]string
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := kaLogPrefix.ReplaceAllString(sc.Text(), "")
		if strings.HasPrefix(line, " ------< ") || strings.HasPrefix(line, "------< ") {
			section = strings.Trim(line, " -<>")
			cur, list = nil, nil
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		text := strings.TrimSpace(line)
		switch section {
		case "Global definitions":
			if k, v, ok := strings.Cut(text, " = "); ok && indent == 1 {
				d.global[k] = v
			}
		case "VRRP Topology":
			switch {
			case indent == 1 && strings.HasPrefix(text, "VRRP Instance = "):
				cur = &kaInstance{name: strings.TrimPrefix(text, "VRRP Instance = "), fields: map[string]string{}}
				d.instances = append(d.instances, cur)
				list = nil
			case cur == nil:
			case indent == 3:
				list = nil
				switch {
				case strings.HasPrefix(text, "Virtual IP ("):
					list = &cur.vips
				case text == "Virtual IP Excluded :":
					list = &cur.evips
				case text == "Unicast Peer :":
					list = &cur.peers
				default:
					k, v, _ := strings.Cut(text, " = ")
					if strings.HasPrefix(k, "Multicast address ") {
						k, v = "Multicast address", strings.TrimPrefix(k, "Multicast address ")
					}
					cur.fields[k] = v
				}
			case indent >= 5 && list != nil:
				*list = append(*list, text)
			}
		}
	}
	if len(d.instances) == 0 {
		return nil, errors.New("no VRRP instance in the dump")
	}
	return d, nil
}

// compareDump lists every value keepalived's dump and vipd's configuration
// disagree on. keepalived writes gratuitous ARP delays in whole seconds;
// its 2.2.7 dump leaves out an instance's garp_extra_if and strict mode
// shows only through its effects, so those are not compared.
func compareDump(ka *kaDump, cfg *config.Config) []string {
	var diffs []string
	diff := func(what string, k, v any) {
		if fmt.Sprint(k) != fmt.Sprint(v) {
			diffs = append(diffs, fmt.Sprintf("%s: keepalived %v, vipd %v", what, k, v))
		}
	}
	routerID := cfg.Global.RouterID
	if routerID == "" {
		routerID, _ = os.Hostname()
	}
	diff("router_id", ka.global["Router ID"], routerID)
	diff("vrrp_garp_interval", kaSeconds(ka.global["Gratuitous ARP interval"]), cfg.Global.GARPInterval)
	diff("vrrp_gna_interval", kaSeconds(ka.global["Gratuitous NA interval"]), cfg.Global.GNAInterval)

	var kaNames, vNames []string
	for _, in := range ka.instances {
		kaNames = append(kaNames, in.name)
	}
	for _, in := range cfg.Instances {
		vNames = append(vNames, in.VRRP.Name)
	}
	if !slices.Equal(kaNames, vNames) {
		return append(diffs, fmt.Sprintf("instances: keepalived %v, vipd %v", kaNames, vNames))
	}
	group := map[string]string{}
	for _, g := range cfg.SyncGroups {
		for _, m := range g.Members {
			group[m] = g.Name
		}
	}
	for i, k := range ka.instances {
		in := cfg.Instances[i]
		c := &in.VRRP
		f := k.fields
		p := func(what string, kv, vv any) { diff("("+c.Name+") "+what, kv, vv) }

		p("version", f["VRRP Version"], c.Version)
		_, v6 := f["Using Native IPv6"]
		p("IPv6", v6, c.IPv6)
		p("sync group", f["Sync group"], group[c.Name])
		p("starts as master", kaStartsMaster(k), vipdStartsMaster(cfg, in))
		iface, vmac := f["Interface"], ""
		if base, ok := strings.CutPrefix(iface[strings.Index(iface, ",")+1:], " vmac on "); ok && strings.Contains(iface, ",") {
			vmac, iface = iface[:strings.Index(iface, ",")], base
		}
		p("interface", iface, c.Interface)
		vmacName := ""
		if in.UseVMAC {
			vmacName = in.VMACName
		}
		p("use_vmac", vmac, vmacName)
		_, noTrack := f["VRRP interface tracking disabled"]
		p("dont_track_primary", noTrack, in.DontTrackPrimary)
		_, skip := f["Skip checking advert IP addresses"]
		p("skip_check_adv_addr", skip, c.SkipCheckAdvAddr)
		src := ""
		if s, ok := strings.CutSuffix(f["Using src_ip"], " (from configuration)"); ok {
			src = s
		}
		p("source address", src, addrOrEmpty(c.Source))
		if g, ok := f["Multicast address"]; ok {
			g, _, _ = strings.Cut(g, ",")
			p("multicast group", g, c.Group)
		}
		p("garp_master_delay", f["Gratuitous ARP delay"], int(c.GARPMasterDelay/time.Second))
		p("garp_master_repeat", f["Gratuitous ARP repeat"], c.GARPMasterRepeat)
		p("garp_master_refresh", f["Gratuitous ARP refresh"], int(c.GARPMasterRefresh/time.Second))
		p("garp_master_refresh_repeat", f["Gratuitous ARP refresh repeat"], c.GARPMasterRefreshRepeat)
		p("garp_lower_prio_delay", f["Gratuitous ARP lower priority delay"], int(c.GARPLowerPrioDelay/time.Second))
		p("garp_lower_prio_repeat", f["Gratuitous ARP lower priority repeat"], c.GARPLowerPrioRepeat)
		p("down_timer_adverts", f["Down timer adverts"], c.DownTimerAdverts)
		p("lower_prio_no_advert", f["Send advert after receive lower priority advert"] == "false", c.LowerPrioNoAdvert)
		p("virtual_router_id", f["Virtual Router ID"], c.VRID)
		p("priority", f["Priority"], c.Priority)
		p("advert_int", kaInterval(f["Advert interval"]), c.Interval)
		p("accept", f["Accept"] == "enabled", in.Accept)
		p("nopreempt", f["Preempt"] == "disabled", c.NoPreempt)
		p("preempt_delay", kaSeconds(strings.TrimSuffix(f["Preempt delay"], " secs")), c.PreemptDelay)
		auth, pass := "none", ""
		switch c.AuthType {
		case vrrp.AuthPass:
			auth, pass = "SIMPLE_PASSWORD", string(bytes.TrimRight(c.AuthPass[:], "\x00"))
		case vrrp.AuthAH:
			auth = "IPSEC_AH" // keepalived's dump shows no password for AH
		}
		if a, ok := f["Authentication type"]; ok || c.AuthType != vrrp.AuthNone {
			p("auth_type", a, auth)
			p("auth_pass", f["Password"], pass)
		}
		for _, l := range []struct {
			what   string
			ka, vi []string
		}{
			{"virtual_ipaddress", kaVIPs(k.vips), vipdVIPs(in, in.VIPs)},
			{"virtual_ipaddress_excluded", kaVIPs(k.evips), vipdVIPs(in, in.Excluded)},
		} {
			if len(l.ka) != len(l.vi) {
				p(l.what, l.ka, l.vi)
				continue
			}
			for j := range l.ka {
				p(l.what, l.ka[j], l.vi[j])
			}
		}
		var peers []string
		for _, l := range k.peers {
			peers = append(peers, strings.Fields(l)[0])
		}
		var vpeers []string
		for _, a := range in.UnicastPeers {
			vpeers = append(vpeers, a.String())
		}
		p("unicast_peer", peers, vpeers)
	}
	return diffs
}

// kaStartsMaster is whether keepalived's instance goes to MASTER at once
// on start-up (vrrp.c try_up_instance): it wants MASTER and is the address
// owner. Its Wantstate is the configured state, MASTER for an owner that
// has none, and BACKUP for every member of a sync group unless all want
// MASTER as owners (vrrp_sync.c).
func kaStartsMaster(k *kaInstance) bool {
	return k.fields["Wantstate"] == "MASTER" && k.fields["Priority"] == "255"
}

// vipdStartsMaster is the same for vipd (vrrp.Config.StartsMaster and
// SyncGroup.allStartMaster): in a sync group, only when every member does,
// which keepalived's dump shows as a group member's Wantstate.
func vipdStartsMaster(cfg *config.Config, in *config.Instance) bool {
	for _, g := range cfg.SyncGroups {
		if !slices.Contains(g.Members, in.VRRP.Name) {
			continue
		}
		for _, m := range cfg.Instances {
			if slices.Contains(g.Members, m.VRRP.Name) && !m.VRRP.StartsMaster() {
				return false
			}
		}
	}
	return in.VRRP.StartsMaster()
}

func addrOrEmpty(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// kaSeconds reads keepalived's "%g" or "%f" seconds ("" is 0).
func kaSeconds(s string) time.Duration {
	if s == "" {
		return 0
	}
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "s"), 64)
	if err != nil {
		return -1
	}
	return time.Duration(v*1e6+0.5) * time.Microsecond
}

// kaInterval reads "1 sec" or "250 milli-sec".
func kaInterval(s string) time.Duration {
	n, unit, _ := strings.Cut(s, " ")
	v, err := strconv.Atoi(n)
	if err != nil {
		return -1
	}
	if unit == "milli-sec" {
		return time.Duration(v) * time.Millisecond
	}
	return time.Duration(v) * time.Second
}

// kaVIPs normalises keepalived's address lines ("198.18.38.100/24 brd
// 198.18.38.255 dev eth0 scope global label eth0:1", "fd00::1/64 dev eth0
// scope global preferred_lft forever") to "PREFIX brd B dev D scope S
// label L", absent options left out, the device without its "@parent".
func kaVIPs(lines []string) []string {
	var out []string
	for _, l := range lines {
		w := strings.Fields(l)
		opts := map[string]string{}
		for i := 1; i+1 < len(w); i += 2 {
			opts[w[i]] = w[i+1]
		}
		pfx, err := config.ParsePrefix(w[0])
		s := pfx.String()
		if err != nil {
			s = w[0]
		}
		dev, _, _ := strings.Cut(opts["dev"], "@")
		opts["dev"] = dev
		out = append(out, vipString(s, opts["brd"], opts["dev"], opts["scope"], opts["label"]))
	}
	return out
}

// vipdVIPs writes vipd's addresses as kaVIPs does keepalived's, with
// what vipd makes of them: the broadcast address as internal/vip reads it
// ("" and "-": none, "+": the prefix's), the device the daemon puts the
// address on (internal/daemon: the one named, else the VMAC with
// use_vmac, else the instance's interface), scope global by default.
func vipdVIPs(in *config.Instance, vips []config.VIP) []string {
	var out []string
	for _, v := range vips {
		brd := ""
		if b, err := iproute.BroadcastOf(v.Prefix, v.Broadcast); err == nil && b.IsValid() {
			brd = b.String()
		}
		dev := in.AddressDev(v)
		scope := v.Scope
		if scope == "" {
			scope = "global"
		}
		out = append(out, vipString(v.Prefix.String(), brd, dev, scope, v.Label))
	}
	return out
}

func vipString(prefix, brd, dev, scope, label string) string {
	s := prefix
	for _, o := range [][2]string{{"brd", brd}, {"dev", dev}, {"scope", scope}, {"label", label}} {
		if o[1] != "" {
			s += " " + o[0] + " " + o[1]
		}
	}
	return s
}

// ---- the generator

// difGen writes random keepalived.conf files over the part of the
// language vipd implements. Most files are meant to be valid; about one
// in four carries one mistake (a mutation: a value out of range, of the
// wrong family, a typo, or a combination keepalived only warns about).
type difGen struct {
	rnd *rand.Rand
	b   strings.Builder

	mp       float64 // the chance of each mutation in this file
	mutation string  // the one made, if any
	v4Next   int     // the next IPv4 virtual address: 198.18.38.(200+v4Next%55)
	v6Next   int
}

func (g *difGen) p(prob float64) bool { return g.rnd.Float64() < prob }

func (g *difGen) pick(s ...string) string { return s[g.rnd.Intn(len(s))] }

func (g *difGen) pickInt(v ...int) int { return v[g.rnd.Intn(len(v))] }

func (g *difGen) line(depth int, format string, args ...any) {
	g.b.WriteString(strings.Repeat("    ", depth))
	fmt.Fprintf(&g.b, format, args...)
	g.b.WriteByte('\n')
}

// mutate reports whether to make the mistake named here (weight times
// the file's chance): at most one per file.
func (g *difGen) mutate(name string, weight float64) bool {
	if g.mutation != "" || !g.p(g.mp*weight) {
		return false
	}
	g.mutation = name
	return true
}

// difInstance is what the generator chose for one vrrp_instance that
// later choices depend on.
type difInstance struct {
	name  string
	iface int
	vrid  int
	v6    bool
}

func (g *difGen) file() *difFile {
	g.b.Reset()
	g.mutation, g.v4Next, g.v6Next = "", g.rnd.Intn(55), g.rnd.Intn(100)
	g.mp = 0
	if g.p(0.3) {
		g.mp = 0.08
	}

	globalVersion := 0
	strict := false
	if g.p(0.8) {
		g.line(0, "global_defs {")
		if g.p(0.7) {
			g.line(1, "router_id dif%d", g.rnd.Intn(100))
		}
		if g.p(0.3) {
			globalVersion = 2 + g.rnd.Intn(2)
			v := strconv.Itoa(globalVersion)
			if g.mutate("vrrp_version out of range", 1) {
				v = g.pick("1", "4", "two")
			}
			g.line(1, "vrrp_version %s", v)
		}
		if g.p(0.15) {
			grp := fmt.Sprintf("224.0.0.%d", 19+g.rnd.Intn(200))
			if g.mutate("vrrp_mcast_group4 not IPv4 multicast", 1) {
				grp = g.pick("10.1.2.3", "ff02::12", "224.0.0")
			}
			g.line(1, "vrrp_mcast_group4 %s", grp)
		}
		if g.p(0.15) {
			grp := fmt.Sprintf("ff02::%x", 0x13+g.rnd.Intn(200))
			if g.mutate("vrrp_mcast_group6 not IPv6 multicast", 1) {
				grp = g.pick("fd00::1", "224.0.0.18")
			}
			g.line(1, "vrrp_mcast_group6 %s", grp)
		}
		for _, kw := range []string{"vrrp_garp_master_delay", "vrrp_garp_master_refresh", "vrrp_garp_lower_prio_delay"} {
			if g.p(0.15) {
				g.line(1, "%s %s", kw, g.garpSeconds())
			}
		}
		for _, kw := range []string{"vrrp_garp_master_repeat", "vrrp_garp_master_refresh_repeat", "vrrp_garp_lower_prio_repeat"} {
			if g.p(0.15) {
				g.line(1, "%s %s", kw, g.garpRepeat(kw != "vrrp_garp_lower_prio_repeat"))
			}
		}
		if g.p(0.15) {
			v := g.pick("0.001", "0.01", "0.1", "0.25", "1", "2")
			if g.mutate("vrrp_garp_interval out of range", 0.5) {
				v = g.pick("0", "-1")
			}
			g.line(1, "vrrp_garp_interval %s", v)
		}
		if g.p(0.15) {
			v := g.pick("0.002", "0.05", "0.5", "1")
			if g.mutate("vrrp_gna_interval out of range", 0.5) {
				v = g.pick("0", "-1")
			}
			g.line(1, "vrrp_gna_interval %s", v)
		}
		if g.p(0.15) {
			g.line(1, "vrrp_skip_check_adv_addr")
		}
		if g.p(0.1) {
			g.line(1, "vrrp_lower_prio_no_advert%s", g.pick("", " true", " false"))
		}
		if g.p(0.1) {
			strict = true
			g.line(1, "vrrp_strict")
		}
		if g.mutate("global_defs keyword typo", 1) {
			g.line(1, "%s", g.pick("vrrp_garp_master_dealy 5", "router-id r1", "vrrp_strictt"))
		}
		g.line(0, "}")
	}

	var ins []*difInstance
	usedVRID := map[[2]int]bool{} // interface, VRID
	for i, n := 0, 1+g.rnd.Intn(4); i < n; i++ {
		in := &difInstance{name: fmt.Sprintf("VI_%d", i+1), iface: g.rnd.Intn(len(difIfaces)), v6: g.p(0.3)}
		if i > 0 && g.mutate("two instances of one name", 0.5) {
			in.name = ins[0].name
		}
		for {
			in.vrid = 1 + g.rnd.Intn(255)
			if !usedVRID[[2]int{in.iface, in.vrid}] {
				break
			}
		}
		if i > 0 && g.mutate("two instances of one VRID on an interface", 0.5) {
			in.vrid, in.iface, in.v6 = ins[0].vrid, ins[0].iface, ins[0].v6
		}
		usedVRID[[2]int{in.iface, in.vrid}] = true
		g.instance(in, globalVersion, strict)
		ins = append(ins, in)
	}
	if len(ins) > 1 && g.p(0.25) {
		g.line(0, "vrrp_sync_group G%d {", g.rnd.Intn(10))
		g.line(1, "group {")
		members := g.rnd.Perm(len(ins))[:2+g.rnd.Intn(len(ins)-1)]
		sort.Ints(members)
		for _, m := range members {
			g.line(2, "%s", ins[m].name)
		}
		if g.mutate("sync group member that does not exist", 1) {
			g.line(2, "VI_9")
		}
		g.line(1, "}")
		g.line(0, "}")
	}
	return &difFile{text: g.b.String(), mutation: g.mutation}
}

// garpSeconds is a gratuitous ARP delay or refresh: whole seconds.
func (g *difGen) garpSeconds() string {
	v := strconv.Itoa(g.pickInt(0, 1, 2, 5, 10, 30, 60, 3600))
	if g.mutate("gratuitous ARP seconds not a whole number", 0.3) {
		v = g.pick("1.5", "-1", "soon")
	}
	return v
}

// garpRepeat is a gratuitous ARP repeat count; keepalived wants at least
// one for the master's.
func (g *difGen) garpRepeat(positive bool) string {
	v := g.pickInt(0, 1, 2, 3, 5, 10, 100)
	if positive && v == 0 {
		v = 1
	}
	s := strconv.Itoa(v)
	if g.mutate("gratuitous ARP repeat out of range", 0.3) {
		s = g.pick("-1", "many", "2.5")
		if positive {
			s = g.pick(s, "0")
		}
	}
	return s
}

// instance writes one vrrp_instance. In strict mode it mostly keeps to
// what RFC 5798 allows, as a strict configuration that runs does.
func (g *difGen) instance(in *difInstance, globalVersion int, strict bool) {
	ifc := difIfaces[in.iface]
	compliant := strict && g.p(0.8)
	g.line(0, "vrrp_instance %s {", in.name)

	priority := 0 // not set
	if g.p(0.85) {
		priority = g.pickInt(1, 50, 99, 100, 101, 150, 200, 254, 255, 1+g.rnd.Intn(255))
	}
	state := ""
	if g.p(0.85) {
		state = g.pick("MASTER", "BACKUP", "BACKUP")
		if compliant && priority != 0 {
			state = map[bool]string{true: "MASTER", false: "BACKUP"}[priority == 255]
		}
		s := state
		if g.mutate("state typo", 1) {
			s = g.pick("MASTR", "master", "SLAVE")
		}
		g.line(1, "state %s", s)
	}
	iface := ifc.name
	if g.mutate("interface that does not exist", 0.5) {
		iface = "eth9"
	}
	g.line(1, "interface %s", iface)
	if !g.mutate("no virtual_router_id", 0.5) {
		v := strconv.Itoa(in.vrid)
		if g.mutate("virtual_router_id out of range", 1) {
			v = g.pick("0", "256", "-5", "12x")
		}
		g.line(1, "virtual_router_id %s", v)
	}
	if priority != 0 {
		v := strconv.Itoa(priority)
		if g.mutate("priority out of range", 1) {
			v = g.pick("0", "256", "-1", "high")
		}
		g.line(1, "priority %s", v)
	}
	version := 0 // not set in the instance
	if g.p(0.35) {
		version = 2 + g.rnd.Intn(2)
		if in.v6 && g.p(0.8) {
			version = 3
		}
		v := strconv.Itoa(version)
		if g.mutate("version out of range", 1) {
			v = g.pick("1", "4")
		}
		g.line(1, "version %s", v)
	}
	effVersion := version // keepalived runs VRRPv2 over IPv6 if told to
	switch {
	case effVersion != 0:
	case in.v6 || globalVersion == 3:
		effVersion = 3
	default:
		effVersion = 2
	}
	if g.p(0.6) {
		var v string
		if effVersion == 3 {
			v = g.pick("1", "2", "0.5", "0.25", "0.01", "0.1", "1.5", "3", "40.95", "0.05")
		} else {
			v = g.pick("1", "1", "2", "3", "5", "10", "255")
		}
		if g.mutate("advert_int out of range", 1) {
			if effVersion == 2 {
				v = g.pick("0", "256", "0.5", "1.5", "fast")
			} else {
				v = g.pick("0", "41", "0.005", "fast")
			}
		}
		g.line(1, "advert_int %s", v)
	}
	nopreempt := false
	if g.p(0.2) && (state != "MASTER" || g.mutate("nopreempt with state MASTER", 1)) {
		nopreempt = true
		g.line(1, "nopreempt")
	}
	if g.p(0.15) {
		// keepalived clears preempt_delay, with a warning, where it
		// cannot apply: state MASTER, nopreempt, strict mode.
		ok := state != "MASTER" && !nopreempt && !strict
		if ok || g.mutate("preempt_delay where keepalived clears it", 1) {
			v := g.pick("0", "1", "5", "10", "300", "1000", "2.5", "0.5")
			if g.mutate("preempt_delay out of range", 1) {
				v = g.pick("1001", "-1", "later")
			}
			g.line(1, "preempt_delay %s", v)
		}
	}
	if g.p(0.3) && ((effVersion == 2 && !compliant) || g.mutate("authentication with VRRPv3 or strict mode", 1)) {
		g.line(1, "authentication {")
		t := "PASS"
		if g.mutate("auth_type unknown", 1) {
			t = g.pick("SECRET", "pass", "AH")
		}
		g.line(2, "auth_type %s", t)
		n := 1 + g.rnd.Intn(8)
		if g.mutate("auth_pass over 8 characters", 1) {
			n = 9 + g.rnd.Intn(2)
		}
		const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
		pass := make([]byte, n)
		for i := range pass {
			pass[i] = chars[g.rnd.Intn(len(chars))]
		}
		g.line(2, "auth_pass %s", pass)
		g.line(1, "}")
	}
	useVMAC := g.p(0.12)
	if useVMAC {
		g.line(1, "use_vmac%s", g.pick("", "", fmt.Sprintf(" difvm%d", in.vrid)))
	}
	if g.p(0.2) {
		a := g.pick("accept", "no_accept")
		// strict mode turns accept off in VRRPv2, with a warning
		if !compliant || a == "no_accept" || effVersion == 3 {
			g.line(1, "%s", a)
		}
	}
	if g.p(0.08) {
		g.line(1, "dont_track_primary")
	}
	if g.p(0.08) {
		g.line(1, "skip_check_adv_addr%s", g.pick("", " true", " false"))
	}
	if g.p(0.08) && !compliant {
		g.line(1, "lower_prio_no_advert%s", g.pick("", " true", " false"))
	}
	if g.p(0.08) && !compliant {
		v := strconv.Itoa(1 + g.rnd.Intn(10))
		if g.mutate("down_timer_adverts out of range", 1) {
			v = g.pick("0", "101")
		}
		g.line(1, "down_timer_adverts %s", v)
	}
	for _, kw := range []string{"garp_master_delay", "garp_master_refresh", "garp_lower_prio_delay"} {
		if g.p(0.12) && !(compliant && kw == "garp_lower_prio_delay") {
			g.line(1, "%s %s", kw, g.garpSeconds())
		}
	}
	for _, kw := range []string{"garp_master_repeat", "garp_master_refresh_repeat", "garp_lower_prio_repeat"} {
		if g.p(0.12) && !(compliant && kw == "garp_lower_prio_repeat") {
			g.line(1, "%s %s", kw, g.garpRepeat(kw != "garp_lower_prio_repeat"))
		}
	}
	if useVMAC && g.p(0.3) {
		g.line(1, "garp_extra_if %s", g.pick("10", "all 30", "60 all"))
	}

	// Addresses: all of the instance's family, unless a mutation says.
	if !g.mutate("no virtual_ipaddress", 0.5) {
		g.line(1, "virtual_ipaddress {")
		for i, n := 0, 1+g.rnd.Intn(3); i < n; i++ {
			v6 := in.v6
			if i > 0 && g.mutate("addresses of both families", 1) {
				v6 = !v6
			}
			g.line(2, "%s", g.vip(v6, ifc.name, compliant && i == 0))
		}
		g.line(1, "}")
	}
	if g.p(0.12) {
		g.line(1, "virtual_ipaddress_excluded {")
		for i, n := 0, 1+g.rnd.Intn(2); i < n; i++ {
			g.line(2, "%s", g.vip(g.p(0.5), ifc.name, false))
		}
		g.line(1, "}")
	}
	// keepalived wants vmac_xmit_base for unicast with use_vmac, and no
	// unicast at all in strict mode.
	if g.p(0.2) && ((!useVMAC && !compliant) || g.mutate("unicast with use_vmac or strict mode", 1)) {
		src, peerBase := ifc.v4.Addr(), ifc.v4.Addr().As4()
		if in.v6 {
			src = ifc.v6.Addr()
		}
		if g.mutate("unicast_src_ip of the other family", 1) {
			if in.v6 {
				src = ifc.v4.Addr()
			} else {
				src = ifc.v6.Addr()
			}
		}
		if g.p(0.8) {
			g.line(1, "unicast_src_ip %v", src)
		}
		g.line(1, "unicast_peer {")
		for i, n := 0, 1+g.rnd.Intn(3); i < n; i++ {
			host := byte(1 + g.rnd.Intn(60))
			peer := netip.AddrFrom4([4]byte{peerBase[0], peerBase[1], peerBase[2], peerBase[3] + host})
			if in.v6 {
				a := ifc.v6.Addr().As16()
				a[15] += host
				peer = netip.AddrFrom16(a)
			}
			p := peer.String()
			if g.mutate("unicast peer of the other family", 1) {
				p = map[bool]string{true: "198.18.38.99", false: "fd00::99"}[in.v6]
			}
			g.line(2, "%s", p)
		}
		g.line(1, "}")
	}
	if g.mutate("instance keyword typo", 1) {
		g.line(1, "%s", g.pick("priorty 100", "virtual_router_idd 5", "advert-int 1", "auth_pass secret"))
	}
	g.line(0, "}")
}

// vip writes one line of virtual_ipaddress; linkLocal makes an IPv6 one
// link-local (strict mode wants the first so).
func (g *difGen) vip(v6 bool, iface string, linkLocal bool) string {
	var s string
	bits := 0
	if v6 {
		g.v6Next++
		if linkLocal || g.p(0.15) {
			s = fmt.Sprintf("fe80::%x", 0x100+g.v6Next)
		} else {
			s = fmt.Sprintf("fd00:198:18:38::%x", 0x100+g.v6Next)
		}
		if g.p(0.6) {
			s += g.pick("/64", "/128", "/120")
		}
	} else {
		g.v4Next++
		s = fmt.Sprintf("198.18.38.%d", 200+g.v4Next%55)
		bits = 32
		if g.p(0.6) {
			bits = g.pickInt(24, 32, 26, 25)
			s += fmt.Sprintf("/%d", bits)
		}
	}
	if g.mutate("virtual address that is not one", 0.5) {
		s = g.pick("198.18.38.300", "198.18.38", "fd00::zz", "198.18.38.1/33")
	}
	if g.mutate("one address in two places", 0.5) {
		s = map[bool]string{true: "fd00:198:18:38::100", false: "198.18.38.200"}[v6]
	}
	dev := iface
	if g.p(0.2) {
		dev = difIfaces[g.rnd.Intn(len(difIfaces))].name
		s += " dev " + dev
	}
	if !v6 {
		// keepalived refuses a broadcast address on a /31 or /32
		if g.p(0.15) && (bits <= 30 || g.mutate("brd on a host address", 1)) {
			s += " brd " + g.pick("+", "-", "198.18.38.255")
		}
		if g.p(0.15) {
			s += " scope " + g.pick("global", "link", "host", "site")
		}
		if g.p(0.12) {
			s += fmt.Sprintf(" label %s:%d", dev, g.rnd.Intn(10))
		}
	} else if g.mutate("scope, brd or label on an IPv6 address", 0.5) {
		s += g.pick(" scope link", " brd +", " label "+dev+":1")
	}
	if g.mutate("bad address option", 0.5) {
		s += g.pick(" scope universe", " dev", " brd 1.2.3", " label")
	}
	return s
}
