package config

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// dump prints a tree one statement per line, indented, with its line.
func dump(n *Node, depth int, b *strings.Builder) {
	for _, c := range n.Children {
		b.WriteString(strings.Repeat("  ", depth))
		b.WriteString(filepath.Base(c.Pos.File) + ":" + strconv.Itoa(c.Pos.Line) + " " + c.Keyword)
		for _, a := range c.Args {
			b.WriteString(" [" + a + "]")
		}
		if c.Block {
			b.WriteString(" {")
		}
		b.WriteString("\n")
		dump(c, depth+1, b)
	}
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestReadTree(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"blocks and comments", map[string]string{"k.conf": `! Configuration File
global_defs {
   router_id lb1   # the name
}
vrrp_instance VI_1 {
    priority 100#comment inside a word, as keepalived does
    virtual_ipaddress {
        192.0.2.50/24 dev eth1 label eth1:vip
    }
}
`}, `k.conf:2 global_defs {
  k.conf:3 router_id [lb1]
k.conf:5 vrrp_instance [VI_1] {
  k.conf:6 priority [100]
  k.conf:7 virtual_ipaddress {
    k.conf:8 192.0.2.50/24 [dev] [eth1] [label] [eth1:vip]
`},
		{"braces attached, on one line, on the next line", map[string]string{"k.conf": `vrrp_instance VI_1
{
  virtual_ipaddress {192.0.2.1 192.0.2.2}
  track_interface { eth0 }
}
`}, `k.conf:1 vrrp_instance [VI_1] {
  k.conf:3 virtual_ipaddress {
    k.conf:3 192.0.2.1 [192.0.2.2]
  k.conf:4 track_interface {
    k.conf:4 eth0
`},
		{"quoted strings keep spaces and comment characters", map[string]string{"k.conf": `vrrp_script chk {
  script "/usr/bin/test -f /tmp/a#b"
}
`}, `k.conf:1 vrrp_script [chk] {
  k.conf:2 script [/usr/bin/test -f /tmp/a#b]
`},
		{"includes are relative to the including file, globbed in order", map[string]string{
			"etc/k.conf":            "global_defs {\n}\ninclude conf.d/*.conf\ninclude {extra,more}.conf # two\n",
			"etc/more.conf":         "vrrp_instance D {\n}\n",
			"etc/conf.d/20-b.conf":  "vrrp_instance B {\n}\n",
			"etc/conf.d/10-a.conf":  "vrrp_instance A {\n  include ../inner.conf\n}\n",
			"etc/inner.conf":        "priority 50\n",
			"etc/extra.conf":        "vrrp_instance C {\n}\n",
			"etc/conf.d/ignore.txt": "garbage {",
		}, `k.conf:1 global_defs {
10-a.conf:1 vrrp_instance [A] {
  inner.conf:1 priority [50]
20-b.conf:1 vrrp_instance [B] {
extra.conf:1 vrrp_instance [C] {
more.conf:1 vrrp_instance [D] {
`},
		{"a glob may match nothing", map[string]string{"k.conf": "include none/*.conf\nglobal_defs {\n}\n"},
			"k.conf:2 global_defs {\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, tt.files)
			main := filepath.Join(dir, "k.conf")
			if _, err := os.Stat(main); err != nil {
				main = filepath.Join(dir, "etc", "k.conf")
			}
			tree, err := ReadTree(main, Options{})
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			dump(tree.Root, 0, &b)
			if b.String() != tt.want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), tt.want)
			}
		})
	}
}

func TestReadTreeMissingInclude(t *testing.T) {
	dir := writeFiles(t, map[string]string{"k.conf": "include nothere.conf\nglobal_defs {\n}\n"})
	tree, err := ReadTree(filepath.Join(dir, "k.conf"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tree.Warnings) != 1 || !strings.Contains(tree.Warnings[0].Error(), "k.conf:1: include nothere.conf: no such file") {
		t.Fatalf("warnings %v", tree.Warnings)
	}
	if len(tree.Root.Children) != 1 {
		t.Fatalf("the rest of the file was not read")
	}
}

func TestReadTreeErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string // the error, with the directory removed
	}{
		{"unclosed block", map[string]string{"k.conf": "global_defs {\n  router_id a\n"},
			"k.conf:1: block of global_defs is not closed"},
		{"stray close", map[string]string{"k.conf": "global_defs {\n}\n}\n"},
			"k.conf:3: '}' without a matching '{'"},
		{"stray open", map[string]string{"k.conf": "{\n}\n"},
			"k.conf:1: '{' does not follow a keyword"},
		{"brace among data lines", map[string]string{"k.conf": "static_ipaddress {\n 10.1.1.1${X}/24 dev eth0\n}\n"},
			"k.conf:2: '{' among the data lines of static_ipaddress: keepalived ignores it, and the '}' after it closes static_ipaddress"},
		{"brace after a keyword without a block", map[string]string{"k.conf": "global_defs {\n router_id ${X}\n}\n"},
			"k.conf:2: '{' after router_id, which takes no block: keepalived ignores it, and the '}' after it closes global_defs"},
		{"unterminated quote", map[string]string{"k.conf": "vrrp_script x {\n script \"/bin/true\n}\n"},
			"k.conf:2: unterminated quoted string"},
		{"include loop", map[string]string{"k.conf": "include a.conf\n", "a.conf": "include k.conf\n"},
			"a.conf:1: include loop"},
		{"include nested too deep", includeChain(40), "f31.conf:1: includes nested deeper than 32"},
		{"parameter refers to itself", map[string]string{"k.conf": "$A=x$A\nglobal_defs {\n router_id $A\n}\n"},
			"k.conf:3: parameters or sequences nested deeper than 32"},
		{"huge ~SEQ", map[string]string{"k.conf": "~SEQ(i,1,9223372036854775806) vrrp_instance VI_$i\n"},
			"k.conf:1: ~SEQ(i,1,9223372036854775806): more than 1000000 values"},
		{"~SEQ overflow", map[string]string{"k.conf": "~SEQ(i,-9223372036854775808,9223372036854775807) x\n"},
			"k.conf:1: ~SEQ(i,-9223372036854775808,9223372036854775807): more than 1000000 values"},
		{"many ~SEQ lines", map[string]string{"k.conf": "~SEQ(i,1,2000) ~SEQ(j,1,1000) x $i $j\n"},
			"k.conf:1: the configuration expands to more than 1000000 lines"},
		{"step towards nothing", map[string]string{"k.conf": "~SEQ(i,1,-1,3) x\n"},
			"k.conf:1: ~SEQ(i,1,-1,3): the step must be non-zero"},
		{"~LST too many values", map[string]string{"k.conf": "~LST({a,b},{1,2,3}) x\n"},
			"k.conf:1: ~LST({a,b},{1,2,3}): a value set has more values"},
		{"strict include", map[string]string{"k.conf": "includem nothere.conf\n"},
			"k.conf:1: includem nothere.conf: no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, tt.files)
			_, err := ReadTree(filepath.Join(dir, "k.conf"), Options{})
			if err == nil {
				t.Fatal("no error")
			}
			if tt.want == "" {
				return // any error will do
			}
			got := strings.ReplaceAll(err.Error(), dir+"/", "")
			if !strings.HasPrefix(got, tt.want) {
				t.Errorf("error %q, want %q", got, tt.want)
			}
		})
	}
}

// includeChain is k.conf including f1.conf including f2.conf... fN.conf.
func includeChain(n int) map[string]string {
	files := map[string]string{"k.conf": "include f1.conf\n"}
	for i := 1; i <= n; i++ {
		files["f"+strconv.Itoa(i)+".conf"] = "include f" + strconv.Itoa(i+1) + ".conf\n"
	}
	return files
}
