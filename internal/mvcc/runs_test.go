package mvcc

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func hashInt(r int, seed uint64) uint64 { return uint64(r) ^ seed }

func TestRunsDropKeepsOlderReadersAndForgetsLater(t *testing.T) {
	rs := NewRuns[int, string](hashInt)
	first := rs.Create(1, 3, func() *string { s := "first"; return &s })
	assert.Same(t, first, rs.Create(1, 4, func() *string { panic("a live run is not created again") }))
	assert.Nil(t, rs.At(1, 2), "before the first write the run has no state")
	assert.Same(t, first, rs.At(1, 3))

	rs.Drop(1, 6)
	assert.Same(t, first, rs.At(1, 5), "a reader older than the deletion keeps its state")
	assert.Nil(t, rs.At(1, 6))
	assert.Nil(t, rs.At(1, Latest))
	rs.Drop(1, 7) // a deleted run is left alone
	rs.Drop(2, 7) // so is an unknown one

	second := rs.Create(1, 9, func() *string { s := "second"; return &s })
	assert.NotSame(t, first, second, "a run begun again starts afresh")
	assert.Same(t, first, rs.At(1, 5))
	assert.Nil(t, rs.At(1, 8))
	assert.Same(t, second, rs.At(1, 9))

	rs.Trim(5) // a reader at 5 is still pinned
	assert.Same(t, first, rs.At(1, 5))
	rs.Trim(9)
	assert.Equal(t, 1, rs.Len())
	assert.Same(t, second, rs.At(1, Latest))
	assert.Equal(t, 0, rs.trim.Len(), "nothing is left to trim")

	rs.Drop(1, 10)
	rs.Trim(9)
	assert.Equal(t, 1, rs.Len(), "a reader at 9 still sees the run")
	rs.Trim(10)
	assert.Equal(t, 0, rs.Len(), "deleted for every reader: forgotten")
	assert.Nil(t, rs.At(1, 9), "an unpinned reader of a forgotten run finds nothing")
}

func TestRunsRangeAtSnapshot(t *testing.T) {
	rs := NewRuns[int, int](hashInt)
	for run := 1; run <= 4; run++ {
		rs.Create(run, uint64(run), func() *int { v := run; return &v })
	}
	rs.Drop(2, 5)
	rs.Create(2, 6, func() *int { v := 20; return &v })
	seen := func(at uint64) map[int]int {
		out := map[int]int{}
		rs.Range(at, func(run int, v *int) bool { out[run] = *v; return true })
		return out
	}
	assert.Equal(t, map[int]int{1: 1, 2: 2}, seen(2))
	assert.Equal(t, map[int]int{1: 1, 3: 3, 4: 4}, seen(5))
	assert.Equal(t, map[int]int{1: 1, 2: 20, 3: 3, 4: 4}, seen(6))
}

// TestRunsConcurrentReaders checks, under the race detector, that readers pinned at a version
// see one life of the run throughout while the actor deletes and recreates it.
func TestRunsConcurrentReaders(t *testing.T) {
	rs := NewRuns[int, uint64](hashInt)
	var clock Clock
	rs.Create(1, 1, func() *uint64 { v := uint64(1); return &v })
	clock.Publish(1)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				at := clock.Pin()
				first := rs.At(1, at)
				for range 10 {
					if got := rs.At(1, at); got != first {
						t.Errorf("reader at %d saw two lives", at)
					}
				}
				if first != nil && *first > at {
					t.Errorf("reader at %d saw a life born at %d", at, *first)
				}
				clock.Unpin(at)
			}
		})
	}
	for v := uint64(2); v < 2000; v++ {
		if v%2 == 0 {
			rs.Drop(1, v)
		} else {
			rs.Create(1, v, func() *uint64 { b := v; return &b })
		}
		clock.Publish(v)
		rs.Trim(clock.Oldest())
	}
	close(stop)
	wg.Wait()
	require.LessOrEqual(t, rs.Len(), 1)
}
