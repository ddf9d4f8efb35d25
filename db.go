// Package inmem is an embedded, in-memory state database for AI-agent orchestrators.
//
// An orchestrator runs many agent runs at once; each run keeps its working memory in
// primitives — key-value pairs, JSON documents, an event log, state cells, reasoning traces and
// the run record — and every transaction touches one run, atomically across its primitives.
//
//	db, err := inmem.Open("", &inmem.Options{Durability: inmem.InMemory})
//	run := inmem.NewRunID()
//	err = db.BeginRun(ctx, run, inmem.RunInfo{Name: "triage", Agent: "planner"})
//	err = db.Update(ctx, run, func(tx *inmem.Tx) error {
//		return tx.KV().Put("goal", []byte("answer the ticket"))
//	})
//	err = db.View(run, func(tx *inmem.Tx) error {
//		goal, err := tx.KV().Get("goal")
//		...
//	})
//
// Transactions are snapshot-isolated with optimistic concurrency: reads never block and never
// take a lock; at commit, a transaction whose reads were overwritten since its snapshot fails with
// ErrConflict, and Update runs its function again. Blind writes never conflict.
//
// This package is the public surface; the engine — actor goroutines, each the only writer of its
// shard, fed by a sequencer and a group-committing log — lives in the packages it wires together
// (actors, commitlog, the primitives).
//
// Decisions of our own:
//   - Reading a key of a run that does not exist returns ErrRunNotFound (ErrNotFound means the
//     run exists but the key does not). Begin on an unknown run fails the same way.
//   - Values returned by reads are copies: the caller may keep and modify them.
//   - Close is idempotent and returns nil after the first call. Commits already handed over when
//     Close starts still complete; later calls return ErrClosed.
//   - With InMemory durability the dir argument of Open is ignored and may be empty.
//   - Sync in InMemory mode does nothing and returns nil.
//   - Every Open of a directory marks the runs still Active as Orphaned — after a clean Close
//     too: the process that ran them is gone either way. ResumeRun picks one up again.
//   - Close takes a snapshot when Snapshot.OnClose is set (the default) and returns its error
//     if it fails; nothing is lost then, the log holds every commit.
//   - A run's journal keeps every step of the run until the run is compacted (CompactRun,
//     Retention.KeepSteps) or deleted (DeleteRun, Retention's EndedRunTTL and MaxEndedRuns).
//     Journaled payloads are the ones the live state holds, but a snapshot writes them twice
//     (state and journal).
//   - Steps count data transactions only: step 0 is the state a run began with (empty for
//     BeginRun; BeginRunWith's or ForkRun's), step 1 its first transaction after. A step past
//     the end replays everything; a negative one is ErrInvalidArgument. Views stay readable
//     after Close.
//   - A deleted run is as one that never existed for every reader that starts after the
//     deletion; a transaction that began before it still reads what it saw. A run begun again
//     under a deleted id starts afresh (cell versions from 1, a new event chain).
//   - In InMemory mode a commit that finds nothing else in flight runs the pipeline's steps
//     (sequencing, its shard actor's apply, publication) on the committer's goroutine, taking
//     each stage's state under that stage's mutex, instead of crossing three goroutines: the
//     steps, their order and their owners-one-at-a-time are the pipeline's, the hand-offs are not
//     (package actors). Durable modes always hand commits over: the log actor groups them.
//   - Search reads one pinned snapshot and never the transaction's own uncommitted writes
//     (Tx.Search searches the transaction's snapshot). A run's inverted indexes, when
//     Options.Search.Index asks for them, live in memory only and are rebuilt at recovery.
//   - DiffRuns compares values, not histories: a cell's version and time, an event's time and
//     hashes, and a span's id, parent and times are left out, so runs that reached the same
//     state by different routes, or recorded the same reasoning under generated ids, agree.
package inmem

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/inmemdb/inmem/actors"
	"github.com/inmemdb/inmem/changefeed"
	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/mvcc"
	"github.com/inmemdb/inmem/mailbox"
	"github.com/inmemdb/inmem/primitives/event"
	jsondoc "github.com/inmemdb/inmem/primitives/json"
	"github.com/inmemdb/inmem/primitives/kv"
	"github.com/inmemdb/inmem/primitives/run"
	"github.com/inmemdb/inmem/primitives/state"
	"github.com/inmemdb/inmem/primitives/trace"
	"github.com/inmemdb/inmem/retention"
	"github.com/inmemdb/inmem/snapshotter"
)

// DB is an open database. It is safe for concurrent use.
type DB struct {
	opts      Options
	clock     mvcc.Clock
	stats     actors.Stats
	registry  extension.Registry
	kv        *kv.Store
	docs      *jsondoc.Store
	events    *event.Store
	states    *state.Store
	traces    *trace.Store
	runs      *run.Store
	kvAPI     KV
	eventsAPI Events
	stateAPI  State
	jsonAPI   JSON
	tracesAPI Traces

	engine  *actors.Pipeline
	dir     string                          // the database directory; "" in InMemory mode
	log     *commitlog.Writer               // nil in InMemory mode
	history *commitlog.Fetcher              // reads run history back from the log; nil in InMemory mode
	snaps   *snapshotter.Snapshotter        // nil in InMemory mode
	catalog *snapshotter.Catalog            // which snapshot files validated; nil in InMemory mode
	feed    *changefeed.Feed[Change, route] // subscriptions (Subscribe)
	// describers and kinds are, per registered primitive, what turns its entries into changes
	// (nil if nothing) and its kind: set at Open, for the feed.
	describers []extension.Describer
	kinds      []PrimitiveKind
	lock       io.Closer // the directory lock; nil in InMemory mode
	recovery   *RecoveryResult

	readOnly bool // OpenReadOnly: every write is ErrReadOnly
	// retention is the retention actor, nil while nothing is deleted or compacted by policy;
	// replaced by SetRetention under retentionMu.
	retention   atomic.Pointer[retention.Actor]
	retentionMu sync.Mutex
	metrics     metrics
	closed      atomic.Bool
	closeOnce   sync.Once
}

// Open opens the database in dir, creating it if needed. nil opts means DefaultOptions().
func Open(dir string, opts *Options) (*DB, error) {
	o, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	if o.Durability != InMemory && dir == "" {
		return nil, fmt.Errorf("%w: %v durability needs a directory", ErrInvalidArgument, o.Durability)
	}
	db, err := newDB(o, dir)
	if err != nil {
		return nil, err
	}
	if o.Durability == InMemory {
		if err = db.engine.Serve(0, 0, nil); err == nil {
			o.Logger.Info("inmem: opened", "durability", o.Durability.String())
		}
	} else {
		err = db.openLog(dir)
	}
	if err != nil {
		db.feed.Close(ErrClosed)
		return nil, errors.Join(err, db.engine.Stop(), db.closeHistory())
	}
	db.startRetention()
	return db, nil
}

// newDB makes a database of the resolved options o, in dir, with its primitives registered,
// its change feed and its engine started, in recovery.
func newDB(o Options, dir string) (*DB, error) {
	db := &DB{opts: o, kv: kv.New(o.Shards), docs: jsondoc.New(o.Shards), events: event.New(o.Shards),
		states: state.New(o.Shards), traces: trace.New(o.Shards), runs: run.New(o.Shards)}
	db.kvAPI.db, db.jsonAPI.db, db.eventsAPI.db, db.stateAPI.db, db.tracesAPI.db = db, db, db, db, db
	builtins := []Primitive{db.kv, db.docs, db.events, db.states, db.traces, db.runs} // owner order: replay.go
	for _, p := range append(builtins, o.Primitives...) {
		if err := db.registry.Register(p); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
		}
	}
	db.feed = newFeed(&db.metrics.lagged)
	db.describers, db.kinds = db.describersOf()
	db.configureSearch() // before the engine creates the shards: they index or not from birth
	db.openHistory(dir)  // likewise: they journal steps in memory or in the log from birth
	db.startEngine()
	return db, nil
}

// startEngine creates every primitive's shards afresh and starts their actors, in recovery.
func (db *DB) startEngine() {
	db.engine = actors.StartPipeline(actors.PipelineConfig{
		Registry: &db.registry, Shards: db.opts.Shards, Clock: &db.clock, Stats: &db.stats,
		Guard: db.runs, MaxBatchBytes: db.opts.MaxBatchBytes,
		OnFail:            func(err error) { db.opts.Logger.Error("inmem: engine stopped", "err", err) },
		OnPublish:         db.published,
		InlineLoneCommits: true,
	})
}

// Close stops the database: commits already handed over complete, then every goroutine of the
// engine exits. It returns the engine's failure, if it had one.
func (db *DB) Close() (err error) {
	db.closeOnce.Do(func() {
		db.closed.Store(true)
		db.stopRetention()
		err = db.stopSnapshots()
		err = errors.Join(err, db.engine.Stop(), db.closeHistory())
		db.feed.Close(ErrClosed) // after the last commit was published
		if db.lock != nil {
			err = errors.Join(err, db.lock.Close())
		}
	})
	return err // nil after the first call
}

// usable returns ErrClosed once Close has started, or the engine's failure.
func (db *DB) usable() error {
	if db.closed.Load() {
		return ErrClosed
	}
	if err := db.engine.Err(); err != nil {
		return fmt.Errorf("%w: engine stopped: %w", ErrClosed, err)
	}
	return nil
}

// submit hands a commit to the sequencer and waits for its outcome. A commit that never
// reaches the sequencer releases its pinned snapshot here; otherwise the sequencer does.
//
// ctx governs admission only: waiting for room in the sequencer's mailbox. Once the sequencer
// has the commit, submit waits for its real outcome whatever ctx does, so that an error always
// means "not committed" (a caller that saw ctx.Err() for a commit that landed would retry a
// step that happened).
func (db *DB) submit(ctx context.Context, c *actors.Commit) error {
	err := checkContext(ctx)
	if err == nil {
		err = db.usable()
	}
	if err == nil && db.readOnly {
		err = ErrReadOnly
	}
	var began time.Time
	if db.log != nil { // timed in durable modes, where a clock read is noise next to an fsync
		began = time.Now()
	}
	if err == nil {
		err = ctx.Err() // a context already done hands nothing over
	}
	if err == nil {
		err = db.engine.Submit(ctx, c)
	}
	if err != nil {
		if c.Pinned {
			db.clock.Unpin(c.Snapshot)
		}
		if errors.Is(err, mailbox.ErrClosed) {
			return ErrClosed
		}
		return err
	}
	err = c.Await(context.Background())
	if !began.IsZero() {
		db.metrics.commit.Record(uint64(time.Since(began).Microseconds()))
	}
	return err
}

// checkContext refuses a nil context: every call that takes one says what it bounds.
func checkContext(ctx context.Context) error {
	if ctx == nil {
		return dberr.Invalid("nil context")
	}
	return nil
}

// Stats are counters since Open.
type Stats struct {
	Commits   uint64 // transactions committed, run lifecycle changes included (read-only ones never count)
	Conflicts uint64 // commits refused with ErrConflict or ErrVersionMismatch
	Batches   uint64 // batches the sequencer formed: Commits/Batches is the group-commit factor
	Syncs     uint64 // fdatasync calls on the log
	WALBytes  uint64 // bytes written to the log
	Snapshots uint64 // snapshots written
}

// Stats returns the current counters.
func (db *DB) Stats() Stats {
	s := &db.stats
	return Stats{
		Commits: s.Commits.Load(), Conflicts: s.Conflicts.Load(), Batches: s.Batches.Load(),
		Syncs: s.Syncs.Load(), WALBytes: s.WALBytes.Load(), Snapshots: s.Snapshots.Load(),
	}
}

// runCheck returns ErrRunNotFound unless run exists at snapshot (GlobalRun always does), and
// for a writer ErrRunNotActive unless it is active. The sequencer checks again at commit: this
// only refuses early what would fail anyway.
func (db *DB) runCheck(id RunID, snapshot uint64, write bool) error {
	if id == GlobalRun {
		return nil
	}
	switch st := db.runs.Status(id, snapshot); {
	case st == run.NotFound:
		return fmt.Errorf("%w: %s", ErrRunNotFound, id)
	case write && st != run.Active:
		return fmt.Errorf("%w: %s is %s", ErrRunNotActive, id, st)
	}
	return nil
}
