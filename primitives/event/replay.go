package event

import (
	stdjson "encoding/json"
	"strconv"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
)

// Fresh returns an empty one-shard store, for replaying a run (extension.Replayable).
func (s *Store) Fresh() extension.Primitive { return New(1) }

// Items lists the run's events at version as a sequence (extension.Lister): the key is the
// sequence number, the value {"type":…,"payload":…}. Timestamps and hashes are left out:
// two runs that appended the same events at different times agree.
func (s *Store) Items(run extension.RunID, version uint64) ([]extension.Item, bool) {
	es := s.Log(run, version)
	items := make([]extension.Item, es.Len())
	for i, e := range es.All() {
		items[i] = extension.Item{Key: strconv.FormatUint(e.Seq, 10), Value: comparedForm(e)}
	}
	return items, true
}

func comparedForm(e Event) []byte {
	b, _ := stdjson.Marshal(struct {
		Type    string             `json:"type"`
		Payload stdjson.RawMessage `json:"payload"`
	}{e.Type, e.Payload}) // the payload was validated as JSON before it was logged
	return b
}

// Materialize appends run's events at version, in order, with their times, for run to
// (extension.Materializer): applied to an empty log they get the same sequences and hashes.
func (s *Store) Materialize(dst []commitlog.Entry, run, to extension.RunID, version uint64, _ bool) []commitlog.Entry {
	for _, e := range s.Log(run, version).All() {
		dst = append(dst, commitlog.Entry{Type: TypeAppend, Version: 1, Payload: encode(to, e.Timestamp, e.Type, e.Payload)})
	}
	return dst
}
