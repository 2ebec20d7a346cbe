package config

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestPreprocess replays testdata/preprocess: inputs and the statement
// lines keepalived 2.2.7 read from them, recorded from keepalived itself.
// vipd reads them the same, except where preprocessDifferences says why
// not and what vipd reads instead. keepalived's VRRP process re-reads a
// copy of the file and sees some lines differently (expand-vrrp); vipd
// reads as keepalived's parent does, so those cases are not replayed.
func TestPreprocess(t *testing.T) {
	dir := t.TempDir()
	// datadriven stops at the first failure; differences are collected
	// and reported together instead.
	var mismatches []string
	defer func() {
		for _, m := range mismatches {
			t.Error(m)
		}
	}()
	datadriven.RunTest(t, "testdata/preprocess", func(t *testing.T, d *datadriven.TestData) string {
		switch d.Cmd {
		case "file":
			var name string
			d.ScanArgs(t, "name", &name)
			writeCaseFile(t, filepath.Join(dir, name), d.Input)
			return ""
		case "expand-vrrp":
			return d.Expected
		case "expand", "expand-random":
			got := expandCase(t, dir, d)
			if diff, ok := preprocessDifferences[d.Input]; ok {
				if got != diff.vipd {
					mismatches = append(mismatches, fmt.Sprintf("%s: vipd reads (differing from keepalived because %s):\n%s\nwant:\n%s", d.Pos, diff.why, got, diff.vipd))
				}
				return d.Expected
			}
			if d.Cmd == "expand-random" {
				return matchLines(t, d, got)
			}
			// Messages are keepalived's own words; what must agree is
			// whether there was an error, a warning, and the statements.
			// Every difference is reported, not only the first.
			if want := normalise(d.Expected); got != want {
				mismatches = append(mismatches, fmt.Sprintf("%s:\n%s\nvipd reads:\n%s\nkeepalived read:\n%s", d.Pos, d.Input, got, want))
			}
			return d.Expected
		}
		t.Fatalf("%s: unknown command %s", d.Pos, d.Cmd)
		return ""
	})
}

// preprocessDifferences are the recorded cases vipd deliberately reads
// otherwise than keepalived 2.2.7, keyed by input.
var preprocessDifferences = map[string]struct{ why, vipd string }{
	"a {x*1022}\nb": {
		why:  "keepalived cuts lines after 1023 bytes; vipd has no line limit below 64 KiB",
		vipd: "a " + strings.Repeat("x", 1022) + "\nb\n",
	},
	"a {x*1030} tail\nb": {
		why:  "keepalived cuts lines after 1023 bytes; vipd has no line limit below 64 KiB",
		vipd: "a " + strings.Repeat("x", 1030) + " tail\nb\n",
	},
	"{ y\n}\nw \"{\" v {\n\"}\" z\n}": {
		why:  "a '{' that follows no keyword is an error of the block reader in vipd; keepalived reports it at keyword level (\"Unexpected '{'\"), which the recording leaves out",
		vipd: "error\n",
	},
	"$X=v\nb ${X c\ne ${X\nf ${ X}\ng ${X } ${X  }": {
		why:  "the braces of the malformed references leave blocks unbalanced, which vipd's block reader reports; keepalived reports it at keyword level",
		vipd: "error\n",
	},
	"$A=x$A\na $A": {
		why:  "a parameter that refers to itself is an error in vipd; keepalived grows the line to 1023 bytes (and hangs on $A=$A)",
		vipd: "error\n",
	},
	"$L=@holdout picked\n$L\nb": {
		why:  "keepalived 2.2.7 reads it the same, then corrupts its heap and aborts",
		vipd: "picked\nb\n",
	},
	"a ${_ENV FOO} ${_ENV HOME}\nb ${_ENV} $_ENV": {
		why:  "${_ENV NAME} came after keepalived 2.2.7 (it leaves it as it is); vipd substitutes it",
		vipd: "a bar /root\nb $\n{\n_ENV\n}\n$_ENV\n",
	},
	"a ${_RANDOM 5 5}\nc ${_RANDOM 12 12} tail\nd ${_RANDOM 7 7}xyz\ne [${_RANDOM 100 100}]": {
		why:  "keepalived 2.2.7 garbles the rest of a line after ${_RANDOM MIN MAX}",
		vipd: "a 5\nc 12 tail\nd 7xyz\ne [100]\n",
	},
	"~SEQ(i,1,2) include x.conf\nz": {
		why:  "keepalived opens both copies of the include after the loop, so both see the last value; vipd reads each with its own",
		vipd: "x 1\ny\nx 2\ny\nz\n",
	},
	"$V=1\n$M=before \\\ninclude m.conf \\\nafter\n$M\nz": {
		why:  "keepalived reads an include inside a multi-line parameter after the parameter's other lines; vipd reads the lines in order",
		vipd: "before\nm_line 1\nafter\nz\n",
	},
}

func writeCaseFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// expandCase reads a case's input as keepalived.conf and prints the
// statement lines as the test file does.
func expandCase(t *testing.T, dir string, d *datadriven.TestData) string {
	t.Helper()
	input := d.Input
	opts := Options{ConfigID: "holdout"}
	hasID := false
	for _, a := range d.CmdArgs {
		switch a.Key {
		case "id":
			hasID = true
			opts.ConfigID = ""
			if len(a.Vals) > 0 {
				opts.ConfigID = a.Vals[0]
			}
		case "env":
			for _, v := range a.Vals {
				name, value, _ := strings.Cut(v, "=")
				t.Setenv(name, value)
			}
		case "crlf":
			input = strings.ReplaceAll(input, "\n", "\r\n")
		case "ctl":
			input = strings.NewReplacer("<CR>", "\r", "<FF>", "\f", "<VT>", "\v", "<NUL>", "\x00").Replace(input)
		case "repeat":
			c, n, _ := strings.Cut(a.Vals[0], "*")
			count, _ := strconv.Atoi(n)
			input = strings.ReplaceAll(input, "{"+a.Vals[0]+"}", strings.Repeat(c, count))
		case "opt":
			if a.Vals[0] != "-e" {
				t.Fatalf("%s: option %s", d.Pos, a.Vals[0])
			}
			opts.StrictIncludes = true
		}
	}
	if !hasID {
		opts.ConfigID = shortHostname()
	}
	path := filepath.Join(dir, "keepalived.conf")
	writeCaseFile(t, path, input)
	lx := &lexer{opts: opts}
	if err := lx.file(path, Pos{}); err != nil {
		t.Fatal(err)
	}
	// Braces are matched, not checked against the keywords: the cases
	// use made-up ones.
	p := &treeParser{toks: lx.toks}
	p.block(&Node{Block: true}, nil)
	errs := append(lx.errs, p.problems...)
	var out strings.Builder
	switch {
	case len(errs) > 0:
		return "error\n"
	case len(lx.warnings) > 0:
		out.WriteString("warning\n")
	}
	var line []string
	for _, tok := range lx.toks {
		switch {
		case tok.eol:
			out.WriteString(strings.Join(line, " ") + "\n")
			line = line[:0]
		case tok.quoted:
			line = append(line, `"`+visible(tok.text)+`"`)
		default:
			line = append(line, visible(tok.text))
		}
	}
	return strings.ReplaceAll(out.String(), dir, "<DIR>")
}

// visible shows control bytes as \xHH, as the test file does.
func visible(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' {
			fmt.Fprintf(&b, `\x%02x`, c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// matchLines checks each output line against the expected line's regexp.
func matchLines(t *testing.T, d *datadriven.TestData, got string) string {
	want := strings.Split(strings.TrimSpace(d.Expected), "\n")
	lines := strings.Split(strings.TrimSpace(got), "\n")
	if len(lines) != len(want) {
		return got
	}
	for i, re := range want {
		if !regexp.MustCompile("^" + re + "$").MatchString(lines[i]) {
			return got
		}
	}
	return d.Expected
}

// normalise reduces a recorded output to what vipd is compared on: after
// an error only "error"; notes become one "warning" line.
func normalise(expected string) string {
	if strings.HasPrefix(expected, "error\n") {
		return "error\n"
	}
	var out, notes strings.Builder
	for _, l := range strings.SplitAfter(expected, "\n") {
		if strings.HasPrefix(l, "note: ") {
			notes.Reset()
			notes.WriteString("warning\n")
			continue
		}
		out.WriteString(l)
	}
	return notes.String() + out.String()
}

// TestRandomSeed: random_seed makes ${_RANDOM} after it repeatable.
func TestRandomSeed(t *testing.T) {
	draws := func(seed string) string {
		path := filepath.Join(t.TempDir(), "keepalived.conf")
		text := "global_defs {\n random_seed " + seed + "\n}\n"
		for range 8 {
			text += "a ${_RANDOM 0 1000000}\n"
		}
		writeCaseFile(t, path, text)
		tree, err := ReadTree(path, Options{ConfigID: "x"})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, n := range tree.Root.Children[1:] {
			got = append(got, n.Args...)
		}
		return strings.Join(got, " ")
	}
	a, b, c := draws("300"), draws("300"), draws("301")
	if a != b {
		t.Errorf("random_seed 300 drew %q, then %q", a, b)
	}
	if a == c {
		t.Errorf("random_seed 300 and 301 both drew %q", a)
	}
}

// A line ending in '\' keeps it when a comment is cut off before it, as
// keepalived 2.2.7 reads it (checked against keepalived -t: "! note \"
// is "Unknown keyword '\'", and "priority 100 # note \" an invalid
// number "100\").
func TestCommentEndingInBackslash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keepalived.conf")
	writeCaseFile(t, path, "! a comment \\\npriority 100 # note \\\n# x \\\n# y\nlast \\# not a comment \\\n")
	tree, err := ReadTree(path, Options{ConfigID: "x"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range tree.Root.Children {
		got = append(got, strings.Join(append([]string{n.Keyword}, n.Args...), " "))
	}
	want := []string{`\`, `priority 100\`, `\`, `last # not a comment\`}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("read %q, want %q", got, want)
	}
}
