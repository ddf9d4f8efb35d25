package recoverer

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/inmemdb/inmem/internal/vfs"
	"github.com/inmemdb/inmem/snapshotter"
)

// Config describes a whole recovery (SPEC 8 steps 2–4). The caller holds the directory lock
// and owns the engine: Load and Reset act on it.
type Config struct {
	FS          vfs.FS
	SnapshotDir string
	WAL         WALConfig // From and After are set from the snapshot used
	// Load validates the snapshot file at path and loads it into the engine, returning its
	// header. After a failure the engine may hold part of it: Reset is called before the next
	// attempt.
	Load   func(path string) (snapshotter.Header, error)
	Reset  func()
	Logger *slog.Logger
}

// Result reports a recovery.
type Result struct {
	Snapshot *snapshotter.Info // the snapshot loaded; nil if none
	Rejected int               // snapshots that failed validation or loading
	WAL      WALResult
	// Where the time went. Derived indexes are rebuilt as state is loaded and replayed, so
	// their cost is inside Load and Replay.
	Discovery, Load, Replay time.Duration
}

// Recover loads the newest snapshot that validates, falling back to older ones (or to an empty
// state), then replays the log from the snapshot's wal_offset, skipping transactions at or
// below its tx_count. A snapshot that fails to validate or load — damaged, or written by a
// primitive this build cannot read — is rejected and counted. Stray .tmp files of an interrupted snapshot are deleted first.
func Recover(cfg Config) (Result, error) {
	var res Result
	begin := time.Now()
	if _, err := snapshotter.RemoveTemporary(cfg.FS, cfg.SnapshotDir); err != nil {
		return res, fmt.Errorf("recoverer: remove unfinished snapshots: %w", err)
	}
	infos, err := snapshotter.List(cfg.FS, cfg.SnapshotDir)
	if err != nil {
		return res, err
	}
	res.Discovery = time.Since(begin)
	begin = time.Now()
	var rejections []error
	for i := range infos {
		h, err := cfg.Load(infos[i].Path)
		if err == nil {
			info := snapshotter.Info{Path: infos[i].Path, Header: h}
			res.Snapshot = &info
			cfg.WAL.From, cfg.WAL.After = h.WALOffset, h.TxCount
			break
		}
		// Any failure falls back: retention keeps the log back to the oldest snapshot, so an
		// older one rebuilds the same state — and so does the whole log, unless segments were
		// retired, in which case the replay below fails and reports why.
		rejections = append(rejections, fmt.Errorf("snapshot %s: %w", infos[i].Path, err))
		res.Rejected++
		cfg.Logger.Warn("inmem: snapshot rejected, falling back", "snapshot", infos[i].Path, "err", err)
		cfg.Reset()
	}
	res.Load = time.Since(begin)
	begin = time.Now()
	res.WAL, err = ReplayWAL(cfg.WAL)
	res.Replay = time.Since(begin)
	if err != nil && res.Snapshot == nil && len(rejections) > 0 {
		err = fmt.Errorf("%w; no snapshot could be used: %w", err, errors.Join(rejections...))
	}
	return res, err
}
