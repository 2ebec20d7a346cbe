package track

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// FileValue is the number a tracked file holds, as keepalived reads it:
// an integer in C's notation (decimal, 0x hex, 0 octal) at the start of
// the file, after blanks; anything after it is ignored. A missing, empty
// or unreadable file holds 0.
func FileValue(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, nil
	}
	defer f.Close()
	buf := make([]byte, 127)
	n, _ := f.Read(buf)
	v, ok := leadingInt(string(buf[:n]))
	if !ok {
		return 0, nil
	}
	if v < math.MinInt32 || v > math.MaxInt32+1 {
		return 0, fmt.Errorf("invalid number %d read from %s", v, path)
	}
	return v, nil
}

// leadingInt reads strtol(s, NULL, 0): the longest integer prefix after
// leading white space; false if there is none (0 then).
func leadingInt(s string) (int64, bool) {
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	end := 0
	if end < len(s) && (s[end] == '+' || s[end] == '-') {
		end++
	}
	base, digits := 10, "0123456789"
	switch {
	case strings.HasPrefix(s[end:], "0x") || strings.HasPrefix(s[end:], "0X"):
		if end+2 < len(s) && strings.ContainsRune("0123456789abcdefABCDEF", rune(s[end+2])) {
			base, digits, end = 16, "0123456789abcdefABCDEF", end+2
		}
	case strings.HasPrefix(s[end:], "0"):
		base, digits = 8, "01234567"
	}
	start := end
	for end < len(s) && strings.IndexByte(digits, s[end]) >= 0 {
		end++
	}
	if end == start {
		return 0, false
	}
	num := s[start:end]
	if start > 0 && (s[0] == '-' || s[0] == '+') {
		num = s[:1] + num
	}
	v, err := strconv.ParseInt(num, base, 64)
	if err != nil {
		if num[0] == '-' {
			return math.MinInt64, true
		}
		return math.MaxInt64, true
	}
	return v, true
}

// FileChange says a watched file was written, moved in, moved away or
// deleted: its value is to be read again.
type FileChange struct{ Path string }

// FileWatch watches files through inotify on their directories, which
// sees a file written in place, replaced by a rename, or created after
// the watch began, as keepalived's does.
type FileWatch struct {
	f       *os.File       // the inotify descriptor, non-blocking: Close ends a pending read
	dirs    map[int]string // watch descriptor: directory
	watched map[string]bool
	changes chan FileChange
	closed  chan struct{}
}

// WatchFiles starts watching the files; changes arrive on Changes until
// Close.
func WatchFiles(paths []string) (*FileWatch, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	w := &FileWatch{f: os.NewFile(uintptr(fd), "inotify"), dirs: map[int]string{}, watched: map[string]bool{}, changes: make(chan FileChange, 16), closed: make(chan struct{})}
	added := map[string]bool{}
	for _, p := range paths {
		p = filepath.Clean(p)
		w.watched[p] = true
		dir := filepath.Dir(p)
		if added[dir] {
			continue
		}
		wd, err := unix.InotifyAddWatch(fd, dir, unix.IN_CLOSE_WRITE|unix.IN_MOVED_TO|unix.IN_MOVED_FROM|unix.IN_DELETE)
		if err != nil {
			w.f.Close()
			return nil, fmt.Errorf("watching %s for %s: %w", dir, filepath.Base(p), err)
		}
		added[dir] = true
		w.dirs[wd] = dir
	}
	go w.read()
	return w, nil
}

// Changes delivers the changes.
func (w *FileWatch) Changes() <-chan FileChange { return w.changes }

// Close stops the watch.
func (w *FileWatch) Close() {
	close(w.closed)
	w.f.Close()
}

func (w *FileWatch) read() {
	buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
	for {
		n, err := w.f.Read(buf)
		if err != nil || n < unix.SizeofInotifyEvent {
			close(w.changes)
			return
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			nameStart := off + unix.SizeofInotifyEvent
			name := strings.TrimRight(string(buf[nameStart:nameStart+int(ev.Len)]), "\x00")
			off = nameStart + int(ev.Len)
			if ev.Mask&unix.IN_ISDIR != 0 {
				continue
			}
			path := filepath.Join(w.dirs[int(ev.Wd)], name)
			if !w.watched[path] {
				continue
			}
			select {
			case w.changes <- FileChange{Path: path}:
			case <-w.closed:
				return
			}
		}
	}
}
