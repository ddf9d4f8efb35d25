package run

// Trim drops the record versions no reader at a snapshot ≥ oldest can see, so that a run ends
// up with its newest record only and the statuses Matching checks are then that record's
// alone; it lets go of the runs deleted for every such reader. Actor only.
func (sh *shard) Trim(oldest uint64) {
	sh.trim.Sweep(oldest, func(r *runState) bool {
		pending, dead := r.records.Settle(oldest)
		if j := r.journal.Load(); j != nil && j.prune(oldest) {
			pending = true // a compaction some reader is older than
		}
		if l := r.records.Latest(); !pending && l != nil && !l.Deleted {
			sh.listing.trimmed(r, l.Value.Status) // one record left: only its status is read
		}
		if dead { // deleted, and no reader can see it: its history goes now, its slot at relist
			r.journal.Store(nil)
			sh.gone++
		}
		r.listed = pending
		return pending
	})
	sh.runs.Trim(oldest)
	if sh.gone > 0 && sh.gone >= sh.listing.list.Len()/2 {
		sh.relist()
	}
}

// relist rebuilds the listing without the runs that are gone, and publishes it whole: readers
// holding the old list keep it, and what it points at, until they are done. Done when half the
// listing is gone, it costs O(1) per deletion, amortized.
func (sh *shard) relist() {
	var l listing
	for _, d := range sh.listing.list.View().All() {
		if rec := d.run.records.Latest(); rec != nil && rec.Deleted && !d.run.listed {
			continue // a tombstone settled: gone for every reader
		}
		d.run.slot = uint32(l.list.Len())
		l.list.Append(d)
	}
	sh.listing.list, sh.listing.dirty, sh.gone = l.list, true, 0
	sh.listing.publish()
}
