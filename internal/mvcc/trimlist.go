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
type TrimList[R any] struct {
	items []R
}

// Add lists r unless *listed says it already is.
func (l *TrimList[R]) Add(r R, listed *bool) {
	if !*listed {
		*listed = true
		l.items = append(l.items, r)
	}
}

// Sweep calls settle for every listed record and keeps listing those it returns true for
// (settle clears the record's flag for the others).
func (l *TrimList[R]) Sweep(settle func(R) bool) {
	kept := l.items[:0]
	for _, r := range l.items {
		if settle(r) {
			kept = append(kept, r)
		}
	}
	clear(l.items[len(kept):]) // drop references to what is no longer listed
	l.items = kept
}

// Len reports how many records are listed.
func (l *TrimList[R]) Len() int { return len(l.items) }
