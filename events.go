package inmem

import (
	"context"
	"fmt"
	"time"

	"github.com/inmemdb/inmem/actors"
	"github.com/inmemdb/inmem/primitives/event"
)

// Event is one entry of a run's event log. Seq counts from 0 without gaps; Hash chains it to
// the previous event (SHA-256, see package primitives/event for the encoding).
type Event struct {
	Seq       uint64
	Type      string
	Payload   []byte // JSON
	Timestamp time.Time
	PrevHash  [32]byte
	Hash      [32]byte
}

// ErrBrokenChain is returned by VerifyChain when a stored hash does not match its event.
var ErrBrokenChain = event.ErrBrokenChain

// Events is the event-log primitive: one append-only, hash-chained log per run.
// Appends never conflict: concurrent appends to one run are ordered by commit.
type Events struct{ db *DB }

// Events returns the event-log facade.
func (db *DB) Events() *Events { return &db.eventsAPI }

// Append commits one event and returns it with its sequence number and hashes.
func (e *Events) Append(ctx context.Context, run RunID, typ string, payload []byte) (Event, error) {
	part := e.db.events.NewTx(run, 0)
	if err := part.Append(typ, payload); err != nil {
		return Event{}, err
	}
	c := actors.NewCommit(run, 0, part)
	if err := e.db.submit(ctx, c); err != nil {
		return Event{}, err
	}
	// The commit is published: find the event it appended by its commit version, from the
	// newest event back: only the events committed since are passed over.
	es := e.db.events.Log(run, e.db.clock.Now())
	for i := es.Len() - 1; i >= 0 && es.At(i).Commit >= c.Version; i-- {
		if ev := es.At(i); ev.Commit == c.Version {
			return publicEvent(ev), nil
		}
	}
	return Event{}, fmt.Errorf("inmem: appended event of version %d not found", c.Version)
}

// Get returns the event with sequence seq.
func (e *Events) Get(run RunID, seq uint64) (Event, error) {
	es, err := e.log(run)
	if err != nil {
		return Event{}, err
	}
	if seq >= uint64(es.Len()) {
		return Event{}, fmt.Errorf("%w: event %d of run %s (it has %d)", ErrNotFound, seq, run, es.Len())
	}
	return publicEvent(es.At(int(seq))), nil
}

// Range returns the events with from ≤ seq < to; to past the end stops at the end.
func (e *Events) Range(run RunID, from, to uint64) ([]Event, error) {
	es, err := e.log(run)
	if err != nil {
		return nil, err
	}
	if from > to {
		return nil, fmt.Errorf("%w: range [%d, %d)", ErrInvalidArgument, from, to)
	}
	to = min(to, uint64(es.Len()))
	if from >= to {
		return nil, nil
	}
	return publicEvents(es, int(from), int(to)), nil
}

// Len returns the number of events in the run's log.
func (e *Events) Len(run RunID) (uint64, error) {
	es, err := e.log(run)
	return uint64(es.Len()), err
}

// Head returns the newest event; an empty log is ErrNotFound.
func (e *Events) Head(run RunID) (Event, error) {
	es, err := e.log(run)
	if err != nil {
		return Event{}, err
	}
	last, ok := es.Last()
	if !ok {
		return Event{}, fmt.Errorf("%w: run %s has no events", ErrNotFound, run)
	}
	return publicEvent(last), nil
}

// ByType returns the events of type typ, oldest first.
func (e *Events) ByType(run RunID, typ string) ([]Event, error) {
	es, err := e.log(run)
	if err != nil {
		return nil, err
	}
	var out []Event
	for _, ev := range es.All() {
		if ev.Type == typ {
			out = append(out, publicEvent(ev))
		}
	}
	return out, nil
}

// VerifyChain recomputes every hash of the run's log: nil when intact, ErrBrokenChain if not.
func (e *Events) VerifyChain(run RunID) error {
	es, err := e.log(run)
	if err != nil {
		return err
	}
	return event.VerifyChain(es.All())
}

// log returns the run's events at the newest published version.
func (e *Events) log(run RunID) (event.Log, error) {
	if err := e.db.usable(); err != nil {
		return event.Log{}, err
	}
	s := e.db.clock.Now()
	if err := e.db.runCheck(run, s, false); err != nil {
		return event.Log{}, err
	}
	return e.db.events.Log(run, s), nil
}

// EventTx is the event log inside a transaction.
type EventTx struct{ tx *Tx }

// Events returns the transaction's event-log view.
func (tx *Tx) Events() *EventTx { return &tx.eventTx }

// Append buffers an event; its sequence and hashes are assigned when the transaction commits.
func (t *EventTx) Append(typ string, payload []byte) error {
	if err := t.tx.check(true); err != nil {
		return err
	}
	return t.tx.eventPart().Append(typ, payload)
}

// Len returns the number of events the transaction sees, its own appends included.
func (t *EventTx) Len() (uint64, error) {
	if err := t.tx.check(false); err != nil {
		return 0, err
	}
	return t.tx.eventPart().Len(), nil
}

func publicEvent(e event.Event) Event {
	return Event{Seq: e.Seq, Type: e.Type, Payload: clone(e.Payload),
		Timestamp: time.UnixMicro(e.Timestamp).UTC(), PrevHash: e.PrevHash, Hash: e.Hash}
}

// publicEvents converts events [from, to) of l, copying each once.
func publicEvents(l event.Log, from, to int) []Event {
	out := make([]Event, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, publicEvent(l.At(i)))
	}
	return out
}
