package config

import "strings"

// Reload is global_defs' say on reloads.
type Reload struct {
	// CheckConfig is reload_check_config: vipd always checks a new
	// configuration before it reloads (an error keeps the running one);
	// with it, the check's messages also go to CheckLog ("" without
	// the keyword; /dev/null when it names no file).
	CheckConfig bool
	CheckLog    string
	// TimeFile is reload_time_file: a file whose first line is a time
	// ("HH:MM:SS", "YY-MM-DD HH:MM:SS" or "YYYY-MM-DD HH:MM:SS", with an
	// optional Z for UTC) to reload at. Repeat (reload_repeat) keeps the
	// file after the reload, and a time with no date then reloads daily.
	TimeFile string
	Repeat   bool
	// File is reload_file: made (or truncated) before the configuration
	// is read on a reload, removed once it has been.
	File string
	// WriteStates is fifo_write_vrrp_states_on_reload: instances and
	// groups a reload keeps write their state to the notify FIFOs again.
	WriteStates bool
	Pos         Pos // of reload_time_file
}

// DefaultReloadFile is reload_file's file when the keyword names none.
const DefaultReloadFile = "/run/vipd.reload"

func (b *builder) reloadKeyword(n *Node) {
	r := &b.cfg.Global.Reload
	switch n.Keyword {
	case "reload_check_config":
		if b.args(n, 0, 1) {
			r.CheckConfig, r.CheckLog = true, "/dev/null"
			if len(n.Args) == 1 {
				r.CheckLog = n.Args[0]
			}
		}
	case "reload_time_file":
		if !b.args(n, 1, 1) {
			return
		}
		if !strings.HasPrefix(n.Args[0], "/") {
			b.errorf(n.Pos, "reload_time_file %s: give an absolute path", n.Args[0])
			return
		}
		r.TimeFile, r.Pos = n.Args[0], n.Pos
	case "reload_repeat":
		r.Repeat = b.args(n, 0, 0)
	case "reload_file":
		if b.args(n, 0, 1) {
			r.File = DefaultReloadFile
			if len(n.Args) == 1 {
				r.File = n.Args[0]
			}
		}
	case "fifo_write_vrrp_states_on_reload":
		r.WriteStates = b.args(n, 0, 0)
	}
}
