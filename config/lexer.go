package config

// tokKind is the kind of a token.
type tokKind uint8

const (
	tokWord   tokKind = iota // a run of characters other than white space, braces, quotes and comment starts
	tokString                // a double-quoted string; text is without the quotes
	tokLBrace                // "{"
	tokRBrace                // "}"
)

// token is one lexical element of a configuration file.
type token struct {
	kind tokKind
	text string
	pos  Pos
}

// lexer splits one file into tokens. It reports lexical errors through
// errf and carries on after them.
type lexer struct {
	src       []byte
	file      string
	off       int
	line, col int
	errf      func(pos Pos, format string, args ...any)
}

func newLexer(file string, src []byte, errf func(Pos, string, ...any)) *lexer {
	lx := &lexer{src: src, file: file, line: 1, col: 1, errf: errf}
	// A UTF-8 byte order mark is not part of the text.
	if len(src) >= 3 && src[0] == 0xEF && src[1] == 0xBB && src[2] == 0xBF {
		lx.off = 3
	}
	return lx
}

func (lx *lexer) pos() Pos { return Pos{File: lx.file, Line: lx.line, Col: lx.col} }

// advance moves past one byte, keeping line and column up to date.
func (lx *lexer) advance() {
	if lx.src[lx.off] == '\n' {
		lx.line++
		lx.col = 1
	} else {
		lx.col++
	}
	lx.off++
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// isWordEnd reports whether c ends a word.
func isWordEnd(c byte) bool {
	return isSpace(c) || c == '{' || c == '}' || c == '"' || c == '#' || c == '!'
}

// next returns the next token, or false at the end of the file.
func (lx *lexer) next() (token, bool) {
	for lx.off < len(lx.src) {
		c := lx.src[lx.off]
		switch {
		case isSpace(c):
			lx.advance()
		case c == '#' || c == '!':
			for lx.off < len(lx.src) && lx.src[lx.off] != '\n' {
				lx.advance()
			}
		case c == '{' || c == '}':
			t := token{kind: tokLBrace, text: "{", pos: lx.pos()}
			if c == '}' {
				t.kind, t.text = tokRBrace, "}"
			}
			lx.advance()
			return t, true
		case c == '"':
			start := lx.pos()
			lx.advance()
			begin := lx.off
			for lx.off < len(lx.src) && lx.src[lx.off] != '"' && lx.src[lx.off] != '\n' {
				lx.advance()
			}
			if lx.off >= len(lx.src) || lx.src[lx.off] != '"' {
				lx.errf(start, "unterminated quoted string")
				continue
			}
			t := token{kind: tokString, text: string(lx.src[begin:lx.off]), pos: start}
			lx.advance()
			return t, true
		default:
			start := lx.pos()
			begin := lx.off
			for lx.off < len(lx.src) && !isWordEnd(lx.src[lx.off]) {
				lx.advance()
			}
			return token{kind: tokWord, text: string(lx.src[begin:lx.off]), pos: start}, true
		}
	}
	return token{}, false
}
