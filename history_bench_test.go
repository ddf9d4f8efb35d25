package inmem_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/inmemdb/inmem"
)

// What a run's history costs, and what comes back when runs leave. Each benchmark measures
// once per b.N = 1 (run with -benchtime 1x) and reports its numbers as metrics.

// openBuffered opens a Buffered database in dir that snapshots only when asked; it is closed
// at the end of the benchmark.
func openBuffered(b *testing.B, dir string, mutate ...func(*inmem.Options)) *inmem.DB {
	b.Helper()
	o := inmem.DefaultOptions()
	o.Durability, o.Snapshot.OnClose = inmem.Buffered, false
	for _, m := range mutate {
		m(o)
	}
	db, err := inmem.Open(dir, o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// BenchmarkHeapPerStep: the heap each retained step costs beyond its live data, 100 runs
// overwriting one key each with payloadSize-byte values (the live data is 100 keys; every
// step's payload is history).
func BenchmarkHeapPerStep(b *testing.B) {
	for _, payload := range []int{100, 1024} {
		b.Run(fmt.Sprintf("payload=%d", payload), func(b *testing.B) {
			const runs, steps = 100, 1000
			db := openBuffered(b, b.TempDir())
			if *runcostProfile != "" {
				runtime.MemProfileRate = 4096
			}
			ids := costRunIDs(runs)
			for _, id := range ids {
				if err := db.BeginRun(context.Background(), id, inmem.RunInfo{}); err != nil {
					b.Fatal(err)
				}
			}
			before := heapInUse()
			value := make([]byte, payload)
			for range b.N {
				for s := range steps {
					for _, id := range ids {
						value[0] = byte(s)
						if err := db.KV().Put(context.Background(), id, "k", value); err != nil {
							b.Fatal(err)
						}
					}
				}
			}
			// The snapshotter takes one on its own every 100 MB of log: wait for any under way
			// (a request is served after it), so that its transient memory is not counted.
			if _, err := db.Snapshot(); err != nil {
				b.Fatal(err)
			}
			after := heapInUse()
			writeHeapProfile(b, *runcostProfile)
			live := float64(runs * (payload + 1))
			b.ReportMetric((float64(after-before)-live)/float64(runs*steps*b.N), "heap-B/step")
		})
	}
}

// BenchmarkHeapPerStepInHistoryFiles: as HeapPerStep (100-byte payloads), but every round of
// steps is followed by 100 runs of 1 KiB writes that end and are deleted, so that the live
// runs' steps lie in mostly dead segments and retirement copies them into history files: the
// heap per retained step then includes what the history's reader keeps of those files. It
// reports the history kept on disk per retained step too.
func BenchmarkHeapPerStepInHistoryFiles(b *testing.B) {
	const runs, steps, rounds = 100, 1000, 10
	dir := b.TempDir()
	db := openBuffered(b, dir, func(o *inmem.Options) { o.SegmentSize = 4 << 20 })
	ids := costRunIDs(runs)
	for _, id := range ids {
		if err := db.BeginRun(context.Background(), id, inmem.RunInfo{}); err != nil {
			b.Fatal(err)
		}
	}
	before := heapInUse()
	value := make([]byte, 100)
	for range b.N {
		for r := range rounds {
			for s := range steps / rounds {
				for _, id := range ids {
					value[0] = byte(s)
					if err := db.KV().Put(context.Background(), id, "k", value); err != nil {
						b.Fatal(err)
					}
				}
			}
			dead := costRunIDs(100)
			fillEndedRuns(b, db, dead, 100, func(int) inmem.RunInfo { return inmem.RunInfo{Agent: fmt.Sprint(r)} })
			for _, id := range dead {
				if err := db.DeleteRun(context.Background(), id); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	for range 2 { // the log retires below the older of two snapshots
		if _, err := db.Snapshot(); err != nil {
			b.Fatal(err)
		}
	}
	after := heapInUse()
	retained := float64(runs * steps * b.N)
	b.ReportMetric((float64(after-before)-float64(runs*101))/retained, "heap-B/step")
	b.ReportMetric(float64(db.Metrics().HistoryBytesOnDisk)/retained, "history-disk-B/step")
	b.ReportMetric(float64(db.Metrics().HistoryBytesOnDisk)/(1<<20), "history-disk-MiB")
	if _, err := db.ReplayRun(ids[0]); err != nil { // read back from the history files
		b.Fatal(err)
	}
}

// BenchmarkSnapshotOfFewKeysAfterManyCommits: the snapshot of 10 live keys of one run after
// 1 M commits to them (the bar's case).
func BenchmarkSnapshotOfFewKeysAfterManyCommits(b *testing.B) {
	const keys, commits = 10, 1_000_000
	db := openBuffered(b, b.TempDir())
	run := beginBench(b, db)
	for i := range commits {
		if err := db.KV().Put(context.Background(), run, fmt.Sprint("k", i%keys), benchValue); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	var info inmem.SnapshotInfo
	var err error
	for range b.N {
		if info, err = db.Snapshot(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	st, err := os.Stat(info.Path)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(st.Size())/(1<<20), "snapshot-MiB")
	b.ReportMetric(float64(st.Size())/commits, "snapshot-B/commit")
}

// BenchmarkDeleteEveryEndedRun: the heap and disk before runs are made, after they end, and
// after every one is deleted and two snapshots are taken (the log below the older one
// retired, but for the live runs' history). A first round warms the database up — the sequencer's table of staged writes and
// the Go maps keep the capacity a burst gave them, a bounded amount — and the second round
// is the one measured: what a database that has run for a while gives back.
func BenchmarkDeleteEveryEndedRun(b *testing.B) {
	const runs, keys = 10_000, 10
	dir := b.TempDir()
	db := openBuffered(b, dir, func(o *inmem.Options) { o.SegmentSize = 4 << 20 })
	if *runcostProfile != "" {
		runtime.MemProfileRate = 1 // every allocation: the residue is small objects
	}
	// The live state the deleted runs come and go beside: 1 000 active runs of 10 KiB.
	base := costRunIDs(1000)
	for _, id := range base {
		if err := db.BeginRun(context.Background(), id, inmem.RunInfo{}); err != nil {
			b.Fatal(err)
		}
		for k := range 10 {
			if err := db.KV().Put(context.Background(), id, fmt.Sprint(k), make([]byte, 1024)); err != nil {
				b.Fatal(err)
			}
		}
	}
	var snap inmem.SnapshotInfo
	round := func() {
		ids := costRunIDs(runs)
		fillEndedRuns(b, db, ids, keys, func(int) inmem.RunInfo { return inmem.RunInfo{Agent: "a"} })
		for _, id := range ids {
			if err := db.DeleteRun(context.Background(), id); err != nil {
				b.Fatal(err)
			}
		}
		for range 2 {
			var err error
			if snap, err = db.Snapshot(); err != nil {
				b.Fatal(err)
			}
		}
	}
	for range b.N {
		round()
		heap0, disk0 := heapInUse(), dirBytes(b, dir)
		round()
		heap2, disk2 := heapInUse(), dirBytes(b, dir)
		writeHeapProfile(b, *runcostProfile)
		b.ReportMetric(float64(heap0)/(1<<20), "heap-before-MiB")
		b.ReportMetric(float64(heap2)/(1<<20), "heap-after-MiB")
		b.ReportMetric(float64(disk0)/(1<<20), "disk-before-MiB")
		b.ReportMetric(float64(disk2)/(1<<20), "disk-after-MiB")
		b.ReportMetric(float64(dirBytes(b, filepath.Join(dir, "snapshots")))/(1<<20), "snapshots-MiB")
		b.ReportMetric(float64(dirBytes(b, filepath.Join(dir, "wal", "history")))/(1<<20), "history-MiB")
		st, err := os.Stat(snap.Path)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(st.Size())/(1<<20), "snapshot-MiB")
	}
}

// dirBytes is the size of every file under dir; 0 if there is no dir.
func dirBytes(b *testing.B, dir string) int64 {
	var n int64
	err := filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		if os.IsNotExist(err) {
			return nil
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkCommitDuringRetention: commit latency of 8 Strict committers while the retention
// actor deletes 10 000 ended runs (EndedRunTTL of a millisecond, set at a reopen), against
// the same database reopened without retention.
func BenchmarkCommitDuringRetention(b *testing.B) {
	const ended = 10_000
	dir := b.TempDir()
	o := inmem.DefaultOptions()
	o.Snapshot.OnClose = false
	db, err := inmem.Open(dir, o)
	if err != nil {
		b.Fatal(err)
	}
	fillEndedRuns(b, db, costRunIDs(ended), 1, func(int) inmem.RunInfo { return inmem.RunInfo{} })
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("retention=%v", on), func(b *testing.B) {
			o := inmem.DefaultOptions()
			o.Snapshot.OnClose = false
			if on {
				o.Retention.EndedRunTTL = time.Millisecond
			}
			db, err := inmem.Open(dir, o)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			runs := make([]inmem.RunID, 8)
			for i := range runs {
				runs[i] = beginBench(b, db)
			}
			putFromEachRun(b, db, runs)
			b.ReportMetric(float64(db.Metrics().RetentionDeleted), "runs-deleted")
		})
	}
}

// BenchmarkRecovery100MBPlus1MSteps: recovery of the ~100 MB state of the snapshot benchmarks
// with 1 M more retained steps (100 runs overwriting one 100-byte value each), all in the
// snapshot: the history bar's recovery.
func BenchmarkRecovery100MBPlus1MSteps(b *testing.B) {
	dir := b.TempDir()
	db := buildBenchState(b, dir)
	ids := costRunIDs(100)
	for _, id := range ids {
		if err := db.BeginRun(context.Background(), id, inmem.RunInfo{}); err != nil {
			b.Fatal(err)
		}
	}
	value := make([]byte, 100)
	for s := range 10_000 {
		for _, id := range ids {
			value[0] = byte(s)
			if err := db.KV().Put(context.Background(), id, "k", value); err != nil {
				b.Fatal(err)
			}
		}
	}
	if _, err := db.Snapshot(); err != nil {
		b.Fatal(err)
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	recoveryBench(b, dir)
}
