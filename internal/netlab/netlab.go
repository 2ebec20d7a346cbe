// Package netlab builds test hosts in network namespaces: each host is a
// namespace with an eth0 on a shared bridge, like machines on one LAN. The
// integration tests and the demo use it. Everything a Lab creates lives in
// namespaces named after it, so Close removes it all, and nothing touches
// the root namespace's interfaces.
package netlab

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Lab is a LAN: a switch namespace holding a bridge, and hosts.
type Lab struct {
	name   string
	sw     netns.NsHandle
	hosts  []*Host
	closed bool
}

// Host is one namespace on the LAN.
type Host struct {
	Name   string // short name, e.g. "a"
	NSName string // the namespace's name, for "ip netns exec"
	NS     netns.NsHandle
	lab    *Lab
	port   string // its veth end on the bridge
}

const bridgeName = "br0"

// New makes an empty LAN. name prefixes every namespace it creates, so
// two labs with different names never collide.
func New(name string) (*Lab, error) {
	if name == "" || strings.Contains(name, "-") {
		return nil, fmt.Errorf("lab name %q: must be non-empty without '-' (it prefixes the lab's namespaces)", name)
	}
	l := &Lab{name: name}
	if err := claim(name); err != nil {
		return nil, err
	}
	sw, err := newNamed(name + "-sw")
	if err != nil {
		return nil, err
	}
	l.sw = sw
	err = inNS(sw, func() error {
		if err := linkUp("lo"); err != nil {
			return err
		}
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: bridgeName}}
		if err := netlink.LinkAdd(br); err != nil {
			return fmt.Errorf("bridge: %w", err)
		}
		return linkUp(bridgeName)
	})
	if err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// AddHost creates a host with eth0 on the LAN carrying the given
// addresses (IPv6 ones without duplicate address detection, so they are
// usable at once).
func (l *Lab) AddHost(name string, addrs ...netip.Prefix) (*Host, error) {
	ns, err := newNamed(l.name + "-" + name)
	if err != nil {
		return nil, err
	}
	h := &Host{Name: name, NSName: l.name + "-" + name, NS: ns, lab: l, port: fmt.Sprintf("p%d", len(l.hosts))}
	l.hosts = append(l.hosts, h)
	err = inNS(ns, func() error {
		// DAD would keep fresh IPv6 addresses (link-local too) unusable
		// for a second or more.
		for _, conf := range []string{"all", "default"} {
			if err := os.WriteFile(filepath.Join("/proc/sys/net/ipv6/conf", conf, "accept_dad"), []byte("0"), 0); err != nil {
				return err
			}
		}
		if err := linkUp("lo"); err != nil {
			return err
		}
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth0"}, PeerName: h.port,
			PeerNamespace: netlink.NsFd(int(l.sw))}
		if err := netlink.LinkAdd(veth); err != nil {
			return fmt.Errorf("veth: %w", err)
		}
		eth, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		for _, p := range addrs {
			a := &netlink.Addr{IPNet: prefixNet(p)}
			if p.Addr().Is6() {
				a.Flags = unix.IFA_F_NODAD
			}
			if err := netlink.AddrAdd(eth, a); err != nil {
				return fmt.Errorf("address %v: %w", p, err)
			}
		}
		return netlink.LinkSetUp(eth)
	})
	if err == nil {
		err = inNS(l.sw, func() error {
			port, err := netlink.LinkByName(h.port)
			if err != nil {
				return err
			}
			br, err := netlink.LinkByName(bridgeName)
			if err != nil {
				return err
			}
			if err := netlink.LinkSetMaster(port, br); err != nil {
				return err
			}
			return netlink.LinkSetUp(port)
		})
	}
	if err == nil {
		err = h.waitOperUp()
	}
	if err != nil {
		return nil, fmt.Errorf("host %s: %w", name, err)
	}
	return h, nil
}

// waitOperUp waits until both ends of the host's cable are operationally
// up. Until the kernel's link watcher has seen the carrier, a link has no
// queue and drops what is sent on it: a test's first packet would be lost
// on a loaded machine.
func (h *Host) waitOperUp() error {
	operUp := func(ns netns.NsHandle, name string) (bool, error) {
		up := false
		err := inNS(ns, func() error {
			l, err := netlink.LinkByName(name)
			if err != nil {
				return err
			}
			up = l.Attrs().OperState == netlink.OperUp
			return nil
		})
		return up, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		hostUp, err := operUp(h.NS, "eth0")
		if err != nil {
			return err
		}
		portUp, err := operUp(h.lab.sw, h.port)
		if err != nil {
			return err
		}
		if hostUp && portUp {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("eth0 not up after 10s (host side up %v, switch side up %v)", hostUp, portUp)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Do runs f with the calling goroutine's thread in the host's namespace.
// Sockets f opens stay in the namespace after it returns.
func (h *Host) Do(f func() error) error { return inNS(h.NS, f) }

// Sysctls writes /proc/sys/net/KEY = VALUE in the calling thread's
// namespace: inside Do, the host's.
func Sysctls(kv map[string]string) error {
	for k, v := range kv {
		if err := os.WriteFile(filepath.Join("/proc/sys/net", k), []byte(v), 0); err != nil {
			return err
		}
	}
	return nil
}

// SetLink takes the host's cable out (or puts it back): its port on the
// bridge goes down, so eth0 loses carrier, as when a switch port fails.
func (h *Host) SetLink(up bool) error {
	return inNS(h.lab.sw, func() error {
		port, err := netlink.LinkByName(h.port)
		if err != nil {
			return err
		}
		if up {
			return netlink.LinkSetUp(port)
		}
		return netlink.LinkSetDown(port)
	})
}

// Cut detaches the host from the bridge (or attaches it again) without
// touching its link: eth0 keeps its carrier but reaches no one, as when a
// switch between two halves of a LAN fails. This is how a split brain is
// made.
func (h *Host) Cut(cut bool) error {
	return inNS(h.lab.sw, func() error {
		port, err := netlink.LinkByName(h.port)
		if err != nil {
			return err
		}
		if cut {
			return netlink.LinkSetNoMaster(port)
		}
		br, err := netlink.LinkByName(bridgeName)
		if err != nil {
			return err
		}
		return netlink.LinkSetMaster(port, br)
	})
}

// Close deletes every namespace of the lab, and with them their links.
func (l *Lab) Close() error {
	if l.closed {
		return nil
	}
	l.closed = true
	var errs []error
	for _, h := range l.hosts {
		h.NS.Close()
		errs = append(errs, netns.DeleteNamed(h.NSName))
	}
	if l.sw.IsOpen() {
		l.sw.Close()
		errs = append(errs, netns.DeleteNamed(l.name+"-sw"))
	}
	os.Remove(filepath.Join(claimDir, l.name))
	return errors.Join(errs...)
}

// claimDir holds a file per lab in use, naming the process that made it.
const claimDir = "/run/vipd-netlab"

// claim takes the lab's name for this process. A lab of that name made by
// a process still alive (another test run) is an error: sweeping it would
// pull the ground from under that run. One left by a dead process (a run
// that was itself killed) is swept.
func claim(name string) error {
	file := filepath.Join(claimDir, name)
	if b, err := os.ReadFile(file); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid != os.Getpid() && unix.Kill(pid, 0) == nil {
			return fmt.Errorf("lab %s is in use by process %d (another test run?)", name, pid)
		}
	}
	sweep(name)
	if err := os.MkdirAll(claimDir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(file, []byte(strconv.Itoa(os.Getpid())), 0o644)
}

// sweep deletes namespaces named after a lab: name-sw and name-HOST.
func sweep(name string) {
	matches, _ := filepath.Glob(filepath.Join("/run/netns", name+"-*"))
	for _, m := range matches {
		netns.DeleteNamed(filepath.Base(m))
	}
}

// NeedRoot fails a test (never skips it) without root: CI runs as root,
// and a network test that silently skips proves nothing.
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test builds network namespaces and needs root")
	}
}

// newNamed creates a named namespace without moving the caller into it.
func newNamed(name string) (netns.NsHandle, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return 0, err
	}
	defer orig.Close()
	ns, err := netns.NewNamed(name)
	if err != nil {
		return 0, fmt.Errorf("namespace %s: %w", name, err)
	}
	if err := netns.Set(orig); err != nil {
		// This thread is stuck in the new namespace: let it die with
		// the goroutine rather than serve anyone else.
		runtime.LockOSThread()
		return 0, err
	}
	return ns, nil
}

// inNS runs f on a thread switched into ns, and switches back.
func inNS(ns netns.NsHandle, f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		return err
	}
	ferr := f()
	if err := netns.Set(orig); err != nil {
		runtime.LockOSThread() // see newNamed
		return err
	}
	return ferr
}

func linkUp(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return netlink.LinkSetUp(l)
}

func prefixNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// Neighbour is the MAC the host's eth0 has for an address (nil if none).
func (h *Host) Neighbour(addr netip.Addr) (net.HardwareAddr, error) {
	var mac net.HardwareAddr
	err := h.Do(func() error {
		link, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		fam := netlink.FAMILY_V4
		if addr.Is6() {
			fam = netlink.FAMILY_V6
		}
		list, err := netlink.NeighList(link.Attrs().Index, fam)
		for _, n := range list {
			if n.IP.Equal(addr.AsSlice()) {
				mac = n.HardwareAddr
			}
		}
		return err
	})
	return mac, err
}
