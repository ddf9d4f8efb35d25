package inmem

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"path/filepath"
	"time"
)

// OpenReadOnly recovers the database in dir into memory without writing anything: no torn
// tail is cut, no damaged file is moved aside, no run is marked Orphaned, no snapshot is
// taken, and the directory is not created if it is missing. It takes a shared lock on the
// directory, so several read-only openers work side by side, but not beside a writer: a
// directory that Open holds is ErrLocked, unless Recovery.IgnoreLock is set, in which case it
// reads a consistent prefix of what is on disk. Every write, snapshot and backup of the
// returned database is ErrReadOnly; reads, replay, diff and subscriptions (which see nothing)
// work as usual.
func OpenReadOnly(dir string, opts *Options) (*DB, error) {
	o, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	if o.Durability == InMemory || dir == "" {
		return nil, fmt.Errorf("%w: OpenReadOnly reads a database directory", ErrInvalidArgument)
	}
	db, err := newDB(o, dir)
	if err != nil {
		return nil, err
	}
	db.readOnly, db.dir = true, dir
	if err := db.openReadOnly(); err != nil {
		db.feed.Close(ErrClosed)
		return nil, errors.Join(err, db.engine.Stop(), db.closeHistory())
	}
	return db, nil
}

// openReadOnly takes the shared lock and recovers, writing nothing.
func (db *DB) openReadOnly() error {
	fs := db.fs()
	if !db.opts.Recovery.IgnoreLock {
		lock, err := fs.LockShared(filepath.Join(db.dir, lockFile))
		switch {
		case errors.Is(err, iofs.ErrNotExist):
			return fmt.Errorf("%w: %s is not a database directory (no %s)", ErrNotFound, db.dir, lockFile)
		case err != nil && errors.Is(err, ErrFSLocked):
			return fmt.Errorf("%w: %s (a writer has it open; Recovery.IgnoreLock reads it anyway)", ErrLocked, db.dir)
		case err != nil:
			return fmt.Errorf("inmem: lock %s: %w", db.dir, err)
		}
		db.lock = lock
	}
	start := time.Now()
	res, err := db.recover()
	if err != nil {
		return err
	}
	if err := db.engine.Serve(res.wal.LastVersion, 0, nil); err != nil {
		return fmt.Errorf("%w: %w", ErrCorruption, err)
	}
	db.recovery = res.RecoveryResult
	db.recovery.Duration = time.Since(start)
	return nil
}
