package inmem

import (
	"path/filepath"

	"github.com/inmemdb/inmem/commitlog"
)

// HistoryOptions say how much of the runs' history is kept in memory.
//
// In Strict and Buffered modes a run's history is not copied anywhere: every step is already in
// the log, so the run keeps only where each step is there (32 bytes a step, whatever its
// payload) and replay, diff, RunSteps and export read the steps back from the log's segments.
// When snapshots retire the log, what retained steps are in stays, in wal/history/: segments
// that are mostly retained steps whole, the steps alone otherwise; a run deleted or compacted
// past its steps gives them back one snapshot cycle later. InMemory mode keeps the history in
// memory.
type HistoryOptions struct {
	// CacheBytes bounds the steps read back from the log that are kept in memory, least
	// recently used first out (64 MiB). A replay of a run read moments ago does not touch the
	// disk.
	CacheBytes int64
}

// defaultHistoryCache is HistoryOptions.CacheBytes by default.
const defaultHistoryCache = 64 << 20

// openHistory makes the run store read its history back from the log in dir's wal/ directory
// (not in InMemory mode). Before the engine makes its shards: they journal steps as places in
// the log from birth.
func (db *DB) openHistory(dir string) {
	if db.opts.Durability == InMemory {
		return
	}
	db.history = commitlog.NewFetcher(commitlog.FetcherConfig{
		FS: db.fs(), Dir: filepath.Join(dir, walDir), CacheBytes: db.opts.History.CacheBytes,
	})
	db.runs.SetSource(db.history)
}

// historyRetired makes the history's reader let go of the files a retirement removed or moved.
func (db *DB) historyRetired() {
	if err := db.history.Refresh(); err != nil {
		db.opts.Logger.Warn("inmem: list the log after a retirement", "err", err)
	}
}

// closeHistory closes the files history was read from.
func (db *DB) closeHistory() error {
	if db.history == nil {
		return nil
	}
	return db.history.Close()
}

// pin pins the published version for a reader of run history and returns it with the function
// that unpins it. While it is pinned, the journals a reader at it finds are kept, and so are the
// log segments their steps are in: the snapshotter retires none a pinned reader may read.
func (db *DB) pin() (snapshot uint64, unpin func()) {
	s := db.clock.Pin()
	return s, func() { db.clock.Unpin(s) }
}
