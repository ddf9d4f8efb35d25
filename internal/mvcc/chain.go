// Package mvcc holds the multi-version building blocks every primitive shares: version chains
// that readers walk without locks while one writer (the shard's actor) pushes and trims them,
// and the Clock that publishes versions and remembers which old versions readers still pin.
//
// Visibility rule: a reader at snapshot S sees, for each key, the newest version with commit
// version ≤ S. Versions above the published version are on the chains (applied, not published)
// but no reader's S reaches them, so a half-applied batch is never seen.
package mvcc

import "sync/atomic"

// Version is one committed value of a key. It is immutable once pushed, except for the link to
// older versions, which Trim may cut.
//
// The fields are ordered so that Deleted and cut share the last word: a version is one
// allocation per write, kept as long as it is the newest (48 bytes for a []byte value, not 64).
type Version[V any] struct {
	Commit uint64 // commit version that wrote it
	Value  V

	older atomic.Pointer[Version[V]]

	Deleted bool // a tombstone: the key did not exist from Commit on
	// cut is set, before older is cut, on the version Trim keeps as the oldest. A reader that
	// reaches it without finding a version ≤ its snapshot was not pinned (a single-operation
	// read); answering with the cut version is reading at a later, still published, snapshot.
	cut atomic.Bool
}

// Chain is the versions of one key, newest first.
type Chain[V any] struct {
	head atomic.Pointer[Version[V]]
}

// Push makes v the newest version. Only the owning actor calls it, with increasing commit
// versions.
func (c *Chain[V]) Push(commit uint64, value V, deleted bool) {
	v := &Version[V]{Commit: commit, Value: value, Deleted: deleted}
	v.older.Store(c.head.Load())
	c.head.Store(v)
}

// Latest returns the newest version, published or not (nil for an empty chain). Validation uses
// it: any version newer than a transaction's snapshot is a conflict whether or not it is
// published yet.
func (c *Chain[V]) Latest() *Version[V] { return c.head.Load() }

// At returns the version a reader at snapshot sees, or nil if the key did not exist then.
// A tombstone is returned as such: the caller decides what deleted means.
func (c *Chain[V]) At(snapshot uint64) *Version[V] {
	for v := c.head.Load(); v != nil; {
		if v.Commit <= snapshot {
			return v
		}
		older := v.older.Load()
		if older == nil && v.cut.Load() {
			return v
		}
		v = older
	}
	return nil
}

// Trim drops the versions no reader at a snapshot ≥ oldest can see: everything older than the
// newest version ≤ oldest. It reports the number of versions left, so the owner can stop
// tracking chains that are down to one.
func (c *Chain[V]) Trim(oldest uint64) (left int) {
	for v := c.head.Load(); v != nil; v = v.older.Load() {
		left++
		if v.Commit <= oldest {
			if v.older.Load() != nil {
				v.cut.Store(true)
				v.older.Store(nil)
			}
			return left
		}
	}
	return left
}
