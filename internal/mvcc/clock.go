package mvcc

import (
	"sync"
	"sync/atomic"
)

// Clock is the database's notion of "now": the published version that new readers start at,
// and the oldest version any pinned reader still needs.
//
// Transactions pin their snapshot (Pin/Unpin) so that trimming keeps what they read. Reads of
// a single key do not pin: see Version.cut for why that is safe.
type Clock struct {
	visible atomic.Uint64
	oldest  atomic.Uint64 // min(pinned snapshots ∪ {visible}); recomputed under mu

	mu     sync.Mutex
	pinned map[uint64]int // snapshot → readers pinning it
}

// Now returns the published version: every commit ≤ it is wholly applied. Wait-free.
func (c *Clock) Now() uint64 { return c.visible.Load() }

// Oldest returns the oldest version a reader may still ask for. Wait-free.
func (c *Clock) Oldest() uint64 { return c.oldest.Load() }

// Publish makes v visible. Versions are published in increasing order by one stage at a time.
func (c *Clock) Publish(v uint64) {
	c.mu.Lock()
	c.visible.Store(v)
	if len(c.pinned) == 0 {
		c.oldest.Store(v)
	}
	c.mu.Unlock()
}

// Pin returns the current version and keeps it readable until Unpin. Reading visible and
// registering happen under one lock, so a trimmer that read Oldest before the pin can never
// have trimmed past the pinned snapshot.
func (c *Clock) Pin() uint64 {
	c.mu.Lock()
	s := c.visible.Load()
	if c.pinned == nil {
		c.pinned = make(map[uint64]int)
	}
	c.pinned[s]++ // oldest needs no update: s ≥ every pinned snapshot and = visible
	c.mu.Unlock()
	return s
}

// Unpin releases a snapshot returned by Pin.
func (c *Clock) Unpin(s uint64) {
	c.mu.Lock()
	if n := c.pinned[s]; n > 1 {
		c.pinned[s] = n - 1
	} else {
		delete(c.pinned, s)
		if s == c.oldest.Load() {
			c.oldest.Store(c.minPinned())
		}
	}
	c.mu.Unlock()
}

// minPinned returns the oldest pinned snapshot, or visible if none. Called with mu held.
func (c *Clock) minPinned() uint64 {
	m := c.visible.Load()
	for s := range c.pinned {
		m = min(m, s)
	}
	return m
}

// PinAt keeps snapshot s, a version published earlier, readable until Unpin, and reports
// whether it could: not when s is newer than the published version, or older than Oldest
// (trimming may have passed it). Oldest never decreases, so once s ≥ Oldest under the lock,
// no trim has gone past s and none will while it is pinned.
func (c *Clock) PinAt(s uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s > c.visible.Load() || s < c.oldest.Load() {
		return false
	}
	if c.pinned == nil {
		c.pinned = make(map[uint64]int)
	}
	c.pinned[s]++
	return true
}
