package sim

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/vipd/vipd/internal/vrrp"
)

// TestScenarios runs the transcripts in testdata/. Each file is a story:
// hosts defined, processes started, the clock advanced, failures injected,
// and what the routers did printed line by line. Rewrite the expected
// output with: go test ./internal/vrrp/sim -run TestScenarios -rewrite
func TestScenarios(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		sc := &script{sim: New(1)}
		sc.sim.OnEvent = sc.record
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			out, err := sc.run(d)
			if err != nil {
				return "error: " + err.Error() + "\n"
			}
			return out
		})
	})
}

// script turns datadriven commands into simulator calls.
type script struct {
	sim     *Sim
	out     strings.Builder
	adverts bool // show periodic adverts too
	silent  bool
	hostSeq int
}

func (sc *script) record(e Event) {
	if sc.silent {
		return
	}
	a := e.Action
	switch {
	case e.Drop == vrrp.ErrNotListening:
		// Routine while an instance is in FAULT; counted, not printed.
	case e.Drop != nil:
		fmt.Fprintf(&sc.out, "%v %s drop %s: %v\n", e.At, e.Host, e.Note, e.Drop)
	case e.Note != "":
		if e.Host != "" {
			fmt.Fprintf(&sc.out, "%v %s %s\n", e.At, e.Host, e.Note)
		} else {
			fmt.Fprintf(&sc.out, "%v %s\n", e.At, e.Note)
		}
	case a.Kind == vrrp.SendAdvert && a.Reason == vrrp.ReasonTimer && !sc.adverts:
	default:
		fmt.Fprintf(&sc.out, "%v %s %s\n", e.At, e.Host, a)
	}
}

func (sc *script) run(d *datadriven.TestData) (string, error) {
	sc.out.Reset()
	sc.adverts, sc.silent = false, false
	args := map[string]string{}
	var words []string
	for _, a := range d.CmdArgs {
		if len(a.Vals) > 0 {
			args[a.Key] = a.Vals[0]
		} else {
			words = append(words, a.Key)
			args[a.Key] = ""
		}
	}
	s := sc.sim
	host := func(i int) (*Host, error) {
		if i >= len(words) {
			return nil, fmt.Errorf("%s: which host?", d.Cmd)
		}
		h, ok := s.Host(words[i])
		if !ok {
			return nil, fmt.Errorf("no host %s", words[i])
		}
		return h, nil
	}
	var err error
	switch d.Cmd {
	case "host":
		err = sc.addHost(args, d.Input)
	case "start":
		hosts := s.Hosts()
		if len(words) > 0 {
			hosts = nil
			for i := range words {
				h, err := host(i)
				if err != nil {
					return "", err
				}
				hosts = append(hosts, h)
			}
		}
		for _, h := range hosts {
			if err := h.Start(); err != nil {
				return "", err
			}
		}
	case "advance":
		var dur time.Duration
		if dur, err = time.ParseDuration(d.CmdArgs[0].Key); err != nil {
			return "", err
		}
		_, sc.adverts = args["adverts"]
		_, sc.silent = args["quiet"]
		s.Advance(dur)
	case "kill", "stop", "link", "priority", "fault":
		var h *Host
		if h, err = host(0); err != nil {
			return "", err
		}
		err = sc.hostCmd(d.Cmd, h, words[1:])
	case "partition":
		var sides [][]string
		side := []string{}
		for _, w := range words {
			if w == "|" {
				sides = append(sides, side)
				side = []string{}
				continue
			}
			side = append(side, w)
		}
		err = s.Partition(append(sides, side)...)
	case "heal":
		s.Heal()
	case "net":
		err = sc.net(args)
	case "status":
		sc.status()
	case "probe":
		err = sc.probe(args)
	case "stats":
		err = sc.stats(words)
	default:
		return "", fmt.Errorf("unknown command %q", d.Cmd)
	}
	return sc.out.String(), err
}

func (sc *script) hostCmd(cmd string, h *Host, rest []string) error {
	switch cmd {
	case "kill":
		h.Kill()
		return nil
	case "stop":
		return h.Stop()
	case "link":
		if len(rest) != 1 || (rest[0] != "up" && rest[0] != "down") {
			return fmt.Errorf("link HOST up|down")
		}
		h.SetLink(rest[0] == "up")
		return nil
	case "priority":
		if len(rest) != 2 {
			return fmt.Errorf("priority HOST INSTANCE N")
		}
		p, err := strconv.Atoi(rest[1])
		if err != nil {
			return err
		}
		return h.SetPriority(rest[0], p)
	default: // fault
		if len(rest) != 2 || (rest[1] != "on" && rest[1] != "off") {
			return fmt.Errorf("fault HOST INSTANCE on|off")
		}
		return h.SetFault(rest[0], rest[1] == "on")
	}
}

// addHost reads a host: "host NAME" then one instance per input line
// ("VI_1 vrid=1 prio=100 vip=198.18.0.100 ...") and "group NAME VI_1 VI_2".
func (sc *script) addHost(args map[string]string, input string) error {
	var name string
	for k, v := range args {
		if v == "" {
			name = k
		}
	}
	sc.hostSeq++
	addr4 := netip.AddrFrom4([4]byte{198, 18, 0, byte(sc.hostSeq)})
	if a, ok := args["addr"]; ok {
		var err error
		if addr4, err = netip.ParseAddr(a); err != nil {
			return err
		}
	}
	addr6 := netip.MustParseAddr(fmt.Sprintf("fe80::%x", addr4.As4()[3]))
	var cfgs []vrrp.Config
	var groups []vrrp.GroupConfig
	for _, line := range strings.Split(strings.TrimSpace(input), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if f[0] == "group" {
			if len(f) < 3 {
				return fmt.Errorf("group NAME MEMBER...")
			}
			groups = append(groups, vrrp.GroupConfig{Name: f[1], Members: f[2:]})
			continue
		}
		c, err := parseInstance(f)
		if err != nil {
			return err
		}
		cfgs = append(cfgs, c)
	}
	_, err := sc.sim.AddHost(name, addr4, addr6, cfgs, groups)
	return err
}

func parseInstance(f []string) (vrrp.Config, error) {
	c := vrrp.DefaultConfig()
	c.Name = f[0]
	for _, kv := range f[1:] {
		k, v, _ := strings.Cut(kv, "=")
		var err error
		var n int
		switch k {
		case "vrid", "prio", "version", "down_adverts", "garp_repeat":
			n, err = strconv.Atoi(v)
			switch k {
			case "vrid":
				c.VRID = uint8(n)
			case "prio":
				c.Priority = uint8(n)
			case "version":
				c.Version = uint8(n)
			case "down_adverts":
				c.DownTimerAdverts = n
			case "garp_repeat":
				c.GARPMasterRepeat = n
			}
		case "interval":
			c.Interval, err = time.ParseDuration(v)
		case "preempt_delay":
			c.PreemptDelay, err = time.ParseDuration(v)
		case "grace":
			c.ReleaseGrace, err = time.ParseDuration(v)
		case "vip":
			for _, s := range strings.Split(v, ",") {
				a, perr := netip.ParseAddr(s)
				if perr != nil {
					return c, perr
				}
				c.Addrs = append(c.Addrs, a)
			}
		case "state":
			c.WantMaster = v == "MASTER"
		case "nopreempt":
			c.NoPreempt = true
		case "lower_prio_no_advert":
			c.LowerPrioNoAdvert = true
		case "skip_check_adv_addr":
			c.SkipCheckAdvAddr = true
		case "ipv6":
			c.IPv6, c.Version, c.Group = true, 3, vrrp.GroupIPv6
		case "auth":
			c.AuthType = vrrp.AuthPass
			copy(c.AuthPass[:], v)
		default:
			return c, fmt.Errorf("unknown instance setting %q", k)
		}
		if err != nil {
			return c, fmt.Errorf("%s: %v", kv, err)
		}
	}
	return c, nil
}

func (sc *script) net(args map[string]string) error {
	n := &sc.sim.Net
	for k, v := range args {
		var err error
		switch k {
		case "drop":
			n.Drop, err = strconv.ParseFloat(v, 64)
		case "dup":
			n.Duplicate, err = strconv.ParseFloat(v, 64)
		case "delay":
			n.Delay, err = time.ParseDuration(v)
		case "jitter":
			n.Jitter, err = time.ParseDuration(v)
		default:
			return fmt.Errorf("unknown net setting %q", k)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// status prints every instance of every host, then who the client
// would send to.
func (sc *script) status() {
	for _, h := range sc.sim.Hosts() {
		if !h.Running() {
			fmt.Fprintf(&sc.out, "%s: not running\n", h.Name)
			continue
		}
		for _, in := range h.Router().Instances() {
			held := ""
			if h.HoldsInstance(in.Name()) {
				held = " holds-addresses"
			}
			fmt.Fprintf(&sc.out, "%s %s %v prio=%d%s\n", h.Name, in.Name(), in.State(), in.Priority(), held)
		}
	}
}

func (sc *script) probe(args map[string]string) error {
	c := sc.sim.Client
	if v, ok := args["vip"]; ok {
		vip, err := netip.ParseAddr(v)
		if err != nil {
			return err
		}
		every := 5 * time.Millisecond
		if e, ok := args["every"]; ok {
			if every, err = time.ParseDuration(e); err != nil {
				return err
			}
		}
		c.Probe(vip, every)
		return nil
	}
	st := c.Finish()
	fmt.Fprintf(&sc.out, "probes=%d lost=%d longest-gap=%v held-together=%v client-sends-to=%s\n",
		st.Sent, st.Lost, st.LongestGap, st.HeldTogether, c.Owner(c.vip))
	c.Reset()
	return nil
}

// stats prints an instance's non-zero counters.
func (sc *script) stats(words []string) error {
	if len(words) != 2 {
		return fmt.Errorf("stats HOST INSTANCE")
	}
	h, ok := sc.sim.Host(words[0])
	if !ok || !h.Running() {
		return fmt.Errorf("host %s is not running", words[0])
	}
	in, ok := h.Router().Instance(words[1])
	if !ok {
		return fmt.Errorf("no instance %s", words[1])
	}
	st := in.Stats()
	for _, f := range []struct {
		name string
		n    uint64
	}{
		{"advert_rcvd", st.AdvertsReceived}, {"advert_sent", st.AdvertsSent},
		{"become_master", st.BecameMaster}, {"release_master", st.ReleasedMaster},
		{"packet_len_err", st.PacketLengthErrors}, {"vers_err", st.VersionErrors},
		{"invalid_type_rcvd", st.TypeErrors}, {"ip_ttl_err", st.HopLimitErrors},
		{"chk_err", st.ChecksumErrors}, {"vrid_err", st.VRIDErrors},
		{"invalid_authtype", st.AuthTypeInvalid}, {"authtype_mismatch", st.AuthTypeMismatch},
		{"auth_failure", st.AuthFailures}, {"advert_interval_err", st.IntervalErrors},
		{"addr_list_err", st.AddressListErrors}, {"pri_zero_rcvd", st.PriorityZeroReceived},
		{"pri_zero_sent", st.PriorityZeroSent},
	} {
		if f.n != 0 {
			fmt.Fprintf(&sc.out, "%s=%d\n", f.name, f.n)
		}
	}
	return nil
}
