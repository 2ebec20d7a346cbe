package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// netnsDir is where ip netns keeps named network namespaces; keepalived
// looks them up there too.
const netnsDir = "/run/netns"

// netnsEnv marks a vipd that has entered its net_namespace already.
const netnsEnv = "VIPD_NET_NAMESPACE"

// enterNetNamespace moves the whole process into the named network
// namespace (net_namespace) before it opens a socket: it joins the
// namespace on this thread and execs vipd again there, since a Go
// process cannot move its other threads; the new image starts with the
// one thread, in the namespace. It returns only on error, or at once
// when vipd is in the namespace already.
func enterNetNamespace(name string) error {
	if os.Getenv(netnsEnv) == name {
		return nil
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	runtime.LockOSThread() // the exec must come from the thread that joined
	f, err := os.Open(filepath.Join(netnsDir, name))
	if err != nil {
		return fmt.Errorf("net_namespace %s: %w (ip netns add %s makes it)", name, err, name)
	}
	defer f.Close()
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("net_namespace %s: entering it: %w", name, err)
	}
	env := append(os.Environ(), netnsEnv+"="+name)
	return syscall.Exec(self, os.Args, env)
}

// interfaceLookup says whether an interface exists where vipd will run:
// on this host, or in its net_namespace (nil if that does not exist);
// where names the place for messages.
func interfaceLookup(ns string) (exists func(string) bool, where string) {
	if ns == "" {
		return func(name string) bool {
			_, err := os.Stat("/sys/class/net/" + name)
			return err == nil
		}, "on this host"
	}
	h, err := netns.GetFromPath(filepath.Join(netnsDir, ns))
	if err != nil {
		return nil, ""
	}
	nl, err := netlink.NewHandleAt(h)
	h.Close()
	if err != nil {
		return nil, ""
	}
	return func(name string) bool {
		_, err := nl.LinkByName(name)
		return err == nil
	}, "in net_namespace " + ns
}
