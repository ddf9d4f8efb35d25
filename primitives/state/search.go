package state

import (
	"context"
	"io"
	"iter"
	"unicode/utf8"

	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/search/tableindex"
)

// Search: a cell is found by its value, when the value is UTF-8 text; SearchRef.Key is its name.

// ConfigureSearch implements extension.Searchable; the primitive can index.
func (s *Store) ConfigureSearch(cfg extension.SearchConfig, index bool) bool {
	s.searcher.Configure(cfg, index)
	return true
}

// Search implements extension.Searchable.
func (s *Store) Search(ctx context.Context, run extension.RunID, version uint64, req extension.SearchRequest) (extension.SearchResult, error) {
	return s.searcher.Search(ctx, run, version, req, func() iter.Seq2[extension.SearchRef, string] {
		return tableindex.Docs(s.Of(run), run, version, searchText)
	})
}

func searchText(_ string, c Cell) (string, bool) {
	if utf8.Valid(c.Value) {
		return string(c.Value), true
	}
	return "", false
}

// index updates the run's index after a push. Actor only.
func (sh *shard) index(run extension.RunID, name string, commit uint64, v Cell, deleted bool) {
	tableindex.Index(sh.idx, run, name, commit, v, deleted, searchText)
}

func (sh *shard) loadIndexed(r io.Reader) error {
	return tableindex.Load(r, section, sh.Table, sh.idx, searchText)
}

// DropRun deletes the run's names, and its index, at version: see extension.Shard.
func (sh *shard) DropRun(run extension.RunID, version uint64) {
	sh.Table.DropRun(run, version)
	if sh.idx != nil {
		sh.idx.DropRun(run, version)
	}
}

// Trim trims the table, and the indexes with it.
func (sh *shard) Trim(oldest uint64) {
	sh.Table.Trim(oldest)
	if sh.idx != nil {
		sh.idx.Trim(oldest)
	}
}
