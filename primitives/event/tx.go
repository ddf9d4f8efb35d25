package event

import (
	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
)

// Tx is the event share of one transaction: appends buffered in order. Appends never conflict
// and read nothing, so validation has nothing to check; the timestamp is the commit's, taken when
// the entries are built.
type Tx struct {
	store    *Store
	run      extension.RunID
	snapshot uint64
	appends  [][]byte // each append's entry payload, encoded at once (the caller's copy)
}

// NewTx starts the event part of a transaction of run reading at snapshot.
func (s *Store) NewTx(run extension.RunID, snapshot uint64) *Tx {
	return &Tx{store: s, run: run, snapshot: snapshot}
}

// Append buffers an event. The payload is copied.
func (t *Tx) Append(typ string, payload []byte) error {
	if err := Check(typ, payload); err != nil {
		return err
	}
	t.appends = append(t.appends, encode(t.run, 0, typ, payload))
	return nil
}

// Len returns the number of events the transaction sees: the snapshot's and its own. It is
// not part of the read set: appends never conflict, so a count read in a transaction may be
// overtaken by a concurrent append (as in any snapshot read).
func (t *Tx) Len() uint64 {
	return uint64(t.store.Log(t.run, t.snapshot).Len() + len(t.appends))
}

// Pending returns how many appends the transaction buffered.
func (t *Tx) Pending() int { return len(t.appends) }

func (t *Tx) Empty() bool                       { return len(t.appends) == 0 }
func (t *Tx) Validate(c extension.Commit) error { return nil }

// Entries appends one EventAppend per buffered event, stamping the commit's timestamp into
// the payloads encoded by Append (the engine builds a commit's entries once).
func (t *Tx) Entries(dst []commitlog.Entry, c extension.Commit) []commitlog.Entry {
	for _, p := range t.appends {
		stamp(p, c.Timestamp())
		dst = append(dst, commitlog.Entry{Type: TypeAppend, Version: 1, Payload: p})
	}
	return dst
}
