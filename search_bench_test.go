package inmem_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/internal/search/corpus"
)

// Search benchmarks over the corpus the search library's benchmarks use: JSON objects of about
// 1 KiB, Zipf-distributed words, three-word queries.

func openSearchBench(b *testing.B, index ...inmem.PrimitiveKind) *inmem.DB {
	b.Helper()
	db, err := inmem.Open("", &inmem.Options{Durability: inmem.InMemory, Search: inmem.SearchOptions{Index: index}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// openJSONBench opens a database for a JSON benchmark, JSON indexed or not.
func openJSONBench(b *testing.B, indexed bool) *inmem.DB {
	if indexed {
		return openSearchBench(b, inmem.KindJSON)
	}
	return openSearchBench(b)
}

// BenchmarkSearchJSON100K: top 10 of a three-term query over 100 K documents of one run,
// through db.JSON().Search, with the index and by scanning. It reports the p50 and p99 of the
// searches it timed (bar: p50 ≤ 2 ms with the index).
func BenchmarkSearchJSON100K(b *testing.B) {
	const n = 100_000
	c := corpus.New(1, 50_000)
	queries := c.Queries(64)
	for _, indexed := range []bool{true, false} {
		b.Run(fmt.Sprint("indexed=", indexed), func(b *testing.B) {
			db := openJSONBench(b, indexed)
			run := beginBench(b, db)
			ctx := context.Background()
			for i := 0; i < n; i += 500 {
				if err := db.Update(ctx, run, func(tx *inmem.Tx) error {
					for j := i; j < i+500; j++ {
						if err := tx.JSON().Create(fmt.Sprint("doc", j), []byte(c.Doc(j))); err != nil {
							return err
						}
					}
					return nil
				}); err != nil {
					b.Fatal(err)
				}
			}
			var took []time.Duration
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				t0 := time.Now()
				resp, err := db.JSON().Search(ctx, inmem.SearchRequest{Run: run, Query: queries[i%len(queries)], K: 10})
				took = append(took, time.Since(t0))
				if err != nil || len(resp.Hits) == 0 {
					b.Fatal(err, len(resp.Hits))
				}
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
		})
	}
}

// BenchmarkJSONCreateSearchDoc: creating a 1 KiB corpus document (a different one each time,
// so the index grows as it would), with the JSON index and without: the index's cost on the
// commit path (bar: ≤ 25 % added).
func BenchmarkJSONCreateSearchDoc(b *testing.B) {
	c := corpus.New(1, 50_000)
	docs := make([][]byte, 4096)
	for i := range docs {
		docs[i] = []byte(c.Doc(i))
	}
	for _, indexed := range []bool{false, true} {
		b.Run(fmt.Sprint("indexed=", indexed), func(b *testing.B) {
			db := openJSONBench(b, indexed)
			run := beginBench(b, db)
			ctx := context.Background()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if err := db.JSON().Create(ctx, run, fmt.Sprint("doc", i), docs[i%len(docs)]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
