package inmem

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/inmemdb/inmem/actors"
	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/primitives/run"
	"github.com/inmemdb/inmem/replayer"
)

// StepInfo describes one step of a run's history. Step 0 is the state the run began with
// (empty unless BeginRunWith or ForkRun gave it one); step k ≥ 1 is the run's k-th committed
// data transaction. Lifecycle changes are not steps.
type StepInfo struct {
	Step     int
	Version  uint64    // commit version: of the step's transaction; of the run's begin for step 0
	Time     time.Time // commit time
	Attempts int       // times Step ran its function (conflicts retry it); 0 in RunSteps
	Ops      int       // operations: the primitives' WAL entries (a JSON patch is one)
	Kinds    []PrimitiveKind
}

// Step runs fn in a writable transaction of run and commits it as the run's next step, as
// Update does (retrying on conflicts), and describes the step it made. A function that
// writes nothing commits nothing and makes no step: the result's Version is then 0 and its
// Step the run's last. GlobalRun has no steps: ErrNotReplayable.
func (db *DB) Step(ctx context.Context, id RunID, fn func(*Tx) error) (StepInfo, error) {
	if id == GlobalRun {
		return StepInfo{}, fmt.Errorf("%w: GlobalRun has no steps", ErrNotReplayable)
	}
	// Pinned before the commit, so that the step it makes is kept until its entries are read.
	_, unpin := db.pin()
	defer unpin()
	c, attempts, err := db.update(ctx, "Step", id, fn)
	if err != nil {
		return StepInfo{Attempts: attempts}, err
	}
	at := db.clock.Now()
	if c != nil {
		at = c.Version // published before the commit was acknowledged
	}
	j, err := db.journal(id, at)
	if err != nil {
		return StepInfo{Attempts: attempts}, err
	}
	info := StepInfo{Step: j.Last(), Attempts: attempts}
	if c != nil {
		info, err = db.stepInfo(j, j.Last())
		info.Attempts = attempts
	}
	return info, err
}

// stepInfo describes step n of j; its Kinds are read from the step's entries.
func (db *DB) stepInfo(j run.Journal, n int) (StepInfo, error) {
	s, ops := j.Step(n)
	info := StepInfo{Step: n, Version: s.Version, Time: time.UnixMicro(s.Timestamp).UTC(), Ops: ops}
	entries, err := j.StepEntries(n)
	if err != nil {
		return StepInfo{}, err
	}
	for _, e := range entries {
		owner, ok := db.registry.Owner(e.Type)
		if k := db.kinds[owner]; ok && !slices.Contains(info.Kinds, k) {
			info.Kinds = append(info.Kinds, k)
		}
	}
	slices.Sort(info.Kinds)
	return info, nil
}

// RunSteps lists run's steps from step from on, oldest first, at most limit of them (all, if
// limit is 0): the way a checkpointer lists checkpoints. A compacted run's list starts at its
// base (the first step it still holds) whatever from asks. An unknown run is ErrRunNotFound.
func (db *DB) RunSteps(id RunID, from, limit int) ([]StepInfo, error) {
	if from < 0 || limit < 0 {
		return nil, dberr.Invalid("RunSteps: from %d, limit %d", from, limit)
	}
	now, unpin := db.pin()
	defer unpin()
	j, err := db.journal(id, now)
	if err != nil {
		return nil, err
	}
	last := j.Last()
	if from = max(from, j.First()); limit > 0 {
		last = min(last, from+limit-1)
	}
	var out []StepInfo
	for n := from; n <= last; n++ {
		info, err := db.stepInfo(j, n)
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	return out, nil
}

// ReplayCursor walks a run's history one step at a time, from its first step (0, or a compacted
// run's base) to its last as of when it was made: each step is applied once, so a whole walk
// costs O(size of the history), not O(steps²) as replaying each step from scratch would. The
// views it returns stay valid after the cursor moves on and after Close. Not safe for
// concurrent use.
//
//	c, err := db.ReplayCursor(run)
//	…
//	defer c.Close()
//	for c.Next() {
//		use(c.Step(), c.View())
//	}
//	if err := c.Err(); err != nil { … }
type ReplayCursor struct {
	j     run.Journal
	unpin func()         // lets go of the cursor's snapshot (see DB.pin)
	rv    *replayer.View // nil once closed
	next  int            // the step Next applies
	view  *ReadOnlyView
	err   error
}

// ReplayCursor returns a cursor before run's first step. An unknown run is ErrRunNotFound,
// GlobalRun ErrNotReplayable.
func (db *DB) ReplayCursor(id RunID) (*ReplayCursor, error) {
	now, unpin := db.pin()
	j, err := db.journal(id, now)
	if err != nil {
		unpin()
		return nil, err
	}
	c := &ReplayCursor{j: j, unpin: sync.OnceFunc(unpin), rv: replayer.New(&db.registry, id), next: j.First()}
	// A cursor dropped without Close must not hold the snapshot, and with it every version
	// trimming would let go of, for as long as the database is open.
	runtime.AddCleanup(c, func(unpin func()) { unpin() }, c.unpin)
	return c, nil
}

// Next applies the next step and reports whether there was one; false at the end, after an
// error (see Err) and after Close.
func (c *ReplayCursor) Next() bool {
	if c.rv == nil || c.err != nil || c.next > c.j.Last() {
		c.unpin() // nothing more is read
		return false
	}
	var entries []commitlog.Entry
	if entries, c.err = c.j.StepEntries(c.next); c.err != nil {
		return false
	}
	if c.err = c.rv.Apply(entries); c.err != nil {
		return false
	}
	c.view = newView(c.rv, c.next)
	c.next++
	return true
}

// Step returns the number of the step Next applied last; -1 before the first Next.
func (c *ReplayCursor) Step() int {
	if c.view == nil {
		return -1
	}
	return c.view.steps
}

// View returns the state after the step Next applied last: what ReplayRunUntil(run, Step())
// returns. Nil before the first Next.
func (c *ReplayCursor) View() *ReadOnlyView { return c.view }

// Err returns the error that stopped the cursor: ErrCorruption for a damaged history.
func (c *ReplayCursor) Err() error { return c.err }

// Close releases the cursor's replay and the history it holds on to; the views it returned stay
// valid. A cursor Next walked to its end has let go of the history already.
func (c *ReplayCursor) Close() {
	c.rv = nil
	c.unpin()
}

// BeginRunWith begins run id and runs fn in a transaction of it whose writes are the run's
// initial state, its step 0, committed with the begin as one transaction: no reader and no
// recovery ever finds the run begun without its initial state. fn runs once (nothing can
// conflict with a run that does not exist yet); an error from it begins nothing. A nil fn is
// BeginRun. info.Parent, if set, must name an existing run: ErrRunNotFound otherwise.
func (db *DB) BeginRunWith(ctx context.Context, id RunID, info RunInfo, fn func(*Tx) error) error {
	if fn == nil {
		return db.BeginRun(ctx, id, info)
	}
	if err := checkContext(ctx); err != nil {
		return err
	}
	ch, err := db.runs.BeginWith(id, info)
	if err != nil {
		return err
	}
	if err := db.usable(); err != nil {
		return err
	}
	if db.readOnly {
		return ErrReadOnly
	}
	tx := db.newTx(id, db.clock.Pin(), true)
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	_, err = tx.commit(ctx, CommitOptions{}, ch)
	return err
}

// ForkPoint names the run and step a forked run's initial state was taken from:
//
//	Run  RunID // the source run
//	Step int   // the step of it the fork began with
type ForkPoint = run.ForkPoint

// ForkRun begins dst as a new Active run whose step 0 is src's state after step (what
// ReplayRunUntil(src, step) shows; a step past src's last is its last), written in one
// transaction with the begin: KV pairs, JSON documents, state cells (their values; their
// versions start afresh at 1), events (the same sequences, types, payloads and times, so their
// hash chain is the same and verifies) and spans. dst's RunMetadata.ForkedFrom records the
// point; info.Parent defaults to src. A crash leaves either no dst or all of it. src must
// exist (ErrRunNotFound) and may be in any status; dst must not (ErrRunExists).
func (db *DB) ForkRun(ctx context.Context, src RunID, step int, dst RunID, info RunInfo) error {
	if err := checkContext(ctx); err != nil {
		return err
	}
	if step < 0 {
		return dberr.Invalid("ForkRun: step %d", step)
	}
	if db.readOnly {
		return ErrReadOnly
	}
	now, unpin := db.pin()
	defer unpin()
	rv, n, err := db.replayed(src, now, step)
	if err != nil {
		return err
	}
	entries, err := db.materialize(rv, dst, true)
	if err != nil {
		return err
	}
	if info.Parent == GlobalRun {
		info.Parent = src
	}
	ch, err := db.runs.Fork(dst, info, ForkPoint{Run: src, Step: n})
	if err != nil {
		return err
	}
	c := actors.NewCommit(dst, 0, ch, entriesPart(entries))
	c.System = true
	return db.submit(ctx, c)
}

// materialize returns the entries that recreate the replayed run's state in run to, counters
// restarted or not (see extension.Materializer). A
// replayable primitive that cannot write its state again (not an extension.Materializer)
// fails the fork if it holds some of the run's state.
func (db *DB) materialize(rv *replayer.View, to RunID, restart bool) ([]commitlog.Entry, error) {
	var entries []commitlog.Entry
	for owner, p := range db.registry.Primitives() {
		fresh := rv.Primitive(owner)
		if fresh == nil {
			continue
		}
		if m, ok := fresh.(extension.Materializer); ok {
			entries = m.Materialize(entries, rv.Run, to, rv.Version, restart)
			continue
		}
		if l, ok := fresh.(extension.Lister); ok {
			if items, _ := l.Items(rv.Run, rv.Version); len(items) > 0 {
				return nil, fmt.Errorf("%w: primitive %q cannot copy a run's state", ErrNotImplemented, p.Name())
			}
		}
	}
	return entries, nil
}

// entriesPart is a transaction part of entries made by the engine itself (a fork's
// materialized state): nothing to validate, the entries to log as they are.
type entriesPart []commitlog.Entry

func (p entriesPart) Validate(extension.Commit) error { return nil }
func (p entriesPart) Empty() bool                     { return len(p) == 0 }
func (p entriesPart) Entries(dst []commitlog.Entry, _ extension.Commit) []commitlog.Entry {
	return append(dst, p...)
}

// CompactRun folds run's history before step into a new base, the run's state after step - 1
// materialized (as ForkRun materializes it, keeping cell and document versions): replays of
// step - 1 and later stay identical, earlier steps become ErrHistoryCompacted, and RunSteps
// starts at the base. The run's data does not change, and its memory comes back once no reader
// holds the old history. It is what "keep the last N checkpoints" is for, without changing the
// run's id; Retention.KeepSteps does it automatically. A step at or below the base compacts
// nothing; a step past the last + 1 is ErrInvalidArgument. Any run status.
func (db *DB) CompactRun(ctx context.Context, id RunID, step int) error {
	if err := checkContext(ctx); err != nil {
		return err
	}
	if db.readOnly {
		return ErrReadOnly
	}
	now, unpin := db.pin()
	defer unpin()
	j, err := db.journal(id, now)
	if err != nil {
		return err
	}
	base := step - 1
	if base <= j.First() {
		return nil
	}
	if base > j.Last() {
		return dberr.Invalid("CompactRun: step %d of run %s, whose last is %d", step, id, j.Last())
	}
	rv, err := replayer.Replay(&db.registry, id, j.Until(base).Entries())
	if err != nil {
		return err
	}
	entries, err := db.materialize(rv, id, false)
	if err != nil {
		return err
	}
	part, err := db.runs.Compact(id, j, base, entries)
	if err != nil {
		return err
	}
	c := actors.NewCommit(id, 0, part)
	c.System = true
	return db.submit(ctx, c)
}
