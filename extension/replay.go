package extension

import "github.com/inmemdb/inmem/commitlog"

// The optional interfaces of this file let the engine journal, replay and compare runs
// without knowing any primitive: the run primitive journals whole transactions, the
// replayer applies a run's journaled entries to fresh instances of the other primitives, and
// DiffRuns compares what those instances list.

// Journaler is implemented by a primitive that keeps a journal of whole transactions (the run
// primitive's run journal). When WholeTransactions reports true, a transaction holding one of
// the primitive's entries reaches its shard whole: Apply receives every entry of it, of every
// primitive, in order — not only the entries of the primitive's own range.
type Journaler interface {
	Primitive
	WholeTransactions() bool
}

// Replayable is implemented by a primitive whose runs can be replayed.
type Replayable interface {
	Primitive
	// Fresh returns a new, empty instance of the primitive, for one replay. The replayer
	// creates its shard 0 (and only that one), applies a run's journaled entries to it in
	// commit order from its own goroutine, and then reads it through the primitive's read
	// methods. The instance is never registered, never given to an actor, never persisted.
	// It receives only its own entries, even if the primitive is a Journaler.
	Fresh() Primitive
}

// Materializer is implemented by a Replayable primitive whose replayed state can be written
// again as a run's initial state: ForkRun begins a run with another's state at a step, and
// CompactRun folds a run's early steps into one. Materialize is called on a replayed instance
// (Fresh, with a run's steps applied); it appends the entries that, applied to a run to that
// holds nothing, recreate run's state at version — each payload starting with to, as every
// transactional payload starts with its run. Derived values the primitive computes at Apply
// (an event's sequence and hash) must come out the same; counters the primitive keeps per key
// (a cell's or document's version) start afresh if restart (a fork), and are kept otherwise (a
// compaction, which must not change what a replay shows). A primitive that is not a
// Materializer keeps no state across a fork: ForkRun and CompactRun refuse a run that holds
// some of it.
type Materializer interface {
	Materialize(dst []commitlog.Entry, run, to RunID, version uint64, restart bool) []commitlog.Entry
}

// Item is one comparable piece of a run's state: a keyed value (a KV pair, a JSON document, a
// state cell) or an element of a sequence (an event, a span).
type Item struct {
	Key   string
	Value []byte // the form that is compared, and shown in a diff; never modified by the caller
}

// Lister is implemented by a primitive whose state two runs can be compared on.
type Lister interface {
	// Items returns the run's state at version. Keyed items have unique keys, in any order.
	// With ordered true the items are a sequence in the primitive's own order (events,
	// spans) and are compared position by position: a common prefix, then what each side
	// added.
	Items(run RunID, version uint64) (items []Item, ordered bool)
}

// PathDiffer is implemented by a Lister whose values have inner structure (JSON documents):
// for a key whose values differ, it names the changed places inside them.
type PathDiffer interface {
	ChangedPaths(before, after []byte) ([]string, error)
}
