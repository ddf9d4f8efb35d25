package search

import (
	"context"
	"iter"
)

// Scan searches documents given as (document, text) pairs, without an index: how a primitive
// that keeps no index is searched. The collection statistics are those of the documents given,
// and a document scores exactly what an index holding the same documents would give it.
// Candidates are enumerated in the order given, which with a nil cfg.Compare also breaks ties.
func Scan[D comparable](ctx context.Context, docs iter.Seq2[D, string], req Request, cfg Config[D]) (Result[D], error) {
	b := newBudget(ctx, req)
	top := newTopK(req.K, cfg.Compare)
	terms := queryTerms(req.Query)
	s := scan[D]{terms: newTermIndex(terms), df: make([]int, len(terms))}
	if ok, err := s.read(docs, b); !ok || s.docs == 0 {
		return Result[D]{Hits: top.hits(), Truncated: b.truncated}, err
	}
	stats := Stats{Docs: int(s.docs), AvgLength: float64(s.sumLen) / float64(s.docs)}
	scorers := make([]TermScorer, len(terms))
	for i, df := range s.df {
		if df > 0 {
			scorers[i] = cfg.scorer().Term(stats, df)
		}
	}
	scored, err := s.score(scorers, b, top)
	return Result[D]{Hits: top.hits(), Scored: scored, Truncated: b.truncated}, err
}

// scan is a Scan's state: the statistics of the documents read, and the candidates (documents
// holding a query term) with their term frequencies, len(terms) per candidate in tfs.
type scan[D comparable] struct {
	terms        termIndex
	docs, sumLen uint64
	df           []int
	cands        []scanned[D]
	tfs          []uint32
}

type scanned[D comparable] struct {
	doc    D
	ord    uint32
	length uint32
}

// read tokenizes every document; false when the budget stopped it.
func (s *scan[D]) read(docs iter.Seq2[D, string], b *budget) (bool, error) {
	var tok tokenizer
	tf := make([]uint32, len(s.df))
	step := 0
	for doc, text := range docs {
		if ok, err := b.check(step); !ok {
			return false, err
		}
		clear(tf)
		length, hit := uint32(0), false
		for t := range tok.each(text) {
			length++
			if i := s.terms.find(t); i >= 0 {
				tf[i]++
				hit = true
			}
		}
		if hit {
			s.cands = append(s.cands, scanned[D]{doc: doc, ord: uint32(step), length: length})
			s.tfs = append(s.tfs, tf...)
			for i, f := range tf {
				if f > 0 {
					s.df[i]++
				}
			}
		}
		step++
		s.docs++
		s.sumLen += uint64(length)
	}
	return true, nil
}

// score scores the candidates in order into top, within the budget.
func (s *scan[D]) score(scorers []TermScorer, b *budget, top *topK[D]) (int, error) {
	n := len(scorers)
	for i, c := range s.cands {
		if b.full(i) {
			b.truncated = true
			return i, nil
		}
		if ok, err := b.check(i); !ok {
			return i, err
		}
		score := 0.0
		for j, tf := range s.tfs[i*n : (i+1)*n] {
			if tf > 0 {
				score += scorers[j].Score(int(tf), int(c.length))
			}
		}
		if top.wants(score) {
			top.offer(ranked[D]{score: score, ord: c.ord, doc: c.doc})
		}
	}
	return len(s.cands), nil
}

// termIndex finds a token among the query terms: by a linear look for a few, a map for many.
type termIndex struct {
	list []string
	m    map[string]int
}

func newTermIndex(terms []string) termIndex {
	ti := termIndex{list: terms}
	if len(terms) > 8 {
		ti.m = make(map[string]int, len(terms))
		for i, t := range terms {
			ti.m[t] = i
		}
	}
	return ti
}

func (ti termIndex) find(tok string) int {
	if ti.m != nil {
		if i, ok := ti.m[tok]; ok {
			return i
		}
		return -1
	}
	for i, t := range ti.list {
		if t == tok {
			return i
		}
	}
	return -1
}
