package config

import (
	"fmt"
	"path/filepath"
	"strings"
)

const (
	// maxErrors is how many errors are recorded before parsing gives up
	// recording more.
	maxErrors = 20
	// maxIncludeDepth is how deeply include may nest; deeper nesting is
	// taken to be an include loop.
	maxIncludeDepth = 10
	// maxIncludes is how many files may be included in all.
	maxIncludes = 1000
	// maxBlockDepth is how deeply blocks may nest.
	maxBlockDepth = 50
)

// stmt is one statement: a keyword, the arguments on its line and,
// optionally, a block.
type stmt struct {
	kw       token
	args     []token
	hasBlock bool
	lbrace   Pos // position of "{" when hasBlock
	block    []*stmt
	// warning, when set, makes the statement stand only for this warning,
	// reported at kw.pos when the statements are interpreted so that it
	// comes in reading order with the other warnings.
	warning string
}

// parser holds the state shared by every file of one Parse call.
type parser struct {
	fsys      fileSystem
	configID  string
	defs      map[string]*definition // $NAME definitions, shared by every file as in keepalived
	substs    int                    // definitions replaced so far
	expanded  int                    // bytes added by replacing definitions
	substWork int                    // work of replacing definitions (maxSubstWork)
	errs      []Diagnostic
	warns     []Diagnostic
	warned    map[string]bool // messages of the warnings given once per keyword
	dropped   int             // errors not recorded because there were too many
	firstDrop Pos
	broken    bool // braces or quotes are wrong, so the statement tree is unreliable
	includes  int
}

func (p *parser) errorf(pos Pos, format string, args ...any) {
	if len(p.errs) >= maxErrors {
		if p.dropped == 0 {
			p.firstDrop = pos
		}
		p.dropped++
		return
	}
	p.errs = append(p.errs, Diagnostic{Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) warnf(pos Pos, format string, args ...any) {
	p.warns = append(p.warns, Diagnostic{Pos: pos, Msg: fmt.Sprintf(format, args...), Warning: true})
}

// noteOnce records a note (see Diagnostic.Note) unless one with the same
// message was recorded already.
func (p *parser) noteOnce(pos Pos, format string, args ...any) {
	p.once(Diagnostic{Pos: pos, Msg: fmt.Sprintf(format, args...), Note: true})
}

// once records d unless a diagnostic with its message was recorded
// already.
func (p *parser) once(d Diagnostic) {
	if p.warned[d.Msg] {
		return
	}
	if p.warned == nil {
		p.warned = make(map[string]bool)
	}
	p.warned[d.Msg] = true
	p.warns = append(p.warns, d)
}

// warnOnce records a warning unless one with the same message was
// recorded already: keywords that are unknown or not acted on are reported
// at their first use only.
func (p *parser) warnOnce(pos Pos, format string, args ...any) {
	p.once(Diagnostic{Pos: pos, Msg: fmt.Sprintf(format, args...), Warning: true})
}

// syntaxErrorf records an error that makes the statement tree unreliable.
func (p *parser) syntaxErrorf(pos Pos, format string, args ...any) {
	p.broken = true
	p.errorf(pos, format, args...)
}

// parse is ParseWith with the file system to read included files from.
func parse(filename string, src []byte, fsys fileSystem, opts Options) (*Spec, error) {
	p := &parser{fsys: fsys, configID: opts.ConfigID, defs: stdDefinitions()}
	if p.configID == "" {
		p.configID = hostConfigID()
	}
	tree := p.parseFile(filename, src, 0)
	spec := &Spec{}
	if !p.broken {
		in := &interp{p: p, spec: spec}
		in.top(tree)
	}
	if len(p.errs) > 0 {
		if p.dropped > 0 {
			p.errs = append(p.errs, Diagnostic{Pos: p.firstDrop, Msg: "too many errors"})
		}
		return nil, &Error{Diags: p.errs, Warnings: p.warns}
	}
	spec.Warnings = p.warns
	return spec, nil
}

// parseFile returns the statements of one file, with includes expanded.
func (p *parser) parseFile(filename string, src []byte, depth int) []*stmt {
	b := &builder{p: p, depth: depth}
	b.lx = newLexer(p, filename, src, p.syntaxErrorf)
	return b.list(nil, 0)
}

// builder turns the tokens of one file into statements.
type builder struct {
	p      *parser
	lx     *lexer
	depth  int // include depth of this file
	peeked bool
	tok    token
	ok     bool
}

func (b *builder) peek() (token, bool) {
	if !b.peeked {
		b.tok, b.ok = b.lx.next()
		b.peeked = true
	}
	return b.tok, b.ok
}

func (b *builder) next() (token, bool) {
	t, ok := b.peek()
	b.peeked = false
	return t, ok
}

// eofPos is the position just after the last byte of the file.
func (b *builder) eofPos() Pos {
	return b.lx.eofPos()
}

// list reads statements up to the "}" closing open, or up to the end of
// the file when open is nil. nesting is the number of enclosing blocks.
func (b *builder) list(open *stmt, nesting int) []*stmt {
	var list []*stmt
	for {
		t, ok := b.next()
		if !ok {
			if open != nil {
				b.p.syntaxErrorf(b.eofPos(), "block %q opened at %s is never closed", open.kw.text, open.kw.pos)
			}
			return list
		}
		switch t.kind {
		case tokEOL:
			continue
		case tokRBrace:
			if open != nil {
				return list
			}
			b.p.syntaxErrorf(t.pos, `unexpected "}" with no open block`)
			continue
		case tokLBrace:
			b.p.syntaxErrorf(t.pos, `unexpected "{" with no keyword before it`)
			b.skipBlock(t.pos)
			continue
		}
		st := &stmt{kw: t}
		for {
			n, ok := b.peek()
			if !ok || (n.kind != tokWord && n.kind != tokString) {
				break
			}
			b.next()
			st.args = append(st.args, n)
		}
		isInclude := st.kw.kind == tokWord && st.kw.text == "include"
		// The "{" may also start a later line. An include is read before
		// the next line is, since the files it names may define what that
		// line uses.
		n, ok := b.peek()
		for ok && n.kind == tokEOL && !isInclude {
			b.next()
			n, ok = b.peek()
		}
		if ok && n.kind == tokLBrace {
			b.next()
			st.hasBlock = true
			st.lbrace = n.pos
			if nesting+1 > maxBlockDepth {
				b.p.syntaxErrorf(n.pos, "blocks are nested more than %d deep", maxBlockDepth)
				b.skipBlock(n.pos)
				continue
			}
			st.block = b.list(st, nesting+1)
		}
		if st.kw.kind == tokWord && st.kw.text == "include" {
			list = append(list, b.include(st)...)
			continue
		}
		list = append(list, st)
	}
}

// skipBlock skips tokens up to the "}" matching the "{" at open, which has
// been read already.
func (b *builder) skipBlock(open Pos) {
	depth := 1
	for depth > 0 {
		t, ok := b.next()
		if !ok {
			b.p.syntaxErrorf(b.eofPos(), "block opened at %s is never closed", open)
			return
		}
		switch t.kind {
		case tokLBrace:
			depth++
		case tokRBrace:
			depth--
		}
	}
}

// include expands "include PATTERN" into the statements of the files it
// names.
func (b *builder) include(st *stmt) []*stmt {
	p := b.p
	if st.hasBlock {
		p.errorf(st.lbrace, "include does not open a block")
	}
	switch {
	case len(st.args) == 0:
		p.errorf(st.kw.pos, `include needs a file name or pattern, e.g. "include conf.d/*.conf"`)
		return nil
	case len(st.args) > 1:
		p.errorf(st.args[1].pos, "include takes one file name or pattern; unexpected %q", st.args[1].text)
		return nil
	}
	if b.depth >= maxIncludeDepth {
		p.errorf(st.kw.pos, "includes are nested more than %d deep (does a file include itself?)", maxIncludeDepth)
		return nil
	}
	arg := st.args[0]
	pattern := arg.text
	if pattern == "" {
		p.errorf(arg.pos, "include needs a file name or pattern, not an empty string")
		return nil
	}
	if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(filepath.Dir(b.lx.file), pattern)
	}
	var files []string
	if strings.ContainsAny(arg.text, `*?[\`) {
		m, err := p.fsys.Glob(pattern)
		if err != nil {
			p.errorf(arg.pos, "bad include pattern %q: %v", arg.text, err)
			return nil
		}
		if len(m) == 0 {
			kw := token{kind: tokWord, text: "include", pos: arg.pos}
			return []*stmt{{kw: kw, warning: fmt.Sprintf("include pattern %q matches no files", arg.text)}}
		}
		files = m
	} else {
		files = []string{pattern}
	}
	var list []*stmt
	for _, f := range files {
		if p.includes >= maxIncludes {
			p.errorf(arg.pos, "more than %d files are included", maxIncludes)
			return list
		}
		p.includes++
		data, err := p.fsys.ReadFile(f)
		if err != nil {
			p.errorf(arg.pos, "cannot read included file: %v", err)
			continue
		}
		list = append(list, p.parseFile(f, data, b.depth+1)...)
	}
	return list
}
