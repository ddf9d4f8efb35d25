package event

import (
	"encoding/json"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
)

// Describe reports each event a published commit appended, with its type as the key and its
// sequence number (extension.Describer). Sequence numbers are derived when the entries are
// applied, so they are read back: the commit's appends are the last events of the run's log
// at the commit's version, in entry order.
func (s *Store) Describe(version uint64, entries []commitlog.Entry, emit func(extension.Described)) {
	appended := map[extension.RunID]uint64{} // appends of the commit per run: usually one run
	for _, e := range entries {
		if run, _, err := decode(e); err == nil {
			appended[run]++
		}
	}
	next := map[extension.RunID]uint64{}
	for run, n := range appended {
		next[run] = uint64(s.Log(run, version).Len()) - n
	}
	for _, e := range entries {
		run, ev, err := decode(e)
		if err != nil {
			continue
		}
		emit(extension.Described{Key: ev.Type, Seq: next[run], Op: extension.OpAppend})
		next[run]++
	}
}

// ExportValue shows an event's payload (extension.Exporter).
func (s *Store) ExportValue(e commitlog.Entry) (json.RawMessage, bool) {
	_, ev, err := decode(e)
	if err != nil {
		return nil, false
	}
	return extension.JSONValue(ev.Payload)
}
