package inmem_test

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkKVPutNewKeyInMemory: one goroutine, each put a key the run never had, the workload
// that pays for anything done when a name is created (the ordered index costs a run nothing
// until it is scanned).
func BenchmarkKVPutNewKeyInMemory(b *testing.B) {
	db := openBench(b)
	run := beginBench(b, db)
	ctx := context.Background()
	keys := make([]string, 1<<20)
	for i := range keys {
		keys[i] = fmt.Sprintf("n/%09d", i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := db.KV().Put(ctx, run, keys[i%len(keys)], benchValue); err != nil {
			b.Fatal(err)
		}
	}
}
