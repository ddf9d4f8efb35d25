package inmem

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/inmemdb/inmem/actors"
	"github.com/inmemdb/inmem/recoverer"
	"github.com/inmemdb/inmem/snapshotter"
)

// RecoveryResult reports what Open found and did.
type RecoveryResult struct {
	SnapshotUsed          *SnapshotInfo // nil: no snapshot was loaded
	SnapshotsRejected     int
	EntriesReplayed       int
	TransactionsRecovered int
	TransactionsDiscarded int // no commit marker, aborted, or touched by skipped damage
	CorruptEntries        int
	// TornTailBytes counts the bytes of a write a crash interrupted, cut off the log's end;
	// PreallocatedBytes the zeros after them, space the log had allocated ahead and never
	// written (or, after damage, bytes that were zeroed). After an ordinary crash the first is
	// small or zero and the second up to a megabyte.
	TornTailBytes     int64
	PreallocatedBytes int64
	// Quarantined lists what recovery set aside, never deleted: log it could not use (in
	// wal/quarantine/) and snapshot files that did not validate or load, or that name log set
	// aside (in snapshots/quarantine/).
	Quarantined    []string
	UnknownEntries int
	OrphanedRuns   []RunID
	Consistent     bool // false if SkipCorrupt skipped a transaction: R3 may not hold
	Duration       time.Duration
	Phases         RecoveryPhases
}

// RecoveryPhases splits a recovery's Duration. Derived indexes (trace queries) are rebuilt
// while sections load and entries replay, so their cost is inside Load and Replay.
type RecoveryPhases struct {
	Discovery time.Duration // listing snapshots, removing unfinished ones
	Load      time.Duration // reading, validating and loading the snapshot (and any rejected)
	Replay    time.Duration // reading the log and applying it
	Orphans   time.Duration // marking runs that were active as Orphaned
}

// LastRecovery returns what the last Open recovered (nil in InMemory mode).
func (db *DB) LastRecovery() *RecoveryResult { return db.recovery }

// recovered is a recovery's public report and where the log continues.
type recovered struct {
	*RecoveryResult
	wal recoverer.WALResult
}

// recover rebuilds the state from the newest usable snapshot and the log after it.
func (db *DB) recover() (recovered, error) {
	snaps := filepath.Join(db.dir, snapshotDir)
	db.catalog = snapshotter.NewCatalog(db.fs(), snaps)
	r, err := recoverer.Recover(recoverer.Config{
		FS: db.fs(), SnapshotDir: snaps, Catalog: db.catalog, Logger: db.opts.Logger, ReadOnly: db.readOnly,
		WAL: recoverer.WALConfig{
			FS: db.fs(), Dir: filepath.Join(db.dir, walDir), Mode: recoverer.Mode(db.opts.Recovery.Mode),
			MaxCorrupt: db.opts.Recovery.MaxCorruptEntries, Registry: &db.registry,
			Apply: func(t recoverer.Txn) error { return db.engine.Recover(t.Version, t.Run, t.Entries) },
		},
		Load: db.loadSnapshot,
		Reset: func() {
			_ = db.engine.Stop() // its shards are discarded whole, failure included
			db.startEngine()
		},
	})
	w := r.WAL
	res := &RecoveryResult{
		SnapshotsRejected: r.Rejected, EntriesReplayed: w.EntriesReplayed,
		TransactionsRecovered: w.TransactionsRecovered, TransactionsDiscarded: w.TransactionsDiscarded,
		CorruptEntries: w.CorruptEntries, TornTailBytes: w.TornTailBytes, PreallocatedBytes: w.PreallocatedBytes,
		Quarantined:    append(slices.Clone(r.Quarantined), w.Quarantined...),
		UnknownEntries: w.UnknownEntries, Consistent: w.Consistent,
		Phases: RecoveryPhases{Discovery: r.Discovery, Load: r.Load, Replay: r.Replay},
	}
	if r.Snapshot != nil {
		info := snapshotInfo(*r.Snapshot)
		res.SnapshotUsed = &info
	}
	return recovered{RecoveryResult: res, wal: w}, err
}

// loadSnapshot validates the snapshot at path and loads it into the engine's shards.
func (db *DB) loadSnapshot(path string) (snapshotter.Header, error) {
	h, sections, err := snapshotter.ReadFile(db.fs(), path)
	if err != nil {
		return h, err
	}
	byOwner := make([][]byte, len(db.registry.Primitives()))
	for _, sec := range sections {
		owner, ok := db.registry.SectionOwner(sec.ID)
		if !ok {
			db.opts.Logger.Warn("inmem: snapshot section of no registered primitive skipped",
				"snapshot", path, "section", sec.ID)
			continue
		}
		byOwner[owner] = sec.Data
	}
	return h, db.engine.Load(byOwner, h.TxCount)
}

// orphanActiveRuns marks every run still Active as Orphaned, each a logged
// system transaction. They are submitted together so that they share syncs.
func (db *DB) orphanActiveRuns() ([]RunID, error) {
	begin := time.Now()
	defer func() { db.recovery.Phases.Orphans = time.Since(begin) }()
	var ids []RunID
	var commits []*actors.Commit
	for _, r := range db.runs.Records(db.clock.Now()) {
		if r.Status != RunActive {
			continue
		}
		c := systemCommit(r.ID, db.runs.Orphan(r.ID))
		if err := db.engine.Submit(context.Background(), c); err != nil {
			return ids, fmt.Errorf("inmem: mark run %s orphaned: %w", r.ID, err)
		}
		ids, commits = append(ids, r.ID), append(commits, c)
	}
	var errs []error
	for _, c := range commits {
		errs = append(errs, c.Await(context.Background()))
	}
	if err := errors.Join(errs...); err != nil {
		return ids, fmt.Errorf("inmem: mark runs orphaned: %w", err)
	}
	return ids, nil
}
