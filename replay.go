package inmem

import (
	"fmt"
	"math"

	"github.com/inmemdb/inmem/primitives/event"
	jsondoc "github.com/inmemdb/inmem/primitives/json"
	"github.com/inmemdb/inmem/primitives/kv"
	"github.com/inmemdb/inmem/primitives/run"
	"github.com/inmemdb/inmem/primitives/state"
	"github.com/inmemdb/inmem/primitives/trace"
	"github.com/inmemdb/inmem/replayer"
)

// ReadOnlyView is a run's state rebuilt from its journal by ReplayRun or ReplayRunUntil: the
// state the run's agent saw after a step. It has getters only and shares nothing writable with
// the database: values it returns are copies, and nothing in it is ever persisted. A view
// stays valid after Close.
type ReadOnlyView struct {
	run     RunID
	steps   int
	version uint64
	kv      *kv.Store
	docs    *jsondoc.Store
	events  *event.Store
	states  *state.Store
	traces  *trace.Store
}

// The built-in primitives' places in the registry: Open registers them first, in this order
// (the run primitive last).
const (
	ownerKV = iota
	ownerJSON
	ownerEvent
	ownerState
	ownerTrace
)

// ReplayRun replays run's whole journal into a view: it equals the run's current state. An
// unknown run is ErrRunNotFound, GlobalRun ErrNotReplayable; a run that committed nothing
// gives an empty view. Replay reads only the run's own journal: O(run size).
func (db *DB) ReplayRun(id RunID) (*ReadOnlyView, error) {
	return db.view(id, allSteps)
}

// ReplayRunUntil replays run up to step: the state its agent saw after it. Step 0 is the state
// the run began with (empty, unless BeginRunWith or ForkRun gave it one), step k its k-th data
// transaction (lifecycle changes are not steps); a step past the last replays them all. A
// step before a compacted run's base is ErrHistoryCompacted.
func (db *DB) ReplayRunUntil(id RunID, step int) (*ReadOnlyView, error) {
	if step < 0 {
		return nil, fmt.Errorf("%w: replay until step %d", ErrInvalidArgument, step)
	}
	return db.view(id, step)
}

// allSteps asks replayed for the whole journal.
const allSteps = math.MaxInt

func (db *DB) view(id RunID, steps int) (*ReadOnlyView, error) {
	now, unpin := db.pin()
	defer unpin()
	rv, n, err := db.replayed(id, now, steps)
	if err != nil {
		return nil, err
	}
	return newView(rv, n), nil
}

// replayed replays run id's journal as of snapshot up to step number step (allSteps: all of
// it), and returns the replay with the number of the last step it holds. The caller pins
// snapshot (see DB.pin): the steps may be read back from the log.
func (db *DB) replayed(id RunID, snapshot uint64, step int) (*replayer.View, int, error) {
	j, err := db.journal(id, snapshot)
	if err != nil {
		return nil, 0, err
	}
	if step < j.First() {
		return nil, 0, fmt.Errorf("%w: step %d of run %s; its history starts at step %d", ErrHistoryCompacted, step, id, j.First())
	}
	j = j.Until(step)
	rv, err := replayer.Replay(&db.registry, id, j.Entries())
	return rv, j.Last(), err
}

// journal returns run id's journal as of snapshot.
func (db *DB) journal(id RunID, snapshot uint64) (run.Journal, error) {
	if err := db.usable(); err != nil {
		return run.Journal{}, err
	}
	if id == GlobalRun {
		return run.Journal{}, fmt.Errorf("%w: GlobalRun is not journaled", ErrNotReplayable)
	}
	j, ok := db.runs.Journal(id, snapshot)
	if !ok {
		return run.Journal{}, fmt.Errorf("%w: %s", ErrRunNotFound, id)
	}
	return j, nil
}

func newView(rv *replayer.View, steps int) *ReadOnlyView {
	return &ReadOnlyView{run: rv.Run, steps: steps, version: rv.Version,
		kv: rv.Primitive(ownerKV).(*kv.Store), docs: rv.Primitive(ownerJSON).(*jsondoc.Store),
		events: rv.Primitive(ownerEvent).(*event.Store), states: rv.Primitive(ownerState).(*state.Store),
		traces: rv.Primitive(ownerTrace).(*trace.Store)}
}

// Run returns the replayed run's id.
func (v *ReadOnlyView) Run() RunID { return v.run }

// Steps returns the number of the last step replayed: the number of data transactions.
func (v *ReadOnlyView) Steps() int { return v.steps }

// Version returns the commit version of the last transaction replayed; 0 for an empty view.
func (v *ReadOnlyView) Version() uint64 { return v.version }

// KV returns the value of key.
func (v *ReadOnlyView) KV(key string) ([]byte, bool) {
	b, ok := v.kv.Get(v.run, key, v.version)
	return clone(b), ok
}

// KVKeys returns the keys, sorted.
func (v *ReadOnlyView) KVKeys() []string { return v.kv.Keys(v.run, "", v.version) }

// JSON returns document key, encoded.
func (v *ReadOnlyView) JSON(key string) ([]byte, bool) {
	b, err := v.docs.Get(v.run, key, "$", v.version)
	return b, err == nil
}

// JSONKeys returns the documents' keys, sorted.
func (v *ReadOnlyView) JSONKeys() []string { return v.docs.Keys(v.run, v.version) }

// State returns cell name.
func (v *ReadOnlyView) State(name string) (Cell, bool) {
	c, ok := v.states.Get(v.run, name, v.version)
	if !ok {
		return Cell{}, false
	}
	return publicCell(c), true
}

// StateNames returns the cells' names, sorted.
func (v *ReadOnlyView) StateNames() []string { return v.states.Names(v.run, v.version) }

// Events returns the event log, oldest first, with the sequences and hashes the live log has.
func (v *ReadOnlyView) Events() []Event {
	l := v.events.Log(v.run, v.version)
	return publicEvents(l, 0, l.Len())
}

// Spans returns the spans ordered by start time, then id (as Traces.List).
func (v *ReadOnlyView) Spans() []Span { return publicSpans(v.traces.List(v.run, v.version)) }
