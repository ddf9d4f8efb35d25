package inmem

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/inmemdb/inmem/actors"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/primitives/run"
)

// RunInfo describes a run: given at BeginRun, never changed. Its fields:
//
//	Name     string          // a name for people ("triage #42")
//	Agent    string          // the agent that runs it; ListRuns filters by it
//	Tags     []string        // labels; ListRuns filters by one
//	Parent   RunID           // the run that started it, or the zero RunID
//	Metadata json.RawMessage // any JSON document of the caller's (validated)
type RunInfo = run.Info

// RunStatus is a run's place in its lifecycle.
type RunStatus = run.Status

// Run statuses.
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
	return db.ended(db.lifecycle(ctx, id, ch))
}

// ended tells the retention actor, if there is one, that a run ended (err == nil).
func (db *DB) ended(err error) error {
	if a := db.retention.Load(); err == nil && a != nil {
		a.KickIfCounting()
	}
	return err
}

// AbortRun fails run id, keeping reason.
func (db *DB) AbortRun(ctx context.Context, id RunID, reason string) error {
	ch, err := db.runs.End(id, true, reason)
	if err != nil {
		return err
	}
	return db.ended(db.lifecycle(ctx, id, ch))
}

// DeleteRun removes run id entirely: its record, its data in every primitive, its journal.
// Afterwards every call naming the run behaves as for a run that never existed, and the id may
// be begun again; the memory comes back once no transaction begun before the deletion still
// reads the run. Only an ended run may be deleted: Active and Orphaned runs are ErrRunActive,
// an unknown one ErrRunNotFound, GlobalRun ErrInvalidArgument. The deletion is one system
// transaction, logged like any commit: recovery and snapshots see it in commit order.
func (db *DB) DeleteRun(ctx context.Context, id RunID) error {
	ch, err := db.runs.Delete(id)
	if err != nil {
		return err
	}
	return db.lifecycle(ctx, id, ch)
}

// lifecycle commits a run change as its own system transaction.
func (db *DB) lifecycle(ctx context.Context, id RunID, ch *run.Change) error {
	return db.submit(ctx, systemCommit(id, ch))
}

// systemCommit is a run change as a commit of its own, never part of a user's transaction.
func systemCommit(id RunID, ch *run.Change) *actors.Commit {
	c := actors.NewCommit(id, 0, ch)
	c.System = true
	return c
}

// RunStatus returns the run's status; an unknown run is RunNotFound, not an error. GlobalRun
// is always active. After Close, which it has no error to report, every run is RunNotFound
// (Run returns ErrClosed).
func (db *DB) RunStatus(id RunID) RunStatus {
	if db.usable() != nil {
		return RunNotFound
	}
	if id == GlobalRun {
		return RunActive
	}
	return db.runs.Status(id, db.clock.Now())
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// ResumeRun turns an Orphaned run (one that was active when the process stopped) back to
// Active, for an orchestrator picking it up after a crash. Any other status is an error.
func (db *DB) ResumeRun(ctx context.Context, id RunID) error {
	ch, err := db.runs.Resume(id)
	if err != nil {
		return err
	}
	return db.lifecycle(ctx, id, ch)
}

// RunMetadata describes a run.
type RunMetadata struct {
	ID         RunID
	Info       RunInfo
	Status     RunStatus
	StartedAt  time.Time
	EndedAt    time.Time  // zero while the run has not ended
	Reason     string     // AbortRun's reason
	Steps      int        // the number of the run's last step: its data transactions (see StepInfo)
	ForkedFrom *ForkPoint // the run and step ForkRun took its initial state from; nil if not forked
	TxCount    int        // the same as Steps: the data transactions the run committed
	OpCount    int        // the operations of the steps it holds: WAL entries of the primitives (a JSON patch is one)
}

// Run returns the run's metadata; an unknown run is ErrRunNotFound.
func (db *DB) Run(id RunID) (RunMetadata, error) {
	if err := db.usable(); err != nil {
		return RunMetadata{}, err
	}
	now := db.clock.Now()
	r, ok := db.runs.Get(id, now)
	if !ok {
		return RunMetadata{}, fmt.Errorf("%w: %s", ErrRunNotFound, id)
	}
	return db.runMetadata(r, now), nil
}

// RunFilter selects runs for ListRuns. Zero fields match everything.
type RunFilter struct {
	Status RunStatus // RunNotFound (the zero value) matches every status
	Agent  string
	Tag    string
	Parent RunID
	// Limit, if positive, is the most runs ListRuns returns; a page.
	Limit int
	// After, if not zero, is the last run of the previous page: the listing continues after it
	// in ListRuns' order. A run that no longer exists is ErrRunNotFound.
	After RunID
}

func (f RunFilter) matches(r *run.Record) bool {
	return (f.Status == RunNotFound || r.Status == f.Status) &&
		(f.Agent == "" || r.Info.Agent == f.Agent) &&
		(f.Tag == "" || slices.Contains(r.Info.Tags, f.Tag)) &&
		(f.Parent == GlobalRun || r.Info.Parent == f.Parent)
}

// ListRuns returns the runs matching f, oldest first (by start time, then id), a page of at
// most f.Limit after f.After if they are set. Pages taken one after another list every run that
// existed throughout exactly once.
func (db *DB) ListRuns(f RunFilter) ([]RunMetadata, error) {
	if err := db.usable(); err != nil {
		return nil, err
	}
	if f.Limit < 0 {
		return nil, dberr.Invalid("ListRuns: negative limit %d", f.Limit)
	}
	now := db.clock.Now()
	var after *run.Record
	if f.After != GlobalRun {
		r, ok := db.runs.Get(f.After, now)
		if !ok {
			return nil, fmt.Errorf("%w: ListRuns after %s", ErrRunNotFound, f.After)
		}
		after = r
	}
	var records []*run.Record
	m := run.Match{Status: f.Status, Agent: f.Agent, Tag: f.Tag, Parent: f.Parent}
	for _, r := range db.runs.Matching(now, m) {
		if f.matches(r) && (after == nil || runOrder(r, after) > 0) {
			records = append(records, r)
		}
	}
	slices.SortFunc(records, runOrder)
	if f.Limit > 0 && len(records) > f.Limit {
		records = records[:f.Limit]
	}
	out := make([]RunMetadata, len(records))
	for i, r := range records {
		out[i] = db.runMetadata(r, now)
	}
	return out, nil
}

// runOrder is ListRuns' order: start time, then id.
func runOrder(a, b *run.Record) int {
	if c := cmp.Compare(a.StartedAt, b.StartedAt); c != 0 {
		return c
	}
	return bytes.Compare(a.ID[:], b.ID[:])
}

// OrphanedRuns returns the runs marked Orphaned: active when the database last stopped, marked
// by recovery at Open (each a logged system transaction). ResumeRun makes one Active again.
// After Close, which it has no error to report, it returns nil (ListRuns returns ErrClosed).
func (db *DB) OrphanedRuns() []RunID {
	runs, err := db.ListRuns(RunFilter{Status: RunOrphaned})
	if err != nil {
		return nil
	}
	ids := make([]RunID, len(runs))
	for i, r := range runs {
		ids[i] = r.ID
	}
	return ids
}

func (db *DB) runMetadata(r *run.Record, snapshot uint64) RunMetadata {
	txs, ops, fork := db.runs.Counts(r.ID, snapshot)
	m := RunMetadata{ID: r.ID, Info: r.Info, Status: r.Status, Reason: r.Reason,
		StartedAt: time.UnixMicro(r.StartedAt).UTC(), Steps: txs, TxCount: txs, OpCount: ops}
	if r.EndedAt != 0 {
		m.EndedAt = time.UnixMicro(r.EndedAt).UTC()
	}
	if fork != nil {
		m.ForkedFrom = &ForkPoint{Run: fork.Run, Step: fork.Step}
	}
	m.Info.Tags = slices.Clone(r.Info.Tags)
	m.Info.Metadata = slices.Clone(r.Info.Metadata)
	return m
}
