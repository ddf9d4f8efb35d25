package search

import "math"

// Stats are the collection statistics at the searched version: the documents visible there
// and their average length in tokens.
type Stats struct {
	Docs      int
	AvgLength float64
}

// Scorer turns a query term into a TermScorer, once per term per search. A document's score is
// the sum, over the distinct query terms it contains, of their TermScorers' scores; the sum
// runs in the order of the terms' first occurrence in the query, so that the index and the scan
// add the same numbers in the same order and agree to the bit.
type Scorer interface {
	// Term is called with the statistics at the searched version and the number of visible
	// documents containing the term (at least 1: a term no visible document contains is not
	// scored).
	Term(stats Stats, docFreq int) TermScorer
}

// TermScorer scores one query term in one document: tf is how often the term occurs in it
// (at least 1), length the document's length in tokens.
type TermScorer interface {
	Score(tf, length int) float64
}

// BM25 is the Okapi BM25 scorer with the non-negative idf of Lucene:
//
//	idf(t)   = ln(1 + (N − df + 0.5) / (df + 0.5))
//	score    = idf · tf·(k1+1) / (tf + k1·(1 − b + b·length/avgLength))
type BM25 struct {
	K1, B float64
}

// DefaultBM25 is BM25 with k1 = 1.2 and b = 0.75, the scorer used when none is configured.
var DefaultBM25 = BM25{K1: 1.2, B: 0.75}

// Term implements Scorer.
func (s BM25) Term(stats Stats, docFreq int) TermScorer {
	n, df := float64(stats.Docs), float64(docFreq)
	return bm25Term{
		idf: math.Log(1 + (n-df+0.5)/(df+0.5)),
		k1:  s.K1, b: s.B, avg: stats.AvgLength,
	}
}

type bm25Term struct {
	idf, k1, b, avg float64
}

// Score implements TermScorer. An average length of 0 (every visible document empty) cannot
// meet a tf ≥ 1, but is guarded so that the score stays a number.
func (t bm25Term) Score(tf, length int) float64 {
	f := float64(tf)
	norm := 1.0
	if t.avg > 0 {
		norm = 1 - t.b + t.b*float64(length)/t.avg
	}
	return t.idf * (f * (t.k1 + 1)) / (f + t.k1*norm)
}
