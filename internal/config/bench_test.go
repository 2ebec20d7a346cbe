package config

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// thousandInstances is a generated keepalived.conf with 1,000 instances,
// each with a few addresses, authentication and a sync group per ten.
func thousandInstances() string {
	var b strings.Builder
	b.WriteString("global_defs {\n  router_id bench\n  vrrp_garp_interval 0.001\n}\n")
	for i := range 1000 {
		fmt.Fprintf(&b, `vrrp_instance VI_%d {
    state BACKUP
    interface eth%d
    virtual_router_id %d
    priority %d
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass pw%d
    }
    virtual_ipaddress {
        10.%d.%d.1/24 dev eth%d label eth%d:v
        10.%d.%d.2/24
    }
    virtual_ipaddress_excluded {
        fd00::%x/64
    }
}
`, i, i/255, i%255+1, 100+i%100, i, i/250, i%250, i/255, i/255, i/250, i%250, i+1)
	}
	for g := range 100 {
		fmt.Fprintf(&b, "vrrp_sync_group G_%d {\n  group {\n", g)
		for i := g * 10; i < g*10+10; i++ {
			fmt.Fprintf(&b, "    VI_%d\n", i)
		}
		b.WriteString("  }\n}\n")
	}
	return b.String()
}

// largestCorpusFile is the biggest file of the corpus.
func largestCorpusFile(b *testing.B) string {
	var best string
	var size int64
	for _, f := range readCorpus(b) {
		if st, err := os.Stat(f.path); err == nil && st.Size() > size {
			best, size = f.path, st.Size()
		}
	}
	return best
}

// BenchmarkLoad prints parse time and memory: allocated per load (B/op)
// and what the parsed configuration keeps (retained-MB). Targets for a
// 1,000-instance file: under 50 ms and 20 MB.
func BenchmarkLoad(b *testing.B) {
	gen := filepath.Join(b.TempDir(), "thousand.conf")
	if err := os.WriteFile(gen, []byte(thousandInstances()), 0o644); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct{ name, path string }{
		{"largest-corpus-file", largestCorpusFile(b)},
		{"1000-instances", gen},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			load := func() any {
				cfg, err := Load(c.path, Options{ConfigID: "holdout"})
				if err != nil && c.path == gen {
					b.Fatal(err)
				}
				return cfg
			}
			for b.Loop() {
				load()
			}
			b.ReportMetric(retainedMB(load), "retained-MB")
		})
	}
}

// retainedMB is the heap still in use after build returns, its result kept.
func retainedMB(build func() any) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	v := build()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(v)
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / (1 << 20)
}
