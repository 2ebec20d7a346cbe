package config

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// parseDefinition recognises "$NAME=VALUE": NAME a letter or underscore
// then letters, digits and underscores, the '=' right after it.
func parseDefinition(text string) (name, value string, ok bool) {
	if !strings.HasPrefix(text, "$") {
		return "", "", false
	}
	name, value, ok = strings.Cut(text[1:], "=")
	if !ok || !isName(name) {
		return "", "", false
	}
	return name, strings.TrimSpace(value), true
}

func isName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isNameByte(s[i]) {
			return false
		}
	}
	return true
}

func isNameByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// define sets a parameter. A value ending in '\' goes on over the next
// lines; its value is then those lines, and using it inserts them.
func (lx *lexer) define(name, value string, pos Pos) {
	if lx.params == nil {
		lx.params = map[string][]string{}
	}
	first, more := strings.CutSuffix(value, `\`)
	if !more {
		lx.params[name] = []string{value}
		return
	}
	lx.def = &definition{name: name}
	if first = strings.TrimSpace(first); first != "" {
		lx.def.lines = append(lx.def.lines, first)
	}
}

// definitionLine is a line read while a multi-line definition is open: a
// blank line ends it, a comment line is skipped, an @ID line is kept or
// dropped, and a line without a trailing '\' is its last.
func (lx *lexer) definitionLine(raw string, pos Pos) {
	if strings.TrimSpace(raw) == "" {
		lx.endDefinition()
		return
	}
	text := strings.TrimSpace(stripComment(raw))
	if text == "" {
		return
	}
	text, more := strings.CutSuffix(text, `\`)
	if text, ok := lx.conditional(strings.TrimSpace(text)); ok {
		lx.def.lines = append(lx.def.lines, text)
	}
	if !more {
		lx.endDefinition()
	}
}

func (lx *lexer) endDefinition() {
	if lx.def != nil {
		lx.params[lx.def.name] = lx.def.lines
		lx.def = nil
	}
}

// lookup finds a parameter's lines: one defined in the file, else one of
// keepalived's predefined ones (${_PWD} and the rest), else nothing.
func (lx *lexer) lookup(name string, pos Pos) ([]string, bool) {
	if v, ok := lx.params[name]; ok {
		return v, true
	}
	switch name {
	case "_PWD":
		dir, err := filepath.Abs(filepath.Dir(pos.File))
		if err != nil {
			return nil, false
		}
		return []string{dir}, true
	case "_INSTANCE":
		return []string{lx.opts.ConfigID}, true
	case "_HASH":
		return []string{"#"}, true
	case "_BANG":
		return []string{"!"}, true
	}
	verb, arg, _ := strings.Cut(name, " ")
	switch verb {
	case "_RANDOM":
		if v, ok := lx.params[verb]; ok {
			return v, true // a $_RANDOM of the file's own takes the arguments too
		}
		return lx.random(arg)
	case "_ENV":
		// Not in keepalived 2.2.7 (later releases have it): the value of
		// an environment variable, empty if unset.
		if arg = strings.TrimSpace(arg); arg != "" && !strings.Contains(arg, " ") {
			return []string{os.Getenv(arg)}, true
		}
	}
	return nil, false
}

// random is ${_RANDOM [MIN [MAX]]}: a number from MIN (0) to MAX (32767).
func (lx *lexer) random(args string) ([]string, bool) {
	lo, hi := int64(0), int64(32767)
	f := strings.Fields(args)
	for i, p := range []*int64{&lo, &hi} {
		if i >= len(f) {
			break
		}
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return nil, false
		}
		*p = v
	}
	if lo > hi {
		return nil, false
	}
	draw := rand.Int64N
	if lx.rng != nil {
		draw = lx.rng.Int64N
	}
	return []string{strconv.FormatInt(lo+draw(hi-lo+1), 10)}, true
}

// substitute replaces $NAME and ${NAME} with their values. $NAME counts
// only when a blank, ',', ')' or the end of the line follows it; an
// unknown name is left as it is. A parameter of
// several lines is substituted only at the end of a line: the text before
// it joins its first line and the others follow as lines of their own.
func (lx *lexer) substitute(text string, pos Pos) ([]string, bool) {
	if !strings.Contains(text, "$") {
		return nil, false
	}
	var out []string
	var b strings.Builder
	changed := false
	for i := 0; i < len(text); i++ {
		if text[i] != '$' {
			b.WriteByte(text[i])
			continue
		}
		var name string
		var end int // just past the reference
		if strings.HasPrefix(text[i+1:], "{") {
			close := strings.IndexByte(text[i+2:], '}')
			if close < 0 {
				b.WriteByte('$')
				continue
			}
			inner := text[i+2 : i+2+close]
			name = strings.TrimRight(inner, " \t")
			end = i + 3 + close
			if strings.Contains(name, " ") && name != inner {
				name = "" // ${_RANDOM 1 }: arguments end at the brace
			}
		} else {
			end = i + 1
			for end < len(text) && isNameByte(text[end]) {
				end++
			}
			name = text[i+1 : end]
			if end < len(text) && !strings.ContainsRune(" \t,)", rune(text[end])) {
				name = "" // $X. or $Xabc-: not a reference
			}
		}
		value, ok := lx.lookup(name, pos)
		if !ok || len(value) > 1 && strings.TrimSpace(text[end:]) != "" {
			b.WriteByte('$')
			continue
		}
		changed = true
		if len(value) == 0 {
			i = end - 1
			continue
		}
		b.WriteString(value[0])
		if len(value) > 1 {
			out = append(out, b.String())
			out = append(out, value[1:len(value)-1]...)
			b.Reset()
			b.WriteString(value[len(value)-1])
		}
		i = end - 1
	}
	return append(out, b.String()), changed
}
