package inmem

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/snapshotter"
)

// snapshotDir is where snapshot files live, in the database directory.
const snapshotDir = "snapshots"

// SnapshotInfo describes a snapshot file.
type SnapshotInfo struct {
	Path      string
	Timestamp time.Time
	WALOffset uint64 // the LSN where replay starts
	TxCount   uint64 // commit version of the last transaction included
}

func snapshotInfo(i snapshotter.Info) SnapshotInfo {
	return SnapshotInfo{Path: i.Path, Timestamp: i.Time().UTC(), WALOffset: i.WALOffset, TxCount: i.TxCount}
}

// Snapshot writes a snapshot of every primitive at the newest committed version and returns it
// once it is durable. Commits go on while it is written. InMemory mode: ErrInMemory.
func (db *DB) Snapshot() (SnapshotInfo, error) {
	if err := db.snapshotsUsable(); err != nil {
		return SnapshotInfo{}, err
	}
	info, err := db.snaps.Snapshot(context.Background())
	if errors.Is(err, snapshotter.ErrStopped) {
		return SnapshotInfo{}, ErrClosed
	}
	return snapshotInfo(info), err
}

// ListSnapshots returns the valid snapshots, newest first. A file with a snapshot's name that does
// not validate whole is not a snapshot: it is not listed, and the next snapshot moves it to
// snapshots/quarantine/.
func (db *DB) ListSnapshots() ([]SnapshotInfo, error) {
	if err := db.snapshotsUsable(); err != nil && !errors.Is(err, ErrReadOnly) {
		return nil, err
	}
	infos, _, err := db.catalog.Scan()
	out := make([]SnapshotInfo, len(infos))
	for i, in := range infos {
		out[i] = snapshotInfo(in)
	}
	return out, err
}

// DeleteSnapshot deletes a snapshot file listed by ListSnapshots. It refuses (ErrInvalidArgument)
// to delete a snapshot the state could not be rebuilt without: once the log before it is
// retired, another valid snapshot must have its cut in what is left of the log. Deleting one
// of the two snapshots kept leaves one file whose damage the database could not survive until
// the next snapshot is taken.
func (db *DB) DeleteSnapshot(info SnapshotInfo) error {
	if err := db.snapshotsUsable(); err != nil {
		return err
	}
	err := db.snaps.Delete(context.Background(), snapshotter.Info{Path: info.Path})
	if errors.Is(err, snapshotter.ErrStopped) {
		return ErrClosed
	}
	return err
}

func (db *DB) snapshotsUsable() error {
	if db.opts.Durability == InMemory {
		return fmt.Errorf("%w: snapshots need a directory", ErrInMemory)
	}
	if err := db.usable(); err != nil {
		return err
	}
	if db.readOnly {
		return ErrReadOnly
	}
	return nil
}

// startSnapshots starts the snapshotter actor once the log is recovered.
func (db *DB) startSnapshots() error {
	cfg := db.opts.Snapshot
	s, err := snapshotter.Start(snapshotter.Config{
		FS: db.fs(), Dir: filepath.Join(db.dir, snapshotDir), Catalog: db.catalog, WALDir: filepath.Join(db.dir, walDir),
		Source: snapshotSource{db}, Retention: cfg.RetentionCount, Interval: cfg.Interval,
		WALThreshold: cfg.WALSizeThreshold, Logger: db.opts.Logger, Priority: cfg.Priority,
		DutyCycle: cfg.DutyCycle,
		OnSnapshot: func(_ snapshotter.Info, took time.Duration) {
			db.stats.Snapshots.Add(1)
			db.metrics.snapshot.Record(uint64(took.Milliseconds()))
		},
		History: db.runs.Retained, OnRetire: db.historyRetired,
	})
	db.snaps = s
	return err
}

// stopSnapshots takes the closing snapshot (Snapshot.OnClose) while the engine still runs, then
// stops the snapshotter. A failed closing snapshot loses nothing: the log holds every commit.
func (db *DB) stopSnapshots() error {
	if db.snaps == nil {
		return nil
	}
	var err error
	if db.opts.Snapshot.OnClose && db.engine.Err() == nil {
		if _, err = db.snaps.Closing(context.Background()); err != nil {
			err = fmt.Errorf("inmem: snapshot at close: %w", err)
		}
	}
	db.snaps.Stop()
	return err
}

// snapshotSource is the engine as the snapshotter sees it.
type snapshotSource struct{ db *DB }

func (s snapshotSource) PinCut() (uint64, uint64) { return s.db.engine.PinCut() }
func (s snapshotSource) Unpin(v uint64)           { s.db.engine.Unpin(v) }
func (s snapshotSource) SyncLog() error           { return s.db.log.Sync(context.Background()) }

func (s snapshotSource) Freeze(ctx context.Context, version uint64) ([]snapshotter.View, error) {
	views, err := s.db.engine.Freeze(ctx, version)
	if err != nil {
		return nil, err
	}
	prims := s.db.registry.Primitives()
	out := make([]snapshotter.View, len(views))
	for i, shards := range views {
		out[i] = snapshotter.View{SectionID: prims[i].SectionID(), Shards: shards}
	}
	return out, nil
}

// Backup writes a consistent copy of the database into dst — a directory that does not exist
// or is empty — while commits go on: a fresh snapshot and the part of the log its cut needs,
// each file synced, the directories synced last. The copy holds every commit acknowledged
// before Backup was called (and possibly some made while it ran: it is a prefix of the
// commit order). Restoring it is Open(dst, …). Its files are created with Options.FileMode.
// The snapshot it takes is paced like any other (Snapshot.DutyCycle). InMemory mode:
// ErrInMemory. If ctx ends first, Backup returns ctx.Err() and the copy may be incomplete.
func (db *DB) Backup(ctx context.Context, dst string) error {
	if err := checkContext(ctx); err != nil {
		return err
	}
	if err := db.snapshotsUsable(); err != nil {
		return err
	}
	if err := db.checkBackupDir(dst); err != nil {
		return err
	}
	_, err := db.snaps.Backup(ctx, dst)
	if errors.Is(err, snapshotter.ErrStopped) {
		return ErrClosed
	}
	if err != nil {
		return err
	}
	// The lock file too, so that the copy is a database directory in every respect (a
	// read-only open looks for it).
	lock, err := db.fs().Create(filepath.Join(dst, lockFile))
	if err != nil {
		return fmt.Errorf("inmem: backup: %w", err)
	}
	if err := errors.Join(lock.Sync(), lock.Close()); err != nil {
		return fmt.Errorf("inmem: backup: %w", err)
	}
	return db.fs().SyncDir(dst)
}

// checkBackupDir creates dst if needed and refuses one that is not empty or lies inside the
// database's own directory.
func (db *DB) checkBackupDir(dst string) error {
	if dst == "" {
		return dberr.Invalid("Backup: empty directory name")
	}
	abs, err := filepath.Abs(dst)
	if err != nil {
		return dberr.Invalid("Backup: %s: %v", dst, err)
	}
	own, err := filepath.Abs(db.dir)
	if err != nil {
		return err
	}
	if rel, err := filepath.Rel(own, abs); err == nil && !strings.HasPrefix(rel, "..") {
		return dberr.Invalid("Backup: %s is inside the database directory %s", dst, db.dir)
	}
	fs := db.fs()
	if err := fs.MkdirAll(dst); err != nil {
		return fmt.Errorf("inmem: backup: %w", err)
	}
	names, err := fs.List(dst)
	if err != nil {
		return fmt.Errorf("inmem: backup: %w", err)
	}
	if len(names) > 0 {
		return dberr.Invalid("Backup: %s is not empty", dst)
	}
	return nil
}
