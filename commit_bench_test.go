package inmem_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/commitlog"
)

// Durable commit throughput (its bars: BENCHMARKS.md): committers goroutines, each committing
// one-key transactions to its own run, share b.N commits. Reported: commits/s, p50 and p99 commit
// latency, and fsyncs per commit (the group-commit factor). BenchmarkRawWriteSync measures the
// baseline the 1-committer rate is held against: one write + one fdatasync per commit, on the same
// disk, of the same bytes.

var committerCounts = []int{1, 8, 64, 256}

func BenchmarkStrictCommit(b *testing.B)   { benchDurableCommits(b, inmem.Strict) }
func BenchmarkBufferedCommit(b *testing.B) { benchDurableCommits(b, inmem.Buffered) }

func benchDurableCommits(b *testing.B, d inmem.Durability) {
	for _, n := range committerCounts {
		b.Run(fmt.Sprintf("committers=%d", n), func(b *testing.B) {
			o := inmem.DefaultOptions()
			o.Durability = d
			// INMEM_BENCH_MINSYNC sets Options.MinSyncInterval, to measure the trade it offers.
			if v, err := time.ParseDuration(os.Getenv("INMEM_BENCH_MINSYNC")); err == nil {
				o.MinSyncInterval = v
			}
			db, err := inmem.Open(b.TempDir(), o)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			runs := make([]inmem.RunID, n)
			for i := range runs {
				runs[i] = beginBench(b, db)
			}
			putFromEachRun(b, db, runs)
		})
	}
}

// putFromEachRun has one committer per run put the same key again and again, b.N puts in all,
// and reports commits/s, the latencies and the fsyncs per commit.
func putFromEachRun(b *testing.B, db *inmem.DB, runs []inmem.RunID) {
	before := db.Stats()
	lat := runCommitters(b, len(runs), func(g, i int) error {
		return db.KV().Put(context.Background(), runs[g], "k", benchValue)
	})
	after := db.Stats()
	reportCommits(b, lat, after.Syncs-before.Syncs, after.Commits-before.Commits)
}

// runCommitters runs n goroutines that together call commit b.N times, and returns every
// call's latency. It reports the process's CPU time (user + system, every goroutine: the
// engine's actors, the garbage collector, the kernel's share of writes and syncs) per call: with
// many committers on few cores, throughput follows it (docs/experiments.md, "Where the durable
// commit rate goes").
func runCommitters(b *testing.B, n int, commit func(g, i int) error) []time.Duration {
	var next atomic.Int64
	lats := make([][]time.Duration, n)
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU()
	for g := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				start := time.Now()
				if err := commit(g, i); err != nil {
					b.Error(err)
					return
				}
				lats[g] = append(lats[g], time.Since(start))
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if cpu > 0 {
		b.ReportMetric(float64((processCPU()-cpu).Nanoseconds())/1e3/float64(b.N), "cpu-µs/op")
	}
	return slices.Concat(lats...)
}

func reportCommits(b *testing.B, lat []time.Duration, syncs, commits uint64) {
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	}
	if commits > 0 {
		b.ReportMetric(float64(syncs)/float64(commits), "fsyncs/commit")
	}
}

// BenchmarkRawWriteSync is the durable-commit floor: one write of a commit's bytes (a KV put of
// a 100-byte value and its commit marker, as the log encodes them) followed by one fdatasync —
// appending, as a log that does not preallocate does, and into a file preallocated with zeros,
// as inmem's log does.
func BenchmarkRawWriteSync(b *testing.B) {
	for _, prealloc := range []bool{false, true} {
		b.Run(fmt.Sprintf("prealloc=%v", prealloc), func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "raw.wal"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			if prealloc {
				if err := preallocate(f, 256<<20); err != nil {
					b.Fatal(err)
				}
			}
			rec := rawCommitBytes()
			lat := runCommitters(b, 1, func(int, int) error {
				if _, err := f.Write(rec); err != nil {
					return err
				}
				return fdatasync(f)
			})
			reportCommits(b, lat, uint64(b.N), uint64(b.N))
		})
	}
}

// preallocate writes size zero bytes, syncs, and rewinds.
func preallocate(f *os.File, size int) error {
	zeros := make([]byte, 1<<20)
	for n := 0; n < size; n += len(zeros) {
		if _, err := f.Write(zeros); err != nil {
			return err
		}
	}
	if err := f.Sync(); err != nil {
		return err
	}
	_, err := f.Seek(0, 0)
	return err
}

// rawCommitBytes encodes what one KV put commit writes to the log.
func rawCommitBytes() []byte {
	payload := make([]byte, 16+1+1+len(benchValue)) // run id, key length, key "k", value
	buf, _ := commitlog.AppendEntry(nil, commitlog.Entry{Type: 0x10, Version: 1, TxID: 1, Payload: payload})
	buf, _ = commitlog.AppendEntry(buf, commitlog.CommitMarker(1))
	return buf
}
