package recoverer

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/inmemdb/inmem/internal/vfs"
	"github.com/inmemdb/inmem/snapshotter"
)

// Config describes a whole recovery: snapshot discovery and fallback, the snapshot load, then
// the log after it. The caller holds the directory lock
// and owns the engine: Load and Reset act on it.
type Config struct {
	FS          vfs.FS
	SnapshotDir string
	Catalog     *snapshotter.Catalog // of SnapshotDir: told which file loaded, asked for the rest
	WAL         WALConfig            // From and After are set from the snapshot used
	// Load validates the snapshot file at path and loads it into the engine, returning its
	// header. After a failure the engine may hold part of it: Reset is called before the next
	// attempt.
	Load   func(path string) (snapshotter.Header, error)
	Reset  func()
	Logger *slog.Logger
	// ReadOnly: recover without writing anything (no stray file removed, no snapshot or log
	// moved aside, nothing truncated); WAL.ReadOnly is set from it.
	ReadOnly bool
}

// Result reports a recovery.
type Result struct {
	Snapshot *snapshotter.Info // the snapshot loaded; nil if none
	Rejected int               // snapshots that failed validation or loading
	// Quarantined: where the rejected snapshots were moved (snapshots/quarantine/).
	Quarantined []string
	WAL         WALResult
	// Where the time went. Derived indexes are rebuilt as state is loaded and replayed, so
	// their cost is inside Load and Replay.
	Discovery, Load, Replay time.Duration
}

// Recover loads the newest snapshot that validates, falling back to older ones (or to an empty
// state), then replays the log from the snapshot's wal_offset, skipping transactions at or
// below its tx_count. Stray .tmp files of an interrupted snapshot are deleted first.
//
// A snapshot that fails to validate or load — damaged, or written by a primitive this build
// cannot read — is rejected and counted, and once the log has been replayed, moved to the
// quarantine directory: it must not count for retention or retirement later, and moving it
// aside (never deleting it) keeps it for whoever can read it. So after a successful Recover no
// file newer than the snapshot loaded is left; after a failed one, no snapshot was moved.
func Recover(cfg Config) (Result, error) {
	var res Result
	begin := time.Now()
	cfg.WAL.ReadOnly = cfg.ReadOnly
	if !cfg.ReadOnly { // a read-only recovery leaves stray .tmp files: nothing below lists them
		if _, err := snapshotter.RemoveTemporary(cfg.FS, cfg.SnapshotDir); err != nil {
			return res, fmt.Errorf("recoverer: remove unfinished snapshots: %w", err)
		}
	}
	infos, err := snapshotter.List(cfg.FS, cfg.SnapshotDir)
	if err != nil {
		return res, err
	}
	res.Discovery = time.Since(begin)
	begin = time.Now()
	var rejections []error
	var rejected []string
	for i := range infos {
		h, err := cfg.Load(infos[i].Path)
		if err == nil {
			info := snapshotter.Info{Path: infos[i].Path, Header: h}
			info.Timestamp = infos[i].Timestamp // the name orders snapshots
			if err := cfg.Catalog.Trust(info); err != nil {
				return res, err
			}
			res.Snapshot = &info
			cfg.WAL.From, cfg.WAL.After = h.WALOffset, h.TxCount
			break
		}
		// Any failure falls back: retention keeps the log back to the oldest snapshot, so an
		// older one rebuilds the same state — and so does the whole log, unless segments were
		// retired, in which case the replay below fails and reports why.
		rejections = append(rejections, fmt.Errorf("snapshot %s: %w", infos[i].Path, err))
		rejected = append(rejected, infos[i].Path)
		res.Rejected++
		cfg.Logger.Warn("inmem: snapshot rejected, falling back", "snapshot", infos[i].Path, "err", err)
		cfg.Reset()
	}
	cfg.WAL.SetAsideAbove = func(lsn uint64) ([]string, error) { return setAsideAbove(cfg, lsn, rejected) }
	res.Load = time.Since(begin)
	begin = time.Now()
	res.WAL, err = ReplayWAL(cfg.WAL)
	res.Replay = time.Since(begin)
	if err != nil {
		if res.Snapshot == nil && len(rejections) > 0 {
			err = fmt.Errorf("%w; no snapshot could be used: %w", err, errors.Join(rejections...))
		}
		return res, err // the rejected snapshots stay where they were
	}
	for _, path := range rejected {
		if cfg.ReadOnly {
			break
		}
		to, err := cfg.Catalog.Quarantine(path)
		if err != nil {
			return res, fmt.Errorf("recoverer: set aside snapshot %s: %w", path, err)
		}
		res.Quarantined = append(res.Quarantined, to)
		cfg.Logger.Warn("inmem: rejected snapshot moved aside", "snapshot", path, "to", to)
	}
	return res, nil
}

// setAsideAbove moves aside every valid snapshot whose cut lies above lsn, where the log
// continues after recovery set part of it aside: LSNs never restart below a cut a snapshot
// names. Only the damage path calls it, since it validates every snapshot file.
// The rejected snapshots are left to Recover.
func setAsideAbove(cfg Config, lsn uint64, rejected []string) ([]string, error) {
	valid, _, err := cfg.Catalog.Scan()
	if err != nil {
		return nil, err
	}
	var moved []string
	for _, in := range valid {
		if in.WALOffset <= lsn || slices.Contains(rejected, in.Path) {
			continue
		}
		to, err := cfg.Catalog.Quarantine(in.Path)
		if err != nil {
			return moved, err
		}
		moved = append(moved, to)
		cfg.Logger.Warn("inmem: snapshot names log that recovery set aside; moved aside", "snapshot", in.Path,
			"to", to, "wal_offset", in.WALOffset, "log_continues_at", lsn)
	}
	return moved, nil
}
