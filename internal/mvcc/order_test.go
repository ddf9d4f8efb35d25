package mvcc

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cespare/xxhash/v2"
)

func intHash(r int, seed uint64) uint64 { return uint64(r) ^ seed }

// liveFrom lists the names ≥ from that Ordered yields live at snapshot, at most limit.
func liveFrom(tb *Table[int, int], run int, from string, snapshot uint64, limit int) []string {
	var out []string
	tb.Ordered(run, Latest, from, func(name string, c *Chain[int]) bool {
		if v := c.At(snapshot); v != nil && !v.Deleted {
			out = append(out, name)
		}
		return len(out) < limit
	})
	return out
}

// scanning says whether a step of TestOrderedMatchesModel scans: now and then at first, not at
// all for a while (names born meanwhile pile up past mergeAfter, so the next scan rebuilds the
// index with forgotten names dropped), then often.
func scanning(step, op int) bool {
	switch {
	case step < 2000:
		return op >= 82 && op < 85
	case step < 6000:
		return false
	default:
		return op >= 82
	}
}

// Ordered, against a plain model, through creations, deletions, trims that forget names,
// re-creations, scans from random names and the index being dropped when scans stop.
func TestOrderedMatchesModel(t *testing.T) {
	for seed := range uint64(8) {
		rng := rand.New(rand.NewPCG(seed, 1))
		tb := NewTable[int, int](false, intHash)
		live := map[string]bool{}
		version := uint64(0)
		names := func() string { return fmt.Sprintf("n%04d", rng.IntN(3000)) }
		for step := range 8000 {
			switch op := rng.IntN(100); {
			case op < 60:
				version++
				n := names()
				tb.Push(1, n, version, step, false)
				live[n] = true
			case op < 80:
				version++
				n := names()
				tb.Push(1, n, version, 0, true)
				delete(live, n)
			case op < 82:
				tb.Trim(version) // forgets the names whose tombstone every reader is past
			case scanning(step, op):
				from := names()[:rng.IntN(5)+1]
				limit := 1 + rng.IntN(50)
				var want []string
				for n := range live {
					if n >= from {
						want = append(want, n)
					}
				}
				sort.Strings(want)
				want = want[:min(limit, len(want))]
				if got := liveFrom(tb, 1, from, version, limit); !slices.Equal(got, want) {
					t.Fatalf("seed %d step %d: from %q limit %d:\n got %v\nwant %v", seed, step, from, limit, got, want)
				}
			}
		}
	}
}

// Readers scan while the actor creates names: each scan is sorted, has no duplicate, and holds
// every name created at or before the reader's snapshot (names are never deleted here).
func TestOrderedConcurrentWithTheActor(t *testing.T) {
	tb := NewTable[int, int](false, intHash)
	var published atomic.Uint64
	const total = 4000
	perm := rand.New(rand.NewPCG(3, 3)).Perm(total)
	nameOf := func(i int) string { return fmt.Sprintf("k%06d", perm[i]) }
	tb.Push(1, nameOf(0), 1, 0, false) // the run exists before the readers start
	published.Store(1)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 4)
	for r := range 4 {
		wg.Go(func() {
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				s := published.Load()
				got := liveFrom(tb, 1, "", s, total+1)
				if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
					errs <- fmt.Errorf("reader %d: scan %d not sorted or has duplicates", r, k)
					return
				}
				have := map[string]bool{}
				for _, n := range got {
					have[n] = true
				}
				for v := uint64(1); v <= s; v++ {
					if !have[nameOf(int(v-1))] {
						errs <- fmt.Errorf("reader %d at %d: %s (version %d) missing", r, s, nameOf(int(v-1)), v)
						return
					}
				}
			}
		})
	}
	for v := uint64(2); v <= total; v++ {
		tb.Push(1, nameOf(int(v-1)), v, 0, false)
		published.Store(v)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := liveFrom(tb, 1, "", total, total+1); len(got) != total {
		t.Fatalf("%d names at the end, want %d", len(got), total)
	}
}

// A run never scanned keeps no index; a run whose scans stopped drops it once names pile up.
func TestOrderedIndexCostsOnlyScannedRuns(t *testing.T) {
	tb := NewTable[int, int](false, intHash)
	for i := range 100 {
		tb.Push(1, fmt.Sprint(i), uint64(i+1), 0, false)
	}
	ns := tb.runs.At(1, Latest)
	if ns.order.Load() != nil {
		t.Fatal("an index for a run nobody scanned")
	}
	liveFrom(tb, 1, "", 100, 1)
	o := ns.order.Load()
	if o == nil || !o.enabled.Load() {
		t.Fatal("no index after a scan")
	}
	v := uint64(100)
	for i := range maxBorn(100) + 1 {
		v++
		tb.Push(1, fmt.Sprint("new", i), v, 0, false)
	}
	if o.enabled.Load() || o.born != nil || o.index != nil {
		t.Fatal("the index is kept although scans stopped")
	}
	if got := liveFrom(tb, 1, "", v, 1<<20); len(got) != 100+maxBorn(100)+1 {
		t.Fatalf("rebuilt index: %d names", len(got))
	}
}

// A rebuild keeps the names created while it merged: they stay born, for the next walk.
func TestOrderRebuildKeepsNamesBornMeanwhile(t *testing.T) {
	var o order
	exists := func(string) bool { return true }
	o.walk("", exists, func() []string { return []string{"a"} }, func(string) bool { return true })
	for i := range mergeAfter + 1 {
		o.created(fmt.Sprintf("b%04d", i))
	}
	index, born := o.snapshot(nil)
	o.created("c") // while the scan merges
	o.rebuild(index, born, exists)
	var got []string
	o.walk("c", exists, nil, func(n string) bool { got = append(got, n); return true })
	if !slices.Equal(got, []string{"c"}) {
		t.Fatalf("after the rebuild, from c: %v", got)
	}
}

// names splits its buckets as it grows; every name stays found, from the new directory and
// from a reader's old one, and ranging sees each name once.
func TestNamesSplitKeepsEveryName(t *testing.T) {
	ns := newNames[int]()
	old := ns.dir.Load()
	const n = 5*splitAt + 123
	recs := make([]*record[int], n)
	for i := range n {
		recs[i] = &record[int]{name: fmt.Sprintf("name-%07d", i)}
		ns.store(recs[i].name, recs[i])
		if i == splitAt/2 {
			old = ns.dir.Load()
		}
	}
	if d := ns.dir.Load(); d.depth < 2 {
		t.Fatalf("depth %d after %d names: no split", d.depth, n)
	}
	for i, r := range recs {
		if got, ok := ns.load(r.name); !ok || got != r {
			t.Fatalf("name %d lost after the splits", i)
		}
		if i <= splitAt/2 {
			if got, ok := old.bucket(xxhash.Sum64String(r.name)).m.Load(r.name); !ok || got != r {
				t.Fatalf("name %d lost for a reader holding the old directory", i)
			}
		}
	}
	seen := map[string]bool{}
	ns.rangeAll(func(name string, _ *record[int]) bool {
		if seen[name] {
			t.Fatalf("%s ranged twice", name)
		}
		seen[name] = true
		return true
	})
	if len(seen) != n || ns.size() != n {
		t.Fatalf("ranged %d, size %d, want %d", len(seen), ns.size(), n)
	}
	for _, r := range recs[:1000] {
		ns.delete(r.name)
	}
	if ns.size() != n-1000 {
		t.Fatalf("size %d after deletes", ns.size())
	}
	ns.rangeBuckets(func(b *bucket[int]) {
		if b.n > splitAt || b.n != b.m.Size() {
			t.Fatalf("a bucket of %d names counts %d (split at %d)", b.m.Size(), b.n, splitAt)
		}
	})
}
