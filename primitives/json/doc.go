package json

import (
	stdjson "encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/inmemdb/inmem/internal/dberr"
)

// Limits on a document, checked before logging.
const (
	MaxDocSize  = 16 << 20  // encoded bytes
	MaxDepth    = 100       // nested objects/arrays; a scalar root has depth 0
	MaxArrayLen = 1_000_000 // elements of one array
)

// A document value is what encoding/json decodes with UseNumber: nil, bool, stdjson.Number,
// string, []any, map[string]any. Values inside the store are immutable: setValue and
// deleteValue return new values sharing every subtree off the changed path.

// encodeValue encodes v compactly (object members sorted, numbers as written).
func encodeValue(v any) ([]byte, error) { return stdjson.Marshal(v) }

// checkDoc checks a whole resulting document against every limit.
func checkDoc(v any) error {
	n, err := measure(v, 0)
	if err != nil {
		return err
	}
	if n > MaxDocSize {
		return dberr.TooLarge("document", n, MaxDocSize)
	}
	return nil
}

// measure checks nesting (depth is the number of containers around v) and array lengths, and
// returns len(encodeValue(v)), counted without building the encoding: every validation of a
// write measures the resulting document.
func measure(v any, depth int) (int, error) {
	switch x := v.(type) {
	case nil:
		return len("null"), nil
	case bool:
		if x {
			return len("true"), nil
		}
		return len("false"), nil
	case stdjson.Number:
		return len(x), nil // a stored number is valid and written as is
	case string:
		return quotedSize(x), nil
	case []any:
		if depth+1 > MaxDepth {
			return 0, tooDeep()
		}
		if len(x) > MaxArrayLen {
			return 0, fmt.Errorf("%w: array of %d elements, limit %d", dberr.ErrTooLarge, len(x), MaxArrayLen)
		}
		n := 2 + max(len(x)-1, 0) // brackets and commas
		for _, e := range x {
			m, err := measure(e, depth+1)
			if err != nil {
				return 0, err
			}
			n += m
		}
		return n, nil
	case map[string]any:
		if depth+1 > MaxDepth {
			return 0, tooDeep()
		}
		n := 2 + max(len(x)-1, 0) // braces and commas
		for k, e := range x {
			m, err := measure(e, depth+1)
			if err != nil {
				return 0, err
			}
			n += quotedSize(k) + 1 + m // name, colon, value
		}
		return n, nil
	}
	return 0, fmt.Errorf("%w: a %T in a document", dberr.ErrInvalidArgument, v) // a bug: parseValue builds none
}

// quotedSize is the length of s as encoding/json writes it: quoted, with '"', '\\' and the
// control characters escaped, '<', '>', '&', U+2028 and U+2029 escaped for HTML, and each
// invalid UTF-8 byte replaced by \ufffd.
func quotedSize(s string) int {
	n := 2
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '<' || c == '>' || c == '&' || (c < 0x20 && !shortEscape(c)):
				n += len(`\u0000`)
			case c == '"' || c == '\\' || c < 0x20:
				n += 2
			default:
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1, r == '\u2028', r == '\u2029':
			n += len(`\ufffd`)
		default:
			n += size
		}
		i += size
	}
	return n
}

// shortEscape reports whether encoding/json writes control character c as a two-byte escape.
func shortEscape(c byte) bool {
	return c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t'
}

// getValue returns the value at p: ErrNotFound for a missing member or index, ErrTypeMismatch
// for a step into a value of the wrong kind.
func getValue(v any, p Path) (any, error) {
	for i, s := range p {
		switch x := v.(type) {
		case map[string]any:
			if s.IsIndex {
				return nil, mismatch(p[:i+1], "object", "index")
			}
			c, ok := x[s.Name]
			if !ok {
				return nil, fmt.Errorf("%w: path %s", dberr.ErrNotFound, p[:i+1])
			}
			v = c
		case []any:
			if !s.IsIndex {
				return nil, mismatch(p[:i+1], "array", "member name")
			}
			if s.Index >= len(x) {
				return nil, fmt.Errorf("%w: path %s", dberr.ErrNotFound, p[:i+1])
			}
			v = x[s.Index]
		default:
			return nil, mismatch(p[:i+1], kind(v), "segment")
		}
	}
	return v, nil
}

func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	return "number"
}

func mismatch(p Path, have, want string) error {
	return fmt.Errorf("%w: path %s: %s where a container for a %s was needed", dberr.ErrTypeMismatch, p, have, want)
}

// setValue returns v with val at p, copying only the containers along p. A missing member or
// a null on the way is replaced by a new container (an object before ".name", an array before
// "[i]"); an index equal to the array's length appends, a larger one is ErrIndexOutOfRange; a
// step into any other value is ErrTypeMismatch.
func setValue(v any, p Path, val any) (any, error) { return setAt(v, p, 0, val) }

func setAt(v any, p Path, i int, val any) (any, error) {
	if i == len(p) {
		return val, nil
	}
	s := p[i]
	if v == nil { // missing or null: create the container the segment needs
		if s.IsIndex {
			v = []any{}
		} else {
			v = map[string]any{}
		}
	}
	switch x := v.(type) {
	case map[string]any:
		if s.IsIndex {
			return nil, mismatch(p[:i+1], "object", "index")
		}
		c, err := setAt(x[s.Name], p, i+1, val)
		if err != nil {
			return nil, err
		}
		m := make(map[string]any, len(x)+1)
		for k, e := range x {
			m[k] = e
		}
		m[s.Name] = c
		return m, nil
	case []any:
		if !s.IsIndex {
			return nil, mismatch(p[:i+1], "array", "member name")
		}
		if s.Index > len(x) {
			return nil, fmt.Errorf("%w: path %s: index %d, array length %d", dberr.ErrIndexOutOfRange, p[:i+1], s.Index, len(x))
		}
		var old any
		if s.Index < len(x) {
			old = x[s.Index]
		}
		c, err := setAt(old, p, i+1, val)
		if err != nil {
			return nil, err
		}
		n := len(x)
		if s.Index == n {
			n++
		}
		a := make([]any, n)
		copy(a, x)
		a[s.Index] = c
		return a, nil
	}
	return nil, mismatch(p[:i+1], kind(v), "segment")
}

// deleteValue returns v without the value at p, copying only the containers along p. A path
// that does not resolve (missing member, index past the end, a step into a non-container) is
// no error: v is returned as it is. Deleting the root leaves null; deleting an array element
// shifts the later ones down.
func deleteValue(v any, p Path) any {
	if len(p) == 0 {
		return nil
	}
	out, _ := deleteAt(v, p, 0)
	return out
}

// deleteAt reports whether it changed anything, so an unchanged subtree is returned shared.
func deleteAt(v any, p Path, i int) (any, bool) {
	s := p[i]
	last := i == len(p)-1
	switch x := v.(type) {
	case map[string]any:
		if s.IsIndex {
			return v, false
		}
		c, ok := x[s.Name]
		if !ok {
			return v, false
		}
		var nc any
		if !last {
			changed := false
			if nc, changed = deleteAt(c, p, i+1); !changed {
				return v, false
			}
		}
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = e
		}
		if last {
			delete(m, s.Name)
		} else {
			m[s.Name] = nc
		}
		return m, true
	case []any:
		if !s.IsIndex || s.Index >= len(x) {
			return v, false
		}
		if last {
			a := make([]any, 0, len(x)-1)
			a = append(a, x[:s.Index]...)
			return append(a, x[s.Index+1:]...), true
		}
		nc, changed := deleteAt(x[s.Index], p, i+1)
		if !changed {
			return v, false
		}
		a := make([]any, len(x))
		copy(a, x)
		a[s.Index] = nc
		return a, true
	}
	return v, false
}
