package json

import (
	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/mvcc"
)

// Fresh returns an empty one-shard store, for replaying a run (extension.Replayable).
func (s *Store) Fresh() extension.Primitive { return New(1) }

// Items lists the run's live documents at version, encoded (extension.Lister).
// A document is compared by its encoding, whose object members are sorted.
func (s *Store) Items(run extension.RunID, version uint64) ([]extension.Item, bool) {
	return mvcc.Live(s.Of(run), run, version, func(k string, d Doc) extension.Item {
		b, _ := encodeValue(d.Value) // a stored value always encodes: it was decoded from JSON
		return extension.Item{Key: k, Value: b}
	}), false
}

// ChangedPaths names the paths at which two encoded documents differ (extension.PathDiffer).
func (s *Store) ChangedPaths(before, after []byte) ([]string, error) {
	return ChangedPaths(before, after)
}

// Materialize appends a create of every live document of run at version, in key order, for
// run to (extension.Materializer): each keeps its version, unless restart (1).
func (s *Store) Materialize(dst []commitlog.Entry, run, to extension.RunID, version uint64, restart bool) []commitlog.Entry {
	for _, k := range s.Keys(run, version) {
		d, _ := s.Doc(run, k, version)
		if restart {
			d.Version = 1
		}
		b, _ := encodeValue(d.Value) // a stored value always encodes: it was decoded from JSON
		payload := encode(&decoded{run: to, key: k, version: d.Version, ops: []op{{kind: opCreate, raw: b}}})
		dst = append(dst, commitlog.Entry{Type: TypeCreate, Version: 1, Payload: payload})
	}
	return dst
}
