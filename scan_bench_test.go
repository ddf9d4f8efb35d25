package inmem_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/inmemdb/inmem"
)

// scanFixture is one run of 200 000 keys, 1 000 of them under "sub/" (spread among the rest),
// in an InMemory database.
func scanFixture(b *testing.B) (*inmem.DB, inmem.RunID) {
	b.Helper()
	o := inmem.DefaultOptions()
	o.Durability = inmem.InMemory
	db, err := inmem.Open("", o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	run := inmem.NewRunID()
	if err := db.BeginRun(context.Background(), run, inmem.RunInfo{}); err != nil {
		b.Fatal(err)
	}
	const total, batch = 200_000, 1000
	for start := 0; start < total; start += batch {
		err := db.Update(context.Background(), run, func(tx *inmem.Tx) error {
			for i := start; i < start+batch; i++ {
				key := fmt.Sprintf("k/%07d", i*7919%total)
				if i%200 == 0 {
					key = fmt.Sprintf("sub/%07d", i)
				}
				if err := tx.KV().Put(key, []byte("v")); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return db, run
}

// BenchmarkKVList1000Of200K: the keys under a prefix, 1 000 of one run's 200 000 (the bar is
// for Scan; List is the same walk and exists in older builds, for A/B). Steady state, as Scan.
func BenchmarkKVList1000Of200K(b *testing.B) {
	db, run := scanFixture(b)
	if _, err := db.KV().List(run, "sub/"); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		keys, err := db.KV().List(run, "sub/")
		if err != nil || len(keys) != 1000 {
			b.Fatalf("%d keys, %v", len(keys), err)
		}
	}
}

// BenchmarkKVScan1000Of200K: one page of 1 000 pairs under a prefix, of one run's 200 000 keys
// (bar: ≤ 0.5 ms). The first scan of a run builds its ordered index (BenchmarkKVFirstScan200K);
// it is taken before the timer starts: this is the steady state.
func BenchmarkKVScan1000Of200K(b *testing.B) {
	db, run := scanFixture(b)
	if _, err := db.KV().Scan(run, "sub/", "", 1); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		pairs, err := db.KV().Scan(run, "sub/", "", 1000)
		if err != nil || len(pairs) != 1000 {
			b.Fatalf("%d pairs, %v", len(pairs), err)
		}
	}
}

// BenchmarkKVFirstScan200K: the first scan of a run of 200 000 keys, which sorts them once to
// build the run's ordered index.
func BenchmarkKVFirstScan200K(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		db, run := scanFixture(b)
		b.StartTimer()
		if _, err := db.KV().Scan(run, "sub/", "", 10); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		db.Close()
		b.StartTimer()
	}
}
