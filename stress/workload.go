package stress

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/inmemdb/inmem"
)

// tracker is what the workload knows of one slot: agent's r-th run. An agent owns its slot
// alone, one action at a time — begin, transactions (and compactions between them), end,
// deletion — so after any crash the run must hold between acked and attempted of its
// transactions, and every acknowledged action must have survived.
//
// A run's content is a pure function of its slot and how many of its transactions committed,
// on top of its base: nothing (BeginRun), an initial state derived from the slot (BeginRunWith),
// or the fold of another slot at a step (ForkRun). The fork's base is the only thing the slot
// does not decide by itself: its source and step are learned from the acknowledgement, or from
// the fork's metadata once recovery found it.
type tracker struct {
	agent, r int
	key      inmem.RunID // what the content and fate derive from: runID(seed, agent, r)
	run      inmem.RunID // the run's id: key, or a deleted predecessor's (slotID)
	tag      string

	attempted atomic.Int64
	acked     atomic.Int64
	ended     atomic.Int32 // endNone, or the acknowledged end
	begun     atomic.Bool  // the begin was acknowledged, or recovery found the run
	endTried  atomic.Bool  // an end was handed to the database
	delTried  atomic.Bool  // a deletion was handed to the database
	gone      atomic.Bool  // the run was deleted: acknowledged, or found so by recovery
	// goneChecked: every read of the deleted run was found to answer ErrRunNotFound
	goneChecked atomic.Bool
	fork        atomic.Pointer[forkPoint]
	// baseLo is the compaction base (the run's first replayable step) acknowledged, baseHi the
	// highest attempted; pendingBase, in the crash loop's parent, a compaction the child
	// began and did not live to report (0: none).
	baseLo, baseHi atomic.Int64
	pendingBase    atomic.Int64
}

// forkPoint is a fork's base: src's content after step.
type forkPoint struct {
	src  *tracker
	step int
}

const (
	endNone = iota
	endCompleted
	endFailed
)

func newTracker(seed uint64, a, r int) *tracker {
	return &tracker{agent: a, r: r, key: runID(seed, a, r), run: slotID(seed, a, r), tag: fmt.Sprintf("%d.%d", a, r)}
}

// length is how many transactions a run takes before its agent ends it (5–34), and failed
// whether it aborts instead.
func length(key inmem.RunID) (n int, failed bool) {
	h := binary.LittleEndian.Uint64(key[8:])
	return 5 + int(h%30), h%5 == 0
}

func (t *tracker) length() int {
	n, _ := length(t.key)
	return n
}

// op returns the slot's i-th transaction.
func (t *tracker) op(i int) op { return opAt(t.key, t.tag, i) }

// base returns the model of the run's step 0.
func (t *tracker) base() *model {
	if f := t.fork.Load(); f != nil {
		m := f.src.fold(f.step)
		m.restart()
		return m
	}
	m := newModel()
	if beginKind(t.key) == beginWith {
		for j := range initOps {
			m.apply(initOp(t.key, t.tag, j))
		}
	}
	return m
}

// fold returns the model of the run after its first n transactions. A fork's source is never
// a fork itself (forkSource), so this recurses once at most.
func (t *tracker) fold(n int) *model {
	m := t.base()
	for i := range n {
		m.apply(t.op(i))
	}
	return m
}

// finished says whether the agent is done with the slot: its run deleted, or ended and not
// one its agent deletes.
func (t *tracker) finished() bool {
	return t.gone.Load() || (t.ended.Load() != endNone && !deletes(t.key))
}

// sharedKey is the GlobalRun counter every agent increments with a read-modify-write, so that
// concurrent increments conflict and Update retries them.
const sharedKey = "counter"

type slot struct{ agent, r int }

// workload is the agents' shared state. Trackers outlive databases: a round closes, crashes or
// kills the database, and the next round resumes each agent where recovery left its runs.
type workload struct {
	seed   uint64
	agents int
	report *Report
	// retention is what the database deletes and compacts by itself (Options.Retention): the
	// model lets ended runs vanish if it deletes any, and compaction bases move past the
	// agents' own if it compacts.
	retention inmem.RetentionOptions

	mu       sync.Mutex
	trackers map[slot]*tracker
	current  []*tracker // each agent's slot in progress (nil: begin the next)
	next     []int      // each agent's next slot index

	incAttempted, incAcked atomic.Int64

	// acked, if set, hears of every acknowledged begin, transaction, compaction, end, deletion
	// and increment, and of each compaction before it is attempted (the crash loop's child
	// reports them to its parent this way).
	acked func(format string, args ...any)

	// stopped, if set, hears of an agent that stopped on an error of its own, not because its
	// time was up (the crash loop's child, where nothing else can make a commit fail).
	stopped func(agent int, err error)
	// witness, if set, is carried by every transaction, so that each acknowledgement comes
	// with its commit version (the crash loop; nil elsewhere).
	witness *Witness
	// What the crash loop's parent knows of the commit order (verifyPrefix), under mu: the
	// versions children saw acknowledged; for each run id, the newest version after each of
	// its Opens that marked the run Orphaned (marking is the last thing recovery commits, so
	// a marking lies below that version and above every deletion made before the Open); the
	// Opens' markings not yet given a version; and the compactions that landed.
	ackedVersions []uint64
	markings      map[inmem.RunID][]uint64
	marked        []inmem.RunID
	compactions   atomic.Int64
}

func newWorkload(seed uint64, agents int, report *Report) *workload {
	return &workload{seed: seed, agents: agents, report: report, trackers: map[slot]*tracker{},
		current: make([]*tracker, agents), next: make([]int, agents), markings: map[inmem.RunID][]uint64{}}
}

// vanishes says whether the database deletes ended runs by itself.
func (w *workload) vanishes() bool {
	return w.retention.MaxEndedRuns > 0 || w.retention.EndedRunTTL > 0
}

// run runs every agent on db until ctx ends or an agent's commit fails (a crash or a close
// under way), and returns then.
func (w *workload) run(ctx context.Context, db *inmem.DB) {
	var wg sync.WaitGroup
	for a := range w.agents {
		wg.Go(func() {
			if err := w.agent(ctx, db, a); err != nil && ctx.Err() == nil && w.stopped != nil {
				w.stopped(a, err)
			}
		})
	}
	wg.Wait()
}

func (w *workload) agent(ctx context.Context, db *inmem.DB, a int) error {
	rng := rand.New(rand.NewPCG(w.seed, uint64(a)))
	for ctx.Err() == nil {
		t := w.slotOf(a)
		if !t.begun.Load() {
			if err := w.begin(ctx, db, t, rng); err != nil {
				return err
			}
		}
		if t.ended.Load() == endNone {
			if err := w.steps(ctx, db, t, rng); err != nil {
				return err
			}
			if err := w.end(ctx, db, t); err != nil {
				return err
			}
		}
		if deletes(t.key) && !t.gone.Load() {
			if err := w.delete(ctx, db, t); err != nil {
				return err
			}
		}
		w.moveOn(t)
	}
	return ctx.Err()
}

// slotOf returns agent a's slot in progress, or makes its next one current.
func (w *workload) slotOf(a int) *tracker {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.current[a] == nil {
		w.current[a] = w.trackedLocked(a, w.next[a])
	}
	return w.current[a]
}

// tracked returns agent a's r-th slot's tracker, creating it.
func (w *workload) tracked(a, r int) *tracker {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.trackedLocked(a, r)
}

func (w *workload) trackedLocked(a, r int) *tracker {
	t, ok := w.trackers[slot{a, r}]
	if !ok {
		t = newTracker(w.seed, a, r)
		w.trackers[slot{a, r}] = t
	}
	w.next[a] = max(w.next[a], r+1)
	return t
}

// forkMeta is a fork's RunInfo.Metadata: the slot of its source, which ForkedFrom names only
// by run id.
type forkMeta struct {
	Src [2]int `json:"src"`
}

// begin begins the slot's run as its fate says: plainly, with an initial state, or as a fork
// of another run at a random step (plainly if no run can be forked).
func (w *workload) begin(ctx context.Context, db *inmem.DB, t *tracker, rng *rand.Rand) error {
	info := inmem.RunInfo{Name: slotName(t.agent, t.r), Agent: strconv.Itoa(t.agent)}
	switch beginKind(t.key) {
	case beginFork:
		if src := w.forkSource(t, rng); src != nil {
			ok, err := w.forkFrom(ctx, db, t, src, rng.IntN(int(src.acked.Load())+2), info)
			if ok || err != nil {
				return err
			}
		}
	case beginWith:
		err := db.BeginRunWith(ctx, t.run, info, func(tx *inmem.Tx) error {
			// Not marked with the witness: the begin is a lifecycle change, and counted as one.
			m := newModel()
			for j := range initOps {
				o := initOp(t.key, t.tag, j)
				if err := m.write(tx, o); err != nil {
					return err
				}
				m.apply(o)
			}
			return nil
		})
		if err != nil {
			return err
		}
		return w.begun(t, "begin %d %d %d", t.agent, t.r, beginWith)
	}
	if err := db.BeginRun(ctx, t.run, info); err != nil {
		return err
	}
	return w.begun(t, "begin %d %d %d", t.agent, t.r, beginPlain)
}

// begun records an acknowledged begin: reported first, so that the crash loop's parent has
// heard of the run before another agent can fork it.
func (w *workload) begun(t *tracker, format string, args ...any) error {
	w.tell(format, args...)
	t.begun.Store(true)
	return nil
}

// forkFrom begins t's run as a fork of src after step. ok is false, with no error, if src
// cannot be forked there: gone (retention deleted it), not begun yet, or compacted past step.
func (w *workload) forkFrom(ctx context.Context, db *inmem.DB, t, src *tracker, step int, info inmem.RunInfo) (ok bool, err error) {
	info.Metadata, _ = json.Marshal(forkMeta{Src: [2]int{src.agent, src.r}})
	err = db.ForkRun(ctx, src.run, step, t.run, info)
	if errors.Is(err, inmem.ErrRunNotFound) || errors.Is(err, inmem.ErrHistoryCompacted) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	meta, err := db.Run(t.run) // Active: nothing deletes it
	if err != nil {
		return false, err
	}
	f := meta.ForkedFrom
	if !w.report.check(f != nil && f.Run == src.run && f.Step <= step, invFork,
		"ForkRun(%s, %d) of run %s: ForkedFrom %+v", src.run, step, t.run, f) {
		return false, fmt.Errorf("stress: ForkRun recorded %+v", f)
	}
	t.fork.Store(&forkPoint{src: src, step: f.Step})
	w.report.Forks.Add(1)
	return true, w.begun(t, "begin %d %d %d %d %d %d", t.agent, t.r, beginFork, src.agent, src.r, f.Step)
}

// forkSource picks a run t may fork: begun, of another slot, not one that will be deleted by
// its agent (its id may then be begun again by another slot, and ForkedFrom names only the
// id), and not a fork itself — a fork of a fork whose source retention deleted would have a
// base no process could rebuild after a crash from what the database holds (the crash loop's
// child resumes a fork from its metadata alone). Nil if there is none.
func (w *workload) forkSource(t *tracker, rng *rand.Rand) *tracker {
	var cands []*tracker
	for _, c := range w.all() {
		if c != t && c.begun.Load() && !c.gone.Load() && c.fork.Load() == nil && !deletes(c.key) {
			cands = append(cands, c)
		}
	}
	if len(cands) == 0 {
		return nil
	}
	slices.SortFunc(cands, func(a, b *tracker) int { return cmp.Or(cmp.Compare(a.agent, b.agent), cmp.Compare(a.r, b.r)) })
	return cands[rng.IntN(len(cands))]
}

// steps commits the run's transactions from where it stands, now and then compacts its
// history, and now and then increments the shared counter.
func (w *workload) steps(ctx context.Context, db *inmem.DB, t *tracker, rng *rand.Rand) error {
	n := t.length()
	done := int(t.acked.Load())
	m := t.fold(done)
	for i := done; i < n; i++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		o := t.op(i)
		t.attempted.Store(int64(i + 1))
		if i+1 == n {
			t.endTried.Store(true) // the end may follow unreported
		}
		var mark *WitnessMark // of the attempt that committed: Update may run fn more than once
		if err := db.Update(ctx, t.run, func(tx *inmem.Tx) (err error) {
			if mark, err = w.witness.Mark(tx); err != nil {
				return err
			}
			return m.write(tx, o)
		}); err != nil {
			return err
		}
		m.apply(o)
		t.acked.Store(int64(i + 1))
		w.report.Operations.Add(1)
		w.tell("ack %d %d %d %d", t.agent, t.r, i+1, mark.Version())
		if rng.IntN(6) == 0 {
			if err := w.compact(ctx, db, t, rng); err != nil {
				return err
			}
		}
		if rng.IntN(8) == 0 {
			if err := w.increment(ctx, db); err != nil {
				return err
			}
		}
	}
	return nil
}

// compact folds the run's history before a random step after its base into a new base. The
// base chosen is always past the one the agent knows, so that in the crash loop — where only
// agents compact — every compaction commits exactly one transaction.
func (w *workload) compact(ctx context.Context, db *inmem.DB, t *tracker, rng *rand.Rand) error {
	lo, n := t.baseLo.Load(), t.acked.Load()
	if n <= lo {
		return nil
	}
	b := lo + 1 + rng.Int64N(n-lo) // the new base: lo < b ≤ n
	t.baseHi.Store(max(t.baseHi.Load(), b))
	w.tell("cbeg %d %d %d", t.agent, t.r, b)
	err := db.CompactRun(ctx, t.run, int(b)+1)
	if errors.Is(err, inmem.ErrConflict) && w.retention.KeepSteps > 0 {
		return nil // retention compacted it meanwhile
	}
	if err != nil {
		return err
	}
	t.baseLo.Store(max(t.baseLo.Load(), b))
	w.report.Compactions.Add(1)
	w.tell("cack %d %d %d", t.agent, t.r, b)
	return nil
}

func (w *workload) increment(ctx context.Context, db *inmem.DB) error {
	w.incAttempted.Add(1)
	var mark *WitnessMark
	err := db.Update(ctx, inmem.GlobalRun, func(tx *inmem.Tx) (err error) {
		if mark, err = w.witness.Mark(tx); err != nil {
			return err
		}
		v, err := tx.KV().Get(sharedKey)
		if err != nil && !errors.Is(err, inmem.ErrNotFound) {
			return err
		}
		n, _ := strconv.Atoi(string(v))
		return tx.KV().Put(sharedKey, strconv.AppendInt(nil, int64(n+1), 10))
	})
	if err == nil {
		w.incAcked.Add(1)
		w.report.Increments.Add(1)
		w.tell("inc %d", mark.Version())
	}
	return err
}

// end completes or aborts the run.
func (w *workload) end(ctx context.Context, db *inmem.DB, t *tracker) error {
	_, failed := length(t.key)
	t.endTried.Store(true)
	var err error
	if failed {
		err = db.AbortRun(ctx, t.run, "stress: gave up")
	} else {
		err = db.EndRun(ctx, t.run)
	}
	if err != nil {
		return err
	}
	kind := int32(endCompleted)
	if failed {
		kind = endFailed
	}
	if deletes(t.key) {
		t.delTried.Store(true) // before the end is reported: the deletion may follow unreported
	}
	t.ended.Store(kind)
	w.tell("end %d %d %d", t.agent, t.r, kind)
	return nil
}

// delete deletes the ended run. Retention may have deleted it first (ErrRunNotFound): the run
// is gone either way, but that deletion was not acknowledged to the agent, so the model does
// not insist on it.
func (w *workload) delete(ctx context.Context, db *inmem.DB, t *tracker) error {
	t.delTried.Store(true)
	err := db.DeleteRun(ctx, t.run)
	if errors.Is(err, inmem.ErrRunNotFound) && w.vanishes() {
		return nil
	}
	if err != nil {
		return err
	}
	t.gone.Store(true)
	w.report.Deletions.Add(1)
	w.tell("del %d %d", t.agent, t.r)
	// Gone at once: nothing begins the id again before its agent's next slot does. Unless the
	// database stopped meanwhile (another agent's commit hit the Faults mode's injected error):
	// then nothing can be read.
	_, err = db.Run(t.run)
	if errors.Is(err, inmem.ErrClosed) {
		return nil
	}
	w.report.check(db.RunStatus(t.run) == inmem.RunNotFound && errors.Is(err, inmem.ErrRunNotFound), invDeleted,
		"run %s just deleted: %v, %v", t.run, db.RunStatus(t.run), err)
	return nil
}

// moveOn makes the agent of t begin its next slot.
func (w *workload) moveOn(t *tracker) {
	w.mu.Lock()
	if w.current[t.agent] == t {
		w.current[t.agent] = nil
	}
	w.mu.Unlock()
}

func (w *workload) tell(format string, args ...any) {
	if w.acked != nil {
		w.acked(format, args...)
	}
}

// all returns every tracker.
func (w *workload) all() []*tracker {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]*tracker, 0, len(w.trackers))
	for _, t := range w.trackers {
		out = append(out, t)
	}
	return out
}

// slots returns agent a's trackers, by slot.
func (w *workload) slots(a int) []*tracker {
	var out []*tracker
	for _, t := range w.all() {
		if t.agent == a {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(x, y *tracker) int { return cmp.Compare(x.r, y.r) })
	return out
}
