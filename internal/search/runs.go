package search

import "github.com/inmemdb/inmem/internal/mvcc"

// Runs is one shard's inverted indexes: one Index per run, kept inside the shard of a primitive
// that indexes, and written only by the shard's actor, as it applies each batch — so an index
// is exactly as new as the data a reader finds at the same version.
//
// The indexes are multi-versioned by run life, the way the shard's data is (mvcc.Runs): a run's
// first document creates its index, DropRun ends it at the deletion's version (readers at older
// snapshots keep searching the old one until Trim lets it go), and a run begun again under the
// same id starts a fresh index.
type Runs[R mvcc.Run, D comparable] struct {
	cfg   Config[D]
	runs  mvcc.Runs[R, runIndex[D]]
	dirty []*runIndex[D] // indexes holding document versions that died and are not trimmed yet
}

type runIndex[D comparable] struct {
	Index[D]
	listed bool // in dirty
}

// NewRuns returns an empty set of indexes configured with cfg.
func NewRuns[R mvcc.Run, D comparable](cfg Config[D]) *Runs[R, D] {
	return &Runs[R, D]{cfg: cfg, runs: mvcc.NewRuns[R, runIndex[D]](R.Hash)}
}

// Config returns the configuration the indexes are made with.
func (rs *Runs[R, D]) Config() Config[D] { return rs.cfg }

// At returns run's index as a reader at version finds it; nil when the run had no document
// there (never written, or deleted).
func (rs *Runs[R, D]) At(run R, version uint64) *Index[D] {
	if x := rs.runs.At(run, version); x != nil {
		return &x.Index
	}
	return nil
}

func (rs *Runs[R, D]) of(run R, version uint64) *runIndex[D] {
	return rs.runs.Create(run, version, func() *runIndex[D] {
		return &runIndex[D]{Index: *New(rs.cfg)}
	})
}

// Put makes text doc's content in run from version on. Versions never decrease (the actor
// applies in commit order). The index's errors cannot happen here: versions are in order, and
// ErrFull needs four billion live document versions in one run; the document is then left
// out of the index rather than failing the commit, which is already durable.
func (rs *Runs[R, D]) Put(run R, doc D, version uint64, text string) {
	x := rs.of(run, version)
	replaced := x.w.live != nil && x.has(doc)
	_ = x.Put(doc, version, text)
	if replaced {
		rs.mark(x)
	}
}

// Delete removes doc from run's index from version on.
func (rs *Runs[R, D]) Delete(run R, doc D, version uint64) {
	x := rs.runs.At(run, mvcc.Latest)
	if x == nil || !x.has(doc) {
		return
	}
	_ = x.Delete(doc, version)
	rs.mark(x)
}

func (x *Index[D]) has(doc D) bool { _, ok := x.w.live[doc]; return ok }

func (rs *Runs[R, D]) mark(x *runIndex[D]) {
	if !x.listed {
		x.listed = true
		rs.dirty = append(rs.dirty, x)
	}
}

// DropRun ends run's index at version. A nil set (a primitive that does not index) has
// nothing to end.
func (rs *Runs[R, D]) DropRun(run R, version uint64) {
	if rs != nil {
		rs.runs.Drop(run, version)
	}
}

// Trim trims the indexes that hold dead document versions, and forgets the indexes of runs
// deleted for every reader at oldest or later. Only indexes with deaths are visited, so a
// shard of many quiet runs pays nothing per trim; a nil set, nothing at all.
func (rs *Runs[R, D]) Trim(oldest uint64) {
	if rs == nil { // the primitive does not index
		return
	}
	kept := rs.dirty[:0]
	for _, x := range rs.dirty {
		x.Trim(oldest)
		if len(x.w.deaths) > 0 {
			kept = append(kept, x)
		} else {
			x.listed = false
		}
	}
	clear(rs.dirty[len(kept):])
	rs.dirty = kept
	rs.runs.Trim(oldest)
}
