// Package tableindex is what the primitives whose state is an mvcc.Table of named values per
// run (KV keys, JSON documents, state cells) share for search: the documents of a run at a
// version, for the scan path, and the rebuilding of a run's index from a loaded snapshot chunk.
// Each primitive supplies only the text a value is searched by.
package tableindex

import (
	"context"
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

// Shard is a table-backed primitive's shard as search sees it: its table, and the runs'
// indexes when the primitive indexes (nil otherwise: then every method here only forwards to
// the table). The primitive's shard embeds it and calls Index as it pushes values.
type Shard[V any] struct {
	*mvcc.Table[extension.RunID, V]
	idx  *search.Runs[extension.RunID, extension.SearchRef]
	text Text[V]
}

// NewShard wraps table t and its indexes idx (nil: not indexed), searched by text.
func NewShard[V any](t *mvcc.Table[extension.RunID, V], idx *search.Runs[extension.RunID, extension.SearchRef], text Text[V]) Shard[V] {
	return Shard[V]{Table: t, idx: idx, text: text}
}

// Index updates the run's index after name was pushed at commit (deleted, or value v).
// Actor only; nothing when not indexed.
func (sh *Shard[V]) Index(run extension.RunID, name string, commit uint64, v V, deleted bool) {
	if sh.idx != nil {
		Index(sh.idx, run, name, commit, v, deleted, sh.text)
	}
}

// LoadSection restores one run's names from a snapshot chunk of codec c, and indexes them.
func (sh *Shard[V]) LoadSection(r io.Reader, c *tablesection.Codec[V]) error {
	if sh.idx == nil {
		return c.Load(r, sh.Table)
	}
	return Load(r, c, sh.Table, sh.idx, sh.text)
}

// DropRun deletes the run's names, and its index, at version (see extension.Shard).
func (sh *Shard[V]) DropRun(run extension.RunID, version uint64) {
	sh.Table.DropRun(run, version)
	sh.idx.DropRun(run, version)
}

// Trim trims the table, and the indexes with it.
func (sh *Shard[V]) Trim(oldest uint64) {
	sh.Table.Trim(oldest)
	sh.idx.Trim(oldest)
}

// Searcher is a table-backed primitive's search side: how it ranks, whether it indexes, and
// the text its values are searched by. The primitive's Store embeds it.
type Searcher[V any] struct {
	search.Searcher[extension.RunID, extension.SearchRef] // its ConfigureSearch is the primitive's
	text                                                  Text[V]
}

// NewSearcher returns the search side of a primitive whose values are searched by text.
func NewSearcher[V any](text Text[V]) Searcher[V] { return Searcher[V]{text: text} }

// NewShard wraps shard id's table (of n) with its indexes, if the primitive indexes.
func (s *Searcher[V]) NewShard(id, n int, t *mvcc.Table[extension.RunID, V]) Shard[V] {
	return NewShard(t, s.Searcher.NewShard(id, n), s.text)
}

// SearchTable searches run at version: in its index, or by scanning t, the run's table.
func (s *Searcher[V]) SearchTable(ctx context.Context, t *mvcc.Table[extension.RunID, V], run extension.RunID, version uint64, req extension.SearchRequest) (extension.SearchResult, error) {
	return s.Searcher.Search(ctx, run, version, req, func() iter.Seq2[extension.SearchRef, string] {
		return Docs(t, run, version, s.text)
	})
}
