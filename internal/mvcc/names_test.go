package mvcc

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"
)

// A run of at most fewNames names keeps them in its list, with no hash map; the name after
// that moves them all to a directory, where every one is still found.
func TestFewNamesNeedNoMap(t *testing.T) {
	tb := NewTable[int, int](false, intHash)
	assert := func(ok bool, format string, args ...any) {
		t.Helper()
		if !ok {
			t.Fatalf(format, args...)
		}
	}
	assert(tb.Chain(1, "a", Latest) == nil, "a run never written has nothing")
	for i := range fewNames {
		tb.Push(1, fmt.Sprint("n", i), uint64(i+1), i, false)
	}
	ns := tb.runs.At(1, Latest)
	assert(ns.dir.Load() == nil, "a directory for %d names", fewNames)
	assert(ns.size() == fewNames, "size %d", ns.size())
	tb.Push(1, "n0", fewNames+1, 100, false) // an overwrite creates nothing
	assert(ns.dir.Load() == nil, "an overwrite made a directory")
	tb.Push(1, "last", fewNames+2, 0, false)
	assert(ns.dir.Load() != nil && ns.few.Load() == nil, "no directory after %d names", fewNames+1)
	for i := range fewNames {
		c := tb.Chain(1, fmt.Sprint("n", i), Latest)
		assert(c != nil, "n%d lost in the move", i)
	}
	assert(tb.Chain(1, "n0", Latest).At(fewNames+1).Value == 100, "n0 lost its versions")
	assert(tb.Chain(1, "last", Latest) != nil && ns.size() == fewNames+1, "size %d", ns.size())
}

// Names created, overwritten, deleted and forgotten in runs that hover around fewNames names:
// lookups, ranging and scans agree with a model after every step, in the list and in the
// directory alike.
func TestFewNamesMatchModel(t *testing.T) {
	for seed := range uint64(4) {
		rng := rand.New(rand.NewPCG(seed, 7))
		tb := NewTable[int, int](false, intHash)
		live := map[int]map[string]bool{}
		most := map[int]int{} // the most names a run held at once (dead ones included)
		held := map[int]map[string]bool{}
		version := uint64(0)
		for step := range 1500 {
			run := rng.IntN(3)
			if live[run] == nil {
				live[run], held[run] = map[string]bool{}, map[string]bool{}
			}
			name := fmt.Sprint("k", rng.IntN(fewNames+3))
			version++
			switch op := rng.IntN(10); {
			case op < 6:
				tb.Push(run, name, version, int(version), false)
				live[run][name] = true
				held[run][name] = true
			case op < 9:
				tb.Push(run, name, version, 0, true)
				delete(live[run], name)
				held[run][name] = true
			default:
				tb.Trim(version) // no reader: forgets every dead name
				for r := range held {
					for n := range held[r] {
						if !live[r][n] {
							delete(held[r], n)
						}
					}
				}
			}
			most[run] = max(most[run], len(held[run]))
			for r, names := range live {
				var want []string
				for n := range names {
					want = append(want, n)
				}
				slices.Sort(want)
				got := liveFrom(tb, r, "", version, 1<<20)
				if !slices.Equal(got, want) {
					t.Fatalf("seed %d step %d run %d: scan %v, want %v", seed, step, r, got, want)
				}
				var ranged []string
				for _, n := range Live(tb, r, version, func(n string, _ int) string { return n }) {
					ranged = append(ranged, n)
				}
				slices.Sort(ranged)
				if !slices.Equal(ranged, want) {
					t.Fatalf("seed %d step %d run %d: Live %v, want %v", seed, step, r, ranged, want)
				}
				for _, n := range want {
					if v := tb.Chain(r, n, Latest).At(version); v == nil || v.Deleted {
						t.Fatalf("seed %d step %d run %d: %s not live", seed, step, r, n)
					}
				}
				ns := tb.runs.At(r, Latest)
				if ns == nil {
					continue // not written yet
				}
				if inDir := ns.dir.Load() != nil; inDir != (most[r] > fewNames) {
					t.Fatalf("seed %d step %d run %d: directory %v, most names held %d", seed, step, r, inDir, most[r])
				}
			}
		}
	}
}

// Readers look names up while the actor creates, deletes and forgets them, in runs that stay
// in the list and runs that move to the directory: a pinned reader finds exactly the names
// live at its snapshot. Run with -race.
func TestFewNamesConcurrentReaders(t *testing.T) {
	type op struct {
		run     int
		name    string
		deleted bool
	}
	// Each run creates its names, then deletes every other one: even runs stay within
	// fewNames, odd ones outgrow it. ops[v-1] is version v's.
	const runs = 200
	var ops []op
	size := func(run int) int { return []int{fewNames - 1, 2*fewNames + 2}[run%2] }
	for run := range runs {
		for k := range size(run) {
			ops = append(ops, op{run: run, name: fmt.Sprint("n", k)})
		}
		for k := 0; k < size(run); k += 2 {
			ops = append(ops, op{run: run, name: fmt.Sprint("n", k), deleted: true})
		}
	}
	type key struct {
		run  int
		name string
	}
	created, deleted := map[key]uint64{}, map[key]uint64{}
	for i, o := range ops {
		if o.deleted {
			deleted[key{o.run, o.name}] = uint64(i + 1)
		} else {
			created[key{o.run, o.name}] = uint64(i + 1)
		}
	}
	liveAt := func(run int, name string, s uint64) bool {
		c, d := created[key{run, name}], deleted[key{run, name}]
		return c <= s && (d == 0 || d > s)
	}
	tb := NewTable[int, int](false, intHash)
	var clock Clock
	stop := make(chan struct{})
	errs := make(chan error, 4)
	var wg sync.WaitGroup
	for r := range 3 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 2))
			for {
				select {
				case <-stop:
					return
				default:
				}
				s := clock.Pin()
				run := rng.IntN(runs)
				for k := range size(run) {
					name := fmt.Sprint("n", k)
					got := false
					if c := tb.Chain(run, name, Latest); c != nil {
						v := c.At(s)
						got = v != nil && !v.Deleted
					}
					if want := liveAt(run, name, s); got != want {
						select {
						case errs <- fmt.Errorf("run %d %s at %d: live %v, want %v", run, name, s, got, want):
						default:
						}
					}
				}
				clock.Unpin(s)
			}
		})
	}
	for i, o := range ops {
		v := uint64(i + 1)
		tb.Push(o.run, o.name, v, int(v), o.deleted)
		clock.Publish(v)
		tb.Trim(clock.Oldest())
		runtime.Gosched() // let the readers read every few versions
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for run := range runs {
		ns := tb.runs.At(run, Latest)
		if inDir := ns.dir.Load() != nil; inDir != (size(run) > fewNames) {
			t.Fatalf("run %d of %d names: directory %v", run, size(run), inDir)
		}
	}
}
