package inmem_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"

	"github.com/inmemdb/inmem"
)

// The fixed cost of a run: what an ended run with one small key keeps on the heap beyond its
// data. Runs are many and mostly small (an agent's run writes a handful of keys), so this,
// not the cost per key, is what bounds how many finished runs a process can keep.
const (
	costRuns     = 100_000
	costKeyBytes = 16
	costValBytes = 100
)

// costRunIDs returns n distinct run ids (random, as NewRunID gives them).
func costRunIDs(n int) []inmem.RunID {
	ids := make([]inmem.RunID, n)
	for i := range ids {
		ids[i] = inmem.NewRunID()
	}
	return ids
}

// fillEndedRuns begins each run with info(i), puts keys keys of costKeyBytes with values of
// costValBytes, each in a transaction of its own, and ends it.
func fillEndedRuns(b *testing.B, db *inmem.DB, ids []inmem.RunID, keys int, info func(i int) inmem.RunInfo) {
	b.Helper()
	ctx := context.Background()
	value := make([]byte, costValBytes)
	for i, id := range ids {
		if err := db.BeginRun(ctx, id, info(i)); err != nil {
			b.Fatal(err)
		}
		for k := range keys {
			key := fmt.Sprintf("key/%08d/%03d", i, k) // costKeyBytes
			if err := db.KV().Put(ctx, id, key, value); err != nil {
				b.Fatal(err)
			}
		}
		if err := db.EndRun(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
}

var runcostProfile = flag.String("runcost.heapprofile", "", "BenchmarkRunFixedCost writes a heap profile of the runs it holds to this file")

// writeHeapProfile writes the heap profile as of the last GC to path ("": none).
func writeHeapProfile(b *testing.B, path string) {
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.WriteHeapProfile(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		b.Fatal(err)
	}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC() // the first may leave what finalizers freed
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkRunFixedCost: 100 K runs, each begun, given one KV key (16-byte key, 100-byte
// value) and ended, in an InMemory database; keys=4 gives each run four such keys, each put in
// a transaction of its own. It reports the heap the runs hold, per run, after two GCs,
// measured from the open, empty database (the ids are allocated before):
//
//	heap-B/run       everything the runs added to the heap
//	fixed-B/run      that minus the data's own size, key + value (116 bytes a key). The store
//	                 also keeps the logged payload (the 16-byte run id and a length byte around
//	                 key and value) and the run's journal keeps a copy of it for replay: those
//	                 copies count as fixed cost here, not as data.
//
// Profile where the bytes go (the heap while the runs are held; -memprofile would be taken
// after the database is closed) with
//
//	go test -c -o inmem.test . && ./inmem.test -test.run '^$' -test.bench 'RunFixedCost/keys=1' \
//	    -test.benchtime 1x -runcost.heapprofile heap.out
//	go tool pprof -sample_index=inuse_space -top inmem.test heap.out
func BenchmarkRunFixedCost(b *testing.B) {
	if *runcostProfile != "" {
		runtime.MemProfileRate = 512
	}
	ids := costRunIDs(costRuns)
	for _, keys := range []int{1, 4} {
		b.Run(fmt.Sprintf("keys=%d", keys), func(b *testing.B) {
			var total, fixed float64
			for b.Loop() {
				db, err := inmem.Open("", &inmem.Options{Durability: inmem.InMemory})
				if err != nil {
					b.Fatal(err)
				}
				before := heapInUse()
				fillEndedRuns(b, db, ids, keys, func(int) inmem.RunInfo { return inmem.RunInfo{} })
				after := heapInUse()
				writeHeapProfile(b, *runcostProfile)
				perRun := (float64(after) - float64(before)) / costRuns
				total += perRun
				fixed += perRun - float64(keys*(costKeyBytes+costValBytes))
				runtime.KeepAlive(ids)
				if err := db.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(total/float64(b.N), "heap-B/run")
			b.ReportMetric(fixed/float64(b.N), "fixed-B/run")
		})
	}
}

// listFixture is an InMemory database of 100 K ended runs (one key each), of agents
// "agent-0" … "agent-99", each tagged "t-<i mod 1000>", none with a parent.
func listFixture(b *testing.B) *inmem.DB {
	b.Helper()
	db, err := inmem.Open("", &inmem.Options{Durability: inmem.InMemory})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	fillEndedRuns(b, db, costRunIDs(costRuns), 1, func(i int) inmem.RunInfo {
		return inmem.RunInfo{Agent: fmt.Sprint("agent-", i%100), Tags: []string{fmt.Sprint("t-", i%1000)}}
	})
	return db
}

// BenchmarkListRunsFilterNone: ListRuns over 100 K runs with filters no run matches (bar:
// ≤ 2 ms). Its cost is what finding the matches costs, with nothing to return.
func BenchmarkListRunsFilterNone(b *testing.B) {
	db := listFixture(b)
	for _, c := range []struct {
		name string
		f    inmem.RunFilter
	}{
		{"agent", inmem.RunFilter{Agent: "nobody"}},
		{"tag", inmem.RunFilter{Tag: "nothing"}},
		{"parent", inmem.RunFilter{Parent: inmem.NewRunID()}},
		{"status", inmem.RunFilter{Status: inmem.RunOrphaned}},
		{"agent+status", inmem.RunFilter{Agent: "agent-1", Status: inmem.RunActive}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				got, err := db.ListRuns(c.f)
				if err != nil || len(got) != 0 {
					b.Fatal(len(got), err)
				}
			}
		})
	}
}

// BenchmarkListRunsAll: ListRuns of every one of 100 K runs, and of one agent's 1 000.
func BenchmarkListRunsAll(b *testing.B) {
	db := listFixture(b)
	for _, c := range []struct {
		name string
		f    inmem.RunFilter
		want int
	}{
		{"all", inmem.RunFilter{}, costRuns},
		{"agent", inmem.RunFilter{Agent: "agent-7"}, costRuns / 100},
		{"all-page-100", inmem.RunFilter{Limit: 100}, 100},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				got, err := db.ListRuns(c.f)
				if err != nil || len(got) != c.want {
					b.Fatal(len(got), err)
				}
			}
		})
	}
}
