package mvcc

// Settle trims c for a reader horizon of oldest (see Trim) and says what the owner should do
// with it next: pending — it still holds versions a later Trim may drop, keep listing it; dead —
// its only version is a tombstone no reader can see past, so the owner may forget the key.
func (c *Chain[V]) Settle(oldest uint64) (pending, dead bool) {
	if c.Trim(oldest) > 1 {
		return true, false
	}
	head := c.Latest()
	if head == nil || !head.Deleted {
		return false, false
	}
	if head.Commit > oldest {
		return true, false
	}
	return false, true
}

// TrimList is a shard actor's list of the records whose chains a later Trim may shrink: those
// that got a second version or a tombstone since the last sweep. Each record keeps its own
// "listed" flag, so that it is listed once however often it is written. Actor-owned.
//
// A sweep at the horizon of the previous sweep settles only the records listed since: the
// others cannot have changed in any way a sweep looks at. A record kept by a sweep at horizon h
// still had a version newer than h, and every version pushed since is newer still (a commit is
// applied before it is published, and no horizon passes the published version), so its cut
// point, and whether it is pending, are what they were. Without this, a reader pinning an old
// version (a snapshot being written) made every sweep walk every hot chain down to it: the
// cost of each commit grew with the number of commits since the pin.
type TrimList[R any] struct {
	items   []R
	settled int    // items[:settled] were kept by the sweep at horizon sweptAt
	sweptAt uint64 // the horizon of the last sweep
}

// Add lists r unless *listed says it already is.
func (l *TrimList[R]) Add(r R, listed *bool) {
	if !*listed {
		*listed = true
		l.items = append(l.items, r)
	}
}

// Sweep calls settle for every listed record that needs it at horizon oldest (all of them,
// unless the last sweep was at the same horizon: see TrimList) and keeps listing those it
// returns true for (settle clears the record's flag for the others).
func (l *TrimList[R]) Sweep(oldest uint64, settle func(R) bool) {
	from := 0
	if oldest == l.sweptAt {
		from = l.settled
	}
	kept := l.items[:from]
	for _, r := range l.items[from:] {
		if settle(r) {
			kept = append(kept, r)
		}
	}
	clear(l.items[len(kept):]) // drop references to what is no longer listed
	l.items = kept
	l.settled, l.sweptAt = len(kept), oldest
}

// Len reports how many records are listed.
func (l *TrimList[R]) Len() int { return len(l.items) }
