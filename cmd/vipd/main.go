// Command vipd is a keepalived-compatible VRRP daemon: it reads
// keepalived.conf, takes keepalived's everyday flags and moves virtual
// addresses between hosts with VRRP v2/v3.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vipd/vipd/internal/config"
	"github.com/vipd/vipd/internal/daemon"
	"github.com/vipd/vipd/internal/script"
)

const version = "0.2.0-dev"

// exitConfig is keepalived's exit status for a bad configuration.
const exitConfig = 5

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "simulate":
			return simulate(args[1:], stdout, stderr)
		case "demo":
			return demo(args[1:], stdout, stderr)
		}
	}
	o, err := parseOptions(args)
	if err != nil {
		fmt.Fprintln(stderr, "vipd:", err)
		return 2
	}
	switch {
	case o.help:
		fmt.Fprint(stdout, usage)
		return 0
	case o.version:
		fmt.Fprintf(stdout, "vipd %s (keepalived.conf compatible)\n", version)
		return 0
	case o.test:
		return configTest(o, stdout, stderr)
	}
	return runDaemon(o, stdout, stderr)
}

// configTest is -t: every problem with its file:line, exit 0 only when
// the file would run.
func configTest(o *options, stdout, stderr io.Writer) int {
	out := stderr
	if o.testLog != "" {
		f, err := os.Create(o.testLog)
		if err != nil {
			fmt.Fprintln(stderr, "vipd:", err)
			return 1
		}
		defer f.Close()
		out = f
	}
	cfg, err := config.Load(o.configFile, o.configOptions())
	if cfg != nil {
		for _, w := range cfg.Warnings {
			fmt.Fprintln(out, "warning:", w)
		}
	}
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		fmt.Fprintln(out, err)
		return exitConfig
	}
	if o.dump {
		if err := cfg.Dump(stdout); err != nil {
			fmt.Fprintln(stderr, "vipd:", err)
			return 1
		}
	}
	exists, where := interfaceLookup(cfg.Global.NetNamespace)
	if exists == nil {
		fmt.Fprintf(out, "warning: net_namespace %s: %s/%s does not exist on this host: vipd would not start on this host\n", cfg.Global.NetNamespace, netnsDir, cfg.Global.NetNamespace)
		exists = func(string) bool { return true } // nothing to look in
	}
	for _, in := range cfg.Instances {
		if !exists(in.VRRP.Interface) {
			what := "vipd would not start on this host (dynamic_interfaces lets it wait for the interface)"
			if cfg.Global.DynamicInterfaces {
				what = "the instance waits for it in FAULT (dynamic_interfaces)"
			}
			fmt.Fprintf(out, "warning: %s: vrrp_instance %s: interface %s does not exist %s: %s\n", in.Pos, in.VRRP.Name, in.VRRP.Interface, where, what)
		}
		for _, t := range in.TrackInterfaces {
			if !exists(t.Name) {
				fmt.Fprintf(out, "warning: %s: vrrp_instance %s: tracked interface %s does not exist %s (it counts as down)\n", t.Pos, in.VRRP.Name, t.Name, where)
			}
		}
	}
	for _, c := range cfg.Commands() {
		g := &cfg.Global
		if _, err := script.For(c.User, c.Group, g.ScriptUser, g.ScriptGroup, g.ScriptSecurity); err != nil {
			fmt.Fprintf(out, "warning: %s: %v: vipd would not start on this host\n", c.Pos, err)
		}
	}
	return 0
}

// resolveHost looks a host name up for -t, as keepalived does when it
// reads smtp_server; a DNS server that does not answer counts as a
// failure after a few seconds.
func resolveHost(host string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err := net.DefaultResolver.LookupHost(ctx, host)
	return err
}

// configOptions are the flags that change how the file reads.
func (o *options) configOptions() config.Options {
	opts := config.Options{ConfigID: o.configID, StrictIncludes: o.allConfig}
	if o.test {
		opts.Resolve = resolveHost
	}
	return opts
}

func runDaemon(o *options, stdout, stderr io.Writer) int {
	// The configuration is checked before going to the background, so
	// that a bad one is reported where the operator sees it.
	cfg, err := config.Load(o.configFile, o.configOptions())
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitConfig
	}
	if o.dump {
		if err := cfg.Dump(stdout); err != nil {
			fmt.Fprintln(stderr, "vipd:", err)
			return 1
		}
	}
	if !o.foreground {
		return detach(stderr)
	}
	if ns := cfg.Global.NetNamespace; ns != "" {
		if err := enterNetNamespace(ns); err != nil {
			fmt.Fprintln(stderr, "vipd:", err)
			return 1
		}
		if o.pidFile == defaultPIDFile {
			// Another vipd may run in another namespace on this host.
			o.pidFile = "/run/vipd_" + ns + ".pid"
		}
	}
	switch {
	case o.umask >= 0:
		syscall.Umask(o.umask)
	case cfg.Global.Umask >= 0:
		syscall.Umask(cfg.Global.Umask)
	}
	log, closeLog, err := logger(o, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "vipd:", err)
		return 1
	}
	defer closeLog()
	for _, w := range cfg.Warnings {
		log.Warn(w.Error())
	}
	if err := writePIDFile(o.pidFile); err != nil {
		log.Error(err.Error())
		fmt.Fprintln(stderr, "vipd:", err)
		return 1
	}
	defer os.Remove(o.pidFile)

	// Listen before anything can go wrong half-way: a signal during
	// start-up is then handled by the loop like any other.
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	log.Info("Starting vipd", "version", version, "config", o.configFile, "pid", os.Getpid())
	d, err := daemon.New(cfg, log)
	if err != nil {
		log.Error(err.Error())
		fmt.Fprintln(stderr, "vipd:", err)
		return 1
	}
	d.SetLoader(reloader(o, cfg, log))
	if err := d.Run(signals); err != nil {
		log.Error(err.Error())
		return 1
	}
	return 0
}

// logger builds the slog logger -l, -D, -S and -G ask for: syslog unless
// -G, and the console with -l (or when syslog cannot be reached).
func logger(o *options, stderr io.Writer) (*slog.Logger, func(), error) {
	level := slog.LevelInfo
	if o.detail {
		level = slog.LevelDebug
	}
	var outs []io.Writer
	closeLog := func() {}
	if !o.noSyslog {
		w, err := syslog.New(syslog.Priority(facilities[o.facility])|syslog.LOG_INFO, "vipd")
		if err == nil {
			outs = append(outs, w)
			closeLog = func() { w.Close() }
		} else if !o.console {
			fmt.Fprintf(stderr, "vipd: syslog: %v; logging to the console\n", err)
			o.console = true
		}
	}
	if o.console {
		outs = append(outs, stderr)
	}
	h := slog.NewTextHandler(io.MultiWriter(outs...), &slog.HandlerOptions{Level: level})
	return slog.New(h), closeLog, nil
}

// writePIDFile refuses to start a second daemon on the same pid file.
func writePIDFile(path string) error {
	if b, err := os.ReadFile(path); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid != os.Getpid() {
			if syscall.Kill(pid, 0) == nil {
				return fmt.Errorf("vipd is already running with pid %d (pid file %s)", pid, path)
			}
		}
	}
	return os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
}

// detach runs the daemon again in the background, in its own session, as
// keepalived forks when -n is not given.
func detach(stderr io.Writer) int {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(stderr, "vipd:", err)
		return 1
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintln(stderr, "vipd:", err)
		return 1
	}
	defer null.Close()
	cmd := exec.Command(self, append(os.Args[1:], "-n")...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = null, null, null
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(stderr, "vipd:", errors.Join(errors.New("starting in the background"), err))
		return 1
	}
	return 0
}
