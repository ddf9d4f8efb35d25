package search

import (
"context"
"testing"
"time"
)

func BenchmarkExpTokenize(b *testing.B) {
	c := benchCorpus()
	texts := make([]string, 4096)
	for i := range texts {
		texts[i] = c.Doc(i)
	}
	var tok tokenizer
	i := 0
	n := 0
	for b.Loop() {
		for range tok.each(texts[i%4096]) {
			n++
		}
		i++
	}
}

func BenchmarkExpLookup(b *testing.B) {
	c := benchCorpus()
	texts := make([]string, 4096)
	for i := range texts {
		texts[i] = c.Doc(i)
	}
	d := newDict()
	var tok tokenizer
	for i := range 100000 {
		for t := range tok.each(c.Doc(i)) {
			if d.get(t) == nil {
				d.set(t, &term{})
			}
		}
	}
	b.Logf("%d terms", len(d.short)+len(d.long))
	i := 0
	n := 0
	for b.Loop() {
		for t := range tok.each(texts[i%4096]) {
			if d.get(t) != nil {
				n++
			}
		}
		i++
	}
}

func TestExpQueries(t *testing.T) {
	if testing.Short() {
		t.Skip()
	}
	x := benchIndex()
	g := x.gen.Load()
	for _, q := range benchCorpus().Queries(20) {
		var sizes []int
		for _, tok := range queryTerms(q) {
			if tt, ok := g.terms.Load(tok); ok {
				sizes = append(sizes, len(tt.postings(new([1]posting))))
			}
		}
		start := time.Now()
		for range 20 {
			x.Search(context.Background(), benchDocs, Request{Query: q, K: 10})
		}
		t.Logf("%-40q %v %v", q, sizes, time.Since(start)/20)
	}
}
