package search

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/inmemdb/inmem/internal/search/corpus"
)

const (
	benchSeed  = 42
	benchVocab = 50_000
	benchDocs  = 100_000
)

var benchCorpus = sync.OnceValue(func() *corpus.Corpus { return corpus.New(benchSeed, benchVocab) })

// BenchmarkIndexPut1KiB puts ~1 KiB JSON documents into an index of 100 K documents that are
// replaced over and over, trimming every 1000 versions (readers at most 1000 versions behind),
// so that the rebuilds Trim triggers are paid for in the measurement.
func BenchmarkIndexPut1KiB(b *testing.B) {
	c := benchCorpus()
	texts := make([]string, 4096)
	for i := range texts {
		texts[i] = c.Doc(i)
	}
	x := New(Config[string]{})
	keys := make([]string, benchDocs)
	for i := range keys {
		keys[i] = fmt.Sprintf("doc-%06d", i)
	}
	v := uint64(0)
	b.SetBytes(int64(len(texts[0])))
	b.ReportAllocs()
	for b.Loop() {
		v++
		if err := x.Put(keys[v%benchDocs], v, texts[v%uint64(len(texts))]); err != nil {
			b.Fatal(err)
		}
		if v%1000 == 0 {
			x.Trim(v - 1000)
		}
	}
}

// benchIndex is the 100 K-document index the query benchmark reads, built once.
var benchIndex = sync.OnceValue(func() *Index[string] {
	c := benchCorpus()
	x := New(Config[string]{Compare: compareStrings})
	for i := range benchDocs {
		if err := x.Put(fmt.Sprintf("doc-%06d", i), uint64(i+1), c.Doc(i)); err != nil {
			panic(err)
		}
	}
	return x
})

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// BenchmarkQuery3Terms100K is the top 10 of three-term queries over 100 K ~1 KiB documents,
// reporting the median and 99th percentile besides the mean.
func BenchmarkQuery3Terms100K(b *testing.B) {
	x := benchIndex()
	queries := benchCorpus().Queries(200)
	var took []time.Duration
	ctx := context.Background()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		res, err := x.Search(ctx, benchDocs, Request{Query: queries[i%len(queries)], K: 10})
		took = append(took, time.Since(start))
		if err != nil || len(res.Hits) != 10 {
			b.Fatalf("%q: %d hits, %v", queries[i%len(queries)], len(res.Hits), err)
		}
		i++
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkRebuild100K is what a rebuild by Trim costs when 100 K documents stay: the stall
// of the writer it causes.
func BenchmarkRebuild100K(b *testing.B) {
	c := benchCorpus()
	x := New(Config[string]{})
	for i := range benchDocs {
		if err := x.Put(fmt.Sprintf("doc-%06d", i), uint64(i+1), c.Doc(i)); err != nil {
			b.Fatal(err)
		}
	}
	postings := 0
	x.gen.Load().terms.Range(func(_ string, t *term) bool {
		postings += int(t.n.Load())
		return true
	})
	for b.Loop() {
		x.rebuild(benchDocs)
	}
	b.ReportMetric(float64(postings), "postings")
}
