package search

import (
	"context"
	"math"
	mathbits "math/bits"
	"sync"
)

// match is a visible posting gathered for scoring.
type match struct {
	doc, tf, length uint32
}

// Documents are scored a window of docnums at a time, with an accumulator per docnum of the
// window: small enough to stay in the processor's cache whatever the index's size.
const (
	windowBits = 14
	window     = 1 << windowBits
)

// scratch is a search's reusable memory. Between searches acc is all zeros and seen empty.
type scratch struct {
	lists [][]match
	pos   []int
	acc   [window]float64
	seen  [window / 64]uint64 // which accumulators hold a score
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// Search returns the best req.K documents visible at version for req.Query. version must be
// one the writer has finished applying, and not older than the last Trim bound.
//
// It works in two passes. The first walks each query term's postings and keeps those of
// document versions visible at version: their count is the term's document frequency there,
// which the scorer needs before it scores anything. The second scores term at a time, one
// window of docnums after the other, adding each term's score into the document's
// accumulator in query order, and offers the window's documents to the top K in docnum order.
// The only error is the context's.
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
	// Not deferred: a Scorer that panics leaves accumulators that are not zero, and the
	// scratch must not be used again.
	sc := scratchPool.Get().(*scratch)
	if ok, err := g.gather(sc, terms, version, b); !ok {
		scratchPool.Put(sc)
		return Result[D]{Hits: top.hits(), Truncated: b.truncated}, err
	}
	ids := g.ids.view()
	scored, err := sc.accumulate(termScorers(x.cfg.scorer(), stats, sc.lists), b, func(doc uint32, score float64) float64 {
		top.offer(ranked[D]{score: score, ord: doc, doc: *ids.at(doc)})
		return top.threshold()
	})
	scratchPool.Put(sc)
	return Result[D]{Hits: top.hits(), Scored: scored, Truncated: b.truncated}, err
}

// termScorers returns a TermScorer for each term a visible document holds (nil for the others).
func termScorers(s Scorer, stats Stats, lists [][]match) []TermScorer {
	scorers := make([]TermScorer, len(lists))
	for i, l := range lists {
		if len(l) > 0 {
			scorers[i] = s.Term(stats, len(l))
		}
	}
	return scorers
}

// gather fills sc.lists[i] with the postings of terms[i] visible at version. It returns false
// when the budget stopped it.
func (g *generation[D]) gather(sc *scratch, terms []string, version uint64, b *budget) (bool, error) {
	docs := g.docs.view()
	for len(sc.lists) < len(terms) {
		sc.lists = append(sc.lists, nil)
	}
	sc.lists = sc.lists[:len(terms)]
	for i, tok := range terms {
		list := sc.lists[i][:0]
		var ps []posting
		var one [1]posting
		if t, ok := g.terms.Load(tok); ok {
			ps = t.postings(&one)
		}
		for len(ps) > 0 {
			if ok, err := b.check(0); !ok {
				return false, err
			}
			chunk := ps[:min(len(ps), 4*checkEvery)]
			ps = ps[len(chunk):]
			var past bool
			list, past = visible(list, chunk, docs, version)
			if past {
				break
			}
		}
		sc.lists[i] = list
	}
	return true, nil
}

// visible appends to list the postings of ps visible at version. Postings are in docnum
// order; a docnum the view does not hold was born after the view was taken, so after
// version, and so are all that follow: visible reports whether it met one.
func visible(list []match, ps []posting, docs view[docInfo], version uint64) ([]match, bool) {
	for _, p := range ps {
		if p.doc >= docs.n {
			return list, true
		}
		if d := docs.at(p.doc); d.visibleAt(version) {
			list = append(list, match{doc: p.doc, tf: p.tf, length: d.length})
		}
	}
	return list, false
}

// offerFunc offers a scored document to the top K and returns the score a document needs from
// now on to enter it.
type offerFunc func(doc uint32, score float64) (threshold float64)

// accumulate scores the documents of the lists and offers them, in docnum order, those that
// reach the threshold. A document's score adds its terms' scores in query order. It stops when
// the budget is used up, returning how many documents it scored.
func (sc *scratch) accumulate(scorers []TermScorer, b *budget, offer offerFunc) (int, error) {
	sc.pos = sc.pos[:0]
	for range sc.lists {
		sc.pos = append(sc.pos, 0)
	}
	scored, threshold := 0, math.Inf(-1)
	for {
		first, ok := sc.nextDoc()
		if !ok {
			return scored, nil
		}
		base := first &^ (window - 1)
		for i, l := range sc.lists {
			sc.pos[i] += sc.add(l[sc.pos[i]:], base, scorers[i])
		}
		var err error
		if scored, threshold, err = sc.collect(base, scored, threshold, b, offer); err != nil || b.truncated {
			sc.acc, sc.seen = [window]float64{}, [window / 64]uint64{}
			return scored, err
		}
	}
}

// nextDoc returns the smallest docnum the lists have left.
func (sc *scratch) nextDoc() (uint32, bool) {
	first, ok := uint32(0), false
	for i, l := range sc.lists {
		if p := sc.pos[i]; p < len(l) && (!ok || l[p].doc < first) {
			first, ok = l[p].doc, true
		}
	}
	return first, ok
}

// add adds the scores of the matches in the window starting at base, returning how many
// there were.
func (sc *scratch) add(l []match, base uint32, ts TermScorer) int {
	for n, m := range l {
		off := m.doc - base
		if off >= window {
			return n
		}
		sc.acc[off] += ts.Score(int(m.tf), int(m.length))
		sc.seen[off/64] |= 1 << (off % 64)
	}
	return len(l)
}

// collect offers the window's scored documents in docnum order and clears their
// accumulators, within the budget.
func (sc *scratch) collect(base uint32, scored int, threshold float64, b *budget, offer offerFunc) (int, float64, error) {
	for w, bits := range sc.seen {
		for ; bits != 0; bits &= bits - 1 {
			if b.full(scored) {
				b.truncated = true
				return scored, threshold, nil
			}
			if ok, err := b.check(scored); !ok {
				return scored, threshold, err
			}
			off := w*64 + mathbits.TrailingZeros64(bits)
			if score := sc.acc[off]; !(score < threshold) { // NaN too: offer ranks it last
				threshold = offer(base+uint32(off), score)
			}
			sc.acc[off] = 0
			scored++
		}
		sc.seen[w] = 0
	}
	return scored, threshold, nil
}
