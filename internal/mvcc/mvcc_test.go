package mvcc

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestChainAt(t *testing.T) {
	var c Chain[string]
	assert.Nil(t, c.At(10), "empty chain: never existed")
	c.Push(2, "a", false)
	c.Push(5, "b", false)
	c.Push(7, "", true)
	assert.Nil(t, c.At(1), "before the first version")
	assert.Equal(t, "a", c.At(2).Value)
	assert.Equal(t, "a", c.At(4).Value)
	assert.Equal(t, "b", c.At(6).Value)
	assert.True(t, c.At(7).Deleted, "a tombstone is returned as such")
	assert.EqualValues(t, 7, c.Latest().Commit)
}

func TestChainTrim(t *testing.T) {
	var c Chain[int]
	for v := uint64(1); v <= 5; v++ {
		c.Push(v, int(v), false)
	}
	assert.Equal(t, 3, c.Trim(3), "keeps 5, 4 and the newest version ≤ 3")
	assert.Equal(t, 3, c.At(3).Value)
	assert.Equal(t, 4, c.At(4).Value)
	// An unpinned reader at an older snapshot gets the cut version: a later, still published,
	// snapshot — never nothing.
	assert.Equal(t, 3, c.At(1).Value)
	assert.Equal(t, 1, c.Trim(9))
	assert.Equal(t, 5, c.At(1).Value)
}

// One writer pushes and trims while pinned readers read: a reader must always get exactly the
// value of the newest version at or below its snapshot.
func TestChainConcurrentReadersSeeTheirSnapshot(t *testing.T) {
	var c Chain[uint64]
	var clock Clock
	c.Push(1, 1, false)
	clock.Publish(1)
	const last = 20000
	var wg sync.WaitGroup
	var bad atomic.Int64
	stop := make(chan struct{})
	for range 4 {
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
				if v := c.At(s); v == nil || v.Value != s {
					bad.Add(1)
				}
				clock.Unpin(s)
			}
		}()
	}
	for v := uint64(2); v <= last; v++ {
		c.Push(v, v, false) // value = version, so a reader can check what it got
		clock.Publish(v)
		c.Trim(clock.Oldest())
	}
	close(stop)
	wg.Wait()
	assert.Zero(t, bad.Load())
}

func TestClockOldest(t *testing.T) {
	var c Clock
	c.Publish(3)
	assert.EqualValues(t, 3, c.Now())
	assert.EqualValues(t, 3, c.Oldest(), "no reader: oldest is the published version")
	a := c.Pin()
	b := c.Pin()
	require.EqualValues(t, 3, a)
	c.Publish(8)
	d := c.Pin()
	require.EqualValues(t, 8, d)
	assert.EqualValues(t, 3, c.Oldest())
	c.Unpin(a)
	assert.EqualValues(t, 3, c.Oldest(), "still pinned once")
	c.Unpin(b)
	assert.EqualValues(t, 8, c.Oldest())
	c.Publish(9)
	assert.EqualValues(t, 8, c.Oldest())
	c.Unpin(d)
	assert.EqualValues(t, 9, c.Oldest())
}

func TestSettleAndTrimList(t *testing.T) {
	type rec struct {
		Chain[int]
		listed bool
	}
	live, dead, young := &rec{}, &rec{}, &rec{}
	live.Push(1, 1, false)
	live.Push(2, 2, false)
	dead.Push(1, 1, false)
	dead.Push(2, 0, true)
	young.Push(5, 0, true)
	var l TrimList[*rec]
	for _, r := range []*rec{live, dead, young, live} {
		l.Add(r, &r.listed)
	}
	assert.Equal(t, 3, l.Len(), "a record is listed once")

	var forgotten []*rec
	l.Sweep(3, func(r *rec) bool {
		pending, isDead := r.Settle(3)
		if isDead {
			forgotten = append(forgotten, r)
		}
		r.listed = pending
		return pending
	})
	assert.Equal(t, []*rec{dead}, forgotten, "only a tombstone every reader is past is dead")
	assert.Equal(t, 1, l.Len(), "the tombstone newer than the horizon stays listed")
	assert.True(t, young.listed)
	assert.False(t, live.listed)
	assert.Equal(t, 2, live.At(3).Value, "trimmed to its newest version")
}

func TestTableForgetsOrKeepsDeadNames(t *testing.T) {
	for _, keep := range []bool{false, true} {
		tb := NewTable[int, string](keep, func(r int, seed uint64) uint64 { return uint64(r) ^ seed })
		tb.Push(1, "a", 1, "x", false)
		tb.Push(1, "a", 2, "", true)
		tb.Push(1, "b", 3, "y", false)
		assert.Equal(t, 1, tb.Listed(), "a name with one live version needs no trimming")
		tb.Trim(1) // a reader at 1 still sees "a"
		assert.NotNil(t, tb.Chain(1, "a", Latest))
		tb.Trim(3)
		if keep {
			assert.True(t, tb.Chain(1, "a", Latest).Latest().Deleted, "the tombstone is kept")
		} else {
			assert.Nil(t, tb.Chain(1, "a", Latest), "the dead name is forgotten")
		}
		var names []string
		tb.Range(1, Latest, func(n string, _ *Chain[string]) bool { names = append(names, n); return true })
		assert.Len(t, names, map[bool]int{false: 1, true: 2}[keep])
		assert.Nil(t, tb.Chain(2, "a", Latest), "another run has nothing")
	}
}

func TestSweepAtTheSameHorizonSettlesOnlyNewRecords(t *testing.T) {
	type rec struct{ listed bool }
	a, b, c := &rec{}, &rec{}, &rec{}
	var l TrimList[*rec]
	l.Add(a, &a.listed)
	l.Add(b, &b.listed)
	var settled []*rec
	keep := func(r *rec) bool { settled = append(settled, r); return r != b }
	sweep := func(oldest uint64) []*rec {
		settled = nil
		l.Sweep(oldest, keep)
		return settled
	}
	assert.Equal(t, []*rec{a, b}, sweep(5), "the first sweep settles everything")
	assert.Empty(t, sweep(5), "same horizon, nothing listed since: nothing to settle")
	b.listed = false // as a settle that drops it would
	l.Add(c, &c.listed)
	l.Add(b, &b.listed)
	assert.Equal(t, []*rec{c, b}, sweep(5), "same horizon: only what was listed since")
	assert.Equal(t, 2, l.Len())
	assert.Equal(t, []*rec{a, c}, sweep(6), "a new horizon settles every listed record again")
}

// chainLen counts the versions c still links, newest to oldest.
func chainLen[V any](c *Chain[V]) int {
	n := 0
	for v := c.Latest(); v != nil; v = v.older.Load() {
		n++
	}
	return n
}

func TestTableTrimWhilePinned(t *testing.T) {
	tb := NewTable[int, int](false, func(r int, seed uint64) uint64 { return uint64(r) ^ seed })
	const pinned = 2
	tb.Push(1, "k", 1, 1, false)
	tb.Push(1, "gone", 1, 1, false)
	for v := uint64(2); v <= 50; v++ {
		tb.Push(1, "k", v, int(v), false)
		if v == 30 {
			tb.Push(1, "gone", v, 0, true)
		}
		tb.Trim(pinned)
	}
	k := tb.Chain(1, "k", Latest)
	assert.Equal(t, 49, chainLen(k), "versions 2 to 50: a reader at 2 still needs 2")
	assert.Equal(t, 2, k.At(pinned).Value)
	assert.Equal(t, 1, tb.Chain(1, "gone", Latest).At(pinned).Value)

	tb.Trim(50) // the reader is gone
	assert.Equal(t, 1, chainLen(k))
	assert.Equal(t, 50, k.At(50).Value)
	assert.Nil(t, tb.Chain(1, "gone", Latest), "the tombstone pushed while pinned is forgotten")
	assert.Zero(t, tb.Listed())
}
