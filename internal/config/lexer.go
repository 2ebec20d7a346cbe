// Package config reads keepalived.conf: the lexer and block tree here,
// the typed model elsewhere in the package.
package config

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
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
}

func (t token) isBrace(b string) bool { return !t.quoted && !t.eol && t.text == b }

// MaxIncludeDepth bounds nested includes, so that a file including itself
// through a glob is an error rather than a hang.
const MaxIncludeDepth = 32

// lexer turns files into tokens, following includes.
type lexer struct {
	toks     []token
	warnings []*Error
	stack    []string // absolute paths of the files being read, for loops
}

func (lx *lexer) file(path string, from Pos) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return errorf(from, "%v", err)
	}
	if slices.Contains(lx.stack, abs) {
		return errorf(from, "include loop: %s includes itself (through %s)", path, strings.Join(lx.stack, " -> "))
	}
	if len(lx.stack) >= MaxIncludeDepth {
		return errorf(from, "includes nested deeper than %d", MaxIncludeDepth)
	}
	src, err := os.ReadFile(path)
	if err != nil {
		if from.File == "" {
			return err
		}
		return errorf(from, "include: %v", err)
	}
	lx.stack = append(lx.stack, abs)
	defer func() { lx.stack = lx.stack[:len(lx.stack)-1] }()
	for i, line := range strings.Split(string(src), "\n") {
		pos := Pos{File: path, Line: i + 1}
		line = strings.TrimSuffix(line, "\r")
		if rest, ok := includeLine(line); ok {
			if err := lx.include(rest, pos); err != nil {
				return err
			}
			continue
		}
		words, err := splitLine(line, pos)
		if err != nil {
			return err
		}
		if len(words) == 0 {
			continue
		}
		if first := words[0]; !first.quoted {
			switch {
			case strings.HasPrefix(first.text, "@"):
				return errorf(pos, "conditional configuration lines (%s) are not supported yet", first.text)
			case strings.HasPrefix(first.text, "$"):
				return errorf(pos, "configuration parameters (%s) are not supported yet", first.text)
			case strings.HasPrefix(first.text, "~"):
				return errorf(pos, "sequence expansions (%s) are not supported yet", first.text)
			}
		}
		lx.toks = append(lx.toks, words...)
		lx.toks = append(lx.toks, token{pos: pos, eol: true})
	}
	return nil
}

// includeLine recognises "include PATTERN" and returns the pattern, taken
// whole: braces in it are shell-style alternatives, not blocks.
func includeLine(line string) (string, bool) {
	f := strings.Fields(line)
	if len(f) == 0 || f[0] != "include" {
		return "", false
	}
	rest := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "include"))
	if i := strings.IndexAny(rest, "#!"); i >= 0 {
		rest = strings.TrimSpace(rest[:i])
	}
	return strings.Trim(rest, `"`), true
}

// include reads the files a pattern names, relative to the including
// file's directory, in sorted order. Like keepalived it expands {a,b}
// alternatives. A pattern with wildcards may match nothing; a missing
// plain file name is a warning.
func (lx *lexer) include(pattern string, pos Pos) error {
	switch {
	case pattern == "" || strings.ContainsAny(pattern, " \t"):
		return errorf(pos, "include takes one file name or pattern")
	case strings.Contains(pattern, "$"):
		return errorf(pos, "configuration parameters in include (%s) are not supported yet", pattern)
	}
	var matches []string
	for _, p := range expandBraces(pattern) {
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(pos.File), p)
		}
		m, err := filepath.Glob(p)
		if err != nil {
			return errorf(pos, "include %s: %v", pattern, err)
		}
		if len(m) == 0 && !strings.ContainsAny(p, "*?[") {
			// keepalived goes on without it, and so do we, loudly.
			lx.warnings = append(lx.warnings, errorf(pos, "include %s: no such file %s", pattern, p))
		}
		matches = append(matches, m...)
	}
	for _, m := range matches {
		if err := lx.file(m, pos); err != nil {
			return err
		}
	}
	return nil
}

// expandBraces expands the first {a,b,...} group of s, recursively, as
// glob(3) with GLOB_BRACE does.
func expandBraces(s string) []string {
	open := strings.IndexByte(s, '{')
	if open < 0 {
		return []string{s}
	}
	depth := 0
	for i := open; i < len(s); i++ {
		switch s[i] {
		case '{':
			depth++
		case '}':
			if depth--; depth == 0 {
				var out []string
				for _, alt := range splitTopLevel(s[open+1 : i]) {
					out = append(out, expandBraces(s[:open]+alt+s[i+1:])...)
				}
				return out
			}
		}
	}
	return []string{s} // unbalanced: taken literally
}

// splitTopLevel splits at commas that are not inside nested braces.
func splitTopLevel(s string) []string {
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '{':
			depth++
		case '}':
			depth--
		case ',':
			if depth == 0 {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, s[start:])
}

// splitLine splits one line into words. Whitespace separates words; '{'
// and '}' are words of their own even when attached; '#' or '!' ends the
// line, even inside a word; a double-quoted string is one word.
func splitLine(line string, pos Pos) ([]token, error) {
	var toks []token
	var word strings.Builder
	flush := func() {
		if word.Len() > 0 {
			toks = append(toks, token{pos: pos, text: word.String()})
			word.Reset()
		}
	}
	for i := 0; i < len(line); i++ {
		switch c := line[i]; c {
		case ' ', '\t', '\v', '\f':
			flush()
		case '#', '!':
			flush()
			return toks, nil
		case '{', '}':
			flush()
			toks = append(toks, token{pos: pos, text: string(c)})
		case '"':
			flush()
			end := strings.IndexByte(line[i+1:], '"')
			if end < 0 {
				return nil, errorf(pos, "unterminated quoted string")
			}
			toks = append(toks, token{pos: pos, text: line[i+1 : i+1+end], quoted: true})
			i += end + 1
		default:
			word.WriteByte(c)
		}
	}
	flush()
	return toks, nil
}
