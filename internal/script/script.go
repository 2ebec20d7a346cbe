// Package script runs the programs a configuration names (vrrp_script
// checks, notify scripts) as keepalived runs them: directly, not through
// a shell, as the configured user, in a process group of their own that
// a timeout kills whole, and terminated if vipd dies.
package script

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"syscall"
	"time"
)

// DefaultUser is who runs scripts when neither the script nor
// script_user names anyone, if the host has it; otherwise root.
const DefaultUser = "keepalived_script"

// Cmd is a program and the identity it runs as.
type Cmd struct {
	Argv []string
	// Cred is the user and group; nil: vipd's own (root).
	Cred *syscall.Credential
}

// Lookup resolves a user and group name (or number) to the credential a
// script runs with; an empty group is the user's primary group.
func Lookup(userName, groupName string) (*syscall.Credential, error) {
	u, err := user.Lookup(userName)
	if err != nil {
		if u, err = user.LookupId(userName); err != nil {
			return nil, fmt.Errorf("script user %s does not exist on this host", userName)
		}
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("script user %s: uid %q: %w", userName, u.Uid, err)
	}
	gidText := u.Gid
	if groupName != "" {
		g, err := user.LookupGroup(groupName)
		if err != nil {
			if g, err = user.LookupGroupId(groupName); err != nil {
				return nil, fmt.Errorf("script group %s does not exist on this host", groupName)
			}
		}
		gidText = g.Gid
	}
	gid, err := strconv.ParseUint(gidText, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("script group of %s: gid %q: %w", userName, gidText, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

// Default is the credential for scripts that name no user: script_user
// (userName, groupName) if set, else DefaultUser if the host has it, else
// root (nil) unless secure, where keepalived refuses to fall back to root
// and so does vipd.
func Default(userName, groupName string, secure bool) (*syscall.Credential, error) {
	if userName != "" {
		return Lookup(userName, groupName)
	}
	cred, err := Lookup(DefaultUser, "")
	if err == nil {
		return cred, nil
	}
	if secure {
		return nil, fmt.Errorf("enable_script_security is on and neither script_user nor a user %s is there to run scripts as: set script_user (root is allowed)", DefaultUser)
	}
	return nil, nil
}

// For is the credential of a script that names user and group (both
// empty: none), with script_user's defUser and defGroup and
// enable_script_security's secure for the default (see Default).
func For(user, group, defUser, defGroup string, secure bool) (*syscall.Credential, error) {
	if user != "" {
		return Lookup(user, group)
	}
	return Default(defUser, defGroup, secure)
}

// Running is a started script.
type Running struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start runs c with extra arguments appended, its output discarded.
func Start(c Cmd, extra ...string) (*Running, error) {
	if len(c.Argv) == 0 {
		return nil, errors.New("empty script")
	}
	argv := append(append([]string(nil), c.Argv...), extra...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = "/"
	cmd.Env = environ()
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:    true, // a timeout ends its children too
		Pdeathsig:  syscall.SIGTERM,
		Credential: c.Cred,
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	r := &Running{cmd: cmd, done: make(chan struct{})}
	go func() {
		r.err = cmd.Wait()
		close(r.done)
	}()
	return r, nil
}

// environ is what scripts see: vipd's environment, as keepalived passes
// its own, with a usual PATH if it has none.
func environ() []string {
	env := os.Environ()
	if os.Getenv("PATH") == "" {
		env = append(env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	}
	return env
}

// Done is closed when the script has exited.
func (r *Running) Done() <-chan struct{} { return r.done }

// Pid is the script's process id.
func (r *Running) Pid() int { return r.cmd.Process.Pid }

// Err is how the script ended once Done is closed: nil for exit status
// 0, an *exec.ExitError otherwise.
func (r *Running) Err() error { return r.err }

// KillAfter waits up to timeout for the script; one still running is sent
// SIGTERM, with its process group, and SIGKILL grace later if it is still
// there. It reports whether the script timed out.
func (r *Running) KillAfter(timeout, grace time.Duration) (timedOut bool) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-r.done:
		return false
	case <-t.C:
	}
	r.signal(syscall.SIGTERM)
	t.Reset(grace)
	select {
	case <-r.done:
	case <-t.C:
		r.signal(syscall.SIGKILL)
		<-r.done
	}
	return true
}

func (r *Running) signal(sig syscall.Signal) {
	// The negative pid is the process group Setpgid made.
	if err := syscall.Kill(-r.cmd.Process.Pid, sig); err != nil {
		_ = r.cmd.Process.Signal(sig)
	}
}

// Describe says how a script ended, in keepalived's words: "exited with
// status 3", "due to signal 9".
func Describe(err error) string {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		if err == nil {
			return "exited with status 0"
		}
		return err.Error()
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return fmt.Sprintf("due to signal %d", ws.Signal())
	}
	return fmt.Sprintf("exited with status %d", ee.ExitCode())
}

// ExitStatus is the status a script exited with: 0 for a nil error, -1
// if a signal ended it.
func ExitStatus(err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode() // -1 when signalled
	}
	return -1
}
