package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzLoad reads arbitrary text as keepalived.conf, with an include of
// itself and of a second arbitrary file: no panic, no hang, bounded
// output, whatever the input.
func FuzzLoad(f *testing.F) {
	for _, seed := range []string{
		"vrrp_instance A {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 10.0.0.1/24\n }\n}\n",
		"global_defs { router_id x }\n@holdout vrrp_instance B { }\n@^holdout x\n",
		"$A=1\n$B=${A}${A}\nglobal_defs {\n router_id $B\n}\n",
		"$M=a \\\n b\n~SEQ(i,1,1,100000000) x $i\n",
		"~LST(v,a,b,c) global_defs { router_id $v }\n",
		"include k.conf\ninclude other.conf\n",
		"\"unterminated\n{ } } {\n",
		"vrrp_instance X { virtual_ipaddress { ::1 dev lo scope host } }",
		"global_defs {\n enable_script_security\n umask IWGRP|IWOTH\n}\nvrrp_script c {\n script \"/bin/true x\"\n}\nvrrp_sync_group G {\n group {\n X\n }\n track_interface {\n e\n }\n}\n",
		"vrrp_instance X {\n garp_lower_prio_delay x\n garp_lower_prio_repeat y\n track_interface {\n e weight z\n }\n}\n",
		"virtual_server_group G {\n 10.0.0.1-9 80\n fd00::/120 53\n fwmark 3 inet6\n}\nvirtual_server group G {\n lvs_method TUN type gue port 6080\n real_server 10.0.0.9 {\n  HTTP_GET {\n   url {\n    path /\n    regex \"a(b\"\n   }\n  }\n  UDP_CHECK {\n   require_reply 1X 2\n  }\n  SMTP_CHECK {\n   host {\n    connect_ip 10.0.0.7\n   }\n  }\n }\n}\n",
	} {
		f.Add(seed, "include k.conf\n")
	}
	// The limits hold at any size; small ones let the fuzzer try more
	// inputs than million-line expansions would.
	defer func(n int) { maxLines = n }(maxLines)
	maxLines = 20_000
	f.Fuzz(func(t *testing.T, main, other string) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "k.conf"), []byte(main), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "other.conf"), []byte(other), 0o644); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			cfg, err := Load(filepath.Join(dir, "k.conf"), Options{ConfigID: "holdout"})
			if err == nil {
				_ = cfg.Validate()
			}
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("Load hung on %q / %q", main, other)
		}
	})
}
