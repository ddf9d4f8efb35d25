// Package replayer replays runs. Replay folds a run's journaled transactions
// into new, empty instances of the primitives: a derived state that only its caller reads,
// that nothing persists, and that never touches the canonical state, the WAL or the snapshots.
// Compare tells two replayed runs apart.
//
// The replayer knows no primitive. It applies each journaled entry to a fresh instance of the
// primitive that owns the entry's type (extension.Replayable), through the same Apply that
// commits and recovery use, so a replay derives exactly what the live state derived — event
// hashes, cell and document versions included. Compare diffs what each instance lists
// (extension.Lister). A primitive added later replays and diffs with no change here.
//
// Cost is O(run size): only the run's own entries are read, never the rest of the database.
package replayer

import (
	"fmt"
	"iter"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/dberr"
)

// View is a replayed run: one fresh instance per replayable primitive, holding only the run's
// state. Read the instances at Version; nothing else writes them.
type View struct {
	Run     extension.RunID
	Version uint64 // commit version of the last entry replayed; 0 if none
	reg     *extension.Registry
	prims   []extension.Primitive
	shards  []extension.Shard // index: owner; shard 0 of each replayable fresh instance
}

// Primitive returns the replayed instance of the primitive registered as owner, or nil if
// that primitive cannot be replayed.
func (v *View) Primitive(owner int) extension.Primitive { return v.prims[owner] }

// Replay folds entries — a run's journaled transactions in commit order, each entry stamped
// with its commit version — into fresh instances of reg's replayable primitives. Entries of a
// type no registered primitive owns are skipped, as recovery skips them. A failed Apply means
// the journal is damaged: ErrCorruption. So is an error entries yields (a step that could not
// be read back), which Replay returns as it is.
func Replay(reg *extension.Registry, run extension.RunID, entries iter.Seq2[commitlog.Entry, error]) (*View, error) {
	var all []commitlog.Entry
	for e, err := range entries {
		if err != nil {
			return nil, err
		}
		all = append(all, e)
	}
	v := New(reg, run)
	if err := v.Apply(all); err != nil {
		return nil, err
	}
	return v, nil
}

// New returns an empty replay of run: fresh instances of reg's replayable primitives, to Apply
// the run's steps to one after another.
func New(reg *extension.Registry, run extension.RunID) *View {
	prims := reg.Primitives()
	v := &View{Run: run, reg: reg, prims: make([]extension.Primitive, len(prims)),
		shards: make([]extension.Shard, len(prims))}
	for i, p := range prims {
		if r, ok := p.(extension.Replayable); ok {
			v.prims[i] = r.Fresh()
			v.shards[i] = v.prims[i].NewShard(0)
		}
	}
	return v
}

// Apply folds more of the run's journaled entries into the view, after those it holds: the
// instances keep every version, so reading them at an earlier Version still shows the state
// then. A failed Apply means the journal is damaged (ErrCorruption); the view is then unusable.
func (v *View) Apply(entries []commitlog.Entry) error {
	shares := share(v.reg, entries)
	for i, p := range v.reg.Primitives() {
		if n := len(shares[i]); n > 0 {
			v.Version = max(v.Version, shares[i][n-1].TxID)
		}
		if v.shards[i] == nil || len(shares[i]) == 0 {
			continue
		}
		if err := v.shards[i].Apply(shares[i]); err != nil {
			return fmt.Errorf("%w: replay of run %s, %s: %w", dberr.ErrCorruption, v.Run, p.Name(), err)
		}
	}
	return nil
}

// share splits entries by owner, keeping their order, into one backing array.
func share(reg *extension.Registry, entries []commitlog.Entry) [][]commitlog.Entry {
	counts := make([]int, len(reg.Primitives()))
	total := 0
	for _, e := range entries {
		if owner, ok := reg.Owner(e.Type); ok {
			counts[owner]++
			total++
		}
	}
	all := make([]commitlog.Entry, 0, total)
	shares := make([][]commitlog.Entry, len(counts))
	for i, n := range counts {
		shares[i] = all[len(all) : len(all) : len(all)+n]
		all = all[:len(all)+n]
	}
	for _, e := range entries {
		if owner, ok := reg.Owner(e.Type); ok {
			shares[owner] = append(shares[owner], e)
		}
	}
	return shares
}
