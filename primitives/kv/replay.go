package kv

import (
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/mvcc"
)

// Fresh returns an empty one-shard store, for replaying a run (extension.Replayable).
func (s *Store) Fresh() extension.Primitive { return New(1) }

// Items lists the run's live pairs at version (extension.Lister).
func (s *Store) Items(run extension.RunID, version uint64) ([]extension.Item, bool) {
	return mvcc.Live(s.table(run), run, version, func(k string, v []byte) extension.Item {
		return extension.Item{Key: k, Value: v}
	}), false
}
