package mvcc

import (
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
type names[V any] struct {
	dir   atomic.Pointer[directory[V]]
	order order // the names sorted, for Ordered; built on the first scan
}

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

func newNames[V any]() *names[V] {
	ns := &names[V]{}
	ns.dir.Store(&directory[V]{slots: []*bucket[V]{{m: xsync.NewMapOf[string, *record[V]]()}}})
	return ns
}

func (d *directory[V]) bucket(h uint64) *bucket[V] {
	if d.depth == 0 {
		return d.slots[0]
	}
	return d.slots[h>>(64-d.depth)]
}

func (ns *names[V]) load(name string) (*record[V], bool) {
	return ns.dir.Load().bucket(xxhash.Sum64String(name)).m.Load(name)
}

// store adds a new name. Actor only.
func (ns *names[V]) store(name string, r *record[V]) {
	h := xxhash.Sum64String(name)
	b := ns.dir.Load().bucket(h)
	b.m.Store(name, r)
	if b.n++; b.n > splitAt {
		ns.split(b)
	}
}

// delete forgets a name. Actor only.
func (ns *names[V]) delete(name string) {
	b := ns.dir.Load().bucket(xxhash.Sum64String(name))
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
	d := ns.dir.Load()
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
	n := 0
	ns.rangeBuckets(func(b *bucket[V]) { n += b.m.Size() })
	return n
}

func (ns *names[V]) rangeBuckets(fn func(*bucket[V])) {
	d := ns.dir.Load()
	for i, b := range d.slots {
		if i == 0 || d.slots[i-1] != b {
			fn(b)
		}
	}
}
