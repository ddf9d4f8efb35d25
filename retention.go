package inmem

import (
	"context"
	"errors"

	"github.com/inmemdb/inmem/internal/dberr"
	"time"

	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/retention"
)

// RetentionOptions says which ended runs the database deletes by itself; the zero value keeps
// every run. A retention actor deletes them, each with a DeleteRun of its own, one at a time:
// it never holds more than one commit in the pipeline, so the commits around it hardly feel it.
// Active and Orphaned runs are never deleted by retention.
type RetentionOptions struct {
	// EndedRunTTL deletes Completed and Failed runs that ended longer ago than this. A pass
	// runs at least every min(EndedRunTTL/2, 1 minute), and at most every 10 ms.
	EndedRunTTL time.Duration
	// MaxEndedRuns keeps at most this many ended runs, deleting the oldest ended first; a
	// pass runs soon after a run ends.
	MaxEndedRuns int
	// KeepSteps compacts every run's history, active and ended alike, to its last KeepSteps
	// steps (CompactRun), at each pass: at least every minute. A run that never ends — a chat
	// thread, a standing supervisor — then stops growing.
	KeepSteps int
}

// SetRetention replaces the retention options of an open database, for as long as it stays
// open (Options.Retention applies again at the next Open): the retention actor stops after the
// deletion or compaction under way, and starts again with o — or not at all, for the zero
// value — its first pass at once. Negative values are ErrInvalidArgument; a database opened
// read-only refuses it (ErrReadOnly), a closed one says ErrClosed.
func (db *DB) SetRetention(o RetentionOptions) error {
	if o.EndedRunTTL < 0 || o.MaxEndedRuns < 0 || o.KeepSteps < 0 {
		return dberr.Invalid("SetRetention: negative option in %+v", o)
	}
	if db.readOnly {
		return ErrReadOnly
	}
	db.retentionMu.Lock()
	defer db.retentionMu.Unlock()
	if err := db.usable(); err != nil {
		return err
	}
	if a := db.retention.Load(); a != nil {
		a.Stop()
	}
	db.retention.Store(db.newRetention(o))
	if a := db.retention.Load(); a != nil {
		a.Kick()
	}
	return nil
}

// startRetention starts the retention actor if the options ask for one.
func (db *DB) startRetention() {
	if !db.readOnly {
		db.retention.Store(db.newRetention(db.opts.Retention))
	}
}

// newRetention starts a retention actor for o; nil if o deletes and compacts nothing.
func (db *DB) newRetention(o RetentionOptions) *retention.Actor {
	p := retention.Policy{TTL: o.EndedRunTTL, MaxEnded: o.MaxEndedRuns, KeepSteps: o.KeepSteps}
	if !p.Enabled() {
		return nil
	}
	return retention.Start(retention.Config{Policy: p, Now: time.Now, Ended: db.endedRuns,
		Delete: func(ctx context.Context, run extension.RunID) error {
			return raced(db.DeleteRun(ctx, run))
		},
		Histories: db.histories,
		Compact: func(ctx context.Context, run extension.RunID, step int) error {
			return raced(db.CompactRun(ctx, run, step))
		},
		Deleted: func(run extension.RunID) {
			db.metrics.retentionDeleted.Add(1)
			db.opts.Logger.Debug("inmem: retention deleted a run", "run", RunID(run))
		},
		Passed: func(deleted, compacted int) {
			db.opts.Logger.Info("inmem: retention pass", "runs_deleted", deleted, "runs_compacted", compacted)
		},
		Failed: func(run extension.RunID, err error) {
			if !errors.Is(err, ErrClosed) {
				db.opts.Logger.Warn("inmem: retention could not delete a run; the next pass tries again", "run", RunID(run), "err", err)
			}
		},
	})
}

// raced forgives what the application did to a run meanwhile: deleted it, or compacted it.
func raced(err error) error {
	if errors.Is(err, ErrRunNotFound) || errors.Is(err, ErrConflict) {
		return nil
	}
	return err
}

// histories lists every run's history, for the retention actor.
func (db *DB) histories() []retention.History {
	now := db.clock.Now()
	var out []retention.History
	for _, r := range db.runs.Records(now) {
		if j, ok := db.runs.Journal(r.ID, now); ok {
			out = append(out, retention.History{Run: r.ID, First: j.First(), Last: j.Last()})
		}
	}
	return out
}

// endedRuns lists the Completed and Failed runs, for the retention actor.
func (db *DB) endedRuns() []retention.Ended {
	var out []retention.Ended
	for _, r := range db.runs.Records(db.clock.Now()) {
		if r.Status == RunCompleted || r.Status == RunFailed {
			out = append(out, retention.Ended{Run: r.ID, EndedAt: time.UnixMicro(r.EndedAt)})
		}
	}
	return out
}

// stopRetention stops the retention actor, between two deletions. Close calls it once it
// has marked the database closed, so SetRetention starts no actor after it.
func (db *DB) stopRetention() {
	db.retentionMu.Lock()
	defer db.retentionMu.Unlock()
	if a := db.retention.Load(); a != nil {
		a.Stop()
	}
}
