// Package tablesection is the snapshot section codec of the primitives whose state is an
// mvcc.Table of named values per run (KV keys, JSON documents, state cells): one piece of code
// freezes, writes and loads all three, each supplying only how its values are encoded.
//
// A run's chunk body (see extension.Chunk) is
//
//	u8 format version | record*
//	record: uvarint commit version | u8 flags (1 = tombstone) | uvarint len(name) | name | value
//
// where value is the primitive's encoding (Codec.Append), self-delimiting. Only the version a
// reader at the snapshot's version sees is written, with the commit version that wrote it, so a
// loaded table answers every read, validation and trim exactly as the table it was written from.
// Tombstones are written only when the table keeps dead names (a state cell's tombstone holds
// its counter); otherwise a dead name is simply absent.
package tablesection

import (
	"encoding/binary"
	"fmt"
	"io"
	"unsafe"

	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/keys"
	"github.com/inmemdb/inmem/internal/mvcc"
)

const flagDeleted = 1

// Codec describes one primitive's table section.
type Codec[V any] struct {
	Name     string // the primitive, for errors
	Format   uint8  // the body's format version byte
	KeepDead bool   // write tombstones (the table keeps dead names)
	// Append appends v's encoding to dst.
	Append func(dst []byte, v V) []byte
	// Decode decodes a value from the front of b and returns it with the bytes it used. It must
	// reject malformed input with an error, never panic. The value may alias b.
	Decode func(b []byte) (v V, n int, err error)
}

// View is a frozen table written as a section: the FrozenView of a table shard.
type View[V any] struct {
	Codec  *Codec[V]
	Frozen mvcc.Frozen[extension.RunID, V]
}

// WriteSection writes one chunk per run with at least one record.
func (fv View[V]) WriteSection(w io.Writer) error {
	c := fv.Codec
	var body []byte
	for run := range fv.Frozen.Runs() {
		body = append(body[:0], c.Format)
		for name, v := range fv.Frozen.Names(run) {
			if v.Deleted && !c.KeepDead {
				continue
			}
			body = binary.AppendUvarint(body, v.Commit)
			var flags byte
			if v.Deleted {
				flags = flagDeleted
			}
			body = append(body, flags)
			body = binary.AppendUvarint(body, uint64(len(name)))
			body = append(body, name...)
			body = c.Append(body, v.Value)
		}
		if len(body) == 1 {
			continue // nothing live in this run at the view's version
		}
		if err := extension.WriteChunk(w, run, body); err != nil {
			return err
		}
	}
	return nil
}

// Load restores one run's chunk into t. The chunk is decoded whole before t changes, so a
// malformed chunk leaves the table as it was.
func (c *Codec[V]) Load(r io.Reader, t *mvcc.Table[extension.RunID, V]) error {
	run, body, err := extension.ReadChunk(r)
	if err != nil {
		return err
	}
	recs, err := c.decode(body)
	if err != nil {
		return fmt.Errorf("%w: %s section, run %s: %w", dberr.ErrCorruption, c.Name, run, err)
	}
	for _, rec := range recs {
		t.Push(run, rec.name, rec.commit, rec.value, rec.deleted)
	}
	return nil
}

type record[V any] struct {
	commit  uint64
	deleted bool
	name    string
	value   V
}

func (c *Codec[V]) decode(body []byte) ([]record[V], error) {
	if len(body) == 0 || body[0] != c.Format {
		return nil, fmt.Errorf("unknown format (want version %d)", c.Format)
	}
	var out []record[V]
	for p := body[1:]; len(p) > 0; {
		var rec record[V]
		commit, n := binary.Uvarint(p)
		if n <= 0 || commit == 0 || len(p) < n+1 {
			return nil, fmt.Errorf("record %d: bad commit version", len(out))
		}
		rec.commit, rec.deleted = commit, p[n] == flagDeleted
		if p[n] > flagDeleted || (rec.deleted && !c.KeepDead) {
			return nil, fmt.Errorf("record %d: bad flags %#x", len(out), p[n])
		}
		p = p[n+1:]
		size, n := binary.Uvarint(p)
		if n <= 0 || size == 0 || size > keys.MaxSize || size > uint64(len(p)-n) {
			return nil, fmt.Errorf("record %d: bad name length", len(out))
		}
		name := p[n : n+int(size)]
		rec.name = unsafe.String(&name[0], len(name)) // the body is immutable and kept
		p = p[n+int(size):]
		v, used, err := c.Decode(p)
		if err != nil {
			return nil, fmt.Errorf("record %d (%q): %w", len(out), rec.name, err)
		}
		if used < 0 || used > len(p) {
			return nil, fmt.Errorf("record %d (%q): value decoder used %d of %d bytes", len(out), rec.name, used, len(p))
		}
		rec.value, p = v, p[used:]
		out = append(out, rec)
	}
	return out, nil
}

// AppendBytes appends a length-prefixed byte string; DecodeBytes reads one back. They are the
// value codec of primitives whose values are plain bytes.
func AppendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// DecodeBytes reads a byte string written by AppendBytes, aliasing b.
func DecodeBytes(b []byte) ([]byte, int, error) {
	size, n := binary.Uvarint(b)
	if n <= 0 || size > uint64(len(b)-n) {
		return nil, 0, fmt.Errorf("bad byte string length")
	}
	end := n + int(size)
	return b[n:end:end], end, nil
}
