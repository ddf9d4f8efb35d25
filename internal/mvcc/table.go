package mvcc

import (
	"iter"
)

// Table is one shard's state of a primitive that keeps, per run, named values with version
// chains — KV keys, JSON documents, state cells. Readers look names up without locks; only the
// shard's actor pushes versions and trims. R is the run id type.
type Table[R comparable, V any] struct {
	runs Runs[R, names[V]]
	trim TrimList[*record[V]]
	// keepDead keeps a name whose only version is a tombstone every reader is past (state
	// cells: the tombstone remembers the cell's version counter); otherwise it is forgotten.
	keepDead bool
}

// record is one name's chain plus the actor's bookkeeping for trimming.
type record[V any] struct {
	Chain[V]
	name   string
	owner  *names[V]
	listed bool // in the trim list; actor-owned
}

// NewTable returns an empty table; keepDead says whether dead names are kept (see Table), hash
// is the seeded hash of a run id for the table's map of runs.
func NewTable[R comparable, V any](keepDead bool, hash func(run R, seed uint64) uint64) *Table[R, V] {
	return &Table[R, V]{runs: NewRuns[R, names[V]](hash), keepDead: keepDead}
}

// Chain returns the chain of run's name as a reader at snapshot finds it (Latest for the
// newest), or nil if the name was never written (or forgotten), or the run deleted.
func (t *Table[R, V]) Chain(run R, name string, snapshot uint64) *Chain[V] {
	ns := t.runs.At(run, snapshot)
	if ns == nil {
		return nil
	}
	if r, ok := ns.load(name); ok {
		return &r.Chain
	}
	return nil
}

// Range calls fn for every name of run a reader at snapshot finds, in no particular order,
// until fn returns false.
func (t *Table[R, V]) Range(run R, snapshot uint64, fn func(name string, c *Chain[V]) bool) {
	if ns := t.runs.At(run, snapshot); ns != nil {
		ns.rangeAll(func(n string, r *record[V]) bool { return fn(n, &r.Chain) })
	}
}

// Ordered calls fn with run's names ≥ from, in order, with their chains, until fn returns
// false. A chain may hold no version a given reader sees (a name created after its snapshot,
// or deleted): the caller reads it at its snapshot. The first call for a run sorts its names
// (O(n log n)); later ones cost O(log n) plus the names walked (see order).
func (t *Table[R, V]) Ordered(run R, snapshot uint64, from string, fn func(name string, c *Chain[V]) bool) {
	ns := t.runs.At(run, snapshot)
	if ns == nil {
		return
	}
	exists := func(n string) bool { _, ok := ns.load(n); return ok }
	all := func() []string {
		out := make([]string, 0, ns.size())
		ns.rangeAll(func(n string, _ *record[V]) bool { out = append(out, n); return true })
		return out
	}
	ns.ordered().walk(from, exists, all, func(n string) bool {
		r, ok := ns.load(n)
		return !ok || fn(n, &r.Chain)
	})
}

// Live returns f of each of run's names that is live (not deleted) at version at, with the
// value a reader there sees, in no particular order.
func Live[R comparable, V, T any](t *Table[R, V], run R, at uint64, f func(name string, v V) T) []T {
	ns := t.runs.At(run, at)
	if ns == nil {
		return nil
	}
	out := make([]T, 0, ns.size())
	ns.rangeAll(func(n string, r *record[V]) bool {
		if v := r.At(at); v != nil && !v.Deleted {
			out = append(out, f(n, v.Value))
		}
		return true
	})
	return out
}

// Runs calls fn for every run that has names at snapshot, in no particular order, until fn
// returns false.
func (t *Table[R, V]) Runs(snapshot uint64, fn func(run R) bool) {
	t.runs.Range(snapshot, func(run R, _ *names[V]) bool { return fn(run) })
}

// Push makes value (or a tombstone) the newest version of run's name. Actor only.
func (t *Table[R, V]) Push(run R, name string, commit uint64, value V, deleted bool) {
	ns := t.runs.Create(run, commit, newNames[V])
	r, existed := ns.load(name)
	if !existed {
		r = &record[V]{name: name, owner: ns}
		ns.store(name, r)
		if o := ns.order.Load(); o != nil { // after the store: see names.ordered
			o.created(name)
		}
	}
	r.Push(commit, value, deleted)
	if existed || deleted { // older versions to drop, or a tombstone to forget
		t.trim.Add(r, &r.listed)
	}
}

// DropRun deletes every name of run at version commit, in O(1): readers at commit or later find
// none, older ones keep what they saw until Trim; a write after it starts the run afresh (state
// cells count their versions from 1 again). Actor only.
func (t *Table[R, V]) DropRun(run R, commit uint64) { t.runs.Drop(run, commit) }

// Trim drops versions no reader at a snapshot ≥ oldest can see, and forgets dead names unless
// the table keeps them, and runs deleted for every such reader. Actor only. Versions pushed are newer than every oldest given so far
// (see TrimList); one that is not waits for the next, later, oldest to be trimmed.
func (t *Table[R, V]) Trim(oldest uint64) {
	t.trim.Sweep(oldest, func(r *record[V]) bool {
		pending, dead := r.Settle(oldest)
		if dead && !t.keepDead {
			r.owner.delete(r.name)
		}
		r.listed = pending
		return pending
	})
	t.runs.Trim(oldest)
}

// Listed reports how many names the next Trim will look at.
func (t *Table[R, V]) Listed() int { return t.trim.Len() }

// Frozen is a table as readers at one version see it: taking it is O(1), and it stays the same
// however the actor moves on, as long as the version stays pinned in the Clock (trimming keeps
// what a pinned reader sees). Names created later are skipped, overwritten ones read through
// their chains: a frozen view costs memory only for the versions written while it is held.
type Frozen[R comparable, V any] struct {
	t  *Table[R, V]
	at uint64
}

// Freeze returns the table at version at; pin at in the Clock for as long as the view is read.
func (t *Table[R, V]) Freeze(at uint64) Frozen[R, V] { return Frozen[R, V]{t: t, at: at} }

// Version returns the version the view shows.
func (f Frozen[R, V]) Version() uint64 { return f.at }

// Runs yields every run that may have names at the view's version.
func (f Frozen[R, V]) Runs() iter.Seq[R] {
	return func(yield func(R) bool) { f.t.Runs(f.at, yield) }
}

// Names yields run's names that exist at the view's version with the version a reader there
// sees, tombstones included (the caller decides whether a dead name matters), in no order.
func (f Frozen[R, V]) Names(run R) iter.Seq2[string, *Version[V]] {
	return func(yield func(string, *Version[V]) bool) {
		f.t.Range(run, f.at, func(name string, c *Chain[V]) bool {
			if v := c.At(f.at); v != nil {
				return yield(name, v)
			}
			return true
		})
	}
}
