package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// With enable_script_security, -t finds the scripts keepalived would
// refuse to run.
func TestScriptSecurity(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test makes root-owned scripts and needs root")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	script := func(name string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\nexit 0\n"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	safe, writable, plain := script("safe.sh", 0o755), script("writable.sh", 0o777), script("plain.sh", 0o644)
	for _, c := range []struct {
		script, want string
	}{
		{safe, ""},
		{safe + " --arg", ""},
		{writable, "is writable by group or others"},
		{plain, "is not executable"},
		{" ", "the script is empty"},
	} {
		conf := "global_defs {\n enable_script_security\n}\nvrrp_script chk {\n script \"" + c.script + "\"\n}\n"
		_, _, err := load(t, conf)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.script, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), "keepalived.conf:5: vrrp_script chk: ") || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: error %v, want %q", c.script, err, c.want)
		}
	}
	// A script missing from this host is a warning: -t may run elsewhere.
	cfg, _, err := load(t, "global_defs {\n enable_script_security\n}\nvrrp_script chk {\n script \""+filepath.Join(dir, "missing.sh")+"\"\n}\n")
	if err != nil || !strings.Contains(fmt.Sprint(cfg.Warnings), "keepalived.conf:5: vrrp_script chk: script "+filepath.Join(dir, "missing.sh")+" does not exist on this host") {
		t.Errorf("missing script: %v, warnings %v", err, cfg.Warnings)
	}
	// Without enable_script_security nothing is checked.
	if _, _, err := load(t, "vrrp_script chk {\n script "+writable+"\n}\n"); err != nil {
		t.Errorf("without script security: %v", err)
	}
}
