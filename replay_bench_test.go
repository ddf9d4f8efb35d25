package inmem_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/inmemdb/inmem"
)

// benchEventRun begins a run and appends n events to it, one transaction each.
func benchEventRun(b *testing.B, db *inmem.DB, n int) inmem.RunID {
	b.Helper()
	run := beginBench(b, db)
	for i := range n {
		payload := fmt.Appendf(nil, `{"step":%d,"tool":"search","ok":true}`, i)
		if _, err := db.Events().Append(context.Background(), run, "tool_call", payload); err != nil {
			b.Fatal(err)
		}
	}
	return run
}

// benchOtherOps commits n KV operations to other runs, in transactions of 1000.
func benchOtherOps(b *testing.B, db *inmem.DB, n int) {
	b.Helper()
	for t := 0; t < n; t += 1000 {
		run := beginBench(b, db)
		err := db.Update(context.Background(), run, func(tx *inmem.Tx) error {
			for i := range min(1000, n-t) {
				if err := tx.KV().Put(benchKeys[i%len(benchKeys)]+fmt.Sprint(i), benchValue); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// benchReplay measures ReplayRun alone; what the view holds is checked once, outside the loop.
func benchReplay(b *testing.B, db *inmem.DB, run inmem.RunID, events int) {
	b.Helper()
	v, err := db.ReplayRun(run)
	if err != nil || len(v.Events()) != events {
		b.Fatalf("replayed %d events (%v), want %d", len(v.Events()), err, events)
	}
	b.ReportAllocs()
	for b.Loop() {
		v, err := db.ReplayRun(run)
		if err != nil || v.Steps() != events {
			b.Fatalf("replayed %d steps (%v), want %d", v.Steps(), err, events)
		}
	}
}

// BenchmarkReplayRun (bar: ≤ 1 ms for a 1 K-event run). The cost is O(run size): a
// 100-event run replays as fast alone as among 1 M operations of other runs.
func BenchmarkReplayRun(b *testing.B) {
	b.Run("1Kevents", func(b *testing.B) {
		db := openBench(b)
		benchReplay(b, db, benchEventRun(b, db, 1000), 1000)
	})
	b.Run("100events", func(b *testing.B) {
		db := openBench(b)
		benchReplay(b, db, benchEventRun(b, db, 100), 100)
	})
	b.Run("100eventsAmong1Mops", func(b *testing.B) {
		db := openBench(b)
		benchOtherOps(b, db, 1_000_000)
		benchReplay(b, db, benchEventRun(b, db, 100), 100)
	})
}

// BenchmarkDiffRuns1KKeys: two runs of 1 K keys each, written in 1 K transactions, that
// differ in a tenth of their keys and values (bar: ≤ 2 ms).
func BenchmarkDiffRuns1KKeys(b *testing.B) {
	db := openBench(b)
	ctx := context.Background()
	a, c := beginBench(b, db), beginBench(b, db)
	for i := range 1000 {
		key := fmt.Sprintf("key-%04d", i)
		if err := db.KV().Put(ctx, a, key, benchValue); err != nil {
			b.Fatal(err)
		}
		other, value := key, benchValue
		switch i % 20 {
		case 0:
			other = fmt.Sprintf("other-%04d", i)
		case 1:
			value = []byte("changed")
		}
		if err := db.KV().Put(ctx, c, other, value); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		d, err := db.DiffRuns(a, c)
		if err != nil {
			b.Fatal(err)
		}
		if len(d.Added) != 50 || len(d.Removed) != 50 || len(d.Modified) != 50 {
			b.Fatalf("diff: %d added, %d removed, %d modified", len(d.Added), len(d.Removed), len(d.Modified))
		}
	}
}

// BenchmarkReplayRunFromDisk: ReplayRun of a 1 K-event run whose history is read back from the
// log (Buffered), its steps spread among 9 other runs' writes of 1 KiB (bars: ≤ 2 ms warm,
// ≤ 20 ms cold). warm: the history cache holds the run; os-cache: no history cache, the
// segments in the OS page cache; cold: each replay right after a reopen, with the OS page
// cache dropped first (as root on Linux; the "page-cache-dropped" metric says whether it was).
func BenchmarkReplayRunFromDisk(b *testing.B) {
	dir := b.TempDir()
	open := func(cache int64) *inmem.DB {
		o := inmem.DefaultOptions()
		o.Durability, o.History.CacheBytes = inmem.Buffered, cache
		db, err := inmem.Open(dir, o)
		if err != nil {
			b.Fatal(err)
		}
		return db
	}
	db := open(0)
	run, others := beginBench(b, db), make([]inmem.RunID, 9)
	for i := range others {
		others[i] = beginBench(b, db)
	}
	for i := range 1000 {
		payload := fmt.Appendf(nil, `{"step":%d,"tool":"search","ok":true}`, i)
		if _, err := db.Events().Append(context.Background(), run, "tool_call", payload); err != nil {
			b.Fatal(err)
		}
		for _, o := range others {
			if err := db.KV().Put(context.Background(), o, "k", make([]byte, 1024)); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := db.Close(); err != nil { // a snapshot at close: the reopens replay nothing
		b.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		cache int64
	}{{"warm", 0}, {"os-cache", 1}} {
		b.Run(c.name, func(b *testing.B) {
			db := open(c.cache)
			defer db.Close()
			benchReplay(b, db, run, 1000)
		})
	}
	b.Run("cold", func(b *testing.B) {
		dropped := 0.0
		for b.Loop() {
			b.StopTimer()
			if dropPageCache() {
				dropped = 1
			}
			db := open(0)
			b.StartTimer()
			v, err := db.ReplayRun(run)
			b.StopTimer()
			if err != nil || v.Steps() != 1000 {
				b.Fatalf("replayed %v steps (%v), want 1000", v, err)
			}
			if err := db.Close(); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		b.ReportMetric(dropped, "page-cache-dropped")
	})
}

// dropPageCache asks Linux to drop its clean page cache (Close synced the database's files);
// it reports whether it could (root only).
func dropPageCache() bool {
	return os.WriteFile("/proc/sys/vm/drop_caches", []byte("1"), 0) == nil
}
