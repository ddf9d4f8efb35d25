package search

import (
	"context"
	"iter"
	"slices"

	"github.com/inmemdb/inmem/internal/mvcc"
)

// Searcher is the search side of one primitive: how it ranks, and, when it indexes, its
// shards' indexes. A primitive that does not index holds only the configuration and searches
// by scanning; its shards hold no index and its actors do no work for search.
type Searcher[R mvcc.Run, D comparable] struct {
	cfg     Config[D]
	indexed bool
	shards  []*Runs[R, D] // by shard id; set as the engine creates the shards, before they run
}

// Configure sets the ranking and whether shards created from now on index. Before NewShard.
func (s *Searcher[R, D]) Configure(cfg Config[D], index bool) {
	s.cfg, s.indexed = cfg, index
}

// NewShard returns shard id's indexes, nil when the primitive does not index.
func (s *Searcher[R, D]) NewShard(id, n int) *Runs[R, D] {
	if !s.indexed {
		return nil
	}
	if len(s.shards) != n {
		s.shards = make([]*Runs[R, D], n)
	}
	s.shards[id] = NewRuns[R](s.cfg)
	return s.shards[id]
}

// ConfigureSearch is Configure, answering true: the extension.Searchable method of a primitive
// that embeds its Searcher and can index.
func (s *Searcher[R, D]) ConfigureSearch(cfg Config[D], index bool) bool {
	s.Configure(cfg, index)
	return true
}

// Search searches run at version: in its index when the primitive indexes, otherwise by
// scanning docs, which yields the run's documents visible at version. The scan takes them in
// Compare order, so that a candidate budget truncates the same way every time.
func (s *Searcher[R, D]) Search(ctx context.Context, run R, version uint64, req Request, docs func() iter.Seq2[D, string]) (Result[D], error) {
	if s.indexed && len(s.shards) > 0 {
		x := s.shards[run.Shard(len(s.shards))].At(run, version)
		if x == nil {
			return Result[D]{Hits: []Hit[D]{}}, ctx.Err()
		}
		return x.Search(ctx, version, req)
	}
	type doc struct {
		ref  D
		text string
	}
	var all []doc
	for ref, text := range docs() {
		all = append(all, doc{ref, text})
	}
	if s.cfg.Compare != nil {
		slices.SortFunc(all, func(a, b doc) int { return s.cfg.Compare(a.ref, b.ref) })
	}
	return Scan(ctx, func(yield func(D, string) bool) {
		for _, d := range all {
			if !yield(d.ref, d.text) {
				return
			}
		}
	}, req, s.cfg)
}
