package mvcc_test

import (
	"runtime"
	"sync"
	"testing"

	"github.com/inmemdb/inmem/internal/mvcc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// commitOf returns the commit version of v, 0 for nil, so that tables can say "nothing".
func commitOf[V any](v *mvcc.Version[V]) uint64 {
	if v == nil {
		return 0
	}
	return v.Commit
}

func TestChainExtAtNewestAtOrBelowSnapshot(t *testing.T) {
	var c mvcc.Chain[string]
	assert.Nil(t, c.Latest(), "empty chain has no latest")
	assert.Nil(t, c.At(0))
	assert.Nil(t, c.At(^uint64(0)))

	c.Push(3, "three", false)
	c.Push(5, "five", false)
	c.Push(9, "nine", false)
	want := map[uint64]uint64{0: 0, 1: 0, 2: 0, 3: 3, 4: 3, 5: 5, 6: 5, 8: 5, 9: 9, 10: 9, ^uint64(0): 9}
	for snap, commit := range want {
		assert.Equal(t, commit, commitOf(c.At(snap)), "At(%d)", snap)
	}
	assert.Equal(t, "five", c.At(7).Value)
	assert.False(t, c.At(7).Deleted)
}

func TestChainExtTombstones(t *testing.T) {
	var c mvcc.Chain[string]
	c.Push(1, "a", false)
	c.Push(2, "", true)
	c.Push(4, "b", false)

	v := c.At(2)
	require.NotNil(t, v, "a tombstone is a version, not absence")
	assert.True(t, v.Deleted)
	assert.EqualValues(t, 2, v.Commit)
	v = c.At(3)
	require.NotNil(t, v)
	assert.True(t, v.Deleted, "the delete holds until the next write")
	assert.Equal(t, "a", c.At(1).Value)
	assert.False(t, c.At(1).Deleted)
	assert.Equal(t, "b", c.At(4).Value)
	assert.False(t, c.At(4).Deleted)
}

func TestChainExtLatestIncludesUnpublished(t *testing.T) {
	var c mvcc.Chain[int]
	var clock mvcc.Clock
	c.Push(1, 10, false)
	clock.Publish(1)
	c.Push(2, 20, false) // applied, not published
	c.Push(3, 0, true)   // applied, not published

	s := clock.Now()
	assert.Equal(t, 10, c.At(s).Value, "a reader at the published version sees version 1")
	l := c.Latest()
	require.NotNil(t, l)
	assert.EqualValues(t, 3, l.Commit, "validation sees the unpublished tombstone")
	assert.True(t, l.Deleted)
}

func TestChainExtTrim(t *testing.T) {
	var c mvcc.Chain[int]
	assert.Equal(t, 0, c.Trim(5), "empty chain")
	for _, v := range []uint64{2, 4, 6, 8} {
		c.Push(v, int(v)*10, false)
	}
	assert.Equal(t, 4, c.Trim(1), "nothing ≤ oldest: everything stays")
	assert.Nil(t, c.At(1), "no version was cut, so before the first version is still nothing")

	assert.Equal(t, 3, c.Trim(5), "keeps 8, 6 and 4 (the newest ≤ 5)")
	assert.Equal(t, 3, c.Trim(5), "trim is idempotent")
	assert.Equal(t, 40, c.At(4).Value)
	assert.Equal(t, 40, c.At(5).Value)
	assert.Equal(t, 60, c.At(7).Value)
	assert.Equal(t, 80, c.At(8).Value)
	// An unpinned reader below the kept version gets the cut version, not nil.
	for _, s := range []uint64{0, 1, 2, 3} {
		v := c.At(s)
		require.NotNil(t, v, "At(%d) after trim", s)
		assert.EqualValues(t, 4, v.Commit, "At(%d) after trim", s)
	}

	assert.Equal(t, 2, c.Trim(6), "exactly on a version keeps it")
	assert.EqualValues(t, 6, commitOf(c.At(5)))

	// Pushing onto a trimmed chain keeps the cut marker where it is.
	c.Push(10, 100, false)
	assert.EqualValues(t, 6, commitOf(c.At(1)))
	assert.EqualValues(t, 8, commitOf(c.At(9)))

	assert.Equal(t, 1, c.Trim(^uint64(0)))
	assert.EqualValues(t, 10, commitOf(c.At(0)), "only the newest left; it was cut")
	assert.EqualValues(t, 10, commitOf(c.Latest()))
}

func TestChainExtTrimSingleVersionIsNotCut(t *testing.T) {
	var c mvcc.Chain[int]
	c.Push(5, 1, false)
	assert.Equal(t, 1, c.Trim(9))
	assert.Nil(t, c.At(4), "a key created at 5 did not exist at 4: nothing was cut")
	assert.Equal(t, 1, c.At(5).Value)
}

func TestChainExtTrimKeepsTombstone(t *testing.T) {
	var c mvcc.Chain[int]
	c.Push(1, 1, false)
	c.Push(2, 0, true)
	c.Push(3, 3, false)
	assert.Equal(t, 2, c.Trim(2))
	v := c.At(1)
	require.NotNil(t, v)
	assert.True(t, v.Deleted, "the cut tombstone answers readers below it")
	assert.EqualValues(t, 2, v.Commit)
}

// chainWritten says whether version v wrote the key in the concurrent test, and how.
func chainWritten(v uint64) (written, deleted bool) {
	return v%3 != 2, v%5 == 0
}

// chainExpected is the newest write ≤ s in the concurrent test (0: none).
func chainExpected(s uint64) uint64 {
	for v := s; v > 0; v-- {
		if w, _ := chainWritten(v); w {
			return v
		}
	}
	return 0
}

// One writer pushes versions 1..N (value = version; some versions skip the key, some delete it),
// publishes them and trims at the clock's oldest pin; pinned readers must always see exactly the
// newest version ≤ their snapshot, and unpinned ones a version that was the newest at some
// published snapshot at or after theirs.
func TestChainExtConcurrentTrimAndPinnedReaders(t *testing.T) {
	const last = 30000
	var c mvcc.Chain[uint64]
	var clock mvcc.Clock
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	report := func(msg string) {
		select {
		case errs <- msg:
		default:
		}
	}
	check := func(v *mvcc.Version[uint64], s uint64) bool {
		want := chainExpected(s)
		if want == 0 {
			return v == nil
		}
		_, del := chainWritten(want)
		return v != nil && v.Commit == want && v.Value == want && v.Deleted == del
	}
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				s := clock.Pin()
				for range 3 { // a pinned snapshot stays stable across reads
					if !check(c.At(s), s) {
						report("pinned reader saw the wrong version")
					}
					runtime.Gosched()
				}
				clock.Unpin(s)
				if r%2 == 0 { // an unpinned single read
					s := clock.Now()
					v := c.At(s)
					now := clock.Now()
					ok := false
					for s2 := s; s2 <= now && !ok; s2++ {
						ok = check(v, s2)
					}
					if !ok {
						report("unpinned reader saw a version no published snapshot ≥ its own shows")
					}
				}
			}
		}()
	}
	for v := uint64(1); v <= last; v++ {
		if w, del := chainWritten(v); w {
			c.Push(v, v, del)
		}
		clock.Publish(v)
		c.Trim(clock.Oldest())
	}
	close(stop)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	assert.LessOrEqual(t, c.Trim(clock.Oldest()), 1, "no reader left: one version remains")
}
