package config

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// iproute2Dir holds the names ip(8) gives routing tables, protocols,
// realms, DS fields and interface groups; keepalived reads the same files.
var iproute2Dir = "/etc/iproute2"

// rtName is one of those name files with the defaults keepalived adds
// for numbers the file does not name.
type rtName struct {
	file     string
	max      uint64
	defaults map[string]uint32

	once  sync.Once
	names map[string]uint32
}

var (
	rtTables = &rtName{file: "rt_tables", max: 0xffffffff,
		defaults: map[string]uint32{"default": 253, "main": 254, "local": 255}}
	rtProtos = &rtName{file: "rt_protos", max: 255, defaults: map[string]uint32{
		"none": 0, "redirect": 1, "kernel": 2, "boot": 3, "static": 4, "gated": 8, "ra": 9,
		"mrt": 10, "zebra": 11, "bird": 12, "babel": 42, "dnrouted": 13, "xorp": 14, "ntk": 15, "dhcp": 16}}
	rtRealms   = &rtName{file: "rt_realms", max: 255}
	rtDSFields = &rtName{file: "rt_dsfield", max: 255}
	rtGroups   = &rtName{file: "group", max: 0x7fffffff}
)

// lookup reads a number (decimal, 0x hex or 0 octal) up to the maximum,
// or a name from the file or the defaults, as keepalived does.
func (r *rtName) lookup(s string) (uint32, bool) {
	if v, err := strconv.ParseUint(s, 0, 64); err == nil && !strings.HasPrefix(s, "+") {
		return uint32(v), v <= r.max
	}
	r.once.Do(r.load)
	v, ok := r.names[s]
	return v, ok
}

// load reads "NUMBER NAME" lines; a number the file names keeps the
// file's name, a default name for it is dropped.
func (r *rtName) load() {
	r.names = map[string]uint32{}
	named := map[uint32]bool{}
	if f, err := os.Open(filepath.Join(iproute2Dir, r.file)); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line, _, _ := strings.Cut(sc.Text(), "#")
			fields := strings.Fields(line)
			if len(fields) != 2 || strings.HasPrefix(fields[0], "-") {
				continue
			}
			v, err := strconv.ParseUint(fields[0], 0, 64)
			if err != nil || v > r.max {
				continue
			}
			if _, dup := r.names[fields[1]]; !dup {
				r.names[fields[1]] = uint32(v)
			}
			named[uint32(v)] = true
		}
		f.Close()
	}
	for name, v := range r.defaults {
		if _, dup := r.names[name]; !dup && !named[v] {
			r.names[name] = v
		}
	}
}
