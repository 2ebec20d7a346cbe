package config

import (
	"strconv"
	"strings"
)

// sequence handles a line starting ~SEQ, ~SEQx or ~LST: the rest of the
// line is read once per value, with the variable defined to it (it keeps
// the last value afterwards, as in keepalived).
func (lx *lexer) sequence(text string, pos Pos, depth int) {
	var kind string
	for _, k := range []string{"~SEQx", "~SEQ", "~LST"} {
		if strings.HasPrefix(text, k) {
			kind = k
			break
		}
	}
	spec := strings.TrimLeft(text[len(kind):], " \t")
	open, close := strings.IndexByte(spec, '('), strings.IndexByte(spec, ')')
	if open != 0 || close < 0 {
		lx.errorf(pos, "%s: want %s(...) then the text to repeat", kind, kind)
		return
	}
	rest := strings.TrimSpace(spec[close+1:])
	var vars []string
	var values [][]string
	var ok bool
	if kind == "~LST" {
		vars, values, ok = lx.list(spec[1:close], pos)
	} else {
		vars, values, ok = lx.seq(kind, spec[1:close], pos)
	}
	if !ok || rest == "" {
		return
	}
	if lx.params == nil {
		lx.params = map[string][]string{}
	}
	for _, tuple := range values {
		for i, v := range vars {
			lx.params[v] = []string{tuple[i]}
		}
		lx.line(rest, pos, depth+1)
		if lx.lines > maxLines || lx.steps > maxSteps() {
			return
		}
	}
}

// seq reads "VAR, [START,] [STEP,] END" (~SEQ) into its values.
func (lx *lexer) seq(kind, spec string, pos Pos) ([]string, [][]string, bool) {
	fail := func(why string) ([]string, [][]string, bool) {
		lx.errorf(pos, "%s(%s): %s", kind, spec, why)
		return nil, nil, false
	}
	name, numbers, _ := strings.Cut(spec, ",")
	name = strings.TrimSpace(name)
	if !isName(name) {
		return fail("the variable must be a name")
	}
	if expanded, changed := lx.substitute(numbers, pos); changed {
		numbers = strings.Join(expanded, " ")
	}
	var n []int64
	for _, f := range strings.Split(numbers, ",") {
		v, err := strconv.ParseInt(strings.TrimSpace(f), 0, 64)
		if err != nil {
			return fail("want VAR, [START,] [STEP,] END with whole numbers")
		}
		n = append(n, v)
	}
	var start, step, end int64
	switch len(n) {
	case 1:
		start, end = 1, n[0]
		if end < 0 {
			start = -1
		}
	case 2:
		start, end = n[0], n[1]
	case 3:
		start, step, end = n[0], n[1], n[2]
		if step == 0 || (step > 0) != (end >= start) && start != end {
			return fail("the step must be non-zero and go from START towards END")
		}
	default:
		return fail("want VAR, [START,] [STEP,] END")
	}
	if step == 0 {
		step = 1
		if end < start {
			step = -1
		}
	}
	if kind == "~SEQx" && (start < 0 || end < 0) {
		return fail("~SEQx takes only numbers from 0")
	}
	// How many values, without overflowing on ranges near the int64 ends.
	span, stride := uint64(end-start), uint64(step)
	if step < 0 {
		span, stride = uint64(start-end), uint64(-step)
	}
	if span/stride >= uint64(maxLines) {
		return fail("more than " + strconv.Itoa(maxLines) + " values")
	}
	values := make([][]string, span/stride+1)
	base := 10
	if kind == "~SEQx" {
		base = 16
	}
	for i := range values {
		values[i] = []string{strconv.FormatInt(start+int64(i)*step, base)}
	}
	return []string{name}, values, true
}

// list reads "VAR, V1, V2..." or "{X,Y}, {1,2}, {3,4}..." (~LST). Values
// are taken as written; parameters in them expand in the text.
func (lx *lexer) list(spec string, pos Pos) ([]string, [][]string, bool) {
	fail := func(why string) ([]string, [][]string, bool) {
		lx.errorf(pos, "~LST(%s): %s", spec, why)
		return nil, nil, false
	}
	items := splitTopLevel(spec)
	if len(items) < 2 {
		return fail("want VAR, VALUE... or {VAR,...}, {VALUE,...}...")
	}
	vars, braced := group(items[0])
	for _, v := range vars {
		if !isName(v) {
			return fail("the variables must be names")
		}
	}
	var values [][]string
	for _, item := range items[1:] {
		tuple, braced2 := group(item)
		if braced2 && !braced || len(tuple) > len(vars) {
			return fail("a value set has more values than there are variables")
		}
		for _, v := range tuple {
			if strings.ContainsAny(v, " \t{}()") {
				return fail("a value cannot hold blanks, braces or parentheses")
			}
		}
		values = append(values, append(tuple, make([]string, len(vars)-len(tuple))...))
	}
	return vars, values, true
}

// group reads "a" or "{a,b}" into its words, trimmed.
func group(s string) ([]string, bool) {
	s = strings.TrimSpace(s)
	inner, braced := strings.CutPrefix(s, "{")
	if !braced {
		return []string{s}, false
	}
	inner = strings.TrimSuffix(inner, "}")
	parts := strings.Split(inner, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts, true
}
