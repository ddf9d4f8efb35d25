package kv

import (
	"context"
	"unicode/utf8"

	"github.com/inmemdb/inmem/extension"
)

// Search: an entry is found by its key, and by its value when the value is UTF-8 text.

var _ extension.Searchable = (*Store)(nil) // ConfigureSearch comes with the embedded Searcher

// Search implements extension.Searchable.
func (s *Store) Search(ctx context.Context, run extension.RunID, version uint64, req extension.SearchRequest) (extension.SearchResult, error) {
	return s.SearchTable(ctx, s.Of(run), run, version, req)
}

func searchText(key string, v []byte) (string, bool) {
	if utf8.Valid(v) {
		return key + " " + string(v), true
	}
	return key, true
}
