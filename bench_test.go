package inmem_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/inmemdb/inmem"
)

func openBench(b *testing.B) *inmem.DB {
	b.Helper()
	db, err := inmem.Open("", &inmem.Options{Durability: inmem.InMemory})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

func beginBench(b *testing.B, db *inmem.DB) inmem.RunID {
	b.Helper()
	id := inmem.NewRunID()
	if err := db.BeginRun(context.Background(), id, inmem.RunInfo{}); err != nil {
		b.Fatal(err)
	}
	return id
}

var benchValue = make([]byte, 100)

// benchKeys are the keys the KV benchmarks cycle through.
var benchKeys = func() []string {
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%04d", i)
	}
	return keys
}()

// BenchmarkKVPutInMemory: one goroutine, one-op transactions (bar: ≤ 1.5 µs/op).
func BenchmarkKVPutInMemory(b *testing.B) {
	db := openBench(b)
	run := beginBench(b, db)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := db.KV().Put(ctx, run, benchKeys[i%len(benchKeys)], benchValue); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKVGet: the read fast path (bar: ≤ 200 ns/op).
func BenchmarkKVGet(b *testing.B) {
	db := openBench(b)
	run := beginBench(b, db)
	ctx := context.Background()
	for _, k := range benchKeys {
		if err := db.KV().Put(ctx, run, k, benchValue); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := db.KV().Get(run, benchKeys[i%len(benchKeys)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKVPutParallel64: 64 goroutines on disjoint runs (bar: ≥ 1 M ops/s on 2 cores).
func BenchmarkKVPutParallel64(b *testing.B) {
	db := openBench(b)
	const goroutines = 64
	runs := make([]inmem.RunID, goroutines)
	for i := range runs {
		runs[i] = beginBench(b, db)
	}
	var next atomic.Int64
	ctx := context.Background()
	b.SetParallelism((goroutines + 1) / 2) // GOMAXPROCS × this = 64 on the 2-core machine
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		run := runs[int(next.Add(1)-1)%goroutines]
		for i := 0; pb.Next(); i++ {
			if err := db.KV().Put(ctx, run, "k", benchValue); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	st := db.Stats()
	b.ReportMetric(float64(st.Commits)/float64(st.Batches), "commits/batch")
}

// BenchmarkSnapshotAcquire: taking a read snapshot — a pinned read-only transaction (Begin +
// Rollback) — from one goroutine and from all cores.
func BenchmarkSnapshotAcquire(b *testing.B) {
	db := openBench(b)
	run := beginBench(b, db)
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			tx, err := db.Begin(run, false)
			if err != nil {
				b.Fatal(err)
			}
			tx.Rollback()
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				tx, err := db.Begin(run, false)
				if err != nil {
					b.Error(err)
					return
				}
				tx.Rollback()
			}
		})
	})
}

// BenchmarkUpdateReadModifyWrite: a transaction that reads a key and writes it back (one
// goroutine, so no conflicts): the cost of a pinned snapshot, a read set and validation.
func BenchmarkUpdateReadModifyWrite(b *testing.B) {
	db := openBench(b)
	run := beginBench(b, db)
	ctx := context.Background()
	if err := db.KV().Put(ctx, run, "k", benchValue); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		err := db.Update(ctx, run, func(tx *inmem.Tx) error {
			v, err := tx.KV().Get("k")
			if err != nil {
				return err
			}
			return tx.KV().Put("k", v)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEventAppend: one-event transactions from one goroutine (bar: ≤ 3 µs InMemory).
func BenchmarkEventAppend(b *testing.B) {
	db := openBench(b)
	run := beginBench(b, db)
	ctx := context.Background()
	payload := []byte(`{"tool":"search","ok":true}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := db.Events().Append(ctx, run, "tool_call", payload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStateGet: a state-cell read (bar: ≤ 200 ns).
func BenchmarkStateGet(b *testing.B) {
	db := openBench(b)
	run := beginBench(b, db)
	if _, err := db.State().Init(context.Background(), run, "phase", benchValue); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := db.State().Get(run, "phase"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCrossPrimitiveTx: one transaction writing a KV key, appending an event and setting a
// state cell, from one goroutine, InMemory and Strict.
func BenchmarkCrossPrimitiveTx(b *testing.B) {
	for _, d := range []inmem.Durability{inmem.InMemory, inmem.Strict} {
		b.Run(d.String(), func(b *testing.B) {
			o := inmem.DefaultOptions()
			o.Durability = d
			dir := ""
			if d != inmem.InMemory {
				dir = b.TempDir()
			}
			db, err := inmem.Open(dir, o)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			run := beginBench(b, db)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				err := db.Update(ctx, run, func(tx *inmem.Tx) error {
					if err := tx.KV().Put("scratch", benchValue); err != nil {
						return err
					}
					if err := tx.Events().Append("step", []byte(`{}`)); err != nil {
						return err
					}
					return tx.State().Set("phase", benchValue)
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// json1KiB is a 1 KiB JSON document: an agent's working memo.
var json1KiB = func() []byte {
	doc := []byte(`{"goal":"answer the ticket","steps":[`)
	for i := 0; len(doc) < 1000; i++ {
		if i > 0 {
			doc = append(doc, ',')
		}
		doc = fmt.Appendf(doc, `{"n":%d,"tool":"search","ok":true}`, i)
	}
	return append(doc, `],"owner":{"name":"planner"}}`...)
}()

// BenchmarkJSONCreate1KiB: creating a 1 KiB document (bar: ≤ 50 µs).
func BenchmarkJSONCreate1KiB(b *testing.B) {
	db := openBench(b)
	run := beginBench(b, db)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := db.JSON().Create(ctx, run, fmt.Sprint("doc", i), json1KiB); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJSONGetPath: reading one value at a path of a 1 KiB document (bar: ≤ 2 µs).
func BenchmarkJSONGetPath(b *testing.B) {
	db := openBench(b)
	run := beginBench(b, db)
	if err := db.JSON().Create(context.Background(), run, "doc", json1KiB); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := db.JSON().Get(run, "doc", "$.owner.name"); err != nil {
			b.Fatal(err)
		}
	}
}
