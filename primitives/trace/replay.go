package trace

import (
	"encoding/json"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
)

// Fresh returns an empty one-shard store, for replaying a run (extension.Replayable).
func (s *Store) Fresh() extension.Primitive { return New(1) }

// Items lists the run's spans at version in commit order (extension.Lister): the key is the
// span id, the value {"kind":…,"name":…,"tags":…,"attributes":…}. Ids, parents and times are
// left out: ids are often generated, so two runs that recorded the same reasoning agree.
func (s *Store) Items(run extension.RunID, version uint64) ([]extension.Item, bool) {
	r := s.run(run, version)
	if r == nil {
		return nil, true
	}
	spans := visible(r.byCommit.load(), version)
	items := make([]extension.Item, len(spans))
	for i, sp := range spans {
		items[i] = extension.Item{Key: sp.ID, Value: comparedForm(&sp)}
	}
	return items, true
}

func comparedForm(s *Span) []byte {
	b, _ := json.Marshal(struct {
		Kind       string          `json:"kind"`
		Name       string          `json:"name"`
		Tags       []string        `json:"tags,omitempty"`
		Attributes json.RawMessage `json:"attributes,omitempty"`
	}{s.Kind, s.Name, s.Tags, s.Attributes}) // attributes were validated as JSON before logging
	return b
}

// Materialize appends run's spans at version in commit order (parents before children), for
// run to (extension.Materializer).
func (s *Store) Materialize(dst []commitlog.Entry, run, to extension.RunID, version uint64, _ bool) []commitlog.Entry {
	r := s.run(run, version)
	if r == nil {
		return dst
	}
	for _, sp := range visible(r.byCommit.load(), version) {
		dst = append(dst, commitlog.Entry{Type: TypeRecord, Version: 1, Payload: encode(to, &sp)})
	}
	return dst
}
