package main

import (
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/vipd/vipd/internal/config"
	"github.com/vipd/vipd/internal/netlab"
)

// TestRouteLinesDifferential reads generated virtual_routes,
// virtual_rules, virtual_ipaddress_excluded and static_* lines, valid and
// not, with vipd and with Debian's keepalived 2.2.7 (-t), and compares the
// lines each complains about: a line keepalived reports must get an error
// or a warning from vipd, and vipd may refuse no line keepalived takes
// without a word, except for the deliberate differences listed in
// routeLineDifferences.
func TestRouteLinesDifferential(t *testing.T) {
	t.Parallel()
	needKeepalived(t)
	g := &lineGen{rnd: rand.New(rand.NewSource(39))}
	var conf strings.Builder
	lines := map[int]string{} // line number: the generated line
	n := 1
	add := func(s string) {
		conf.WriteString(s + "\n")
		n++
	}
	block := func(keyword string, count int, gen func() string) {
		add(keyword + " {")
		for range count {
			l := gen()
			lines[n] = l
			add("    " + l)
		}
		add("}")
	}
	add("vrrp_instance VI_1 {")
	add("interface eth0")
	add("virtual_router_id 1")
	add("virtual_ipaddress {")
	add("    198.18.38.10")
	add("}")
	block("virtual_routes", 250, g.route)
	block("virtual_rules", 250, g.rule)
	block("virtual_ipaddress_excluded", 120, g.address)
	add("}")
	block("static_routes", 60, g.route)
	block("static_rules", 60, g.rule)

	lab := newDifLab(t, "drl", 1)
	path := filepath.Join(t.TempDir(), "lines.conf")
	if err := os.WriteFile(path, []byte(conf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var kaOut string
	lab.each(1, func(h *netlab.Host, _ int) { _, kaOut = keepalivedCheck(h, path) })
	kaSays := map[int][]string{}
	anchored := regexp.MustCompile(`^\(` + regexp.QuoteMeta(path) + `: Line (\d+)\) (.*)$`)
	for _, l := range strings.Split(kaOut, "\n") {
		if m := anchored.FindStringSubmatch(strings.TrimSpace(l)); m != nil {
			ln, _ := strconv.Atoi(m[1])
			kaSays[ln] = append(kaSays[ln], m[2])
		}
	}
	cfg, err := config.Load(path, config.Options{})
	vipdErrs, vipdWarns := map[int][]string{}, map[int][]string{}
	collect := func(into map[int][]string, list []error) {
		for _, e := range list {
			var ce *config.Error
			if errors.As(e, &ce) {
				into[ce.Pos.Line] = append(into[ce.Pos.Line], ce.Error())
				continue
			}
			var ns *config.NotSupportedError
			if errors.As(e, &ns) {
				into[ns.Pos.Line] = append(into[ns.Pos.Line], ns.Error())
			}
		}
	}
	var errs config.Errors
	if errors.As(err, &errs) {
		collect(vipdErrs, errs)
	}
	if cfg != nil {
		for _, w := range cfg.Warnings {
			collect(vipdWarns, []error{w})
		}
	}
	numbers := make([]int, 0, len(lines))
	for ln := range lines {
		numbers = append(numbers, ln)
	}
	slices.Sort(numbers)
	var silent, refused, explained int
	for _, ln := range numbers {
		line := lines[ln]
		ka, ve, vw := kaSays[ln], vipdErrs[ln], vipdWarns[ln]
		var problem string
		switch {
		case len(ka) > 0 && len(ve)+len(vw) == 0:
			problem = fmt.Sprintf("keepalived says %q, vipd nothing", ka)
			silent++
		case len(ka) == 0 && len(ve) > 0:
			problem = fmt.Sprintf("vipd refuses it (%q), keepalived takes it without a word", ve)
			refused++
		default:
			continue
		}
		if why := routeLineDifference(line); why != "" {
			explained++
			continue
		}
		t.Errorf("line %d %q: %s", ln, line, problem)
	}
	t.Logf("%d generated lines; keepalived complains about %d; mismatches: %d keepalived-only, %d vipd-only, %d of them deliberate",
		len(lines), len(kaSays), silent, refused, explained)
}

// routeLineDifferences are the deliberate differences, by a word of the
// line, and why.
var routeLineDifferences = []struct{ word, why string }{
	{"sport 8080 ", "keepalived 2.2.7 refuses a single sport/dport (its own bug: a lone port is read, then rejected); ip rule takes one, and so does vipd"},
	{"dport 53 ", "the same for dport"},
}

func routeLineDifference(line string) string {
	for _, d := range routeLineDifferences {
		if strings.Contains(line+" ", d.word) {
			return d.why
		}
	}
	return ""
}

// lineGen makes route, rule and address lines from keepalived's words,
// right and wrong.
type lineGen struct{ rnd *rand.Rand }

func (g *lineGen) pick(s ...string) string { return s[g.rnd.Intn(len(s))] }

// some picks up to n distinct options.
func (g *lineGen) some(n int, opts []string) []string {
	var out []string
	for _, i := range g.rnd.Perm(len(opts))[:g.rnd.Intn(n+1)] {
		out = append(out, opts[i])
	}
	return out
}

// opts picks up to n of the good options and, now and then, one bad.
func (g *lineGen) opts(n int, good, bad []string) []string {
	w := g.some(n, good)
	if g.rnd.Intn(3) == 0 {
		w = append(w, g.pick(bad...))
	}
	return w
}

func (g *lineGen) route() string {
	v6 := g.rnd.Intn(4) == 0
	var w []string
	if v6 {
		w = append(w, g.pick("fd00:198:18:50::/64", "to fd00:198:18:51::/64", "::/0", "blackhole fd00:198:18:52::/64", "fd00:198:18:53::1"))
		w = append(w, g.opts(4, []string{"via fd00:198:18:38::fe", "dev eth0", "dev eth1", "src fd00:198:18:38::1", "metric 1024",
			"pref high", "pref medium", "expires 30", "from fd00:198:18:60::/64", "table 100", "mtu 1400", "no_track", "append", "hoplimit 64"},
			[]string{"pref nope", "via 198.18.38.62", "realms 5", "fd00::1/129", "from ::/0 default"})...)
	} else {
		w = append(w, g.pick("198.18.50.0/24", "to 198.18.51.0/24", "default", "blackhole 198.18.52.0/24", "unreachable 198.18.53.0/24",
			"any", "throw 198.18.56.0/24", "198.18.57.1", "prohibit 198.18.58.0/24"))
		w = append(w, g.opts(5, []string{"via 198.18.38.62", "via inet 198.18.38.61", "dev eth0", "dev eth1", "oif eth2",
			"src 198.18.38.1", "table 100", "table main", "table local", "table 4294967295", "metric 5",
			"priority 7", "protocol static", "protocol bird", "scope link", "scope host",
			"scope 200", "tos 0x10", "dsfield 8", "mtu 1400", "mtu lock 1400", "advmss 1300",
			"rtt 300ms", "rtt 2s", "rtt 1.5s", "rtt 100", "rttvar 50ms", "rto_min lock 250ms", "rto_min 3ms",
			"hoplimit 64", "reordering 3", "window 1000", "cwnd 10", "ssthresh lock 20", "initcwnd 10", "initrwnd 20",
			"features ecn", "realms 5", "realms 5/6", "realms cosmos", "quickack 1",
			"fastopen_no_cookie 1", "congctl reno", "congctl lock cubic", "ttl-propagate enabled", "ttl-propagate disabled",
			"onlink", "no_track", "add", "append", "prepend"},
			[]string{"gw 198.18.38.62", "src fd00::1", "table nosuch", "metric -1", "preference x", "protocol 300", "protocol nosuch",
				"scope nosuch", "tos 300", "rtt 1e3", "hoplimit 300", "window x", "features foo", "realms nosuch", "quickack 2",
				"fastopen_no_cookie 5", "ttl-propagate maybe", "expires 10", "pref low", "or 198.18.38.61", "foo", "track",
				"198.18.54.0/33", "198.18.55.0/24x"})...)
		if g.rnd.Intn(6) == 0 {
			w = append(w, "nexthop", g.pick("via 198.18.38.61", "via 198.18.38.61 dev eth0", "dev eth0 weight 3", "via 198.18.38.61 weight 0",
				"via 198.18.38.61 weight 300", "via fd00::1", "via 198.18.38.61 onlink realms 4", "via 198.18.38.61 foo"))
			if g.rnd.Intn(2) == 0 {
				w = append(w, "nexthop", "via 198.18.38.60 dev eth0 weight 2")
			}
		}
	}
	g.rnd.Shuffle(len(w)-1, func(i, j int) {
		if !strings.HasPrefix(w[i+1], "nexthop") && !strings.HasPrefix(w[j+1], "nexthop") && !strings.HasPrefix(w[i+1], "via 198.18.38.60") {
			w[i+1], w[j+1] = w[j+1], w[i+1]
		}
	})
	return strings.Join(w, " ")
}

func (g *lineGen) rule() string {
	w := g.opts(5, []string{"from 198.18.38.0/26", "to 198.18.60.0/24", "not", "tos 0x10", "fwmark 0x10", "fwmark 0x10/0xff",
		"iif eth0", "dev eth1", "oif eth2", "uidrange 1000-2000", "protocol 4", "ipproto tcp", "ipproto 17", "sport 80-90",
		"tunnel-id 5", "no_track"},
		[]string{"from all", "to default", "from fd00::/64", "from 198.18.38.0/40", "dsfield 300", "fwmark -1", "fwmark 0x10/",
			"uidrange 1000", "protocol 300", "ipproto nosuch", "sport 8080", "dport 53", "dport x", "inet", "inet6", "foo"})
	action := g.pick("table 100", "lookup main", "goto 20000", "nop", "blackhole", "unreachable", "prohibit", "type prohibit", "l3mdev",
		"table 100 realms 5", "table 100 realms 2/3", "table 100 suppress_prefixlength 0", "table 100 suppress_ifgroup 3")
	if g.rnd.Intn(5) == 0 {
		action = g.pick("table 0", "table nosuch", "goto 1", "type local", "", "table 100 nop", "table 100 l3mdev", "realms 5 prohibit", "sup_pl x table 100")
	}
	w = append(w, action)
	if g.rnd.Intn(6) != 0 {
		w = append(w, g.pick("preference 1000", "priority 1001", "order 1002", "preference 0x10", "preference x"))
	}
	g.rnd.Shuffle(len(w), func(i, j int) { w[i], w[j] = w[j], w[i] })
	s := strings.Join(strings.Fields(strings.Join(w, " ")), " ")
	if s == "" {
		s = "nop"
	}
	return s
}

func (g *lineGen) address() string {
	v6 := g.rnd.Intn(3) == 0
	var w []string
	if v6 {
		w = append(w, g.pick("fd00:198:18:70::1/64", "fd00:198:18:70::2", "fd00:198:18:70::3/129"))
	} else {
		w = append(w, g.pick("198.18.70.1/24", "198.18.70.2", "198.18.70.3/31", "198.18.70.4/33", "198.18.70.5/x"))
	}
	w = append(w, g.opts(4, []string{"dev eth1", "dev eth2", "brd +", "brd -", "brd 198.18.70.255", "scope link",
		"scope host", "label eth1:vip", "peer 198.18.70.9", "home", "-nodad", "mngtmpaddr", "noprefixroute", "autojoin", "no_track",
		"preferred_lft 0", "preferred_lft forever"},
		[]string{"broadcast x", "scope nosuch", "label averyveryverylonglabel", "peer fd00::9", "peer 198.18.70.9/24",
			"preferred_lft x", "notrack", "foo"})...)
	return strings.Join(w, " ")
}
