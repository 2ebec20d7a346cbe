package check

import (
	"context"
	"syscall"
	"time"

	"github.com/vipd/vipd/internal/script"
)

// Misc is MISC_CHECK: run a program (no shell, in a process group of its
// own, as Credential) and judge by how it ends.
//
// Without misc_dynamic, exit status 0 passes and anything else fails.
// With it, 0 passes leaving the weight as configured (keepalived drops
// any weight an earlier status set), 1 fails, and 2..255 pass with the
// weight set to the status less 2. A program killed by a signal fails;
// one still running after Timeout is sent SIGTERM with its group, SIGKILL
// 2 s later if still there, and the attempt fails as timed out.
type Misc struct {
	// Argv is misc_path split into the program and its arguments.
	Argv []string
	// Credential is the user (and group) it runs as; nil: vipd's own.
	Credential *syscall.Credential
	// Timeout is misc_timeout, or the delay loop when that is unset (as
	// keepalived does, and the caller passes); 0: only ctx limits it.
	Timeout time.Duration
	// Dynamic is misc_dynamic.
	Dynamic bool
}

// termGrace is how long a timed-out program has between SIGTERM and
// SIGKILL (keepalived's 2 s); tests shorten it.
var termGrace = 2 * time.Second

// Probe runs the program once.
func (m *Misc) Probe(ctx context.Context) Result {
	if err := ctx.Err(); err != nil {
		return fail("misc check not run: %v", err)
	}
	r, err := script.Start(script.Cmd{Argv: m.Argv, Cred: m.Credential})
	if err != nil {
		return fail("misc check failed to start (%v)", err)
	}
	var expired <-chan time.Time
	if m.Timeout > 0 {
		t := time.NewTimer(m.Timeout)
		defer t.Stop()
		expired = t.C
	}
	select {
	case <-r.Done():
	case <-expired:
		stopScript(ctx, r)
		return fail("misc check timed out")
	case <-ctx.Done():
		stopScript(ctx, r)
		return fail("misc check stopped: %v", ctx.Err())
	}

	status := script.ExitStatus(r.Err())
	switch {
	case status == 0:
		return ok()
	case m.Dynamic && status >= 2 && status <= 255:
		return Result{OK: true, Weight: status - 2, HasWeight: true}
	}
	return fail("misc check failed (%s)", script.Describe(r.Err()))
}

// stopScript ends a script's process group: SIGTERM, then SIGKILL after
// termGrace (at once if ctx is over, so Probe keeps to its deadline), and
// once the script itself is gone a last SIGKILL for any children it left
// in the group.
func stopScript(ctx context.Context, r *script.Running) {
	pgid := r.Pid() // Setpgid: the script leads its own group
	syscall.Kill(-pgid, syscall.SIGTERM)
	if ctx.Err() == nil {
		grace := time.NewTimer(termGrace)
		defer grace.Stop()
		select {
		case <-r.Done():
		case <-grace.C:
		case <-ctx.Done():
		}
	}
	syscall.Kill(-pgid, syscall.SIGKILL)
	<-r.Done()
}
