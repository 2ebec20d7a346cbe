package config

import (
	_ "embed"
	"fmt"
	"strings"
)

// keywordsText lists every keyword keepalived 2.2.7 accepts, by block.
//
//go:embed keywords.txt
var keywordsText string

// schemaBlock is the keywords one block (or the top level) accepts.
type schemaBlock struct {
	path     string // "vrrp_instance/authentication"; "" for the top level
	keywords map[string]*schemaKeyword
}

// schemaKeyword is one keyword keepalived knows.
type schemaKeyword struct {
	name      string
	canonical string       // set on a deprecated alias: the keyword to use instead
	block     *schemaBlock // the keywords of the block it opens; nil if none or a list
	list      bool         // it opens a block of data lines (addresses, names)
}

// schema is the top level of keywords.txt.
var (
	schema = mustParseSchema(keywordsText)
	// The blocks the builder types, for what it does not build in them.
	schemaGlobal    = schema.lookup("global_defs")
	schemaInstance  = schema.lookup("vrrp_instance")
	schemaAuth      = schema.lookup("vrrp_instance/authentication")
	schemaSyncGroup = schema.lookup("vrrp_sync_group")
	schemaScript    = schema.lookup("vrrp_script")
)

func mustParseSchema(text string) *schemaBlock {
	s, err := parseSchema(text)
	if err != nil {
		panic("keywords.txt: " + err.Error())
	}
	return s
}

// parseSchema reads keywords.txt: one keyword per line, indented by one
// tab per level; "KEYWORD {" opens a block closed by "}", "KEYWORD {list}"
// opens a block of data lines, "OLD =NEW" is a deprecated alias.
func parseSchema(text string) (*schemaBlock, error) {
	root := &schemaBlock{keywords: map[string]*schemaKeyword{}}
	stack := []*schemaBlock{root}
	for i, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		depth := len(line) - len(strings.TrimLeft(line, "\t"))
		if trimmed == "}" {
			if depth != len(stack)-2 {
				return nil, fmt.Errorf("line %d: } at the wrong depth", i+1)
			}
			stack = stack[:len(stack)-1]
			continue
		}
		if depth != len(stack)-1 {
			return nil, fmt.Errorf("line %d: indented %d, want %d", i+1, depth, len(stack)-1)
		}
		parent := stack[len(stack)-1]
		f := strings.Fields(trimmed)
		k := &schemaKeyword{name: f[0]}
		switch {
		case len(f) == 1:
		case len(f) == 2 && f[1] == "{list}":
			k.list = true
		case len(f) == 2 && f[1] == "{":
			k.block = &schemaBlock{path: strings.TrimPrefix(parent.path+"/"+k.name, "/"), keywords: map[string]*schemaKeyword{}}
			stack = append(stack, k.block)
		case len(f) == 2 && strings.HasPrefix(f[1], "="):
			k.canonical = f[1][1:]
		default:
			return nil, fmt.Errorf("line %d: cannot read %q", i+1, trimmed)
		}
		if _, dup := parent.keywords[k.name]; dup {
			return nil, fmt.Errorf("line %d: %s listed twice in %q", i+1, k.name, parent.path)
		}
		parent.keywords[k.name] = k
	}
	if len(stack) != 1 {
		return nil, fmt.Errorf("block %q not closed", stack[len(stack)-1].path)
	}
	for _, b := range allBlocks(root) {
		for _, k := range b.keywords {
			if k.canonical == "" {
				continue
			}
			c, ok := b.keywords[k.canonical]
			if !ok {
				return nil, fmt.Errorf("%s: alias %s of unknown %s", b.path, k.name, k.canonical)
			}
			k.block, k.list = c.block, c.list
		}
	}
	return root, nil
}

func allBlocks(b *schemaBlock) []*schemaBlock {
	out := []*schemaBlock{b}
	for _, k := range b.keywords {
		if k.block != nil && k.canonical == "" {
			out = append(out, allBlocks(k.block)...)
		}
	}
	return out
}

// lookup finds a keyword in the block at path ("" is the top level).
func (s *schemaBlock) lookup(path string) *schemaBlock {
	b := s
	if path == "" {
		return b
	}
	for _, name := range strings.Split(path, "/") {
		k, ok := b.keywords[name]
		if !ok || k.block == nil {
			return nil
		}
		b = k.block
	}
	return b
}

// where lists the blocks, other than the one given, that accept keyword:
// "it belongs in global_defs" helps more than "unknown".
func (s *schemaBlock) where(keyword string) []string {
	var out []string
	for _, b := range allBlocks(s) {
		if _, ok := b.keywords[keyword]; ok {
			name := b.path
			if name == "" {
				name = "the top level"
			}
			out = append(out, name)
		}
	}
	return out
}
