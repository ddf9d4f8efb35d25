package state

import (
	"context"
	"unicode/utf8"

	"github.com/inmemdb/inmem/extension"
)

// Search: a cell is found by its value, when the value is UTF-8 text; SearchRef.Key is its name.

var _ extension.Searchable = (*Store)(nil) // ConfigureSearch comes with the embedded Searcher

// Search implements extension.Searchable.
func (s *Store) Search(ctx context.Context, run extension.RunID, version uint64, req extension.SearchRequest) (extension.SearchResult, error) {
	return s.SearchTable(ctx, s.Of(run), run, version, req)
}

func searchText(_ string, c Cell) (string, bool) {
	if utf8.Valid(c.Value) {
		return string(c.Value), true
	}
	return "", false
}
