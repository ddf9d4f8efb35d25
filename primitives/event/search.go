package event

import (
	"context"
	"iter"

	"github.com/inmemdb/inmem/extension"
)

// Search: an event is found by its type and its payload; SearchRef.Seq is its sequence number.

var _ extension.Searchable = (*Store)(nil) // ConfigureSearch comes with the embedded Searcher

// Search implements extension.Searchable.
func (s *Store) Search(ctx context.Context, run extension.RunID, version uint64, req extension.SearchRequest) (extension.SearchResult, error) {
	return s.Searcher.Search(ctx, run, version, req, func() iter.Seq2[extension.SearchRef, string] {
		return func(yield func(extension.SearchRef, string) bool) {
			for _, ev := range s.Log(run, version).All() {
				if !yield(extension.SearchRef{Seq: ev.Seq}, searchText(&ev)) {
					return
				}
			}
		}
	})
}

// searchText is the text an event is searched by.
func searchText(ev *Event) string { return ev.Type + " " + string(ev.Payload) }
