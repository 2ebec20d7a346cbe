package track

import (
	"bytes"
	"encoding/binary"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ParamMatch is how a process's parameters are compared with the
// configured ones (keepalived's param_match).
type ParamMatch int

const (
	ParamsAny     ParamMatch = iota // not compared
	ParamsExact                     // equal
	ParamsPartial                   // the configured ones, then any more
	ParamsInitial                   // as partial, with the last configured one a prefix
)

// ProcessSpec says which processes to count and how many make a quorum.
type ProcessSpec struct {
	Name        string // the vrrp_track_process
	Process     string // the process name, or with FullCommand its command's first word
	Params      []string
	Match       ParamMatch
	FullCommand bool
	// Quorum..QuorumMax matching processes is up.
	Quorum, QuorumMax int
	// A quorum gained (lost) counts after ForkDelay (TerminateDelay).
	ForkDelay, TerminateDelay time.Duration
}

func (s *ProcessSpec) up(count int) bool { return count >= s.Quorum && count <= s.QuorumMax }

// matches reports whether a process (its name, from /proc/PID/stat, and
// its command line) is one the spec counts, as keepalived compares them:
// exact strings, no patterns.
func (s *ProcessSpec) matches(comm string, cmdline []string) bool {
	if !s.FullCommand {
		return comm == s.Process
	}
	if len(cmdline) == 0 || cmdline[0] != s.Process {
		return false
	}
	have, want := cmdline[1:], s.Params
	switch s.Match {
	case ParamsAny:
		return true
	case ParamsExact:
		return slices.Equal(have, want)
	}
	if len(have) < len(want) {
		return false
	}
	if s.Match == ParamsPartial || len(want) == 0 {
		return slices.Equal(have[:len(want)], want)
	}
	last := len(want) - 1
	return slices.Equal(have[:last], want[:last]) && strings.HasPrefix(have[last], want[last])
}

// CountProcesses scans /proc once: how many running processes (zombies
// left out) each spec counts.
func CountProcesses(specs []ProcessSpec) []int {
	counts := make([]int, len(specs))
	dir, err := os.ReadDir("/proc")
	if err != nil {
		return counts
	}
	needCmdline := false
	for i := range specs {
		needCmdline = needCmdline || specs[i].FullCommand
	}
	for _, e := range dir {
		name := e.Name()
		if name[0] < '1' || name[0] > '9' {
			continue
		}
		stat, err := os.ReadFile("/proc/" + name + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		// "PID (COMM) STATE ...": comm may hold spaces and parentheses.
		open, close := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
		if open < 0 || close < open || close+2 >= len(stat) || stat[close+2] == 'Z' {
			continue
		}
		comm := string(stat[open+1 : close])
		var cmdline []string
		if needCmdline {
			b, err := os.ReadFile("/proc/" + name + "/cmdline")
			if err != nil {
				continue
			}
			if b = bytes.TrimSuffix(b, []byte{0}); len(b) > 0 {
				cmdline = strings.Split(string(b), "\x00")
			}
		}
		for i := range specs {
			if specs[i].matches(comm, cmdline) {
				counts[i]++
			}
		}
	}
	return counts
}

// QuorumChange is a tracked process's quorum gained (Up) or lost.
type QuorumChange struct {
	Name  string
	Up    bool
	Count int
}

// ProcessWatch counts the tracked processes whenever the kernel reports
// a process forked, exec'd, renamed or exited (its process connector), and
// every few seconds besides; it reports quorum changes once their delay
// has passed.
type ProcessWatch struct {
	specs   []ProcessSpec
	up      []bool // as last reported
	changes chan QuorumChange
	stop    chan struct{}
	events  *os.File // the process connector; nil: counting on the clock alone
}

// rescanEvery bounds how long a change goes unseen without process
// events; settle gathers a burst of events (a fork and its exec) into one
// scan.
const (
	rescanEvery = 5 * time.Second
	settle      = 50 * time.Millisecond
)

// WatchProcesses counts the processes now (Up says which quorums hold at
// start) and watches them from then on.
func WatchProcesses(specs []ProcessSpec, log *slog.Logger) *ProcessWatch {
	w := &ProcessWatch{specs: specs, up: make([]bool, len(specs)), changes: make(chan QuorumChange, len(specs)+4), stop: make(chan struct{})}
	for i, c := range CountProcesses(specs) {
		w.up[i] = specs[i].up(c)
	}
	f, err := procEvents()
	if err != nil {
		log.Warn("process events unavailable: tracked processes are counted every "+rescanEvery.String(), "err", err)
		f = nil
	}
	w.events = f
	go w.run()
	return w
}

// Up is whether each spec's quorum held at start.
func (w *ProcessWatch) Up() []bool { return append([]bool(nil), w.up...) }

// Changes delivers the quorum changes.
func (w *ProcessWatch) Changes() <-chan QuorumChange { return w.changes }

// Close stops the watch.
func (w *ProcessWatch) Close() {
	close(w.stop)
	if w.events != nil {
		w.events.Close()
	}
}

func (w *ProcessWatch) run() {
	poke := make(chan struct{}, 1)
	if w.events != nil {
		go func() {
			buf := make([]byte, 4096)
			for {
				if _, err := w.events.Read(buf); err != nil {
					return
				}
				select {
				case poke <- struct{}{}:
				default:
				}
			}
		}()
	}
	tick := time.NewTicker(rescanEvery)
	defer tick.Stop()
	scan := time.NewTimer(time.Hour)
	scan.Stop()
	// pending[i] is when a quorum change seen for spec i counts.
	pending := make([]time.Time, len(w.specs))
	var wake *time.Timer
	for {
		var due <-chan time.Time
		if next := earliest(pending); !next.IsZero() {
			if wake == nil {
				wake = time.NewTimer(time.Until(next))
			} else {
				wake.Reset(time.Until(next))
			}
			due = wake.C
		}
		select {
		case <-w.stop:
			return
		case <-poke:
			scan.Reset(settle)
			continue
		case <-scan.C:
		case <-tick.C:
		case <-due:
		}
		now := time.Now()
		for i, c := range CountProcesses(w.specs) {
			s := &w.specs[i]
			up := s.up(c)
			switch {
			case up == w.up[i]:
				pending[i] = time.Time{}
				continue
			case pending[i].IsZero():
				delay := s.TerminateDelay
				if up {
					delay = s.ForkDelay
				}
				pending[i] = now.Add(delay)
			}
			if now.Before(pending[i]) {
				continue
			}
			pending[i] = time.Time{}
			w.up[i] = up
			select {
			case w.changes <- QuorumChange{Name: s.Name, Up: up, Count: c}:
			case <-w.stop:
				return
			}
		}
	}
}

func earliest(ts []time.Time) time.Time {
	var first time.Time
	for _, t := range ts {
		if !t.IsZero() && (first.IsZero() || t.Before(first)) {
			first = t
		}
	}
	return first
}

// procEvents subscribes to the kernel's process events (the netlink
// process connector): every fork, exec, rename and exit sends a message.
// Their content does not matter here: each one only says "count again".
func procEvents() (*os.File, error) {
	const (
		cnIdxProc         = 1 // CN_IDX_PROC
		cnValProc         = 1 // CN_VAL_PROC
		procCnMcastListen = 1 // PROC_CN_MCAST_LISTEN
	)
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.NETLINK_CONNECTOR)
	if err != nil {
		return nil, err
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: cnIdxProc}); err != nil {
		unix.Close(fd)
		return nil, err
	}
	// nlmsghdr, cn_msg (id idx/val, seq, ack, len, flags), then the op.
	msg := make([]byte, unix.NLMSG_HDRLEN+20+4)
	ne := binary.NativeEndian
	ne.PutUint32(msg[0:], uint32(len(msg)))
	ne.PutUint16(msg[4:], unix.NLMSG_DONE)
	ne.PutUint32(msg[12:], uint32(os.Getpid()))
	cn := msg[unix.NLMSG_HDRLEN:]
	ne.PutUint32(cn[0:], cnIdxProc)
	ne.PutUint32(cn[4:], cnValProc)
	ne.PutUint16(cn[16:], 4)
	ne.PutUint32(cn[20:], procCnMcastListen)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), "proc-events"), nil
}
