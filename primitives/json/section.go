package json

import (
	"encoding/binary"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"unicode/utf8"
	"unsafe"

	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/jsonvalid"
	"github.com/inmemdb/inmem/internal/tablesection"
)

// Value tags of the snapshot encoding of a document (see the package doc).
const (
	tagNull byte = iota
	tagFalse
	tagTrue
	tagNumber
	tagString
	tagArray
	tagObject
)

// section is the JSON snapshot section codec. Tombstones are not written: the table forgets
// them (a re-created document starts over at version 1 and a reader at or after the snapshot's
// version never conflicts with a write at or before it), so a dead document is simply absent.
var section = &tablesection.Codec[Doc]{
	Name: "json", Format: 1, KeepDead: false,
	Append: func(dst []byte, d Doc) []byte {
		dst = binary.AppendUvarint(dst, d.Version)
		return appendValue(dst, d.Value)
	},
	Decode: decodeDoc,
}

// Freeze returns the shard at version: O(1), see mvcc.Frozen.
func (sh *shard) Freeze(version uint64) extension.FrozenView {
	return tablesection.View[Doc]{Codec: section, Frozen: sh.Table.Freeze(version)}
}

// LoadSection restores one run's documents from a snapshot chunk.
func (sh *shard) LoadSection(r io.Reader) error {
	return sh.Shard.LoadSection(r, section)
}

// appendValue appends the encoding of a document value. Object members are written in sorted
// order, so a section is a deterministic function of the documents.
func appendValue(dst []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(dst, tagNull)
	case bool:
		if x {
			return append(dst, tagTrue)
		}
		return append(dst, tagFalse)
	case stdjson.Number:
		return tablesection.AppendBytes(append(dst, tagNumber), unsafe.Slice(unsafe.StringData(string(x)), len(x)))
	case string:
		return tablesection.AppendBytes(append(dst, tagString), unsafe.Slice(unsafe.StringData(x), len(x)))
	case []any:
		dst = binary.AppendUvarint(append(dst, tagArray), uint64(len(x)))
		for _, e := range x {
			dst = appendValue(dst, e)
		}
		return dst
	case map[string]any:
		dst = binary.AppendUvarint(append(dst, tagObject), uint64(len(x)))
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			dst = binary.AppendUvarint(dst, uint64(len(k)))
			dst = append(dst, k...)
			dst = appendValue(dst, x[k])
		}
		return dst
	}
	// Documents hold only the kinds above (parseValue builds them); anything else is a bug.
	panic(fmt.Sprintf("json: document value of type %T", v))
}

var errValue = errors.New("bad document value")

// decodeDoc reads a Doc written by the section codec from the front of b. Strings, member names
// and numbers alias b (the chunk body is immutable and kept). It checks what Validate relies on
// of a stored document: a live version (≥ 1), the kinds and limits of parseValue (nesting,
// array length), valid UTF-8 and unique member names; it never panics.
func decodeDoc(b []byte) (Doc, int, error) {
	ver, n := binary.Uvarint(b)
	if n <= 0 || ver == 0 {
		return Doc{}, 0, fmt.Errorf("bad document version")
	}
	d := valueDecoder{b: b, off: n}
	v, err := d.value(0)
	if err != nil {
		return Doc{}, 0, fmt.Errorf("%w at byte %d", err, d.off)
	}
	return Doc{Value: v, Version: ver}, d.off, nil
}

type valueDecoder struct {
	b   []byte
	off int
}

func (d *valueDecoder) uvarint() (uint64, bool) {
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		return 0, false
	}
	d.off += n
	return v, true
}

// bytes reads a length-prefixed byte string, aliasing the body.
func (d *valueDecoder) bytes() ([]byte, bool) {
	size, ok := d.uvarint()
	if !ok || size > uint64(len(d.b)-d.off) {
		return nil, false
	}
	s := d.b[d.off : d.off+int(size)]
	d.off += int(size)
	return s, true
}

// text reads a length-prefixed UTF-8 string, aliasing the body.
func (d *valueDecoder) text() (string, bool) {
	s, ok := d.bytes()
	if !ok || !utf8.Valid(s) {
		return "", false
	}
	return unsafe.String(unsafe.SliceData(s), len(s)), true
}

// value decodes a value inside depth containers.
func (d *valueDecoder) value(depth int) (any, error) {
	if d.off >= len(d.b) {
		return nil, fmt.Errorf("%w: truncated", errValue)
	}
	tag := d.b[d.off]
	d.off++
	switch tag {
	case tagNull:
		return nil, nil
	case tagFalse:
		return false, nil
	case tagTrue:
		return true, nil
	case tagNumber:
		s, ok := d.bytes()
		if !ok || !jsonvalid.Number(s) {
			return nil, fmt.Errorf("%w: bad number", errValue)
		}
		return stdjson.Number(unsafe.String(unsafe.SliceData(s), len(s))), nil
	case tagString:
		s, ok := d.text()
		if !ok {
			return nil, fmt.Errorf("%w: bad string", errValue)
		}
		return s, nil
	case tagArray, tagObject:
		if depth+1 > MaxDepth {
			return nil, fmt.Errorf("%w: nesting deeper than %d", errValue, MaxDepth)
		}
		count, ok := d.uvarint()
		// Every element takes at least one byte (a member two): the count bounds the allocation
		// by the body's size.
		if !ok || count > uint64(len(d.b)-d.off) {
			return nil, fmt.Errorf("%w: bad element count", errValue)
		}
		if tag == tagArray {
			if count > MaxArrayLen {
				return nil, fmt.Errorf("%w: array of %d elements", errValue, count)
			}
			a := make([]any, count) // never nil: an empty array is not null
			for i := range a {
				v, err := d.value(depth + 1)
				if err != nil {
					return nil, err
				}
				a[i] = v
			}
			return a, nil
		}
		if count > uint64(len(d.b)-d.off)/2 {
			return nil, fmt.Errorf("%w: bad member count", errValue)
		}
		m := make(map[string]any, count)
		var prev string
		for i := range count {
			k, ok := d.text()
			if !ok || (i > 0 && k <= prev) { // sorted and unique
				return nil, fmt.Errorf("%w: bad member name", errValue)
			}
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			m[k], prev = v, k
		}
		return m, nil
	}
	return nil, fmt.Errorf("%w: tag %d", errValue, tag)
}
