package search

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"unicode"
)

// ref stands in for the engine's document reference: a comparable struct with a total order.
type ref struct {
	Key string
	Seq uint64
}

func compareRef(a, b ref) int {
	if c := strings.Compare(a.Key, b.Key); c != 0 {
		return c
	}
	return cmp.Compare(a.Seq, b.Seq)
}

// oracle is BM25 written the plain way, independently of the package: split on anything that
// is not a letter or digit, lower-case, count, score every document, sort.
func oracle(docs map[ref]string, query string, k int) []Hit[ref] {
	split := func(s string) []string {
		f := strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
		for i := range f {
			f[i] = strings.ToLower(f[i])
		}
		return f
	}
	var terms []string
	for _, t := range split(query) {
		if !slices.Contains(terms, t) {
			terms = append(terms, t)
		}
	}
	tfs := map[ref]map[string]int{}
	lengths := map[ref]int{}
	total := 0
	df := map[string]int{}
	for d, text := range docs {
		toks := split(text)
		lengths[d] = len(toks)
		total += len(toks)
		tfs[d] = map[string]int{}
		for _, t := range toks {
			tfs[d][t]++
		}
		for t := range tfs[d] {
			df[t]++
		}
	}
	n := float64(len(docs))
	avg := float64(total) / n
	const k1, b = 1.2, 0.75
	var hits []Hit[ref]
	for d := range docs {
		score, matched := 0.0, false
		for _, t := range terms {
			tf := float64(tfs[d][t])
			if tf == 0 {
				continue
			}
			matched = true
			idf := math.Log(1 + (n-float64(df[t])+0.5)/(float64(df[t])+0.5))
			score += idf * (tf * (k1 + 1)) / (tf + k1*(1-b+b*float64(lengths[d])/avg))
		}
		if matched {
			hits = append(hits, Hit[ref]{Doc: d, Score: score})
		}
	}
	slices.SortFunc(hits, func(x, y Hit[ref]) int {
		if c := cmp.Compare(y.Score, x.Score); c != 0 {
			return c
		}
		return compareRef(x.Doc, y.Doc)
	})
	hits = hits[:min(k, len(hits))]
	for i := range hits {
		hits[i].Rank = i + 1
	}
	return hits
}
