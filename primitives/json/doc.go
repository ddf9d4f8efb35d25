package json

import (
	"bytes"
	stdjson "encoding/json"
	"fmt"

	"github.com/inmemdb/inmem/internal/dberr"
)

// Limits of SPEC 3.2, checked before logging.
const (
	MaxDocSize  = 16 << 20  // encoded bytes
	MaxDepth    = 100       // nested objects/arrays; a scalar root has depth 0
	MaxArrayLen = 1_000_000 // elements of one array
)

// A document value is what encoding/json decodes with UseNumber: nil, bool, stdjson.Number,
// string, []any, map[string]any. Values inside the store are immutable: setValue and
// deleteValue return new values sharing every subtree off the changed path.

// parseValue decodes one JSON value; invalid JSON (or trailing data) is ErrInvalidArgument.
// Depth and array lengths are checked too (ErrTooLarge); the size is the caller's.
func parseValue(b []byte) (any, error) {
	if !stdjson.Valid(b) {
		return nil, dberr.Invalid("invalid JSON")
	}
	dec := stdjson.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, dberr.Invalid("invalid JSON: %v", err)
	}
	if err := checkShape(v, 0); err != nil {
		return nil, err
	}
	return v, nil
}

// encodeValue encodes v compactly (object members sorted, numbers as written).
func encodeValue(v any) ([]byte, error) { return stdjson.Marshal(v) }

// checkShape checks nesting (depth is the number of containers around v) and array lengths.
func checkShape(v any, depth int) error {
	switch x := v.(type) {
	case map[string]any:
		if depth+1 > MaxDepth {
			return fmt.Errorf("%w: nesting deeper than %d", dberr.ErrTooLarge, MaxDepth)
		}
		for _, c := range x {
			if err := checkShape(c, depth+1); err != nil {
				return err
			}
		}
	case []any:
		if depth+1 > MaxDepth {
			return fmt.Errorf("%w: nesting deeper than %d", dberr.ErrTooLarge, MaxDepth)
		}
		if len(x) > MaxArrayLen {
			return fmt.Errorf("%w: array of %d elements, limit %d", dberr.ErrTooLarge, len(x), MaxArrayLen)
		}
		for _, c := range x {
			if err := checkShape(c, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkDoc checks a whole resulting document against every limit.
func checkDoc(v any) error {
	if err := checkShape(v, 0); err != nil {
		return err
	}
	b, err := encodeValue(v)
	if err != nil {
		return dberr.Invalid("document does not encode: %v", err)
	}
	if len(b) > MaxDocSize {
		return dberr.TooLarge("document", len(b), MaxDocSize)
	}
	return nil
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
