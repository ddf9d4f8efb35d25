package trace

import (
	"context"
	"iter"
	"strings"

	"github.com/inmemdb/inmem/extension"
)

// Search: a span is found by its name, its tags and its attributes; SearchRef.SpanID is its id.

var _ extension.Searchable = (*Store)(nil) // ConfigureSearch comes with the embedded Searcher

// Search implements extension.Searchable.
func (s *Store) Search(ctx context.Context, run extension.RunID, version uint64, req extension.SearchRequest) (extension.SearchResult, error) {
	return s.Searcher.Search(ctx, run, version, req, func() iter.Seq2[extension.SearchRef, string] {
		return func(yield func(extension.SearchRef, string) bool) {
			r := s.run(run, version)
			if r == nil {
				return
			}
			for _, sp := range r.byCommit.load() {
				if sp.Commit <= version && !yield(extension.SearchRef{SpanID: sp.ID}, searchText(sp)) {
					return
				}
			}
		}
	})
}

// searchText is the text a span is searched by.
func searchText(sp *Span) string {
	var b strings.Builder
	b.WriteString(sp.Name)
	for _, t := range sp.Tags {
		b.WriteByte(' ')
		b.WriteString(t)
	}
	b.WriteByte(' ')
	b.Write(sp.Attributes)
	return b.String()
}
