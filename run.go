package inmem

import (
	"context"
	"errors"

	"github.com/inmemdb/inmem/actors"
	"github.com/inmemdb/inmem/primitives/run"
)

// RunInfo describes a run: given at BeginRun, never changed.
type RunInfo = run.Info

// RunStatus is a run's place in its lifecycle.
type RunStatus = run.Status

// Run statuses (SPEC 3.6).
const (
	RunNotFound  = run.NotFound
	RunActive    = run.Active
	RunCompleted = run.Completed
	RunFailed    = run.Failed
	RunOrphaned  = run.Orphaned
)

// BeginRun starts run id. An id already used (in any status) is ErrRunExists.
func (db *DB) BeginRun(ctx context.Context, id RunID, info RunInfo) error {
	ch, err := db.runs.Begin(id, info)
	if err != nil {
		return err
	}
	return db.lifecycle(ctx, id, ch)
}

// EndRun completes run id. Only an active run can end (ErrRunNotActive, ErrRunNotFound).
func (db *DB) EndRun(ctx context.Context, id RunID) error {
	ch, err := db.runs.End(id, false, "")
	if err != nil {
		return err
	}
	return db.lifecycle(ctx, id, ch)
}

// AbortRun fails run id, keeping reason.
func (db *DB) AbortRun(ctx context.Context, id RunID, reason string) error {
	ch, err := db.runs.End(id, true, reason)
	if err != nil {
		return err
	}
	return db.lifecycle(ctx, id, ch)
}

// lifecycle commits a run change as its own system transaction.
func (db *DB) lifecycle(ctx context.Context, id RunID, ch *run.Change) error {
	c := actors.NewCommit(id, 0, ch)
	c.System = true
	return db.submit(ctx, c)
}

// RunStatus returns the run's status; an unknown run is RunNotFound, not an error. GlobalRun
// is always active.
func (db *DB) RunStatus(id RunID) RunStatus {
	if id == GlobalRun {
		return RunActive
	}
	return db.runs.Status(id, db.clock.Now())
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
