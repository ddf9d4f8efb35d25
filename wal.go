package inmem

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/internal/vfs"
	"github.com/inmemdb/inmem/recoverer"
)

// Files in the database directory.
const (
	lockFile = "LOCK"
	walDir   = "wal"
)

// fs returns the filesystem every file operation goes through: Options.FS, or the operating
// system's creating files with Options.FileMode (resolved: never zero) and directories with
// the mode that goes with it.
func (db *DB) fs() vfs.FS {
	if db.opts.FS == nil {
		return vfs.OSWithMode(db.opts.FileMode, vfs.DirMode(db.opts.FileMode))
	}
	return db.opts.FS
}

// openLog takes the directory lock, recovers (the newest valid snapshot, then the log
// after it), starts the log stage at the log's end and the snapshotter, and marks the runs that
// were active when the database last stopped as Orphaned.
func (db *DB) openLog(dir string) (err error) {
	db.dir = dir
	fs := db.fs()
	lock, err := lockDir(fs, dir)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			lock.Close()
		}
	}()
	start := time.Now()
	res, err := db.recover()
	if err != nil {
		return err
	}
	wal := filepath.Join(dir, walDir)
	seg, err := openTail(fs, wal, res.wal)
	if err != nil {
		return err
	}
	if err := db.startSnapshots(); err != nil {
		seg.Close()
		return err
	}
	snaps := db.snaps
	writer := commitlog.NewWriter(commitlog.WriterConfig{
		FS: fs, Dir: wal, Segment: seg, SegmentSize: db.opts.SegmentSize,
		Strict: db.opts.Durability == Strict, MinSyncInterval: db.opts.MinSyncInterval,
		FlushInterval: db.opts.FlushInterval, MaxUnsyncedBytes: db.opts.MaxUnsyncedBytes,
		OnWrite: func(n int) { db.stats.WALBytes.Add(uint64(n)); snaps.Wrote(n) },
		OnSync: func(took time.Duration) {
			db.stats.Syncs.Add(1)
			db.metrics.sync.Record(uint64(took.Microseconds()))
		},
		OnPoison: func(err error) {
			db.opts.Logger.Error("inmem: the log is poisoned: every commit fails until the database is reopened", "err", err)
		},
	})
	if err := db.engine.Serve(res.wal.LastVersion, seg.EndLSN(), writer); err != nil {
		seg.Close()
		snaps.Stop()
		return fmt.Errorf("%w: %w", ErrCorruption, err)
	}
	db.log, db.lock, db.recovery = writer, lock, res.RecoveryResult
	res.OrphanedRuns, err = db.orphanActiveRuns()
	res.Duration = time.Since(start)
	if err != nil {
		snaps.Stop()
		return err
	}
	snaps.Check() // in the background: recovery validated only the snapshot it loaded
	db.logOpened(res.RecoveryResult)
	return nil
}

// logOpened logs an Open's recovery: a summary at Info, and at Warn what it cut off, set
// aside or skipped.
func (db *DB) logOpened(r *RecoveryResult) {
	l := db.opts.Logger
	snapshot := "none"
	if r.SnapshotUsed != nil {
		snapshot = filepath.Base(r.SnapshotUsed.Path)
	}
	l.Info("inmem: opened", "dir", db.dir, "durability", db.opts.Durability.String(), "snapshot", snapshot,
		"transactions_replayed", r.TransactionsRecovered, "orphaned_runs", len(r.OrphanedRuns), "took", r.Duration)
	if r.TornTailBytes > 0 {
		l.Warn("inmem: a torn write cut off the log's end (a crash interrupted it)", "bytes", r.TornTailBytes)
	}
	for _, q := range r.Quarantined {
		l.Warn("inmem: recovery set damaged files aside", "file", q)
	}
	if r.CorruptEntries > 0 || r.SnapshotsRejected > 0 {
		l.Warn("inmem: recovery found corruption", "corrupt_entries", r.CorruptEntries,
			"snapshots_rejected", r.SnapshotsRejected, "consistent", r.Consistent)
	}
}

// lockDir creates the database directory and its wal/ directory, durably, and takes the lock.
func lockDir(fs vfs.FS, dir string) (io.Closer, error) {
	if err := fs.MkdirAll(dir); err != nil {
		return nil, fmt.Errorf("inmem: create %s: %w", dir, err)
	}
	// A new directory's own entry is durable only once its parent is synced: without this a
	// power loss could take the whole database, acknowledged commits included.
	if err := fs.SyncDir(filepath.Dir(filepath.Clean(dir))); err != nil {
		return nil, fmt.Errorf("inmem: sync the parent of %s: %w", dir, err)
	}
	lock, err := fs.Lock(filepath.Join(dir, lockFile))
	if err != nil {
		if errors.Is(err, vfs.ErrLocked) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, dir)
		}
		return nil, fmt.Errorf("inmem: lock %s: %w", dir, err)
	}
	wal := filepath.Join(dir, walDir)
	if err := fs.MkdirAll(wal); err != nil {
		lock.Close()
		return nil, fmt.Errorf("inmem: create %s: %w", wal, err)
	}
	if err := fs.SyncDir(dir); err != nil { // the wal/ entry itself must survive a crash
		lock.Close()
		return nil, fmt.Errorf("inmem: sync %s: %w", dir, err)
	}
	return lock, nil
}

// openTail opens the segment where appends continue, cutting off any torn tail, or creates the
// first segment of an empty log.
func openTail(fs vfs.FS, wal string, res recoverer.WALResult) (*commitlog.SegmentFile, error) {
	if !res.HasSegment {
		return commitlog.CreateSegment(fs, wal, 0)
	}
	return commitlog.OpenSegmentForAppend(fs, wal, res.TailBase, res.TailOffset)
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
