package mvcc

import (
	"math"

	"github.com/puzpuzpuz/xsync/v3"
)

// Latest is the snapshot that sees every version, published or not: what the actor and
// validation read at.
const Latest uint64 = math.MaxUint64

// Runs maps each run to a primitive's state of it (a *T: a run's names, its event log, its
// record), multi-versioned the way a key is: a run's state is a Chain of *T whose versions are
// the run's lives. The first write to a run pushes its state; deleting the run pushes a
// tombstone; a write after that (the id begun again) pushes a fresh state. So a run is deleted
// in O(1), whatever it holds, and a reader at a snapshot older than the deletion — a
// transaction begun before it, a snapshot being written — still finds the state it saw, until
// no reader can: Trim then forgets the run, and its state goes to the garbage collector.
//
// Readers look runs up without locks; only the shard's actor calls Create, Drop and Trim.
type Runs[R comparable, T any] struct {
	m    *xsync.MapOf[R, *runLives[T]]
	trim TrimList[listedRun[R, T]]
}

// runLives is one run's lives, newest first, with the actor's bookkeeping for trimming. It
// does not hold the run's id: every run has one, and few are ever in the trim list, which
// holds the id beside it (16 bytes a run fewer, every run, every primitive it uses).
type runLives[T any] struct {
	Chain[*T]
	listed bool // in the trim list; actor-owned
}

// listedRun is an entry of the trim list.
type listedRun[R comparable, T any] struct {
	run   R
	lives *runLives[T]
}

// NewRuns returns an empty map; hash is the seeded hash of a run id.
func NewRuns[R comparable, T any](hash func(run R, seed uint64) uint64) Runs[R, T] {
	return Runs[R, T]{m: xsync.NewMapOfWithHasher[R, *runLives[T]](hash)}
}

// At returns run's state as a reader at snapshot sees it, nil if the run had none then (never
// written to, or deleted). Pass Latest for the newest state.
func (rs *Runs[R, T]) At(run R, snapshot uint64) *T {
	l, ok := rs.m.Load(run)
	if !ok {
		return nil
	}
	v := l.At(snapshot)
	if v == nil || v.Deleted {
		return nil
	}
	return v.Value
}

// Create returns run's newest state, pushing a fresh one (from fresh) at version commit if the
// run has none: it was never written to, or was deleted since. Actor only.
func (rs *Runs[R, T]) Create(run R, commit uint64, fresh func() *T) *T {
	l, _ := rs.m.LoadOrCompute(run, func() *runLives[T] { return &runLives[T]{} })
	if v := l.Latest(); v != nil && !v.Deleted {
		return v.Value
	}
	t := fresh()
	l.Push(commit, t, false)
	if l.older() { // a deleted life under it: Trim drops the tombstone
		rs.trim.Add(listedRun[R, T]{run, l}, &l.listed)
	}
	return t
}

// Drop deletes run's state at version commit: readers at commit or later find none; older ones
// keep theirs until Trim. A run without state is left alone. Actor only.
func (rs *Runs[R, T]) Drop(run R, commit uint64) {
	l, ok := rs.m.Load(run)
	if !ok {
		return
	}
	if v := l.Latest(); v == nil || v.Deleted {
		return
	}
	l.Push(commit, nil, true)
	rs.trim.Add(listedRun[R, T]{run, l}, &l.listed)
}

// Trim drops the lives of runs that no reader at a snapshot ≥ oldest can see, and forgets runs
// that are deleted for every such reader. Actor only.
func (rs *Runs[R, T]) Trim(oldest uint64) {
	if rs.trim.Len() == 0 { // the common case: no run deleted or begun again lately
		return
	}
	rs.trim.Sweep(oldest, func(e listedRun[R, T]) bool {
		pending, dead := e.lives.Settle(oldest)
		if dead {
			rs.m.Delete(e.run)
		}
		e.lives.listed = pending
		return pending
	})
}

// Range calls fn with every run that has state at snapshot, and that state, in no particular
// order, until fn returns false.
func (rs *Runs[R, T]) Range(snapshot uint64, fn func(run R, t *T) bool) {
	rs.m.Range(func(run R, l *runLives[T]) bool {
		if v := l.At(snapshot); v != nil && !v.Deleted {
			return fn(run, v.Value)
		}
		return true
	})
}

// Len returns the number of runs the map holds, deleted ones Trim has not forgotten included.
func (rs *Runs[R, T]) Len() int { return rs.m.Size() }

// older reports whether the chain holds more than its newest version.
func (c *Chain[V]) older() bool {
	h := c.head.Load()
	return h != nil && h.older.Load() != nil
}
