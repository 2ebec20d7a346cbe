// Command vipd is a keepalived-compatible VRRP daemon.
//
// This build carries the protocol core and its simulator; the Linux daemon
// (sockets, netlink, keepalived.conf) is not built yet, and vipd says so
// instead of pretending to run.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
)

const version = "0.1.0-dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "simulate" {
		return simulate(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("vipd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	showVersion := fs.Bool("v", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, `usage: vipd [-v] | vipd simulate [-seed N]

  simulate   run the built-in failover story on the VRRP simulator
             (three routers and a client on a virtual LAN) and print
             the timeline and the probes lost at each step
`)
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if *showVersion {
		fmt.Fprintf(stdout, "vipd %s\n", version)
		return 0
	}
	fmt.Fprintln(stderr, "vipd: running as a daemon is not supported yet: this build has the VRRP protocol core only (try 'vipd simulate')")
	return 1
}
