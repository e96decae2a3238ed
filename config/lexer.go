package config

import (
	"bytes"
	"path/filepath"
	"strings"
)

// keepalived reads a configuration a line at a time. Before a line is split
// into words, it is prepared the way keepalived 2.2 prepares it
// (lib/parser.c, read_line):
//
//  1. Comments are removed: "#" or "!" outside double quotes starts one;
//     "\#" and "\!" outside quotes are a literal "#" and "!". Leading and
//     trailing white space goes too, and a "\" ending the line is noted
//     (it continues a multi-line definition).
//  2. A line "@ID rest" keeps only "rest", and only when ID is the
//     configuration id; "@^ID rest" keeps "rest" only when ID is not it.
//  3. A line "$NAME=value" defines NAME and is otherwise empty. When the
//     value ends with "\", the following lines up to one that does not end
//     with "\" (or an empty line) are part of it.
//  4. "$NAME" (followed by white space, ",", ")" or the end of the line)
//     and "${NAME}" anywhere are replaced by NAME's value, again and again
//     while the replaced text holds more references. A name with no
//     definition is left as it is. A multi-line definition is used only at
//     the end of a line: its first line replaces the reference, and its
//     other lines follow as lines of their own.
//
// The words of the prepared line are then read: white space separates
// words, "{" and "}" are words of their own, and a double-quoted string is
// one word without its quotes.

// tokKind is the kind of a token.
type tokKind uint8

const (
	tokWord   tokKind = iota // a run of characters other than white space, braces and quotes
	tokString                // a double-quoted string; text is without the quotes
	tokLBrace                // "{"
	tokRBrace                // "}"
	tokEOL                   // the end of a line
)

// token is one lexical element of a configuration file.
type token struct {
	kind tokKind
	text string
	pos  Pos
	line int // number of the prepared line the token is on, counting from 1 in its file
}

const (
	// maxLineSubst is how many definitions may be replaced in one line.
	maxLineSubst = 1000
	// maxSubst is how many definitions may be replaced in one Parse call.
	maxSubst = 100000
	// maxExpanded is how many bytes replacing definitions may add in one
	// Parse call.
	maxExpanded = 16 << 20
	// maxSubstWork bounds the work of replacing definitions in one Parse
	// call: the bytes of the lines rewritten each time a definition is
	// replaced. Without it, definitions that expand each other into long
	// lines stay under the other bounds yet take quadratic time.
	maxSubstWork = 256 << 20
)

// definition is a $NAME=value definition.
type definition struct {
	value     string // lines separated by "\n" when multiline
	multiline bool
	builtin   func(lx *lexer) string // computes the value of a standard definition
}

// pendingLine is a line of a multi-line definition waiting to be read.
type pendingLine struct {
	text string
	pos  Pos // the position of the reference that brought it in
}

// lexer prepares the lines of one file and splits them into tokens. It
// reports errors through errf and carries on after them.
type lexer struct {
	p       *parser // holds the definitions, shared by every file
	src     []byte
	file    string
	off     int // offset of the next physical line in src
	lineNo  int // number of the last physical line read
	bomSkip int // bytes of byte order mark before the first line

	// pending are the waiting lines of multi-line definitions, as a
	// stack: the last is read next.
	pending []pendingLine

	// The prepared line being split into tokens.
	text  []byte
	cols  []int // cols[i] is the column of text[i]; len(cols) == len(text)
	num   int   // its line number
	at    int   // offset of the next token in text
	seq   int   // its sequence number
	inEOL bool  // the EOL token of the line has not been returned yet
	errf  func(pos Pos, format string, args ...any)
}

func newLexer(p *parser, file string, src []byte, errf func(Pos, string, ...any)) *lexer {
	lx := &lexer{p: p, src: src, file: file, errf: errf}
	// A UTF-8 byte order mark is not part of the text.
	if bytes.HasPrefix(src, []byte("\xEF\xBB\xBF")) {
		lx.off, lx.bomSkip = 3, 3
	}
	return lx
}

// eofPos is the position just after the last byte of the file.
func (lx *lexer) eofPos() Pos {
	line := 1 + bytes.Count(lx.src, []byte{'\n'})
	last := bytes.LastIndexByte(lx.src, '\n')
	col := len(lx.src) - last
	if last < 0 {
		col -= lx.bomSkip
	}
	return Pos{File: lx.file, Line: line, Col: col}
}

// physical returns the next physical line of the file without its line
// end, or false at the end of the file.
func (lx *lexer) physical() ([]byte, bool) {
	if lx.off >= len(lx.src) {
		return nil, false
	}
	rest := lx.src[lx.off:]
	end := bytes.IndexByte(rest, '\n')
	var ln []byte
	if end < 0 {
		ln = rest
		lx.off = len(lx.src)
	} else {
		ln = rest[:end]
		lx.off += end + 1
	}
	lx.lineNo++
	if n := len(ln); n > 0 && ln[n-1] == '\r' {
		ln = ln[:n-1]
	}
	return ln, true
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// decomment removes the comment and the surrounding white space of a
// physical line. It returns the text with the column of each byte, and
// whether the line ended with a "\" (which is removed).
func decomment(ln []byte, firstCol int) (text []byte, cols []int, cont bool) {
	text = make([]byte, 0, len(ln))
	cols = make([]int, 0, len(ln))
	quote := false
	for i := 0; i < len(ln); i++ {
		c := ln[i]
		switch {
		case c == '"':
			quote = !quote
		case c == '\\':
			if i+1 == len(ln) {
				cont = true
				continue
			}
			if !quote && (ln[i+1] == '#' || ln[i+1] == '!') {
				i++
				text = append(text, ln[i])
				cols = append(cols, firstCol+i)
				continue
			}
			text = append(text, c, ln[i+1])
			cols = append(cols, firstCol+i, firstCol+i+1)
			i++
			continue
		case !quote && (c == '#' || c == '!'):
			i = len(ln)
			continue
		}
		text = append(text, c)
		cols = append(cols, firstCol+i)
	}
	start, end := 0, len(text)
	for start < end && isSpace(text[start]) {
		start++
	}
	for end > start && isSpace(text[end-1]) {
		end--
	}
	return text[start:end], cols[start:end], cont
}

// fixed returns n copies of col.
func fixed(col, n int) []int {
	cols := make([]int, n)
	for i := range cols {
		cols[i] = col
	}
	return cols
}

// raw returns the next line to prepare: a waiting line of a multi-line
// definition, else the next physical line without its comment. It
// returns false at the end of the file.
func (lx *lexer) raw() (text []byte, cols []int, num int, ok bool) {
	if n := len(lx.pending); n > 0 {
		pl := lx.pending[n-1]
		lx.pending = lx.pending[:n-1]
		return []byte(pl.text), fixed(pl.pos.Col, len(pl.text)), pl.pos.Line, true
	}
	ln, ok := lx.physical()
	if !ok {
		return nil, nil, 0, false
	}
	text, cols, cont := decomment(ln, 1)
	if cont {
		// Like keepalived, the "\" stays at the end of the text, after
		// the white space before it is removed.
		text = append(text, '\\')
		cols = append(cols, len(ln))
	}
	return text, cols, lx.lineNo, true
}

// nextLine prepares the next line that has text, or returns false at the
// end of the file.
func (lx *lexer) nextLine() bool {
	for {
		text, cols, num, ok := lx.raw()
		if !ok {
			return false
		}
		if len(text) == 0 {
			continue
		}
		text, cols = lx.prepare(text, cols, num)
		if len(text) == 0 {
			continue
		}
		lx.text, lx.cols, lx.num, lx.at = text, cols, num, 0
		lx.seq++
		lx.inEOL = true
		return true
	}
}

// prepare applies conditions, definitions and replacements to a line. It
// returns an empty text when nothing of the line is left.
func (lx *lexer) prepare(text []byte, cols []int, num int) ([]byte, []int) {
	for {
		if text[0] == '@' {
			// "@ID rest" or "@^ID rest".
			ofs := 1
			negate := len(text) > 1 && text[1] == '^'
			if negate {
				ofs = 2
			}
			sp := bytes.IndexAny(text[ofs:], " \t")
			if sp < 0 {
				return nil, nil
			}
			if (string(text[ofs:ofs+sp]) == lx.p.configID) == negate {
				return nil, nil
			}
			rest := ofs + sp
			for rest < len(text) && (text[rest] == ' ' || text[rest] == '\t') {
				rest++
			}
			text, cols = text[rest:], cols[rest:]
			if len(text) == 0 {
				return nil, nil
			}
		}
		if text[0] == '$' && lx.define(text) {
			return nil, nil
		}
		if bytes.HasPrefix(text, []byte("~SEQ")) {
			lx.p.errorf(Pos{File: lx.file, Line: num, Col: cols[0]}, "~SEQ is not supported by xvs")
			return nil, nil
		}
		if len(lx.p.defs) == 0 || bytes.IndexByte(text, '$') < 0 {
			return text, cols
		}
		var changed, ok bool
		text, cols, changed, ok = lx.substitute(text, cols, num)
		if !ok || len(text) == 0 {
			return nil, nil
		}
		if !changed || (text[0] != '@' && bytes.IndexByte(text, '$') < 0) {
			return text, cols
		}
	}
}

func isNameStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isNameChar(c byte) bool { return isNameStart(c) || (c >= '0' && c <= '9') }

// define reads "$NAME=value" (and, for a multi-line definition, the lines
// that continue it) and records the definition. It returns false when the
// text is not a definition.
func (lx *lexer) define(text []byte) bool {
	if len(text) < 3 || !isNameStart(text[1]) {
		return false
	}
	eq := 2
	for eq < len(text) && text[eq] != '=' {
		if !isNameChar(text[eq]) {
			return false
		}
		eq++
	}
	if eq == len(text) {
		return false
	}
	name := string(text[1:eq])
	value := bytes.TrimLeft(text[eq+1:], " \t")
	def := &definition{}
	if n := len(value); n > 0 && value[n-1] == '\\' {
		def.multiline = true
		first := bytes.TrimRight(value[:n-1], " \t")
		var lines []string
		if len(first) > 0 {
			lines = append(lines, string(first))
		}
		for {
			more, _, _, ok := lx.raw()
			if !ok || len(more) == 0 {
				break
			}
			if m := len(more); more[m-1] == '\\' {
				if piece := bytes.TrimRight(more[:m-1], " \t"); len(piece) > 0 {
					lines = append(lines, string(piece))
				}
				continue
			}
			lines = append(lines, string(more))
			break
		}
		def.value = strings.Join(lines, "\n")
		if def.value == "" {
			def.multiline = false
		}
	} else {
		def.value = string(value)
	}
	lx.p.defs[name] = def
	return true
}

// reference reads the reference to a definition starting at text[at],
// which is "$". It returns the name, any parameters (only ${NAME digits})
// and the offset just after the reference; the name is empty when there
// is no reference there.
func reference(text []byte, at int) (name, params string, end int) {
	k := at + 1
	braces := k < len(text) && text[k] == '{'
	if braces {
		k++
	}
	if k >= len(text) || !isNameStart(text[k]) {
		return "", "", 0
	}
	start := k
	for k < len(text) && isNameChar(text[k]) {
		k++
	}
	name = string(text[start:k])
	if !braces {
		if k < len(text) && !strings.ContainsRune(" \t,)", rune(text[k])) {
			return "", "", 0
		}
		return name, "", k
	}
	p := k
	for k < len(text) && (text[k] == ' ' || (text[k] >= '0' && text[k] <= '9')) {
		k++
	}
	if k >= len(text) || text[k] != '}' {
		return "", "", 0
	}
	params = string(text[p:k])
	if params != "" && params[len(params)-1] == ' ' {
		return "", "", 0
	}
	return name, strings.TrimLeft(params, " "), k + 1
}

// substitute replaces the references to definitions in text. It returns
// false, having reported an error, when replacing does not end.
func (lx *lexer) substitute(text []byte, cols []int, num int) ([]byte, []int, bool, bool) {
	p := lx.p
	changed := false
	count := 0
	i := 0
	for {
		j := bytes.IndexByte(text[i:], '$')
		if j < 0 {
			break
		}
		j += i
		name, params, end := reference(text, j)
		def := p.defs[name]
		if name == "" || def == nil || (def.multiline && end != len(text)) || (params != "" && name != "_RANDOM") {
			i = j + 1
			continue
		}
		pos := Pos{File: lx.file, Line: num, Col: cols[j]}
		value := def.value
		if def.builtin != nil {
			if name == "_RANDOM" {
				p.errorf(pos, "$_RANDOM is not supported by xvs: the same files must always give the same configuration")
				return nil, nil, false, false
			}
			value = def.builtin(lx)
		}
		if def.multiline {
			first, rest, found := strings.Cut(value, "\n")
			value = first
			if found {
				// Read before the lines already pending: pushed
				// last line first onto the stack.
				more := strings.Split(rest, "\n")
				for k := len(more) - 1; k >= 0; k-- {
					lx.pending = append(lx.pending, pendingLine{text: more[k], pos: pos})
				}
			}
		}
		count++
		p.substs++
		p.expanded += len(value)
		p.substWork += len(text) + len(value)
		if count > maxLineSubst || p.substs > maxSubst || p.expanded > maxExpanded || p.substWork > maxSubstWork {
			p.errorf(pos, "replacing definitions does not end (does a definition use itself?)")
			lx.pending = nil
			return nil, nil, false, false
		}
		newText := make([]byte, 0, len(text)-(end-j)+len(value))
		newText = append(append(append(newText, text[:j]...), value...), text[end:]...)
		newCols := make([]int, 0, len(newText))
		newCols = append(append(append(newCols, cols[:j]...), fixed(cols[j], len(value))...), cols[end:]...)
		text, cols = newText, newCols
		changed = true
		// The replacement is read again: it may hold references too.
		i = j
	}
	return text, cols, changed, true
}

// stdDefinitions are keepalived's standard definitions.
func stdDefinitions() map[string]*definition {
	return map[string]*definition{
		"_PWD": {builtin: func(lx *lexer) string {
			dir, err := filepath.Abs(filepath.Dir(lx.file))
			if err != nil {
				return filepath.Dir(lx.file)
			}
			return dir
		}},
		"_INSTANCE": {builtin: func(lx *lexer) string { return lx.p.configID }},
		"_RANDOM":   {builtin: func(*lexer) string { return "" }},
	}
}

func (lx *lexer) pos() Pos {
	if lx.at < len(lx.cols) {
		return Pos{File: lx.file, Line: lx.num, Col: lx.cols[lx.at]}
	}
	col := 1
	if n := len(lx.cols); n > 0 {
		col = lx.cols[n-1] + 1
	}
	return Pos{File: lx.file, Line: lx.num, Col: col}
}

// isWordEnd reports whether c ends a word.
func isWordEnd(c byte) bool {
	return isSpace(c) || c == '{' || c == '}' || c == '"'
}

// next returns the next token, or false at the end of the file. Every
// line's tokens are followed by a tokEOL token.
func (lx *lexer) next() (token, bool) {
	for {
		for lx.at < len(lx.text) && isSpace(lx.text[lx.at]) {
			lx.at++
		}
		if lx.at >= len(lx.text) {
			if lx.inEOL {
				lx.inEOL = false
				return token{kind: tokEOL, pos: lx.pos(), line: lx.seq}, true
			}
			if !lx.nextLine() {
				return token{}, false
			}
			continue
		}
		start := lx.pos()
		c := lx.text[lx.at]
		switch {
		case c == '{' || c == '}':
			t := token{kind: tokLBrace, text: "{", pos: start, line: lx.seq}
			if c == '}' {
				t.kind, t.text = tokRBrace, "}"
			}
			lx.at++
			return t, true
		case c == '"':
			end := bytes.IndexByte(lx.text[lx.at+1:], '"')
			if end < 0 {
				lx.errf(start, "unterminated quoted string")
				lx.at = len(lx.text)
				continue
			}
			t := token{kind: tokString, text: string(lx.text[lx.at+1 : lx.at+1+end]), pos: start, line: lx.seq}
			lx.at += end + 2
			return t, true
		default:
			begin := lx.at
			for lx.at < len(lx.text) && !isWordEnd(lx.text[lx.at]) {
				lx.at++
			}
			return token{kind: tokWord, text: string(lx.text[begin:lx.at]), pos: start, line: lx.seq}, true
		}
	}
}
