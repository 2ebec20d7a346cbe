package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
)

// includeStrictness is what makes a missing include an error rather than
// a warning: keepalived's include suffixes.
type includeStrictness struct {
	missing  bool // m: a plain file name that does not exist
	wildcard bool // w: a pattern that matches nothing
	brace    bool // b: a {a,b} alternative that does not exist; then nothing is included
	unread   bool // r: a file that cannot be read (a directory, say)
}

// maxIncludeFiles bounds what one include pattern may bring in.
const maxIncludeFiles = 1000

var includeKinds = map[string]includeStrictness{
	"include":  {},
	"includer": {unread: true},
	"includem": {missing: true},
	"includew": {wildcard: true},
	"includeb": {brace: true},
	"includea": {missing: true, wildcard: true, brace: true, unread: true},
}

// include handles "include PATTERN" and its strict variants, reporting
// false for any other line. PATTERN is the rest of the line taken whole,
// quotes and blanks included, relative to the including file's
// directory; {a,b} alternatives expand in the order written, wildcard
// matches in sorted order.
func (lx *lexer) include(text string, pos Pos) bool {
	word, pattern, ok := strings.Cut(text, " ")
	if i := strings.IndexAny(word, "\t\v\f\r"); i >= 0 {
		word, pattern, ok = word[:i], word[i+1:]+" "+pattern, true
	}
	strict, isInclude := includeKinds[word]
	pattern = strings.TrimSpace(pattern)
	if !ok || !isInclude || pattern == "" {
		return false
	}
	report := func(hard bool, format string, args ...any) {
		if hard {
			lx.errorf(pos, format, args...)
		} else {
			lx.warnf(pos, format, args...)
		}
	}
	if strings.Count(pattern, "{") > 8 {
		lx.errorf(pos, "%s %s: too many {a,b} groups", word, pattern)
		return true
	}
	alternatives := expandBraces(pattern)
	var files []string
	missing := 0
	for _, alt := range alternatives {
		if !filepath.IsAbs(alt) {
			alt = filepath.Join(filepath.Dir(pos.File), alt)
		}
		m, err := filepath.Glob(alt)
		if err != nil {
			lx.errorf(pos, "%s %s: %v", word, pattern, err)
			return true
		}
		switch {
		case len(m) > 0:
			files = append(files, m...)
		case strings.ContainsAny(alt, "*?["):
			// An empty conf.d is normal: only includew and -e object.
			if strict.wildcard || lx.opts.StrictIncludes {
				lx.errorf(pos, "%s %s: no file matches %s", word, pattern, alt)
			}
		default:
			missing++
		}
	}
	switch {
	case missing > 0 && len(alternatives) > 1:
		report(strict.brace || strict.missing, "%s %s: some of the files are missing", word, pattern)
		if strict.brace {
			return true
		}
	case missing > 0:
		report(strict.missing || lx.opts.StrictIncludes, "%s %s: no such file", word, pattern)
	}
	if len(files) > maxIncludeFiles {
		lx.errorf(pos, "%s %s: matches more than %d files", word, pattern, maxIncludeFiles)
		return true
	}
	for _, f := range files {
		// Only regular files: a directory is skipped as keepalived does,
		// and a device or FIFO could block the read for ever.
		if st, err := os.Stat(f); err == nil && !st.Mode().IsRegular() {
			report(strict.unread, "%s %s: %s is not a regular file, skipped", word, pattern, f)
			continue
		}
		if err := lx.file(f, pos); err != nil {
			if errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) {
				report(strict.unread, "%s %s: %v", word, pattern, err)
			} else {
				lx.errorf(pos, "%v", err) // a loop, or nesting too deep
			}
		}
	}
	return true
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
