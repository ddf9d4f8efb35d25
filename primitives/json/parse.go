package json

import (
	stdjson "encoding/json"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/jsonvalid"
)

// parseValue decodes one JSON value (RFC 8259, surrounding whitespace allowed) into a document
// value; invalid JSON or trailing data is ErrInvalidArgument, nesting deeper than MaxDepth or
// an array longer than MaxArrayLen is ErrTooLarge. The size limit is the caller's.
//
// The result is what encoding/json decodes with UseNumber (FuzzParseValue holds the two to
// each other), built in one pass: every value is parsed twice on the write path (by the
// transaction, and by Apply from the WAL payload), and the decoder of encoding/json spent
// ~700 allocations and ~60 µs on a 1 KiB document. Strings without escapes, member names and
// numbers alias b, so the caller must never modify b afterwards (it is a private copy in a
// transaction, an immutable WAL payload in Apply, as section loading aliases its chunk).
func parseValue(b []byte) (any, error) {
	v, _, err := parseSized(b)
	return v, err
}

// parseSized is parseValue that also returns len(encodeValue(v)), counted while parsing (a
// created document need not be measured again), or -1 when an object repeated a member name.
func parseSized(b []byte) (v any, size int, err error) {
	p := parser{b: b}
	if v, err = p.value(0); err != nil {
		return nil, 0, err
	}
	if p.space(); p.off != len(b) {
		return nil, 0, p.invalid("data after the value")
	}
	if p.repeated {
		return v, -1, nil
	}
	return v, p.size, nil
}

// parser reads one value from b. Containers collect their elements (and member names) on
// shared stacks, so that each is allocated once at its final size.
type parser struct {
	b     []byte
	off   int
	items []any
	names []string

	// size adds up what each token takes in the encoding: it is exact unless a repeated member
	// name dropped a value it counted.
	size     int
	repeated bool
}

func (p *parser) invalid(what string) error {
	return dberr.Invalid("invalid JSON: %s at offset %d", what, p.off)
}

func (p *parser) space() { p.off = jsonvalid.SkipSpace(p.b, p.off) }

// value parses the value at p.off, inside depth containers.
func (p *parser) value(depth int) (any, error) {
	p.space()
	if p.off >= len(p.b) {
		return nil, p.invalid("unexpected end")
	}
	switch c := p.b[p.off]; {
	case c == '{':
		return p.object(depth + 1)
	case c == '[':
		return p.array(depth + 1)
	case c == '"':
		return p.string()
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case c == 't':
		return true, p.literal("true")
	case c == 'f':
		return false, p.literal("false")
	case c == 'n':
		return nil, p.literal("null")
	}
	return nil, p.invalid(fmt.Sprintf("unexpected %q", p.b[p.off]))
}

func (p *parser) literal(word string) error {
	if len(p.b)-p.off < len(word) || string(p.b[p.off:p.off+len(word)]) != word {
		return p.invalid("bad literal")
	}
	p.off += len(word)
	p.size += len(word)
	return nil
}

func tooDeep() error {
	return fmt.Errorf("%w: nesting deeper than %d", dberr.ErrTooLarge, MaxDepth)
}

// array parses an array opening at p.off; depth counts it.
func (p *parser) array(depth int) (any, error) {
	if depth > MaxDepth {
		return nil, tooDeep()
	}
	p.off++ // '['
	p.size += 2
	mark := len(p.items)
	defer func() { clear(p.items[mark:]); p.items = p.items[:mark] }()
	if p.space(); p.off < len(p.b) && p.b[p.off] == ']' {
		p.off++
		return []any{}, nil // never nil: an empty array is not null
	}
	for {
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		if p.items = append(p.items, v); len(p.items)-mark > MaxArrayLen {
			return nil, fmt.Errorf("%w: array of more than %d elements", dberr.ErrTooLarge, MaxArrayLen)
		}
		if done, err := p.next(']'); done || err != nil {
			if err != nil {
				return nil, err
			}
			p.size += len(p.items) - mark - 1 // commas
			a := make([]any, len(p.items)-mark)
			copy(a, p.items[mark:])
			return a, nil
		}
	}
}

// object parses an object opening at p.off; depth counts it. A repeated name keeps its last
// value, as encoding/json does.
func (p *parser) object(depth int) (any, error) {
	if depth > MaxDepth {
		return nil, tooDeep()
	}
	p.off++ // '{'
	p.size += 2
	mark, nameMark := len(p.items), len(p.names)
	defer func() {
		clear(p.items[mark:])
		p.items, p.names = p.items[:mark], p.names[:nameMark]
	}()
	if p.space(); p.off < len(p.b) && p.b[p.off] == '}' {
		p.off++
		return map[string]any{}, nil
	}
	for {
		if p.space(); p.off >= len(p.b) || p.b[p.off] != '"' {
			return nil, p.invalid("expected a member name")
		}
		name, err := p.text()
		if err != nil {
			return nil, err
		}
		if p.space(); p.off >= len(p.b) || p.b[p.off] != ':' {
			return nil, p.invalid("expected ':'")
		}
		p.off++
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		p.names, p.items = append(p.names, name), append(p.items, v)
		p.size += quotedSize(name) + 1 // and the colon
		if done, err := p.next('}'); done || err != nil {
			if err != nil {
				return nil, err
			}
			m := make(map[string]any, len(p.names)-nameMark)
			for i, name := range p.names[nameMark:] {
				m[name] = p.items[mark+i]
			}
			p.size += len(m) - 1 // commas
			p.repeated = p.repeated || len(m) != len(p.names)-nameMark
			return m, nil
		}
	}
}

// next consumes the ',' before another element, or the closing byte (done).
func (p *parser) next(closing byte) (done bool, err error) {
	p.space()
	if p.off < len(p.b) {
		switch p.b[p.off] {
		case ',':
			p.off++
			return false, nil
		case closing:
			p.off++
			return true, nil
		}
	}
	return false, p.invalid(fmt.Sprintf("expected ',' or %q", closing))
}

func (p *parser) string() (any, error) {
	s, err := p.text()
	if err != nil {
		return nil, err
	}
	p.size += quotedSize(s)
	return s, nil
}

// text parses a string opening at p.off. One without escapes and in valid UTF-8 aliases b;
// any other is decoded into a new string.
func (p *parser) text() (string, error) {
	start := p.off
	p.off++ // '"'
	plain := true
	for p.off < len(p.b) {
		c := p.b[p.off]
		switch {
		case c == '"':
			p.off++
			body := p.b[start+1 : p.off-1]
			if plain || utf8.Valid(body) {
				return unsafe.String(unsafe.SliceData(body), len(body)), nil
			}
			return p.unquote(start), nil
		case c == '\\':
			return p.escaped(start)
		case c < 0x20:
			return "", p.invalid("control character in a string")
		case c >= utf8.RuneSelf:
			plain = false
		}
		p.off++
	}
	return "", p.invalid("unterminated string")
}

// escaped finishes a string with escapes that opened at start (p.off is at a backslash),
// checking each escape, and decodes it.
func (p *parser) escaped(start int) (string, error) {
	for p.off < len(p.b) {
		switch c := p.b[p.off]; {
		case c == '"':
			p.off++
			return p.unquote(start), nil
		case c == '\\':
			if err := p.escape(); err != nil {
				return "", err
			}
			continue
		case c < 0x20:
			return "", p.invalid("control character in a string")
		}
		p.off++
	}
	return "", p.invalid("unterminated string")
}

// escape checks and skips the escape sequence at p.off.
func (p *parser) escape() error {
	n := jsonvalid.EscapeLen(p.b[p.off:])
	if n == 0 {
		return p.invalid("bad escape")
	}
	p.off += n
	return nil
}

// unquote decodes the checked string token b[start:p.off] as encoding/json does: escapes
// resolved, a surrogate pair joined, and a lone surrogate or an invalid UTF-8 byte replaced by
// U+FFFD.
func (p *parser) unquote(start int) string {
	body := p.b[start+1 : p.off-1]
	out := make([]byte, 0, len(body)+2) // only U+FFFD for a single byte grows (by 2)
	for i := 0; i < len(body); {
		switch c := body[i]; {
		case c == '\\':
			var n int
			out, n = appendEscape(out, body[i:])
			i += n
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			r, size := utf8.DecodeRune(body[i:])
			out = utf8.AppendRune(out, r) // RuneError for an invalid byte
			i += size
		}
	}
	return unsafe.String(unsafe.SliceData(out), len(out))
}

// appendEscape appends what the (checked) escape at the start of s stands for, and returns
// how many bytes of s it took.
func appendEscape(out, s []byte) ([]byte, int) {
	switch s[1] {
	case 'b':
		return append(out, '\b'), 2
	case 'f':
		return append(out, '\f'), 2
	case 'n':
		return append(out, '\n'), 2
	case 'r':
		return append(out, '\r'), 2
	case 't':
		return append(out, '\t'), 2
	case 'u':
		r := hex4(s[2:6])
		if !utf16.IsSurrogate(r) {
			return utf8.AppendRune(out, r), 6
		}
		if jsonvalid.EscapeLen(s[6:]) == 6 { // another \uXXXX
			if pair := utf16.DecodeRune(r, hex4(s[8:12])); pair != utf8.RuneError {
				return utf8.AppendRune(out, pair), 12
			}
		}
		return utf8.AppendRune(out, utf8.RuneError), 6
	}
	return append(out, s[1]), 2 // '"', '\\', '/'
}

// hex4 is the value of four checked hex digits.
func hex4(h []byte) rune {
	var r rune
	for _, c := range h {
		switch {
		case c <= '9':
			c -= '0'
		case c >= 'a':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// number parses a number at p.off.
func (p *parser) number() (any, error) {
	start := p.off
	p.off = jsonvalid.NumberEnd(p.b, p.off)
	s := p.b[start:p.off]
	if !jsonvalid.Number(s) {
		return nil, p.invalid("bad number")
	}
	p.size += len(s)
	return stdjson.Number(unsafe.String(unsafe.SliceData(s), len(s))), nil
}
