package kv

import (
	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/mvcc"
)

// Fresh returns an empty one-shard store, for replaying a run (extension.Replayable).
func (s *Store) Fresh() extension.Primitive { return New(1) }

// Items lists the run's live pairs at version (extension.Lister).
func (s *Store) Items(run extension.RunID, version uint64) ([]extension.Item, bool) {
	return mvcc.Live(s.Of(run), run, version, func(k string, v []byte) extension.Item {
		return extension.Item{Key: k, Value: v}
	}), false
}

// Materialize appends a put of every live key of run at version, in key order, for run to
// (extension.Materializer).
func (s *Store) Materialize(dst []commitlog.Entry, run, to extension.RunID, version uint64, _ bool) []commitlog.Entry {
	s.Scan(run, "", "", version, func(k string, v []byte) bool {
		dst = append(dst, commitlog.Entry{Type: TypePut, Version: 1, Payload: encode(to, k, v)})
		return true
	})
	return dst
}
