package config

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Command is a script vipd runs: a vrrp_script's check or a notify.
type Command struct {
	Pos Pos
	// Argv is the script line split into words as keepalived splits it:
	// on blanks, with '…' and "…" quoting and \ escaping one character.
	// It is run directly, not through a shell.
	Argv []string
	// User and Group it runs as; an empty User means global_defs'
	// script_user, an empty Group that user's primary group.
	User, Group string
}

// String is the command line, quoted so that it reads back the same.
func (c *Command) String() string {
	words := make([]string, len(c.Argv))
	for i, w := range c.Argv {
		words[i] = shellQuote(w)
	}
	return strings.Join(words, " ")
}

func shellQuote(w string) string {
	if w != "" && !strings.ContainsAny(w, " \t'\"\\") {
		return w
	}
	return "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
}

// SplitWords splits text into words as keepalived reads a script line:
// blanks separate words; '…' keeps its text as it is; "…" keeps blanks
// and single quotes; outside single quotes a backslash escape (\n, \t,
// \xHH, octal \NNN, \cX, or \ and any other character for itself) is
// replaced. keepalived reads a notify line so, and then the script word
// so again, which is why "a\ b" in quotes is two arguments.
func SplitWords(text string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	var quote byte // ' or " while inside quotes
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case quote == '\'' && c == '\'':
			quote = 0
		case quote == '\'':
			w.WriteByte(c)
		case c == '\\' && i+1 < len(text):
			i += escape(&w, text[i+1:])
			inWord = true
		case quote == '"' && c == '"':
			quote = 0
		case quote == '"':
			w.WriteByte(c)
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("%q has an unterminated %c quote", text, quote)
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

// simpleEscapes are the one-letter escapes and what they stand for.
var simpleEscapes = map[byte]byte{'a': '\a', 'b': '\b', 'E': 0x1b, 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t', 'v': '\v'}

// escape writes the character the escape at the start of s (after its
// backslash) stands for, and returns how many bytes of s it took.
func escape(w *strings.Builder, s string) int {
	c := s[0]
	if r, ok := simpleEscapes[c]; ok {
		w.WriteByte(r)
		return 1
	}
	switch {
	case c == 'x':
		if v, n := digits(s[1:], 16, 2); n > 0 {
			w.WriteByte(byte(v))
			return 1 + n
		}
	case c == 'c' && len(s) > 1:
		w.WriteByte(s[1] & 0x1f) // control-X
		return 2
	case c >= '0' && c <= '7':
		v, n := digits(s, 8, 3)
		w.WriteByte(byte(v))
		return n
	}
	w.WriteByte(c)
	return 1
}

// digits reads up to max digits of base from the start of s.
func digits(s string, base, max int) (v, n int) {
	for n < max && n < len(s) {
		d, err := strconv.ParseUint(s[n:n+1], base, 8)
		if err != nil {
			break
		}
		v = v*base + int(d)
		n++
	}
	return v, n
}

// scriptLine is a script statement's words read again with keepalived's
// script quoting; a line with a brace on it keeps the words the lexer
// read.
func (b *builder) scriptLine(n *Node, what string) ([]string, bool) {
	if n.Raw == "" {
		return n.Args, true
	}
	words, err := SplitWords(n.Raw)
	if err != nil {
		b.errorf(n.Pos, "%s: %v", what, err)
		return nil, false
	}
	return words, true
}

// command reads "SCRIPT [USER [GROUP]]" (notify_*, withUser) or "SCRIPT"
// (a vrrp_script's script): the script is one word, quoted when it has
// arguments. Errors start with what, which says whose script it is.
func (b *builder) command(n *Node, what string, withUser bool) (*Command, bool) {
	if len(n.Args) == 0 || n.Block {
		b.errorf(n.Pos, "%s: %s takes a script", what, n.Keyword)
		return nil, false
	}
	words, ok := b.scriptLine(n, what)
	if !ok {
		return nil, false
	}
	argv, err := SplitWords(words[0])
	if err == nil && len(argv) == 0 {
		err = fmt.Errorf("the script is empty")
	}
	if err != nil {
		b.errorf(n.Pos, "%s: %v", what, err)
		return nil, false
	}
	c := &Command{Pos: n.Pos, Argv: argv}
	rest := words[1:]
	switch {
	case !withUser && len(rest) > 0:
		// keepalived runs the first word alone and drops the rest.
		b.errorf(n.Pos, "%s: %s %s %s: put the command and its arguments in quotes (keepalived would run %s without them)", what, n.Keyword, words[0], strings.Join(rest, " "), words[0])
		return nil, false
	case len(rest) > 2:
		// keepalived takes the second word for a user and drops the script.
		b.errorf(n.Pos, "%s: want %s \"SCRIPT ARGS...\" [USER [GROUP]]: put the command and its arguments in quotes (keepalived would take %q for a user and ignore the line)", what, n.Keyword, rest[0])
		return nil, false
	}
	if len(rest) > 0 {
		c.User = rest[0]
	}
	if len(rest) > 1 {
		c.Group = rest[1]
	}
	return c, true
}

// Script is a vrrp_script: a check run every Interval whose exit status
// says whether what it watches is healthy. Only tracked scripts run.
type Script struct {
	Pos     Pos
	Name    string
	Command Command
	// Interval is the time from one run's start to the next; a run
	// still going after Timeout is killed and counts as a failure.
	Interval, Timeout time.Duration
	// Weight is added to the priority of an instance tracking the script
	// while it succeeds (positive) or fails (negative); 0: the instance
	// is in FAULT while it fails. Reverse swaps success and failure.
	Weight  int
	Reverse bool
	// Rise successes in a row make a failed script good again, Fall
	// failures in a row make a good one fail.
	Rise, Fall int
	// InitFail: the script counts as failed until it first succeeds;
	// otherwise as good until it first fails.
	InitFail bool
}

func (b *builder) script(blk *Node) {
	if len(blk.Args) != 1 || !blk.Block {
		b.errorf(blk.Pos, "vrrp_script takes a name and a block")
		return
	}
	s := &Script{Pos: blk.Pos, Name: blk.Args[0], Interval: time.Second, Rise: 1, Fall: 1}
	var timeout *time.Duration
	seen := false
	for _, n := range blk.Children {
		switch n.Keyword {
		case "script":
			if c, ok := b.command(n, "vrrp_script "+s.Name, false); ok {
				s.Command, seen = *c, true
			}
		case "interval":
			// Whole seconds, as keepalived 2.2.7 reads them.
			if v, ok := b.int(n, 1, 4294); ok {
				s.Interval = time.Duration(v) * time.Second
			}
		case "timeout":
			if v, ok := b.int(n, 1, 4294); ok {
				d := time.Duration(v) * time.Second
				timeout = &d
			}
		case "weight":
			if w, rev, ok := b.weight(n, 253); ok {
				s.Weight, s.Reverse = w, rev
			}
		case "rise":
			if v, ok := b.int(n, 1, 1000000); ok {
				s.Rise = v
			}
		case "fall":
			if v, ok := b.int(n, 1, 1000000); ok {
				s.Fall = v
			}
		case "user":
			if b.args(n, 1, 2) {
				s.Command.User = n.Args[0]
				if len(n.Args) == 2 {
					s.Command.Group = n.Args[1]
				}
			}
		case "init_fail":
			s.InitFail = b.args(n, 0, 0)
		default:
			b.other(schemaScript, n)
		}
	}
	s.Timeout = s.Interval
	setIf(&s.Timeout, timeout)
	if !seen {
		b.disable(blk.Pos, "vrrp_script", s.Name, "it has no script line")
		return
	}
	for _, other := range b.cfg.Scripts {
		if other.Name == s.Name {
			b.errorf(blk.Pos, "vrrp_script %s is defined twice (first at %s): rename one", s.Name, other.Pos)
			return
		}
	}
	b.checkScript(s)
	b.cfg.Scripts = append(b.cfg.Scripts, s)
}

// weight reads "weight W [reverse|noreverse]", W in -max..max.
func (b *builder) weight(n *Node, max int) (w int, reverse bool, ok bool) {
	if !b.args(n, 1, 2) {
		return 0, false, false
	}
	w, err := strconv.Atoi(n.Args[0])
	if err != nil || w < -max || w > max {
		b.errorf(n.Pos, "weight %q must be a whole number %d..%d", n.Args[0], -max, max)
		return 0, false, false
	}
	if len(n.Args) == 2 {
		switch n.Args[1] {
		case "reverse":
			reverse = true
		case "noreverse":
		default:
			b.errorf(n.Pos, "weight %s %q: want reverse or noreverse", n.Args[0], n.Args[1])
			return 0, false, false
		}
	}
	return w, reverse, true
}

// checkScript applies enable_script_security to a vrrp_script: keepalived
// refuses to run a script that a user other than root could change, and
// -t should say so before a deploy rather than the daemon at run time.
func (b *builder) checkScript(s *Script) {
	if !b.defs.scriptSecurity {
		return
	}
	b.checkCommand(&s.Command, "vrrp_script "+s.Name)
}

// checkCommand finds a command's script under enable_script_security;
// one missing from this host is a warning, since -t may run elsewhere.
func (b *builder) checkCommand(c *Command, what string) {
	path := c.Argv[0]
	if !filepath.IsAbs(path) {
		found, err := exec.LookPath(path)
		if err != nil {
			b.warnf(c.Pos, "%s: %s is not in the PATH of this host", what, path)
			return
		}
		path = found
	}
	if _, err := os.Stat(path); err != nil {
		b.warnf(c.Pos, "%s: script %s does not exist on this host", what, path)
		return
	}
	if err := scriptSecure(path); err != nil {
		b.errorf(c.Pos, "%s: %v", what, err)
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
