package mvcc

import (
	"slices"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
	"github.com/puzpuzpuz/xsync/v3"
)

// names is one run's names, looked up without locks by readers and written by the actor only.
//
// It grows without ever stopping the actor for long. One hash map holding a run's every name
// would rehash all of them when it grows: at a million names a single Put stalled ~200 ms, and
// every commit of the shard with it. So the names are split by the top bits of their hash
// into buckets of at most splitAt names (extendible hashing): a bucket that fills up is split
// in two, which copies only its own names, and the directory from hash bits to buckets is
// replaced whole (it is small: a slot per bucket, at most twice over). Growth therefore costs
// a split of splitAt names at a time, ~3 ms (BenchmarkNamesSplit), however large the run.
//
// Readers load the directory, then a bucket: a reader whose snapshot includes a name created
// after a split loaded the directory after that split too (the actor splits, then applies,
// then the version is published), so it finds the name. A bucket that was split away is
// never written again; readers still holding it see every name it had, with live chains.
//
// Most runs have a handful of names, and a hash map is heavy for them (an xsync map is ~3 KB
// empty: that was most of what a finished run cost). So a run's first fewNames names are kept
// in a small immutable list instead, replaced whole (copy on write) by the actor at each
// create or forget, and looked up by comparing names. The directory is made when the list
// would outgrow fewNames, and from then on the list is never used again (it is nil): the actor
// stores the directory first, then clears the list, so a reader that finds the list cleared
// finds the directory. A reader still holding the old list sees the names it had, as with a
// bucket split away, and a reader whose snapshot includes a name created after the move
// loaded the list after it was cleared (the actor moves, then applies, then publishes).
type names[V any] struct {
	few   atomic.Pointer[[]*record[V]] // while dir is nil: every name; nil when there are none
	dir   atomic.Pointer[directory[V]] // nil until the run has more than fewNames names
	order atomic.Pointer[order]        // the names sorted, for Ordered; made by the first scan
}

// fewNames is the most names a run keeps in its list before it moves them to a directory of
// buckets. A lookup in the list compares up to this many names: a few ns each.
const fewNames = 8

// directory maps the top depth bits of a name's hash to its bucket.
type directory[V any] struct {
	depth uint
	slots []*bucket[V] // 1<<depth of them; a bucket of local depth d fills 1<<(depth-d) slots
}

type bucket[V any] struct {
	depth uint // local depth: how many top hash bits all its names share
	m     *xsync.MapOf[string, *record[V]]
	n     int // names in m; actor-owned
}

// splitAt is the most names a bucket holds before it splits.
const splitAt = 1 << 14

func newNames[V any]() *names[V] { return &names[V]{} }

// ordered returns the run's order, making it if no scan did yet. A reader makes it; the actor
// tells it the names it creates once it exists. A name the actor stored before it saw the
// order is in the map the first walk lists, since that walk makes the order before it lists.
func (ns *names[V]) ordered() *order {
	if o := ns.order.Load(); o != nil {
		return o
	}
	ns.order.CompareAndSwap(nil, new(order))
	return ns.order.Load()
}

// toDirectory moves the names from the list to a directory of one bucket. Actor only.
func (ns *names[V]) toDirectory() *directory[V] {
	var few []*record[V]
	if f := ns.few.Load(); f != nil {
		few = *f
	}
	b := &bucket[V]{m: xsync.NewMapOf[string, *record[V]](), n: len(few)}
	for _, r := range few {
		b.m.Store(r.name, r)
	}
	d := &directory[V]{slots: []*bucket[V]{b}}
	ns.dir.Store(d)
	ns.few.Store(nil) // after the directory is stored: see names
	return d
}

// inFew returns name's record from the list f (nil: no names).
func inFew[V any](f *[]*record[V], name string) (*record[V], bool) {
	if f != nil {
		for _, r := range *f {
			if r.name == name {
				return r, true
			}
		}
	}
	return nil, false
}

func (d *directory[V]) bucket(h uint64) *bucket[V] {
	if d.depth == 0 {
		return d.slots[0]
	}
	return d.slots[h>>(64-d.depth)]
}

func (ns *names[V]) load(name string) (*record[V], bool) {
	if f := ns.few.Load(); f != nil {
		return inFew(f, name)
	}
	if d := ns.dir.Load(); d != nil {
		return d.bucket(xxhash.Sum64String(name)).m.Load(name)
	}
	return nil, false
}

// store adds a new name. Actor only.
func (ns *names[V]) store(name string, r *record[V]) {
	d := ns.dir.Load()
	if d == nil {
		var few []*record[V]
		if f := ns.few.Load(); f != nil {
			few = *f
		}
		if len(few) < fewNames {
			next := make([]*record[V], len(few)+1)
			copy(next, few)
			next[len(few)] = r
			ns.few.Store(&next)
			return
		}
		d = ns.toDirectory()
	}
	h := xxhash.Sum64String(name)
	b := d.bucket(h)
	b.m.Store(name, r)
	if b.n++; b.n > splitAt {
		ns.split(b)
	}
}

// delete forgets a name. Actor only.
func (ns *names[V]) delete(name string) {
	d := ns.dir.Load()
	if d == nil {
		f := ns.few.Load()
		if f == nil {
			return
		}
		i := slices.IndexFunc(*f, func(r *record[V]) bool { return r.name == name })
		switch {
		case i < 0:
		case len(*f) == 1:
			ns.few.Store(nil)
		default:
			next := slices.Delete(slices.Clone(*f), i, i+1) // readers may hold *f: never change it
			ns.few.Store(&next)
		}
		return
	}
	b := d.bucket(xxhash.Sum64String(name))
	if _, ok := b.m.LoadAndDelete(name); ok {
		b.n--
	}
}

// split replaces b by two buckets one hash bit deeper, doubling the directory if b was as deep
// as it. Actor only.
func (ns *names[V]) split(b *bucket[V]) {
	old := ns.dir.Load()
	halves := [2]*bucket[V]{
		{depth: b.depth + 1, m: xsync.NewMapOfPresized[string, *record[V]](b.n / 2)},
		{depth: b.depth + 1, m: xsync.NewMapOfPresized[string, *record[V]](b.n / 2)},
	}
	b.m.Range(func(name string, r *record[V]) bool {
		half := halves[xxhash.Sum64String(name)>>(63-b.depth)&1]
		half.m.Store(name, r)
		half.n++
		return true
	})
	d := &directory[V]{depth: old.depth, slots: old.slots}
	if b.depth == old.depth {
		d.depth++
		d.slots = make([]*bucket[V], 2*len(old.slots))
		for i, s := range old.slots {
			d.slots[2*i], d.slots[2*i+1] = s, s
		}
	} else {
		d.slots = append([]*bucket[V](nil), old.slots...)
	}
	// The slots of b are those whose top b.depth bits are b's; the next bit picks the half.
	for i, s := range d.slots {
		if s == b {
			d.slots[i] = halves[uint(i)>>(d.depth-b.depth-1)&1]
		}
	}
	ns.dir.Store(d)
}

// rangeAll calls fn for every name, in no order, until fn returns false.
func (ns *names[V]) rangeAll(fn func(name string, r *record[V]) bool) {
	if f := ns.few.Load(); f != nil {
		for _, r := range *f {
			if !fn(r.name, r) {
				return
			}
		}
		return
	}
	d := ns.dir.Load()
	if d == nil {
		return
	}
	for i, b := range d.slots {
		if i > 0 && d.slots[i-1] == b {
			continue // a bucket fills consecutive slots
		}
		ok := true
		b.m.Range(func(n string, r *record[V]) bool {
			ok = fn(n, r)
			return ok
		})
		if !ok {
			return
		}
	}
}

// size is about how many names there are (exact for the actor; a reader may see it move).
func (ns *names[V]) size() int {
	if f := ns.few.Load(); f != nil {
		return len(*f)
	}
	n := 0
	ns.rangeBuckets(func(b *bucket[V]) { n += b.m.Size() })
	return n
}

// rangeBuckets calls fn for every bucket of the directory; none while the names are a list.
func (ns *names[V]) rangeBuckets(fn func(*bucket[V])) {
	d := ns.dir.Load()
	if d == nil {
		return
	}
	for i, b := range d.slots {
		if i == 0 || d.slots[i-1] != b {
			fn(b)
		}
	}
}
