package inmem_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/inmemdb/inmem"
)

// Snapshot and recovery benchmarks (their bars: BENCHMARKS.md). The state is ~100 MB: 100 runs,
// each with 900 KV keys of 1 KiB values (90 MB) and 200 events of ~100-byte JSON payloads plus 2
// JSON documents and 10 state cells. Recovery benchmarks report the time per phase
// (RecoveryResult.Phases).

const (
	benchRuns        = 100
	benchKeysPerRun  = 900
	benchEventPerRun = 200
)

// buildBenchState fills a fresh Buffered database in dir with the ~100 MB state, its runs
// ended (so that reopening orphans nothing and writes nothing), and returns it open.
func buildBenchState(b *testing.B, dir string) *inmem.DB {
	o := inmem.DefaultOptions()
	o.Durability = inmem.Buffered
	o.Snapshot.OnClose = false
	o.Snapshot.WALSizeThreshold = 1 << 40
	db, err := inmem.Open(dir, o)
	if err != nil {
		b.Fatal(err)
	}
	value := make([]byte, 1024)
	payload := []byte(`{"tool":"search","query":"where is the invoice for order 12345","ok":true,"ms":42}`)
	var wg sync.WaitGroup
	errs := make(chan error, benchRuns)
	for r := range benchRuns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- fillBenchRun(db, r, value, payload)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	return db
}

func fillBenchRun(db *inmem.DB, r int, value, payload []byte) error {
	ctx := context.Background()
	run := inmem.NewRunID()
	if err := db.BeginRun(ctx, run, inmem.RunInfo{Name: fmt.Sprint("run", r)}); err != nil {
		return err
	}
	for k := 0; k < benchKeysPerRun; k += 100 {
		err := db.Update(ctx, run, func(tx *inmem.Tx) error {
			for j := k; j < k+100; j++ {
				if err := tx.KV().Put(fmt.Sprintf("key/%06d", j), value); err != nil {
					return err
				}
			}
			for j := k / 4; j < k/4+25; j++ {
				if err := tx.Events().Append("tool_result", payload); err != nil {
					return err
				}
			}
			return tx.State().Set(fmt.Sprint("cell", k/100), payload)
		})
		if err != nil {
			return err
		}
	}
	for d := range 2 {
		if err := db.JSON().Create(ctx, run, fmt.Sprint("doc", d), payload); err != nil {
			return err
		}
	}
	return db.EndRun(ctx, run)
}

// commitTail commits n small transactions to one new run, then ends it: the WAL after a
// snapshot that recovery replays.
func commitTail(b *testing.B, db *inmem.DB, n int) {
	ctx := context.Background()
	run := inmem.NewRunID()
	if err := db.BeginRun(ctx, run, inmem.RunInfo{}); err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 16 { // concurrent, so that it is quick to build even in Strict mode
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n-1; i += 16 {
				if err := db.KV().Put(ctx, run, fmt.Sprint("tail", i), benchValue); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := db.EndRun(ctx, run); err != nil {
		b.Fatal(err)
	}
}

func reopenOptions() *inmem.Options {
	o := inmem.DefaultOptions()
	o.Snapshot.OnClose = false
	return o
}

func dirSize(b *testing.B, path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return st.Size()
}

// BenchmarkSnapshotWrite100MB: one snapshot of the whole state, fsync and rename included.
func BenchmarkSnapshotWrite100MB(b *testing.B) {
	db := buildBenchState(b, b.TempDir())
	defer db.Close()
	var size int64
	for b.Loop() {
		info, err := db.Snapshot()
		if err != nil {
			b.Fatal(err)
		}
		size = dirSize(b, info.Path)
	}
	b.ReportMetric(float64(size)/1e6, "MB")
	b.ReportMetric(float64(size)/1e6/(b.Elapsed().Seconds()/float64(b.N)), "MB/s")
}

// recoveryBench opens dir b.N times and reports the mean of each recovery phase.
func recoveryBench(b *testing.B, dir string) {
	var total, disc, load, replay, orphans time.Duration
	var rec *inmem.RecoveryResult
	for b.Loop() {
		db, err := inmem.Open(dir, reopenOptions())
		if err != nil {
			b.Fatal(err)
		}
		rec = db.LastRecovery()
		total += rec.Duration
		disc += rec.Phases.Discovery
		load += rec.Phases.Load
		replay += rec.Phases.Replay
		orphans += rec.Phases.Orphans
		b.StopTimer()
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	n := float64(b.N)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / n }
	b.ReportMetric(ms(total), "recovery-ms")
	b.ReportMetric(ms(disc), "discovery-ms")
	b.ReportMetric(ms(load), "load-ms")
	b.ReportMetric(ms(replay), "replay-ms")
	b.ReportMetric(ms(orphans), "orphans-ms")
	b.ReportMetric(float64(rec.TransactionsRecovered), "txs-replayed")
}

// BenchmarkSnapshotLoad100MB: Open of a database that is one ~100 MB snapshot and no WAL after.
func BenchmarkSnapshotLoad100MB(b *testing.B) {
	dir := b.TempDir()
	db := buildBenchState(b, dir)
	if _, err := db.Snapshot(); err != nil {
		b.Fatal(err)
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	recoveryBench(b, dir)
}

// BenchmarkWALReplay10K: Open of a database that is 10 K small transactions in the WAL.
func BenchmarkWALReplay10K(b *testing.B) {
	dir := b.TempDir()
	db, err := inmem.Open(dir, reopenOptions())
	if err != nil {
		b.Fatal(err)
	}
	commitTail(b, db, 10_000)
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	recoveryBench(b, dir)
}

// BenchmarkRecovery100MBPlus10K: Open of a ~100 MB snapshot followed by 10 K WAL transactions.
func BenchmarkRecovery100MBPlus10K(b *testing.B) {
	dir := b.TempDir()
	db := buildBenchState(b, dir)
	if _, err := db.Snapshot(); err != nil {
		b.Fatal(err)
	}
	commitTail(b, db, 10_000)
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	recoveryBench(b, dir)
}

// BenchmarkCommitDuringSnapshot: Strict commits from 8 committers, with snapshots of the
// ~100 MB state taken back to back (snapshots=true) or not at all (snapshots=false). The
// snapshots are written with the defaults (normal priority, paced to Snapshot.DutyCycle while
// commits are made), unpaced (DutyCycle 1), or unpaced from a thread at low or idle priority
// (Snapshot.Priority); or with backups (db.Backup: a snapshot and a copy of its files) back to
// back (backups=true). Bar: commit latency during a snapshot, or a backup, within 2× of without.
func BenchmarkCommitDuringSnapshot(b *testing.B) {
	dir := b.TempDir()
	db := buildBenchState(b, dir)
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		on        bool
		priority  inmem.SnapshotPriority
		dutyCycle float64 // 0: the default
		backup    bool    // back up instead of snapshotting
	}{
		{"snapshots=false", false, inmem.SnapshotNormalPriority, 0, false},
		{"snapshots=true", true, inmem.SnapshotNormalPriority, 0, false},
		{"snapshots=true-unpaced", true, inmem.SnapshotNormalPriority, 1, false},
		{"snapshots=true-low-priority", true, inmem.SnapshotLowPriority, 1, false},
		{"snapshots=true-idle-priority", true, inmem.SnapshotIdlePriority, 1, false},
		{"backups=true", true, inmem.SnapshotNormalPriority, 0, true},
	} {
		on := c.on
		b.Run(c.name, func(b *testing.B) {
			o := reopenOptions()
			o.Snapshot.RetentionCount = 1
			o.Snapshot.Priority = c.priority
			o.Snapshot.DutyCycle = c.dutyCycle
			db, err := inmem.Open(dir, o)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			runs := make([]inmem.RunID, 8)
			for i := range runs {
				runs[i] = beginBench(b, db)
			}
			stop, done := make(chan struct{}), make(chan int)
			go func() {
				n := 0
				for on {
					select {
					case <-stop:
						done <- n
						return
					default:
					}
					if c.backup {
						dst := filepath.Join(b.TempDir(), fmt.Sprint(n))
						if err := db.Backup(context.Background(), dst); err != nil {
							b.Error(err)
						}
						_ = os.RemoveAll(dst)
					} else if _, err := db.Snapshot(); err != nil {
						b.Error(err)
					}
					n++
				}
				<-stop
				done <- n
			}()
			putFromEachRun(b, db, runs)
			close(stop)
			b.ReportMetric(float64(<-done), "snapshots")
		})
	}
}
