package vrrplab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/vipd/vipd/internal/netlab"
)

// Impl is the daemon a router runs.
type Impl string

// The daemons a lab can run.
const (
	Vipd       Impl = "vipd"
	Keepalived Impl = "keepalived"
)

// Router is one host running a VRRP daemon.
type Router struct {
	Name string
	Host *netlab.Host
	Addr netip.Addr // its own address on the LAN
	Impl Impl
	Conf string // path of its keepalived.conf
	proc *Proc
	lab  *Lab
}

// Proc is a daemon run: the process and what it logged.
type Proc = netlab.Proc

// Lab is a LAN with routers and a probing client.
type Lab struct {
	Net     *netlab.Lab
	Routers []*Router
	Client  *netlab.Host
	VIP     netip.Addr
	Probe   *netlab.Probe
	Vipd    string // the vipd binary
	dir     string
}

// Options shape a lab.
type Options struct {
	Name    string       // prefixes its namespaces: unique per concurrent lab, no '-'
	Subnet  netip.Prefix // the LAN; hosts get .1, .2, ... and the client the last but one
	IPv6    bool         // give hosts IPv6 addresses too: fd00:198:18:X::N/64 for 198.18.X.N
	Vipd    string       // the vipd binary
	Routers []Impl
}

// New builds the LAN: routers r1..rN and a client "c"; nothing runs yet.
func New(o Options) (*Lab, error) {
	n, err := netlab.New(o.Name)
	if err != nil {
		return nil, err
	}
	l := &Lab{Net: n, Vipd: o.Vipd}
	l.dir, err = os.MkdirTemp("", "vrrplab-"+o.Name+"-")
	if err != nil {
		n.Close()
		return nil, err
	}
	addrs := func(i int) []netip.Prefix {
		a := o.Subnet.Addr().As4()
		a[3] = byte(i)
		ps := []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4(a), o.Subnet.Bits())}
		if o.IPv6 {
			ps = append(ps, netip.MustParsePrefix(fmt.Sprintf("fd00:198:18:%d::%d/64", a[2], i)))
		}
		return ps
	}
	for i, impl := range o.Routers {
		name := fmt.Sprintf("r%d", i+1)
		ps := addrs(i + 1)
		h, err := n.AddHost(name, ps...)
		if err != nil {
			l.Close()
			return nil, err
		}
		l.Routers = append(l.Routers, &Router{Name: name, Host: h, Addr: ps[0].Addr(), Impl: impl, lab: l,
			Conf: filepath.Join(l.dir, name+".conf")})
	}
	if l.Client, err = n.AddHost("c", addrs(250)...); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// Close stops every daemon and the probe and removes the LAN.
func (l *Lab) Close() error {
	if l.Probe != nil {
		l.Probe.Stop()
	}
	for _, r := range l.Routers {
		if r.proc != nil {
			r.proc.Stop(5 * time.Second)
		}
	}
	os.RemoveAll(l.dir)
	return l.Net.Close()
}

// StartProbe starts the client probing the virtual address.
func (l *Lab) StartProbe(vip netip.Addr, every time.Duration) error {
	l.VIP = vip
	p, err := l.Client.StartProbe(vip, every)
	l.Probe = p
	return err
}

// WriteConfig writes the router's keepalived.conf.
func (r *Router) WriteConfig(conf string) error {
	return os.WriteFile(r.Conf, []byte(conf), 0o644)
}

// Start runs the router's daemon in the foreground, logging to the
// console, on its configuration file.
func (r *Router) Start() error {
	if r.proc != nil {
		if done, _ := r.proc.Exited(); !done {
			return fmt.Errorf("%s: already running", r.Name)
		}
	}
	pid := filepath.Join(r.lab.dir, r.Name)
	var p *Proc
	var err error
	switch r.Impl {
	case Vipd:
		p, err = r.Host.Start(r.lab.Vipd, "-n", "-l", "-D", "-G", "-f", r.Conf, "-p", pid+".pid")
	case Keepalived:
		p, err = r.Host.Start("keepalived", "-n", "-l", "-D", "-P", "-f", r.Conf,
			"-p", pid+".pid", "-r", pid+".vrrp.pid", "-c", pid+".check.pid", "-b", pid+".bfd.pid")
	}
	if err != nil {
		return fmt.Errorf("%s: %w", r.Name, err)
	}
	r.proc = p
	return nil
}

// Proc is the router's current (or last) daemon run.
func (r *Router) Proc() *Proc { return r.proc }

// Signal sends a signal to the router's daemon.
func (r *Router) Signal(sig syscall.Signal) error {
	if r.proc == nil {
		return fmt.Errorf("%s: not started", r.Name)
	}
	return r.proc.Signal(sig)
}

// Kill ends the daemon with SIGKILL, all its processes at once, as
// "systemctl kill -s KILL" does: nothing gets to clean up. keepalived's
// VRRP child asks for SIGTERM when its parent dies (PR_SET_PDEATHSIG), and
// its parent restarts a child that dies, so the parent is frozen first,
// then the children killed, then the parent.
func (r *Router) Kill() error {
	if r.proc == nil {
		return fmt.Errorf("%s: not started", r.Name)
	}
	pid := r.proc.Pid()
	if r.Impl == Keepalived {
		if err := r.Signal(syscall.SIGSTOP); err != nil {
			return err
		}
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		for _, c := range strings.Fields(string(b)) {
			if child, err := strconv.Atoi(c); err == nil && child > 0 {
				syscall.Kill(child, syscall.SIGKILL)
			}
		}
	}
	if err := r.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	if !r.proc.Wait(5 * time.Second) {
		return fmt.Errorf("%s: still running after SIGKILL", r.Name)
	}
	return nil
}

// Term stops the daemon with SIGTERM and waits up to timeout for it.
func (r *Router) Term(timeout time.Duration) error {
	if err := r.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	if !r.proc.Wait(timeout) {
		return fmt.Errorf("%s: still running %v after SIGTERM", r.Name, timeout)
	}
	return nil
}

// Log is what the daemon printed.
func (r *Router) Log() string {
	if r.proc == nil {
		return ""
	}
	return r.proc.Output()
}

// Holds reports whether the router has the address on any interface.
func (r *Router) Holds(addr netip.Addr) bool {
	held := false
	r.Host.Do(func() error {
		fam := netlink.FAMILY_V4
		if addr.Is6() {
			fam = netlink.FAMILY_V6
		}
		list, err := netlink.AddrList(nil, fam)
		for _, a := range list {
			if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == addr {
				held = true
			}
		}
		return err
	})
	return held
}

// Holders names the routers holding the lab's virtual address.
func (l *Lab) Holders() []string {
	var names []string
	for _, r := range l.Routers {
		if r.Holds(l.VIP) {
			names = append(names, r.Name)
		}
	}
	return names
}

// ErrTimeout is returned when a wait ran out.
var ErrTimeout = errors.New("timed out")

// WaitHolders polls until exactly the named routers hold the address,
// and returns when that became true.
func (l *Lab) WaitHolders(timeout time.Duration, names ...string) (time.Time, error) {
	return l.WaitHoldersContext(context.Background(), timeout, names...)
}

// WaitHoldersContext is WaitHolders that also ends with ctx.
func (l *Lab) WaitHoldersContext(ctx context.Context, timeout time.Duration, names ...string) (time.Time, error) {
	want := strings.Join(names, ",")
	deadline := time.Now().Add(timeout)
	for {
		got := strings.Join(l.Holders(), ",")
		if got == want {
			return time.Now(), nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("%w after %v: holders [%s], want [%s]", ErrTimeout, timeout, got, want)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Router returns the router by name.
func (l *Lab) Router(name string) *Router {
	for _, r := range l.Routers {
		if r.Name == name {
			return r
		}
	}
	return nil
}
