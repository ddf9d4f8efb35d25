package json

import (
	"context"
	"strings"

	"github.com/inmemdb/inmem/extension"
)

// Search: a document is found by its string values and its object keys (numbers, booleans and
// nulls are left out: they say little about what a document is about). A document is one
// search document, its key in SearchRef.Key; Path is left empty.

var _ extension.Searchable = (*Store)(nil) // ConfigureSearch comes with the embedded Searcher

// Search implements extension.Searchable.
func (s *Store) Search(ctx context.Context, run extension.RunID, version uint64, req extension.SearchRequest) (extension.SearchResult, error) {
	return s.SearchTable(ctx, s.Of(run), run, version, req)
}

func docText(_ string, d Doc) (string, bool) { return SearchText(d.Value), true }

// SearchText is the text a document is searched by: its object keys and string values, in
// no particular order (only term counts and the length matter to the score).
func SearchText(v any) string {
	var b strings.Builder
	appendText(&b, v)
	return b.String()
}

func appendText(b *strings.Builder, v any) {
	switch x := v.(type) {
	case string:
		b.WriteString(x)
		b.WriteByte(' ')
	case []any:
		for _, e := range x {
			appendText(b, e)
		}
	case map[string]any:
		for k, e := range x {
			b.WriteString(k)
			b.WriteByte(' ')
			appendText(b, e)
		}
	}
}
