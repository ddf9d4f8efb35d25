package stress

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"

	"github.com/inmemdb/inmem"
)

// bounds is what a run may hold after a crash: at least the transactions acknowledged before
// it, at most those attempted by then; and the end, if one was acknowledged before it.
type bounds struct {
	lo, hi int64
	ended  int32
}

// durable is what the workload must find again after a crash now: each run's acknowledged
// transactions and end.
type durable map[*tracker]bounds

func (w *workload) acknowledged() durable {
	out := durable{}
	for _, t := range w.all() {
		out[t] = bounds{lo: t.acked.Load(), ended: t.ended.Load()}
	}
	return out
}

// verify checks every run against the model after a reopen or a recovery, given what was
// acknowledged before the crash (lo; nil: what is acknowledged now) and the shared counter's
// acknowledged increments then (incLo). It then makes the workload continue from what the
// database holds: that is the truth the next round builds on.
func (w *workload) verify(db *inmem.DB, lo durable, incLo int64, rng *rand.Rand) {
	known := map[inmem.RunID]bool{}
	for _, t := range w.all() {
		known[t.run] = true
		b := bounds{lo: t.acked.Load(), ended: t.ended.Load()}
		if lo != nil {
			b = lo[t] // zero for a run begun after the crash
		}
		b.hi = t.attempted.Load()
		w.verifyRun(db, t, b, rng)
	}
	runs, err := db.ListRuns(inmem.RunFilter{})
	if w.report.check(err == nil, invR4, "ListRuns: %v", err) {
		for _, r := range runs {
			w.report.check(known[r.ID], invR4, "run %s was never begun by the workload", r.ID)
		}
	}
	w.verifyCounter(db, incLo)
}

func (w *workload) verifyRun(db *inmem.DB, t *tracker, b bounds, rng *rand.Rand) {
	rep := w.report
	status := db.RunStatus(t.run)
	if status == inmem.RunNotFound {
		rep.check(b.lo == 0 && b.ended == endNone, invR5, "run %s (agent %d #%d) with %d acknowledged transactions is gone",
			t.run, t.agent, t.r, b.lo)
		t.acked.Store(0)
		t.attempted.Store(0)
		t.ended.Store(endNone)
		return
	}
	meta, err := db.Run(t.run)
	if !rep.check(err == nil, invR3, "Run(%s): %v", t.run, err) {
		return
	}
	n := int64(meta.TxCount)
	rep.check(n >= b.lo, invR5, "run %s holds %d transactions, %d were acknowledged", t.run, n, b.lo)
	rep.check(n <= b.hi, invR4, "run %s holds %d transactions, only %d were attempted", t.run, n, b.hi)
	want := fold(t.run, int(n)).image()
	got, err := live(db, t.run).image()
	rep.check(err == nil && got == want, invR3, "run %s after %d transactions (%v):\nwant\n%s\ngot\n%s", t.run, n, err, want, got)
	err = db.Events().VerifyChain(t.run)
	rep.check(err == nil, invChain, "run %s: %v", t.run, err)
	w.verifyReplay(db, t.run, int(n), want, rng)
	w.verifyEnd(t, b.ended, status)
	t.acked.Store(n)
	t.attempted.Store(n)
}

// verifyReplay checks that ReplayRun gives the model of all n transactions, and a replay to a
// random step the model of that prefix.
func (w *workload) verifyReplay(db *inmem.DB, run inmem.RunID, n int, want string, rng *rand.Rand) {
	rep := w.report
	v, err := db.ReplayRun(run)
	if rep.check(err == nil, invReplay, "ReplayRun(%s): %v", run, err) {
		got, err := replayed(v).image()
		rep.check(err == nil && got == want && v.Steps() == n, invReplay, "run %s replayed %d steps (%v):\nwant\n%s\ngot\n%s",
			run, v.Steps(), err, want, got)
		rep.Replays.Add(1)
	}
	k := rng.IntN(n + 1)
	v, err = db.ReplayRunUntil(run, k)
	if rep.check(err == nil, invReplayAt, "ReplayRunUntil(%s, %d): %v", run, k, err) {
		got, err := replayed(v).image()
		want := fold(run, k).image()
		rep.check(err == nil && got == want, invReplayAt, "run %s replayed to %d (%v):\nwant\n%s\ngot\n%s", run, k, err, want, got)
		rep.Replays.Add(1)
	}
}

// verifyEnd checks that an end acknowledged before the crash survived, and makes the tracker
// say what the database holds: an end that landed without its acknowledgement moves the agent
// on, one acknowledged after the crash point is undone.
func (w *workload) verifyEnd(t *tracker, ended int32, status inmem.RunStatus) {
	switch ended {
	case endCompleted:
		w.report.check(status == inmem.RunCompleted, invStatus, "run %s ended, but is %v", t.run, status)
	case endFailed:
		w.report.check(status == inmem.RunFailed, invStatus, "run %s aborted, but is %v", t.run, status)
	}
	switch status {
	case inmem.RunCompleted:
		t.ended.Store(endCompleted)
		w.moveOn(t)
	case inmem.RunFailed:
		t.ended.Store(endFailed)
		w.moveOn(t)
	default:
		t.ended.Store(endNone)
	}
}

// verifyCounter checks the shared counter lost no acknowledged increment and holds no more
// than were attempted.
func (w *workload) verifyCounter(db *inmem.DB, lo int64) {
	v, err := db.KV().Get(inmem.GlobalRun, sharedKey)
	if errors.Is(err, inmem.ErrNotFound) {
		v, err = []byte("0"), nil
	}
	c, perr := strconv.ParseInt(string(v), 10, 64)
	if !w.report.check(err == nil && perr == nil, invLostUpd, "shared counter: %v %v", err, perr) {
		return
	}
	hi := w.incAttempted.Load()
	w.report.check(c >= lo && c <= hi, invLostUpd, "shared counter %d, %d increments acknowledged, %d attempted", c, lo, hi)
	w.incAcked.Store(c)
	w.incAttempted.Store(c)
}

// resume makes every run the workload will write to again Active: recovery marked the ones
// still active when the database stopped Orphaned.
func (w *workload) resume(db *inmem.DB) error {
	for _, t := range w.all() {
		if db.RunStatus(t.run) == inmem.RunOrphaned {
			if err := db.ResumeRun(context.Background(), t.run); err != nil {
				return err
			}
		}
	}
	return nil
}
