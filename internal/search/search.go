package search

import (
	"context"
	"sync"
)

// match is a visible posting gathered for scoring.
type match struct {
	doc, tf, length uint32
}

// scratch is a search's reusable memory.
type scratch struct {
	lists [][]match
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// Search returns the best req.K documents visible at version for req.Query. version must be
// one the writer has finished applying, and not older than the last Trim bound.
//
// It works in two passes. The first walks each query term's postings and keeps those of
// document versions visible at version: their count is the term's document frequency there.
// The second merges the kept lists in docnum order, scoring each document once with every term
// it holds. The only error is the context's.
func (x *Index[D]) Search(ctx context.Context, version uint64, req Request) (Result[D], error) {
	g := x.gen.Load()
	b := newBudget(ctx, req)
	top := newTopK(req.K, x.cfg.Compare)
	docs, sumLen := g.statsAt(version)
	terms := queryTerms(req.Query)
	if ok, err := b.check(0); !ok || docs == 0 || len(terms) == 0 {
		return Result[D]{Hits: top.hits(), Truncated: b.truncated}, err
	}
	stats := Stats{Docs: int(docs), AvgLength: float64(sumLen) / float64(docs)}
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)

	ok, err := g.gather(sc, terms, version, b)
	if !ok {
		return Result[D]{Hits: top.hits(), Truncated: b.truncated}, err
	}
	scorers := make([]TermScorer, len(terms))
	for i, l := range sc.lists {
		if len(l) > 0 {
			scorers[i] = x.cfg.scorer().Term(stats, len(l))
		}
	}
	ids := g.ids.view()
	scored, err := merge(sc.lists, scorers, b, func(doc uint32, score float64) {
		if top.wants(score) {
			top.offer(ranked[D]{score: score, ord: doc, doc: *ids.at(doc)})
		}
	})
	return Result[D]{Hits: top.hits(), Scored: scored, Truncated: b.truncated}, err
}

// gather fills sc.lists[i] with the postings of terms[i] visible at version. It returns false
// when the budget stopped it.
func (g *generation[D]) gather(sc *scratch, terms []string, version uint64, b *budget) (bool, error) {
	docs := g.docs.view()
	step := 0
	for i, tok := range terms {
		if i == len(sc.lists) {
			sc.lists = append(sc.lists, nil)
		}
		list := sc.lists[i][:0]
		if t, ok := g.terms.Load(tok); ok {
			for _, p := range t.postings() {
				if ok, err := b.check(step); !ok {
					return false, err
				}
				step++
				// Postings are in docnum order; a docnum the view does not hold was born
				// after the view was taken, so after version, and so are all that follow.
				if p.doc >= docs.n {
					break
				}
				d := docs.at(p.doc)
				if d.visibleAt(version) {
					list = append(list, match{doc: p.doc, tf: p.tf, length: d.length})
				}
			}
		}
		sc.lists[i] = list
	}
	sc.lists = sc.lists[:len(terms)]
	return true, nil
}

// merge scores, in docnum order, every document in the lists, calling emit with each score.
// A document's score adds its terms' scores in query order. It stops when the budget is used
// up, returning how many documents it scored.
func merge(lists [][]match, scorers []TermScorer, b *budget, emit func(doc uint32, score float64)) (int, error) {
	pos := make([]int, len(lists))
	scored := 0
	for {
		doc, any := uint32(0), false
		for i, l := range lists {
			if pos[i] < len(l) && (!any || l[pos[i]].doc < doc) {
				doc, any = l[pos[i]].doc, true
			}
		}
		if !any {
			return scored, nil
		}
		if b.full(scored) {
			b.truncated = true
			return scored, nil
		}
		if ok, err := b.check(scored); !ok {
			return scored, err
		}
		score := 0.0
		for i, l := range lists {
			if pos[i] < len(l) && l[pos[i]].doc == doc {
				m := l[pos[i]]
				score += scorers[i].Score(int(m.tf), int(m.length))
				pos[i]++
			}
		}
		scored++
		emit(doc, score)
	}
}
