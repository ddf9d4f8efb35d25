package stress

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/inmemdb/inmem"
)

// tracker is what the workload knows of one run: how many of its transactions were handed to
// the database and how many were acknowledged. An agent owns its run alone, one transaction at
// a time, so after any crash the run must hold between acked and attempted of them.
type tracker struct {
	agent, r  int
	run       inmem.RunID
	attempted atomic.Int64
	acked     atomic.Int64
	ended     atomic.Int32 // endNone, or the acknowledged end
}

const (
	endNone = iota
	endCompleted
	endFailed
)

// length is how many transactions a run takes before its agent ends it (5–34), and failed
// whether it aborts instead.
func length(run inmem.RunID) (n int, failed bool) {
	h := binary.LittleEndian.Uint64(run[8:])
	return 5 + int(h%30), h%5 == 0
}

// sharedKey is the GlobalRun counter every agent increments with a read-modify-write, so that
// concurrent increments conflict and Update retries them.
const sharedKey = "counter"

// workload is the agents' shared state. Trackers outlive databases: a round closes, crashes or
// kills the database, and the next round resumes each agent where its run was left.
type workload struct {
	seed   uint64
	agents int
	report *Report

	mu       sync.Mutex
	trackers map[inmem.RunID]*tracker
	current  []*tracker // each agent's run in progress (nil: begin the next)
	next     []int      // each agent's next run index

	incAttempted, incAcked atomic.Int64

	// acked, if set, hears of every acknowledged transaction, end and increment (the crash
	// loop's child reports them to its parent this way).
	acked func(format string, args ...any)

	// stopped, if set, hears of an agent that stopped on an error of its own, not because its
	// time was up (the crash loop's child, where nothing else can make a commit fail).
	stopped func(agent int, err error)
	// witness, if set, is carried by every transaction, so that each acknowledgement comes
	// with its commit version (the crash loop; nil elsewhere).
	witness *Witness
	// What the crash loop's parent knows of the commit order (verifyPrefix), under mu: the
	// versions children saw acknowledged, and how many of its Opens marked each run Orphaned.
	ackedVersions []uint64
	orphaned      map[inmem.RunID]int
}

func newWorkload(seed uint64, agents int, report *Report) *workload {
	return &workload{seed: seed, agents: agents, report: report, trackers: map[inmem.RunID]*tracker{},
		current: make([]*tracker, agents), next: make([]int, agents), orphaned: map[inmem.RunID]int{}}
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
		t, err := w.begin(ctx, db, a)
		if err != nil {
			return err
		}
		if err := w.steps(ctx, db, t, rng); err != nil {
			return err
		}
		if err := w.end(ctx, db, t); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// begin returns agent a's run in progress, or begins its next one.
func (w *workload) begin(ctx context.Context, db *inmem.DB, a int) (*tracker, error) {
	w.mu.Lock()
	t := w.current[a]
	if t == nil {
		t = &tracker{agent: a, r: w.next[a], run: runID(w.seed, a, w.next[a])}
		w.next[a]++
		w.trackers[t.run] = t
		w.current[a] = t
	}
	w.mu.Unlock()
	if db.RunStatus(t.run) != inmem.RunNotFound {
		return t, nil // begun before a crash or a reopen
	}
	if err := db.BeginRun(ctx, t.run, inmem.RunInfo{Name: fmt.Sprintf("agent %d run %d", a, t.r), Agent: strconv.Itoa(a)}); err != nil {
		return nil, err
	}
	w.tell("begin %d %d", a, t.r)
	return t, nil
}

// steps commits the run's transactions from where it stands, and now and then increments the
// shared counter.
func (w *workload) steps(ctx context.Context, db *inmem.DB, t *tracker, rng *rand.Rand) error {
	n, _ := length(t.run)
	done := int(t.acked.Load())
	m := fold(t.run, done)
	for i := done; i < n; i++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		o := opAt(t.run, i)
		t.attempted.Store(int64(i + 1))
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
		if rng.IntN(8) == 0 {
			if err := w.increment(ctx, db); err != nil {
				return err
			}
		}
	}
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

// end completes or aborts the run, and moves the agent on to its next one.
func (w *workload) end(ctx context.Context, db *inmem.DB, t *tracker) error {
	_, failed := length(t.run)
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
	t.ended.Store(kind)
	w.tell("end %d %d %d", t.agent, t.r, kind)
	w.moveOn(t)
	return nil
}

// moveOn makes the agent of t begin its next run.
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
