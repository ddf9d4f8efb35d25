// Package tableindex is what the primitives whose state is an mvcc.Table of named values per
// run (KV keys, JSON documents, state cells) share for search: the documents of a run at a
// version, for the scan path, and the rebuilding of a run's index from a loaded snapshot chunk.
// Each primitive supplies only the text a value is searched by.
package tableindex

import (
	"io"
	"iter"
	"slices"
	"strings"

	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/mvcc"
	"github.com/inmemdb/inmem/internal/search"
	"github.com/inmemdb/inmem/internal/tablesection"
)

// Text returns the text a named value is searched by; false leaves it out of search (a value
// that is not text).
type Text[V any] func(name string, v V) (string, bool)

// Docs yields the documents of run live at version: the scan path's input.
func Docs[V any](t *mvcc.Table[extension.RunID, V], run extension.RunID, version uint64, text Text[V]) iter.Seq2[extension.SearchRef, string] {
	return func(yield func(extension.SearchRef, string) bool) {
		t.Range(run, version, func(name string, c *mvcc.Chain[V]) bool {
			if v := c.At(version); v != nil && !v.Deleted {
				if s, ok := text(name, v.Value); ok {
					return yield(extension.SearchRef{Key: name}, s)
				}
			}
			return true
		})
	}
}

// Index updates run's index for a name pushed at commit: its new text, or its removal (deleted,
// or a value that is not text). Actor only.
func Index[V any](idx *search.Runs[extension.RunID, extension.SearchRef], run extension.RunID, name string, commit uint64, v V, deleted bool, text Text[V]) {
	ref := extension.SearchRef{Key: name}
	if !deleted {
		if s, ok := text(name, v); ok {
			idx.Put(run, ref, commit, s)
			return
		}
	}
	idx.Delete(run, ref, commit)
}

// Load loads a snapshot chunk into t, then indexes the run's names it restored. Indexes are not
// in snapshots: recovery rebuilds them from what it loads, then from the log. Names are indexed
// in order, at version 0 (no reader can ask for a version older than the snapshot's), so that a
// rebuilt index enumerates its documents in the same order every time.
func Load[V any](r io.Reader, c *tablesection.Codec[V], t *mvcc.Table[extension.RunID, V], idx *search.Runs[extension.RunID, extension.SearchRef], text Text[V]) error {
	ch, ok := r.(*extension.Chunk)
	if !ok {
		run, body, err := extension.ReadChunk(r)
		if err != nil {
			return err
		}
		ch = extension.NewChunk(run, body)
	}
	if err := c.Load(ch, t); err != nil {
		return err
	}
	type named struct {
		name string
		v    V
	}
	var all []named
	t.Range(ch.Run, mvcc.Latest, func(name string, c *mvcc.Chain[V]) bool {
		if v := c.Latest(); v != nil && !v.Deleted {
			all = append(all, named{name, v.Value})
		}
		return true
	})
	slices.SortFunc(all, func(a, b named) int { return strings.Compare(a.name, b.name) })
	for _, n := range all {
		Index(idx, ch.Run, n.name, 0, n.v, false, text)
	}
	return nil
}
