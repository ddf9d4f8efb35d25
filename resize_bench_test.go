package inmem_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/inmemdb/inmem"
)

// BenchmarkInsertLatency: one goroutine inserts INMEM_INSERT_KEYS (default 2 M) new keys into one
// run of an InMemory database, one Put each, and reports the slowest single Put and the p99.9
// of the first million and of the rest (bar: slowest ≤ 10 ms while 5 M are inserted, p99.9
// unchanged). A table that rehashes every key when it grows stalls the Put that grows it, and
// with it every commit of that shard.
func BenchmarkInsertLatency(b *testing.B) {
	n := 2_000_000
	if v := envInt("INMEM_INSERT_KEYS"); v > 0 {
		n = v
	}
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("key/%09d", i)
	}
	for b.Loop() {
		o := inmem.DefaultOptions()
		o.Durability = inmem.InMemory
		db, err := inmem.Open("", o)
		if err != nil {
			b.Fatal(err)
		}
		run := inmem.NewRunID()
		ctx := context.Background()
		if err := db.BeginRun(ctx, run, inmem.RunInfo{}); err != nil {
			b.Fatal(err)
		}
		lat := make([]time.Duration, n)
		for i, k := range keys {
			start := time.Now()
			if err := db.KV().Put(ctx, run, k, []byte("v")); err != nil {
				b.Fatal(err)
			}
			lat[i] = time.Since(start)
		}
		db.Close()
		first, rest := slices.Clone(lat[:min(n, 1_000_000)]), slices.Clone(lat[min(n, 1_000_000):])
		slices.Sort(first)
		slices.Sort(rest)
		b.ReportMetric(float64(slices.Max(lat).Microseconds()), "max-µs")
		b.ReportMetric(float64(first[len(first)*999/1000].Microseconds()), "p99.9-first-1M-µs")
		if len(rest) > 0 {
			b.ReportMetric(float64(rest[len(rest)*999/1000].Microseconds()), "p99.9-rest-µs")
		}
	}
}

// envInt reads a positive count from the environment, or 0.
func envInt(name string) int {
	v, err := strconv.Atoi(os.Getenv(name))
	if err != nil || v < 0 {
		return 0
	}
	return v
}
