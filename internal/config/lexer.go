// Package config reads keepalived.conf: the lexer and block tree here,
// the typed model elsewhere in the package.
package config

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Pos is where a token or node comes from.
type Pos struct {
	File string
	Line int
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d", p.File, p.Line) }

// Error is a configuration error at a place in a file.
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

func errorf(pos Pos, format string, args ...any) *Error {
	return &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// token is a word, a quoted string, a brace, or the end of a line.
type token struct {
	pos    Pos
	text   string
	quoted bool
	eol    bool
	// after is the rest of the line after a word, which script lines
	// read again with their own quoting rules.
	after string
}

func (t token) isBrace(b string) bool { return !t.quoted && !t.eol && t.text == b }

// Limits that keep a hostile or mistaken file from running away: include
// nesting, expansion nesting ($NAME inside $NAME, ~SEQ inside ~SEQ), and
// the number of statement lines and bytes the whole file may expand to.
const (
	MaxIncludeDepth = 32
	MaxExpandDepth  = 32
	MaxLines        = 1_000_000
	MaxLineBytes    = 64 << 10
)

// maxLines is MaxLines, lowered by the fuzz test so that it spends its time
// on variety rather than on million-line expansions; maxSteps bounds the
// lines processed, output or not (a ~SEQ of definitions produces nothing
// yet takes time).
var maxLines = MaxLines

func maxSteps() int { return 4 * maxLines }

// lexer turns files into statement lines as keepalived's reader does:
// comments removed, @ID lines kept or dropped, $NAME parameters defined
// and substituted, ~SEQ and ~LST lines repeated, includes followed.
type lexer struct {
	opts     Options
	toks     []token
	lines    int
	steps    int
	warnings []*Error
	errs     Errors
	stack    []string // absolute paths of the files being read, for loops
	params   map[string][]string
	// def is a multi-line parameter definition still being read: its
	// name and the lines so far; nil when none is.
	def *definition
	// rng draws ${_RANDOM}; random_seed replaces it with a seeded one.
	rng *rand.Rand
}

type definition struct {
	name  string
	lines []string
}

func (lx *lexer) errorf(pos Pos, format string, args ...any) {
	lx.errs = append(lx.errs, errorf(pos, format, args...))
}

func (lx *lexer) warnf(pos Pos, format string, args ...any) {
	lx.warnings = append(lx.warnings, errorf(pos, format, args...))
}

// file reads one file. A file that cannot be read is an error only at
// the top; an include of it is the includer's business.
func (lx *lexer) file(path string, from Pos) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	if slices.Contains(lx.stack, abs) {
		return fmt.Errorf("include loop: %s includes itself (through %s)", path, strings.Join(lx.stack, " -> "))
	}
	if len(lx.stack) >= MaxIncludeDepth {
		return fmt.Errorf("includes nested deeper than %d", MaxIncludeDepth)
	}
	src, err := readFile(path)
	if err != nil {
		return err
	}
	if lx.toks == nil {
		// About one token per six bytes: growing the slice from nothing
		// would copy it over and over.
		lx.toks = make([]token, 0, len(src)/6)
	}
	lx.stack = append(lx.stack, abs)
	defer func() { lx.stack = lx.stack[:len(lx.stack)-1] }()
	for i, raw := range strings.Split(string(src), "\n") {
		if lx.lines > maxLines || lx.steps > maxSteps() {
			return nil // already reported; stop reading
		}
		pos := Pos{File: path, Line: i + 1}
		if nul := strings.IndexByte(raw, 0); nul >= 0 {
			raw = raw[:nul] // a C string ends there
		}
		lx.rawLine(strings.TrimSuffix(raw, "\r"), pos)
	}
	lx.endDefinition()
	return nil
}

// maxFileBytes bounds one configuration file.
const maxFileBytes = 16 << 20

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	src, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err == nil && len(src) > maxFileBytes {
		err = fmt.Errorf("%s: larger than %d MiB", path, maxFileBytes>>20)
	}
	return src, err
}

// rawLine is one line as read from a file.
func (lx *lexer) rawLine(raw string, pos Pos) {
	if lx.def != nil {
		lx.definitionLine(raw, pos)
		return
	}
	text, cut := cutComment(raw)
	text = strings.TrimSpace(text)
	if cut && strings.HasSuffix(strings.TrimRight(raw, " \t\v\f\r"), `\`) {
		// keepalived takes a line's last '\' off before it cuts the
		// comment and puts it back after, even when the '\' was in
		// the comment: "! note \" reads as the word '\'.
		text += `\`
	}
	if text == "" {
		return
	}
	if strings.HasSuffix(text, `\`) {
		// keepalived joins only definitions; elsewhere it keeps the
		// backslash and drops the blanks before it.
		text = strings.TrimRight(text[:len(text)-1], " \t\v\f\r") + `\`
	}
	lx.line(text, pos, 0)
}

// line processes one logical line with comments already removed.
func (lx *lexer) line(text string, pos Pos, depth int) {
	if lx.steps++; lx.steps > maxSteps() {
		if lx.steps == maxSteps()+1 {
			lx.errorf(pos, "the configuration expands too far: more than %d lines processed (a ~SEQ range too large?)", maxSteps())
		}
		return
	}
	if depth > MaxExpandDepth {
		lx.errorf(pos, "parameters or sequences nested deeper than %d (does a parameter refer to itself?)", MaxExpandDepth)
		return
	}
	if len(text) > MaxLineBytes {
		lx.errorf(pos, "line longer than %d bytes after expansion", MaxLineBytes)
		return
	}
	text, ok := lx.conditional(text)
	if !ok {
		return
	}
	if name, value, ok := parseDefinition(text); ok {
		lx.define(name, value, pos)
		return
	}
	if strings.HasPrefix(text, "~SEQ") || strings.HasPrefix(text, "~LST") {
		lx.sequence(text, pos, depth)
		return
	}
	if strings.HasPrefix(text, "~") {
		lx.statement(text, pos) // keepalived leaves other ~ lines alone
		return
	}
	if expanded, changed := lx.substitute(text, pos); changed {
		for _, l := range expanded {
			if l = strings.TrimSpace(stripComment(l)); l != "" {
				lx.line(l, pos, depth+1)
			}
		}
		return
	}
	if lx.include(text, pos) {
		return
	}
	// A brace ends the statement before it; what follows it is read
	// again as a line of its own, as keepalived does.
	if i := braceAt(text); i >= 0 {
		if before := strings.TrimSpace(text[:i]); before != "" {
			lx.statement(before, pos)
		}
		lx.statement(text[i:i+1], pos)
		if rest := strings.TrimSpace(text[i+1:]); rest != "" {
			lx.line(rest, pos, depth)
		}
		return
	}
	lx.statement(text, pos)
}

// braceAt finds the first '{' or '}' outside double quotes, or -1.
func braceAt(s string) int {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case '{', '}':
			if !quoted {
				return i
			}
		}
	}
	return -1
}

// conditional applies an @ID or @^ID prefix: the rest of the line is kept
// when the config id is (or, with ^, is not) ID.
func (lx *lexer) conditional(text string) (string, bool) {
	if !strings.HasPrefix(text, "@") {
		return text, true
	}
	id, rest, _ := strings.Cut(text[1:], " ")
	if i := strings.IndexAny(id, "\t\v\f\r"); i >= 0 {
		id, rest = id[:i], id[i+1:]+" "+rest
	}
	keep := id == lx.opts.ConfigID
	if neg, ok := strings.CutPrefix(id, "^"); ok {
		keep = neg != lx.opts.ConfigID
	}
	rest = strings.TrimSpace(rest)
	return rest, keep && rest != ""
}

// statement splits a line into words and adds it to the output.
func (lx *lexer) statement(text string, pos Pos) {
	words, err := splitLine(text, pos)
	if err != nil {
		lx.errs = append(lx.errs, err)
	}
	if len(words) == 0 {
		return
	}
	if lx.lines++; lx.lines > maxLines {
		if lx.lines == maxLines+1 {
			lx.errorf(pos, "the configuration expands to more than %d lines (a ~SEQ range too large?)", maxLines)
		}
		return
	}
	lx.toks = append(lx.toks, words...)
	lx.toks = append(lx.toks, token{pos: pos, eol: true})
	if len(words) == 2 && words[0].text == "random_seed" {
		// keepalived seeds ${_RANDOM} with it so that each of its
		// processes expands the file alike; vipd reads the file once,
		// and seeds from this line on, so that reads are repeatable.
		if seed, err := strconv.ParseUint(words[1].text, 10, 32); err == nil {
			lx.rng = rand.New(rand.NewPCG(seed, seed))
		}
	}
}

// stripComment cuts a line at the first '#' or '!' outside double quotes;
// a backslash before one makes it a plain character.
func stripComment(s string) string {
	text, _ := cutComment(s)
	return text
}

// cutComment is stripComment, and says whether there was a comment.
func cutComment(s string) (text string, cut bool) {
	if !strings.ContainsAny(s, "#!") {
		return s, false
	}
	var b strings.Builder
	quoted := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '\\' && i+1 < len(s):
			// \# and \! are the characters; any other pair stays as it is.
			i++
			if s[i] != '#' && s[i] != '!' {
				b.WriteByte(c)
			}
			c = s[i]
		case c == '#' || c == '!':
			return b.String(), true
		}
		b.WriteByte(c)
	}
	return b.String(), false
}

// splitLine splits one line into words. Blanks separate words; '{' and
// '}' are words of their own even when attached; a double-quoted string
// is one word, taken as it is (keepalived processes no escapes in it).
func splitLine(line string, pos Pos) ([]token, error) {
	var toks []token
	var word strings.Builder
	flush := func(at int) {
		if word.Len() > 0 {
			toks = append(toks, token{pos: pos, text: word.String(), after: line[at:]})
			word.Reset()
		}
	}
	for i := 0; i < len(line); i++ {
		switch c := line[i]; c {
		case ' ', '\t', '\v', '\f', '\r':
			flush(i)
		case '{', '}':
			flush(i)
			toks = append(toks, token{pos: pos, text: string(c)})
		case '"':
			flush(i)
			end := strings.IndexByte(line[i+1:], '"')
			if end < 0 {
				return toks, errorf(pos, "unterminated quoted string: %s", line[i:])
			}
			toks = append(toks, token{pos: pos, text: line[i+1 : i+1+end], quoted: true, after: line[i+end+2:]})
			i += end + 1
		default:
			word.WriteByte(c)
		}
	}
	flush(len(line))
	return toks, nil
}
