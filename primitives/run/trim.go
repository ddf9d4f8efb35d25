package run

// Trim drops the record versions no reader at a snapshot ≥ oldest can see. A run's records
// are never deleted (no tombstones), so a run ends up with its newest record only. Actor only.
func (sh *shard) Trim(oldest uint64) {
	sh.trim.Sweep(oldest, func(r *runState) bool {
		pending, _ := r.records.Settle(oldest)
		r.listed = pending
		return pending
	})
}
