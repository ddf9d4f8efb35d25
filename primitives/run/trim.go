package run

// Trim drops the record versions no reader at a snapshot ≥ oldest can see. A run's records
// are never deleted (no tombstones), so a run ends up with its newest record only, and the
// statuses Matching checks are then that record's alone. Actor only.
func (sh *shard) Trim(oldest uint64) {
	sh.trim.Sweep(oldest, func(r *runState) bool {
		pending, _ := r.records.Settle(oldest)
		if l := r.records.Latest(); !pending && l != nil && !l.Deleted {
			sh.listing.trimmed(r, l.Value.Status) // one record left: only its status is read
		}
		r.listed = pending
		return pending
	})
}
