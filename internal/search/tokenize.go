package search

import (
	"iter"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
	"unsafe"
)

// AppendTokens appends the tokens of text to dst and returns the extended slice. A token is a
// maximal run of Unicode letters and digits, lower-cased. A token that is already lower-case
// is a substring of text, so tokenizing lower-case text allocates nothing beyond dst's growth.
func AppendTokens(dst []string, text string) []string {
	for sp := range spans(text) {
		tok := text[sp.start:sp.end]
		if !sp.lower {
			tok = strings.ToLower(tok)
		}
		dst = append(dst, tok)
	}
	return dst
}

// span is a token's byte range in the text, and whether it is lower-case already.
type span struct {
	start, end int
	lower      bool
}

// spans yields the spans of the tokens of text.
func spans(text string) iter.Seq[span] {
	return func(yield func(span) bool) {
		for sp := nextSpan(text, 0); sp.end > 0; sp = nextSpan(text, sp.end) {
			if !yield(sp) {
				return
			}
		}
	}
}

// nextSpan returns the span of the first token at or after byte i; its end is 0 when there
// is none. It decodes a rune only for non-ASCII bytes: ASCII costs a table look-up per byte.
func nextSpan(text string, i int) span {
	for i < len(text) {
		if c := text[i]; c < utf8.RuneSelf {
			if asciiClass[c] != 0 {
				break
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(text[i:])
		if isWord(r) {
			break
		}
		i += size
	}
	if i == len(text) {
		return span{}
	}
	sp := span{start: i, lower: true}
	for i < len(text) {
		if c := text[i]; c < utf8.RuneSelf {
			class := asciiClass[c]
			if class == 0 {
				break
			}
			sp.lower = sp.lower && class&asciiUpper == 0
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(text[i:])
		if !isWord(r) {
			break
		}
		sp.lower = sp.lower && unicode.ToLower(r) == r
		i += size
	}
	sp.end = i
	return sp
}

func isWord(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

const (
	asciiWord = 1 << iota
	asciiUpper
)

// asciiClass classifies the ASCII bytes: letters and digits are word bytes, A–Z also upper.
var asciiClass = func() (t [utf8.RuneSelf]uint8) {
	for c := range utf8.RuneSelf {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			t[c] = asciiWord
		case c >= 'A' && c <= 'Z':
			t[c] = asciiWord | asciiUpper
		}
	}
	return t
}()

// tokenizer is the writer's and the scan's allocation-free tokenizer: it lower-cases into a
// buffer it reuses.
type tokenizer struct {
	buf []byte
}

// each yields the tokens of text. A yielded token may alias the tokenizer's buffer: it is valid
// only until the next token is yielded; whoever keeps one must clone it.
func (t *tokenizer) each(text string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for sp := range spans(text) {
			tok := text[sp.start:sp.end]
			if !sp.lower {
				tok = t.lower(tok)
			}
			if !yield(tok) {
				return
			}
		}
	}
}

// lower returns tok lower-cased, in the tokenizer's buffer.
func (t *tokenizer) lower(tok string) string {
	t.buf = t.buf[:0]
	for _, r := range tok {
		t.buf = utf8.AppendRune(t.buf, unicode.ToLower(r))
	}
	return unsafe.String(unsafe.SliceData(t.buf), len(t.buf))
}

// queryTerms returns the distinct tokens of query in order of first occurrence: a repeated
// query term counts once.
func queryTerms(query string) []string {
	var out []string
	for _, t := range AppendTokens(nil, query) {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}
