package config

import (
	"os"
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
}

// Tree is a keepalived.conf read into statements.
type Tree struct {
	// Root stands for the whole file; its children are the top-level
	// statements, includes already replaced by what they include.
	Root *Node
	// Warnings are problems keepalived tolerates, such as a missing include.
	Warnings []*Error
}

// Options are what reading a keepalived.conf depends on besides its text.
type Options struct {
	// ConfigID keeps the lines starting @ConfigID and drops those starting
	// @^ConfigID (keepalived -i); empty: the host name up to its first dot.
	ConfigID string
	// StrictIncludes makes an include that finds no file an error, not a
	// warning (keepalived -e, --all-config).
	StrictIncludes bool
}

// ReadTree reads a keepalived.conf and the files it includes into a tree.
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
	errs := lx.errs
	if err := p.block(root, true); err != nil {
		errs = append(errs, err)
	}
	tree := &Tree{Root: root, Warnings: lx.warnings}
	if len(errs) > 0 {
		return tree, errs
	}
	return tree, nil
}

type treeParser struct {
	toks []token
	i    int
}

// block reads statements into parent until its closing brace (or the end
// of input at the top level).
func (p *treeParser) block(parent *Node, top bool) error {
	var last *Node // the previous statement, which a lone '{' may open
	for p.i < len(p.toks) {
		t := p.toks[p.i]
		switch {
		case t.eol:
			p.i++
		case t.isBrace("}"):
			if top {
				return errorf(t.pos, "'}' without a matching '{'")
			}
			p.i++
			return nil
		case t.isBrace("{"):
			if last == nil || last.Block {
				return errorf(t.pos, "'{' does not follow a keyword")
			}
			p.i++
			last.Block = true
			if err := p.block(last, false); err != nil {
				return err
			}
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
		return errorf(parent.Pos, "block of %s is not closed", parent.Keyword)
	}
	return nil
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
