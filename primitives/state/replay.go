package state

import (
	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/mvcc"
)

// Fresh returns an empty one-shard store, for replaying a run (extension.Replayable).
func (s *Store) Fresh() extension.Primitive { return New(1) }

// Items lists the run's live cells at version (extension.Lister). A cell is
// compared by its value: two runs that reach one value by different numbers of changes agree.
func (s *Store) Items(run extension.RunID, version uint64) ([]extension.Item, bool) {
	return mvcc.Live(s.Of(run), run, version, func(n string, c Cell) extension.Item {
		return extension.Item{Key: n, Value: c.Value}
	}), false
}

// Materialize appends a set of every live cell of run at version, in name order, for run to
// (extension.Materializer): each cell keeps its value and time, and its version unless restart.
func (s *Store) Materialize(dst []commitlog.Entry, run, to extension.RunID, version uint64, restart bool) []commitlog.Entry {
	for _, n := range s.Names(run, version) {
		c, _ := s.Get(run, n, version)
		if restart {
			c.Version = 1
		}
		dst = append(dst, commitlog.Entry{Type: TypeSet, Version: 1, Payload: encode(to, n, c.Version, c.UpdatedAt, c.Value)})
	}
	return dst
}
