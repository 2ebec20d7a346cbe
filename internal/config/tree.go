package config

import (
	"os"
	"slices"
	"strings"
)

// Node is a statement of keepalived.conf: a keyword, its arguments, and
// the statements of its block if it has one.
type Node struct {
	Pos      Pos
	Keyword  string
	Args     []string
	Block    bool // the statement opened a { } block
	Children []*Node
	// Raw is the text after the keyword when the statement is a line of
	// its own (no brace on it), for keywords that read it with other
	// quoting rules (script lines); empty otherwise.
	Raw string
	// BraceIgnored: a '{' followed this unknown keyword, and was ignored.
	BraceIgnored bool
}

// Tree is a keepalived.conf read into statements.
type Tree struct {
	// Root stands for the whole file; its children are the top-level
	// statements, includes already replaced by what they include.
	Root *Node
	// Warnings are problems keepalived tolerates, such as a missing include.
	Warnings []*Error
	// Problems are misplaced braces: errors, yet the statements around
	// them are read on as keepalived reads them, so that their own
	// mistakes are reported too.
	Problems Errors
	// unreadable: the lexer failed (an include loop, a runaway ~SEQ), so
	// the statements are not worth building.
	unreadable bool
}

// Options are what reading a keepalived.conf depends on besides its text.
type Options struct {
	// ConfigID keeps the lines starting @ConfigID and drops those starting
	// @^ConfigID (keepalived -i); empty: the host name up to its first dot.
	ConfigID string
	// StrictIncludes makes an include that finds no file an error, not a
	// warning (keepalived -e, --all-config).
	StrictIncludes bool
	// Resolve, when set, looks smtp_server's host name up as keepalived
	// does when it reads the file: a name that does not resolve is an
	// error (-t sets it; the daemon resolves the name when a mail goes
	// out, so that a DNS outage at boot does not stop it).
	Resolve func(host string) error
}

// ReadTree reads a keepalived.conf and the files it includes into a tree.
// The error lists what the lexer could not read and the Problems.
func ReadTree(path string, o Options) (*Tree, error) {
	if o.ConfigID == "" {
		o.ConfigID = shortHostname()
	}
	lx := &lexer{opts: o}
	if err := lx.file(path, Pos{}); err != nil {
		return nil, err
	}
	root := &Node{Pos: Pos{File: path}, Block: true}
	p := &treeParser{toks: lx.toks}
	p.block(root, schema)
	tree := &Tree{Root: root, Warnings: lx.warnings, Problems: p.problems, unreadable: len(lx.errs) > 0}
	if errs := append(slices.Clone(lx.errs), p.problems...); len(errs) > 0 {
		return tree, errs
	}
	return tree, nil
}

// dataLines stands for a block of data lines (addresses, names): no
// keyword in it opens a block.
var dataLines = &schemaBlock{path: "(data lines)"}

type treeParser struct {
	toks     []token
	i        int
	problems Errors
}

// block reads statements into parent until its closing brace (or the end
// of input at the top level). sch is what parent's block holds, as
// keepalived knows it; nil for a block of data lines. keepalived opens a
// block only after a keyword that takes one: any other '{' it ignores,
// so the '}' after it closes the enclosing block; vipd reads the same.
func (p *treeParser) block(parent *Node, sch *schemaBlock) {
	top := parent.Keyword == ""
	var last *Node // the previous statement, which a lone '{' may open
	for p.i < len(p.toks) {
		t := p.toks[p.i]
		switch {
		case t.eol:
			p.i++
		case t.isBrace("}"):
			p.i++
			if !top {
				return
			}
			p.problems = append(p.problems, errorf(t.pos, "'}' without a matching '{': ignored, as keepalived ignores it; remove it"))
		case t.isBrace("{"):
			p.i++
			if last == nil || last.Block {
				p.problems = append(p.problems, errorf(t.pos, "'{' does not follow a keyword: ignored, as keepalived ignores it"))
				continue
			}
			if sch == dataLines {
				p.problems = append(p.problems, errorf(t.pos, "'{' among the data lines of %s: keepalived ignores it, and the '}' after it closes %s", parent.Keyword, parent.Keyword))
				continue
			}
			var inner *schemaBlock
			if sch != nil {
				k := sch.keywords[last.Keyword]
				switch {
				case k == nil:
					// Unknown: its error says what became of the brace.
					last.BraceIgnored = true
					continue
				case k.block == nil && !k.list:
					closes := "the file"
					if !top {
						closes = parent.Keyword
					}
					p.problems = append(p.problems, errorf(t.pos, "'{' after %s, which takes no block: keepalived ignores it, and the '}' after it closes %s", last.Keyword, closes))
					continue
				}
				inner = k.block
				if k.list {
					inner = dataLines
				}
			}
			last.Block = true
			p.block(last, inner)
		default:
			n := &Node{Pos: t.pos, Keyword: t.text}
			p.i++
			n.Raw = t.after
			for p.i < len(p.toks) {
				a := p.toks[p.i]
				if a.eol {
					break
				}
				if a.isBrace("{") || a.isBrace("}") {
					n.Raw = ""
					break
				}
				n.Args = append(n.Args, a.text)
				p.i++
			}
			parent.Children = append(parent.Children, n)
			last = n
		}
	}
	if !top {
		// keepalived closes it there too, and calls it an error.
		p.problems = append(p.problems, errorf(parent.Pos, "block of %s is not closed at the end of the file; add the '}'", parent.Keyword))
	}
}

// shortHostname is keepalived's default config id.
func shortHostname() string {
	h, err := os.Hostname()
	if err != nil {
		return ""
	}
	name, _, _ := strings.Cut(h, ".")
	return name
}
