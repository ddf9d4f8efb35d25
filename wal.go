package inmem

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/inmemdb/inmem/actors"
	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/internal/vfs"
	"github.com/inmemdb/inmem/recoverer"
)

// Files in the database directory.
const (
	lockFile = "LOCK"
	walDir   = "wal"
)

// RecoveryResult reports what Open found and did (SPEC 8 step 6).
type RecoveryResult struct {
	SnapshotUsed          *SnapshotInfo // nil: no snapshot was loaded
	SnapshotsRejected     int
	EntriesReplayed       int
	TransactionsRecovered int
	TransactionsDiscarded int // no commit marker, aborted, or touched by skipped damage
	CorruptEntries        int
	TornTailBytes         int64    // bytes cut off the log's end: a torn write, and after a crash the zeros the log preallocated
	Quarantined           []string // what PointInTime recovery moved to wal/quarantine/
	UnknownEntries        int
	OrphanedRuns          []RunID
	Consistent            bool // false if SkipCorrupt skipped a transaction: R3 may not hold
	Duration              time.Duration
}

// SnapshotInfo describes a snapshot file.
type SnapshotInfo struct {
	Path      string
	Timestamp time.Time
	WALOffset uint64 // the LSN where replay starts
	TxCount   uint64 // commit version of the last transaction included
}

// LastRecovery returns what the last Open recovered (nil in InMemory mode).
func (db *DB) LastRecovery() *RecoveryResult { return db.recovery }

// openLog takes the directory lock, replays the write-ahead log into the engine and starts the
// log stage at its end.
func (db *DB) openLog(dir string) (err error) {
	fs := db.opts.FS
	if fs == nil {
		fs = vfs.Default()
	}
	if err := fs.MkdirAll(dir); err != nil {
		return fmt.Errorf("inmem: create %s: %w", dir, err)
	}
	// A new directory's own entry is durable only once its parent is synced: without this a
	// power loss could take the whole database, acknowledged commits included.
	if err := fs.SyncDir(filepath.Dir(filepath.Clean(dir))); err != nil {
		return fmt.Errorf("inmem: sync the parent of %s: %w", dir, err)
	}
	lock, err := fs.Lock(filepath.Join(dir, lockFile))
	if err != nil {
		if errors.Is(err, vfs.ErrLocked) {
			return fmt.Errorf("%w: %s", ErrLocked, dir)
		}
		return fmt.Errorf("inmem: lock %s: %w", dir, err)
	}
	defer func() {
		if err != nil {
			lock.Close()
		}
	}()
	wal := filepath.Join(dir, walDir)
	if err := fs.MkdirAll(wal); err != nil {
		return fmt.Errorf("inmem: create %s: %w", wal, err)
	}
	if err := fs.SyncDir(dir); err != nil { // the wal/ entry itself must survive a crash
		return fmt.Errorf("inmem: sync %s: %w", dir, err)
	}
	start := time.Now()
	res, err := recoverer.ReplayWAL(recoverer.WALConfig{
		FS: fs, Dir: wal, Mode: recoverer.Mode(db.opts.Recovery.Mode),
		MaxCorrupt: db.opts.Recovery.MaxCorruptEntries, Registry: &db.registry,
		Apply: func(t recoverer.Txn) error { return db.engine.Recover(t.Version, t.Run, t.Entries) },
	})
	if err != nil {
		return err
	}
	seg, err := openTail(fs, wal, res)
	if err != nil {
		return err
	}
	writer := commitlog.NewWriter(commitlog.WriterConfig{
		FS: fs, Dir: wal, Segment: seg, SegmentSize: db.opts.SegmentSize,
		Strict: db.opts.Durability == Strict, MinSyncInterval: db.opts.MinSyncInterval,
		FlushInterval: db.opts.FlushInterval, MaxUnsyncedBytes: db.opts.MaxUnsyncedBytes,
		OnWrite: func(n int) { db.stats.WALBytes.Add(uint64(n)) },
		OnSync:  func() { db.stats.Syncs.Add(1) },
	})
	if err := db.engine.Serve(res.LastVersion, actors.NewLogStage(writer)); err != nil {
		seg.Close()
		return fmt.Errorf("%w: %w", ErrCorruption, err)
	}
	db.log, db.lock = writer, lock
	db.recovery = recoveryResult(res, time.Since(start))
	return nil
}

// openTail opens the segment where appends continue, cutting off any torn tail, or creates the
// first segment of an empty log.
func openTail(fs vfs.FS, wal string, res recoverer.WALResult) (*commitlog.SegmentFile, error) {
	if !res.HasSegment {
		return commitlog.CreateSegment(fs, wal, 0)
	}
	return commitlog.OpenSegmentForAppend(fs, wal, res.TailBase, res.TailOffset)
}

func recoveryResult(r recoverer.WALResult, d time.Duration) *RecoveryResult {
	return &RecoveryResult{
		EntriesReplayed: r.EntriesReplayed, TransactionsRecovered: r.TransactionsRecovered,
		TransactionsDiscarded: r.TransactionsDiscarded, CorruptEntries: r.CorruptEntries,
		TornTailBytes: r.TornTailBytes, Quarantined: r.Quarantined, UnknownEntries: r.UnknownEntries,
		Consistent: r.Consistent, Duration: d,
	}
}

// Sync makes every commit so far durable, whatever the durability mode. In InMemory mode there
// is nothing to sync.
func (db *DB) Sync() error {
	if err := db.usable(); err != nil {
		return err
	}
	if db.log == nil {
		return nil
	}
	return db.log.Sync(context.Background())
}
