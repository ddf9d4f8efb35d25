package json

import (
	"context"
	"io"
	"iter"
	"strings"

	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/search/tableindex"
)

// Search: a document is found by its string values and its object keys (numbers, booleans and
// nulls are left out: they say little about what a document is about). A document is one
// search document, its key in SearchRef.Key; Path is left empty.

// ConfigureSearch implements extension.Searchable; JSON can index.
func (s *Store) ConfigureSearch(cfg extension.SearchConfig, index bool) bool {
	s.searcher.Configure(cfg, index)
	return true
}

// Search implements extension.Searchable.
func (s *Store) Search(ctx context.Context, run extension.RunID, version uint64, req extension.SearchRequest) (extension.SearchResult, error) {
	return s.searcher.Search(ctx, run, version, req, func() iter.Seq2[extension.SearchRef, string] {
		return tableindex.Docs(s.Of(run), run, version, docText)
	})
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

// index updates the run's index after a document was pushed. Actor only.
func (sh *shard) index(run extension.RunID, key string, commit uint64, d Doc, live bool) {
	tableindex.Index(sh.idx, run, key, commit, d, !live, docText)
}

func (sh *shard) loadIndexed(r io.Reader) error {
	return tableindex.Load(r, section, sh.Table, sh.idx, docText)
}

// DropRun deletes the run's documents, and its index, at version: see extension.Shard.
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
