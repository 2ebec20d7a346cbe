package daemon

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/vipd/vipd/internal/config"
	"github.com/vipd/vipd/internal/script"
)

// fifo is an open notify FIFO.
type fifo struct {
	path   string
	f      *os.File
	made   bool            // vipd made it, so it removes it at stop
	script *script.Running // notify_fifo_script, reading it
	// vrrp and lvs: which lines it gets; notify_fifo gets both.
	vrrp, lvs bool
}

// openFIFOs makes (if need be) and opens the notify FIFOs, and starts
// their scripts with the FIFO's path as last argument, as keepalived
// does. The FIFO is opened for reading and writing, so that vipd never
// waits for a reader, and without blocking: a line a full FIFO has no
// room for is lost rather than holding up the protocol.
func openFIFOs(g *config.Global) ([]*fifo, error) {
	var out []*fifo
	fail := func(err error) ([]*fifo, error) {
		closeFIFOs(out)
		return nil, err
	}
	for _, fc := range g.FIFOs() {
		ff := &fifo{path: fc.Path, vrrp: fc != g.LVSNotifyFIFO, lvs: fc != g.VRRPNotifyFIFO}
		out = append(out, ff)
		switch err := unix.Mkfifo(fc.Path, 0o644); {
		case err == nil:
			ff.made = true
			cred, err := script.For(fc.User, fc.Group, g.ScriptUser, g.ScriptGroup, false)
			if err != nil {
				return fail(fmt.Errorf("%s: notify FIFO %s: %w", fc.Pos, fc.Path, err))
			}
			if cred != nil && (cred.Uid != uint32(os.Getuid()) || cred.Gid != uint32(os.Getgid())) {
				if err := os.Chown(fc.Path, int(cred.Uid), int(cred.Gid)); err != nil {
					return fail(fmt.Errorf("%s: notify FIFO %s: %w", fc.Pos, fc.Path, err))
				}
			}
		case !errors.Is(err, unix.EEXIST):
			return fail(fmt.Errorf("%s: making notify FIFO %s: %w", fc.Pos, fc.Path, err))
		}
		if sc := fc.Script; sc != nil {
			cmd, err := command(sc, g)
			if err != nil {
				return fail(err)
			}
			if ff.script, err = script.Start(cmd, fc.Path); err != nil {
				return fail(fmt.Errorf("%s: notify FIFO script: %w", sc.Pos, err))
			}
		}
		f, err := os.OpenFile(fc.Path, os.O_RDWR|unix.O_NONBLOCK|unix.O_NOFOLLOW, 0)
		if err != nil {
			return fail(fmt.Errorf("%s: opening notify FIFO %s: %w", fc.Pos, fc.Path, err))
		}
		ff.f = f
	}
	return out, nil
}

// closeFIFOs removes the FIFOs vipd made first, so that a script
// reopening its FIFO in a loop cannot open it again, then closes them: a
// script reading one sees its end.
func closeFIFOs(fs []*fifo) {
	for _, ff := range fs {
		if ff.made {
			os.Remove(ff.path)
		}
		if ff.f != nil {
			ff.f.Close()
		}
	}
}

// fifoLine writes "KIND "NAME" EVENT PRIORITY" to the FIFOs that take
// VRRP's lines, as keepalived words it.
func (d *Daemon) fifoLine(kind, name, event string, priority int) {
	line := []byte(fmt.Sprintf("%s \"%s\" %s %d\n", kind, name, event, priority))
	for _, ff := range d.fifos {
		if ff.vrrp {
			d.writeFIFO(ff, line)
		}
	}
}

// lvsFIFOLine writes a virtual server's line ("RS REAL VS UP", "VS VS
// DOWN") to the FIFOs that take them.
func (d *Daemon) lvsFIFOLine(line string) {
	for _, ff := range d.fifos {
		if ff.lvs {
			d.writeFIFO(ff, []byte(line+"\n"))
		}
	}
}

// writeFIFO makes one write, whatever it does: a full FIFO (EAGAIN) must
// not hold the loop, as the File's own Write would until a reader makes
// room.
func (d *Daemon) writeFIFO(ff *fifo, line []byte) {
	var werr error
	rc, err := ff.f.SyscallConn()
	if err == nil {
		err = rc.Write(func(fd uintptr) bool {
			_, werr = unix.Write(int(fd), line)
			return true
		})
	}
	if err = errors.Join(err, werr); err != nil {
		d.log.Warn(fmt.Sprintf("notify FIFO %s: line lost", ff.path), "err", err)
	}
}
