package main

import (
	"fmt"
	"strconv"
	"strings"
)

// options are keepalived's command-line options that vipd acts on.
type options struct {
	configFile string
	foreground bool
	console    bool
	detail     bool
	noSyslog   bool
	facility   string
	pidFile    string // defaultPIDFile unless -p
	umask      int    // -1: leave it
	test       bool
	dump       bool   // -d: print the configuration as understood
	configID   string // -i: which @ID lines apply; empty: the short host name
	allConfig  bool   // -e: an include that finds no file is an error
	testLog    string
	version    bool
	help       bool
}

type argKind uint8

const (
	noArg argKind = iota
	needsArg
	optionalArg // only attached: -tFILE, --config-test=FILE
)

// option is one keepalived flag. set is nil for a flag vipd refuses:
// refused says why.
type option struct {
	short   byte
	long    string
	arg     argKind
	set     func(o *options, v string) error
	refused string
}

func ignored(*options, string) error { return nil }

// The flags of keepalived 2.2.7's --help. Those that only make sense for
// keepalived's child processes, or change nothing for a VRRP-only daemon,
// are accepted; those that would change behaviour vipd does not have are
// refused, never silently ignored.
var optionTable = []option{
	{short: 'f', long: "use-file", arg: needsArg, set: func(o *options, v string) error { o.configFile = v; return nil }},
	{short: 'P', long: "vrrp", set: ignored}, // vipd runs VRRP only anyway
	{short: 'C', long: "check", refused: "the health checker (LVS) is not supported yet"},
	{short: 'B', long: "no_bfd", set: ignored},
	{long: "all", set: ignored},
	{short: 'l', long: "log-console", set: func(o *options, _ string) error { o.console = true; return nil }},
	{short: 'D', long: "log-detail", set: func(o *options, _ string) error { o.detail = true; return nil }},
	{short: 'S', long: "log-facility", arg: needsArg, set: func(o *options, v string) error {
		if _, ok := facilities[v]; !ok {
			return fmt.Errorf("log facility %q: must be 0-7, local0-local7, user or daemon", v)
		}
		o.facility = v
		return nil
	}},
	{short: 'G', long: "no-syslog", set: func(o *options, _ string) error { o.noSyslog = true; return nil }},
	{short: 'u', long: "umask", arg: needsArg, set: func(o *options, v string) error {
		m, err := strconv.ParseUint(v, 0, 12)
		if err != nil {
			return fmt.Errorf("umask %q: %v", v, err)
		}
		o.umask = int(m)
		return nil
	}},
	{short: 'X', long: "release-vips", refused: "option --release-vips is not supported yet"},
	{short: 'V', long: "dont-release-vrrp", refused: "option --dont-release-vrrp is not supported yet (vipd always releases its addresses on stop)"},
	{short: 'I', long: "dont-release-ipvs", set: ignored}, // no IPVS topology to keep
	{short: 'R', long: "dont-respawn", set: ignored},      // one process, no children
	{short: 'n', long: "dont-fork", set: func(o *options, _ string) error { o.foreground = true; return nil }},
	{short: 'd', long: "dump-conf", set: func(o *options, _ string) error { o.dump = true; return nil }},
	{short: 'p', long: "pid", arg: needsArg, set: func(o *options, v string) error { o.pidFile = v; return nil }},
	{short: 'r', long: "vrrp_pid", arg: needsArg, set: ignored}, // no child processes
	{short: 'c', long: "checkers_pid", arg: needsArg, set: ignored},
	{short: 'b', long: "bfd_pid", arg: needsArg, set: ignored},
	{short: 'T', long: "genhash", refused: "genhash mode is not supported yet"},
	{short: 'a', long: "address-monitoring", refused: "option --address-monitoring is not supported yet"},
	{short: 'x', long: "snmp", refused: "SNMP is not supported yet"},
	{short: 'A', long: "snmp-agent-socket", arg: needsArg, refused: "SNMP is not supported yet"},
	{short: 's', long: "namespace", arg: needsArg, refused: "option --namespace is not supported yet (run vipd under 'ip netns exec')"},
	{short: 'm', long: "core-dump", set: ignored},
	{short: 'M', long: "core-dump-pattern", arg: optionalArg, refused: "option --core-dump-pattern is not supported yet"},
	{short: 'e', long: "all-config", set: func(o *options, _ string) error { o.allConfig = true; return nil }},
	{short: 'i', long: "config-id", arg: needsArg, set: func(o *options, v string) error { o.configID = v; return nil }},
	{long: "signum", arg: needsArg, refused: "option --signum is not supported yet"},
	{short: 't', long: "config-test", arg: optionalArg, set: func(o *options, v string) error { o.test, o.testLog = true, v; return nil }},
	{short: 'v', long: "version", set: func(o *options, _ string) error { o.version = true; return nil }},
	{short: 'h', long: "help", set: func(o *options, _ string) error { o.help = true; return nil }},
}

var facilities = map[string]int{"user": 1 << 3, "daemon": 3 << 3}

func init() {
	for i := range 8 {
		local := (16 + i) << 3
		facilities[strconv.Itoa(i)] = local
		facilities["local"+strconv.Itoa(i)] = local
	}
}

// parseOptions reads the command line as getopt_long does for keepalived:
// bundled short flags (-nlD), attached or separate arguments (-fFILE,
// -f FILE, --use-file=FILE, --use-file FILE).
func parseOptions(args []string) (*options, error) {
	o := &options{configFile: "/etc/keepalived/keepalived.conf", pidFile: defaultPIDFile, umask: -1, facility: "daemon"}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case strings.HasPrefix(a, "--") && len(a) > 2:
			name, val, hasVal := strings.Cut(a[2:], "=")
			opt := lookupLong(name)
			if opt == nil {
				return nil, fmt.Errorf("unknown option --%s (try -h)", name)
			}
			if opt.arg == needsArg && !hasVal {
				if i+1 == len(args) {
					return nil, fmt.Errorf("option --%s needs a value", name)
				}
				i++
				val = args[i]
			}
			if opt.arg == noArg && hasVal {
				return nil, fmt.Errorf("option --%s takes no value", name)
			}
			if err := apply(o, opt, "--"+name, val); err != nil {
				return nil, err
			}
		case strings.HasPrefix(a, "-") && len(a) > 1:
			for j := 1; j < len(a); j++ {
				opt := lookupShort(a[j])
				if opt == nil {
					return nil, fmt.Errorf("unknown option -%c (try -h)", a[j])
				}
				val := ""
				if opt.arg != noArg {
					val = a[j+1:]
					if val == "" && opt.arg == needsArg {
						if i+1 == len(args) {
							return nil, fmt.Errorf("option -%c needs a value", a[j])
						}
						i++
						val = args[i]
					}
					j = len(a)
				}
				if err := apply(o, opt, "-"+string(opt.short), val); err != nil {
					return nil, err
				}
			}
		default:
			return nil, fmt.Errorf("unexpected argument %q (try -h)", a)
		}
	}
	return o, nil
}

func apply(o *options, opt *option, name, val string) error {
	if opt.set == nil {
		return fmt.Errorf("%s: %s", name, opt.refused)
	}
	return opt.set(o, val)
}

func lookupLong(name string) *option {
	for i := range optionTable {
		if optionTable[i].long == name {
			return &optionTable[i]
		}
	}
	return nil
}

func lookupShort(c byte) *option {
	for i := range optionTable {
		if optionTable[i].short == c && c != 0 {
			return &optionTable[i]
		}
	}
	return nil
}

const usage = `usage: vipd [OPTION...]          run VRRP as keepalived does, from keepalived.conf
       vipd demo [-keep]         failover demo: three routers and a client in network namespaces
       vipd simulate [-seed N]   the same story on the built-in simulator (no root needed)

  -f, --use-file=FILE      configuration file (default /etc/keepalived/keepalived.conf)
  -n, --dont-fork          stay in the foreground
  -l, --log-console        log to the console (standard error)
  -D, --log-detail         detailed (debug) log messages
  -S, --log-facility=F     syslog facility: 0-7, local0-local7, user or daemon (default)
  -G, --no-syslog          do not log to syslog
  -p, --pid=FILE           pid file (default /run/vipd.pid)
  -u, --umask=MASK         umask for files vipd creates
  -t, --config-test[=LOG]  check the configuration: exit 0 if good, else report
                           each problem with its file:line and exit non-zero
  -d, --dump-conf          print the configuration as vipd understood it, every
                           default filled in, in keepalived.conf syntax
  -i, --config-id=ID       keep the @ID lines of the configuration (default:
                           the host name up to its first dot)
  -e, --all-config         an include that finds no file is an error
  -v, --version            print the version
  -h, --help               this help

Accepted and without effect (vipd is one VRRP-only process): -P -B --all -I -R
-m -r -c -b. Refused with a message: every other keepalived option.
`

// defaultPIDFile is the pid file without -p; with net_namespace NAME it
// is /run/vipd_NAME.pid.
const defaultPIDFile = "/run/vipd.pid"
