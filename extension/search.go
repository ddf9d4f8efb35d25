package extension

import (
	"cmp"
	"context"

	"github.com/inmemdb/inmem/internal/search"
)

// SearchRef names one document a primitive's search returns, inside its run: a KV key, a
// JSON document key (Path, when set, a place inside it), a state cell name (Key), an event's
// sequence number (Seq), a span id (SpanID). Fields a primitive does not use stay zero.
type SearchRef struct {
	Key    string
	Seq    uint64
	SpanID string
	Path   string
}

// CompareSearchRefs is the total order on references that breaks ties in score: Key, Seq,
// SpanID, Path.
func CompareSearchRefs(a, b SearchRef) int {
	if c := cmp.Compare(a.Key, b.Key); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Seq, b.Seq); c != 0 {
		return c
	}
	if c := cmp.Compare(a.SpanID, b.SpanID); c != 0 {
		return c
	}
	return cmp.Compare(a.Path, b.Path)
}

// The search library's types, under the names a Searchable uses.
type (
	// SearchRequest is one search of one run: query, K and budget.
	SearchRequest = search.Request
	// SearchResult is a primitive's ranking of its documents.
	SearchResult = search.Result[SearchRef]
	// SearchConfig is how a primitive ranks: the scorer, and CompareSearchRefs for ties.
	SearchConfig = search.Config[SearchRef]
	// Scorer scores query terms (BM25 unless replaced).
	Scorer = search.Scorer
)

// Searchable is implemented by a primitive whose documents full-text search covers. The
// engine calls ConfigureSearch once, before it creates the shards; a primitive asked to index
// keeps an inverted index per run inside each shard, maintained by the shard's actor as it
// applies batches, rebuilt from the log and the snapshot sections at recovery (never written
// to either), and dropped with the run. A primitive not asked to index keeps nothing and
// searches by scanning the run's documents at the snapshot; its commit path is unchanged.
type Searchable interface {
	Primitive
	// ConfigureSearch sets how the primitive ranks, and whether it indexes. It returns false
	// if index is true and the primitive can only scan.
	ConfigureSearch(cfg SearchConfig, index bool) bool
	// Search returns run's best documents at version (published, and pinned by the caller so
	// that trimming keeps it readable). The only error is the context's.
	Search(ctx context.Context, run RunID, version uint64, req SearchRequest) (SearchResult, error)
}
