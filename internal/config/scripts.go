package config

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// checkScript applies enable_script_security to a vrrp_script
// definition: keepalived refuses to run a script that a user other than
// root could change, and -t should say so before a deploy rather than the
// daemon at run time.
func (b *builder) checkScript(blk *Node) {
	if !b.defs.scriptSecurity {
		return
	}
	name := strings.Join(blk.Args, " ")
	for _, n := range blk.Children {
		if n.Keyword != "script" || len(n.Args) == 0 {
			continue
		}
		words := strings.Fields(n.Args[0])
		if len(words) == 0 {
			b.errorf(n.Pos, "vrrp_script %s: the script is empty", name)
			continue
		}
		path := words[0]
		if !filepath.IsAbs(path) {
			found, err := exec.LookPath(path)
			if err != nil {
				b.warnf(n.Pos, "vrrp_script %s: %s is not in the PATH of this host", name, path)
				continue
			}
			path = found
		}
		if _, err := os.Stat(path); err != nil {
			// Host-dependent: -t may run away from the target host.
			b.warnf(n.Pos, "vrrp_script %s: script %s does not exist on this host", name, path)
			continue
		}
		if err := scriptSecure(path); err != nil {
			b.errorf(n.Pos, "vrrp_script %s: %v", name, err)
		}
	}
}

// scriptSecure checks that a script is executable and that it and every
// directory above it can be changed by root alone.
func scriptSecure(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.Mode()&0o111 == 0 || st.IsDir() {
		return fmt.Errorf("script %s is not executable (chmod 755 it)", path)
	}
	for p := path; ; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		sys, ok := st.Sys().(*syscall.Stat_t)
		switch {
		case ok && sys.Uid != 0:
			return fmt.Errorf("script %s is unsafe with enable_script_security: %s belongs to uid %d (chown root it)", path, p, sys.Uid)
		case st.Mode()&0o022 != 0 && st.Mode()&os.ModeSticky == 0:
			return fmt.Errorf("script %s is unsafe with enable_script_security: %s is writable by group or others (chmod go-w it)", path, p)
		}
		if p == "/" {
			return nil
		}
	}
}
