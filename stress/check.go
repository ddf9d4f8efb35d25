package stress

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/inmemdb/inmem"
)

// bounds is what a run must hold after a crash: what was acknowledged before it. What was
// attempted by then (the upper bounds) is read from the tracker when the check runs: it only
// grows.
type bounds struct {
	lo     int64 // transactions acknowledged
	ended  int32 // the end acknowledged, or endNone
	begun  bool  // the begin acknowledged
	gone   bool  // the deletion acknowledged
	baseLo int64 // the compaction base acknowledged
	fork   *forkPoint
}

// durable is what the workload must find again after a crash now.
type durable map[*tracker]bounds

func (t *tracker) bounds() bounds {
	return bounds{lo: t.acked.Load(), ended: t.ended.Load(), begun: t.begun.Load(), gone: t.gone.Load(),
		baseLo: t.baseLo.Load(), fork: t.fork.Load()}
}

func (w *workload) acknowledged() durable {
	out := durable{}
	for _, t := range w.all() {
		out[t] = t.bounds()
	}
	return out
}

// verify checks every slot against the model after a reopen or a recovery, given what was
// acknowledged before the crash (lo; nil: what is acknowledged now) and the shared counter's
// acknowledged increments then (incLo). It then makes the workload continue from what the
// database holds: that is the truth the next round builds on. Each agent goes on from the last
// slot whose begin recovery kept.
func (w *workload) verify(db *inmem.DB, lo durable, incLo int64, rng *rand.Rand) {
	for a := range w.agents {
		last := -1 // index in slots of the agent's last slot whose run recovery kept (or deleted)
		slots := w.slots(a)
		landed := make([]bool, len(slots))
		for i, t := range slots {
			b := t.bounds()
			if lo != nil {
				b = lo[t] // zero for a slot made after the crash
			}
			if landed[i] = w.verifySlot(db, t, b, rng); landed[i] {
				last = i
			}
		}
		// An agent does one thing at a time and waits for it: recovery keeps a prefix of what
		// it did. Every slot before its last one kept must be finished — an earlier run still
		// active, or not there, while a later one is, lost something committed before what
		// survived.
		for i, t := range slots[:max(last, 0)] {
			w.report.check(landed[i] && t.finished(), invAgentOrder,
				"agent %d: run %s of slot %d is %s, but its slot %d's run survived", a, t.run, t.r, w.describe(db, t), slots[last].r)
		}
		w.mu.Lock()
		w.current[a], w.next[a] = nil, 0
		if last >= 0 {
			w.next[a] = slots[last].r + 1
			if !slots[last].finished() {
				w.current[a] = slots[last]
			}
		}
		w.mu.Unlock()
	}
	runs, err := db.ListRuns(inmem.RunFilter{})
	if w.report.check(err == nil, invR4, "ListRuns: %v", err) {
		for _, r := range runs {
			a, s, ok := parseSlot(r.Info.Name)
			w.mu.Lock()
			t := w.trackers[slot{a, s}]
			w.mu.Unlock()
			w.report.check(ok && t != nil && t.run == r.ID && t.begun.Load() && !t.gone.Load(), invR4,
				"run %s (%q) was never begun by the workload", r.ID, r.Info.Name)
		}
	}
	w.verifyCounter(db, incLo)
}

func (w *workload) describe(db *inmem.DB, t *tracker) string {
	if meta, err := db.Run(t.run); err == nil {
		return fmt.Sprintf("%v (%q)", meta.Status, meta.Info.Name)
	}
	return "not there"
}

// verifySlot checks one slot's run and makes its tracker say what the database holds. It
// reports whether the slot's begin is in the database: its run is there, or was deleted.
func (w *workload) verifySlot(db *inmem.DB, t *tracker, b bounds, rng *rand.Rand) bool {
	// The run there under t's id may be another slot's: a later slot of the agent that took over
	// the id of t's run once it was deleted, or an earlier one whose deletion did not survive.
	meta, err := db.Run(t.run)
	if err == nil && meta.Info.Name == slotName(t.agent, t.r) {
		// Retention may delete an ended run while it is checked (it runs beside the checks in
		// InMemory mode): the checks go to a scratch report, kept unless the run vanished.
		scratch := new(Report)
		w.verifyPresent(db, t, b, meta, scratch, rng)
		if len(scratch.Violations()) == 0 || !w.vanishes() || db.RunStatus(t.run) != inmem.RunNotFound ||
			(meta.Status != inmem.RunCompleted && meta.Status != inmem.RunFailed) {
			w.report.merge(scratch)
			return true
		}
		err = inmem.ErrRunNotFound
	}
	if err != nil && !errors.Is(err, inmem.ErrRunNotFound) {
		w.report.violate(invR3, "Run(%s): %v", t.run, err)
		return false
	}
	// Not there. A run whose begin was acknowledged was deleted since (an agent ends its run only
	// after every acknowledgement): only a deletion its agent attempted explains that, or
	// retention once it may have ended.
	mayBeGone := t.gone.Load() || t.delTried.Load() || (w.vanishes() && t.endTried.Load())
	if b.begun || b.lo > 0 || b.ended != endNone || b.gone {
		w.report.check(mayBeGone, invVanish, "run %s (agent %d #%d) is gone (%s), but was never deleted (%d transactions, end %d)",
			t.run, t.agent, t.r, w.describe(db, t), b.lo, b.ended)
		// Every read of a run found deleted is checked once; later rounds check that it stays
		// deleted (its id holds no run of its slot), which costs one lookup.
		if err != nil && !t.goneChecked.Load() {
			w.verifyGone(db, t)
			t.goneChecked.Store(true)
		} else {
			w.report.verify(invDeleted)
		}
		if !t.gone.Load() && !b.gone {
			if t.delTried.Load() {
				w.report.CutDeletions.Add(1) // its agent's, or retention's
			} else {
				w.report.Vanished.Add(1)
			}
		}
		t.gone.Store(true)
		t.begun.Store(true)
		return true
	}
	// Its begin was not acknowledged, and did not land: had it landed, its run would be there
	// (a deletion follows the end, which follows acknowledgements).
	t.acked.Store(0)
	t.attempted.Store(0)
	t.ended.Store(endNone)
	t.begun.Store(false)
	t.gone.Store(false)
	t.goneChecked.Store(false)
	t.endTried.Store(false)
	t.delTried.Store(false)
	t.fork.Store(nil)
	t.baseLo.Store(0)
	t.baseHi.Store(0)
	t.pendingBase.Store(0)
	return false
}

// verifyGone checks that a deleted run is as one never begun: no status, and every read of it
// ErrRunNotFound.
func (w *workload) verifyGone(db *inmem.DB, t *tracker) {
	var errs []error
	_, err := db.ReplayRun(t.run)
	errs = append(errs, err)
	_, err = db.ReplayRunUntil(t.run, 0)
	errs = append(errs, err)
	_, err = db.KV().List(t.run, "")
	errs = append(errs, err)
	_, err = db.State().List(t.run)
	errs = append(errs, err)
	_, err = db.Events().Len(t.run)
	errs = append(errs, err)
	_, err = db.RunSteps(t.run, 0, 0)
	errs = append(errs, err)
	for _, err := range errs {
		if !errors.Is(err, inmem.ErrRunNotFound) {
			w.report.violate(invDeleted, "deleted run %s (agent %d #%d): a read answers %v, not ErrRunNotFound", t.run, t.agent, t.r, err)
			return
		}
	}
	w.report.check(db.RunStatus(t.run) == inmem.RunNotFound, invDeleted, "deleted run %s is %v", t.run, db.RunStatus(t.run))
}

// verifyPresent checks a slot's run that recovery kept, into rep.
func (w *workload) verifyPresent(db *inmem.DB, t *tracker, b bounds, meta inmem.RunMetadata, rep *Report, rng *rand.Rand) {
	rep.check(!b.gone, invDeleted, "run %s (agent %d #%d) was deleted, and is back (%v)", t.run, t.agent, t.r, meta.Status)
	w.learnFork(meta, t, b, rep)
	content := invR3
	if t.run != t.key { // what a deletion left behind shows in the new run's content
		content = invReuse
	}
	n := int64(meta.TxCount)
	rep.check(n >= b.lo, invR5, "run %s holds %d transactions, %d were acknowledged", t.run, n, b.lo)
	rep.check(n <= t.attempted.Load(), invR4, "run %s holds %d transactions, only %d were attempted", t.run, n, t.attempted.Load())
	want := t.fold(int(n)).image()
	got, err := live(db, t.run).image()
	rep.check(err == nil && got == want, content, "run %s after %d transactions (%v):\nwant\n%s\ngot\n%s", t.run, n, err, want, got)
	err = db.Events().VerifyChain(t.run)
	rep.check(err == nil, invChain, "run %s: %v", t.run, err)
	first, err := firstStep(db, t.run)
	if !rep.check(err == nil, invCompact, "RunSteps(%s): %v", t.run, err) {
		return
	}
	// An acknowledged compaction survives; none goes past what the agent attempted, unless
	// retention compacts too.
	hi := n
	if w.retention.KeepSteps == 0 {
		hi = min(hi, t.baseHi.Load())
	}
	rep.check(int64(first) >= b.baseLo && int64(first) <= hi, invCompact,
		"run %s's history starts at step %d: %d acknowledged as its base, at most %d possible", t.run, first, b.baseLo, hi)
	if int64(first) > b.baseLo && w.retention.KeepSteps == 0 {
		w.report.CutCompactions.Add(1)
	}
	if p := t.pendingBase.Load(); p > 0 {
		// A compaction the crash loop's child began and did not report: it landed or not, and
		// the prefix check counts it if it did.
		if int64(first) == p {
			w.compactions.Add(1)
		}
		t.pendingBase.Store(0)
	}
	w.verifyReplay(db, t, int(n), want, first, rep, rng)
	if f := t.fork.Load(); f != nil {
		w.verifyFork(db, t, f, first, rep)
	}
	w.verifyEnd(t, b.ended, meta.Status, rep)
	t.acked.Store(n)
	t.attempted.Store(n)
	t.begun.Store(true)
	t.gone.Store(false)
	t.endTried.Store(t.ended.Load() != endNone)
	t.delTried.Store(false)
	t.baseLo.Store(int64(first))
	t.baseHi.Store(int64(first))
}

// learnFork makes the tracker's base what the run's metadata says: a fork acknowledged must
// still be one, from the same point; one that landed unacknowledged is learned here.
func (w *workload) learnFork(meta inmem.RunMetadata, t *tracker, b bounds, rep *Report) {
	f := meta.ForkedFrom
	if f == nil {
		rep.check(b.fork == nil, invFork, "run %s was forked (acknowledged), its metadata names no source", t.run)
		t.fork.Store(nil)
		return
	}
	var fm forkMeta
	err := json.Unmarshal(meta.Info.Metadata, &fm)
	if !rep.check(err == nil && beginKind(t.key) == beginFork, invFork, "run %s forked from %+v: metadata %s (%v)", t.run, f, meta.Info.Metadata, err) {
		return
	}
	src := w.tracked(fm.Src[0], fm.Src[1])
	if b.fork == nil {
		w.report.CutForks.Add(1)
	}
	ok := f.Run == src.run && (b.fork == nil || (b.fork.src == src && b.fork.step == f.Step))
	rep.check(ok, invFork, "run %s: ForkedFrom (%s, %d), its source's slot %v runs %s; acknowledged %+v", t.run, f.Run, f.Step, fm.Src, src.run, b.fork)
	t.fork.Store(&forkPoint{src: src, step: f.Step})
}

// verifyFork checks a fork's base against its source: its step 0 is the source's fold at the
// fork's step, its cells start at version 1, and its events are the source's, with their
// sequences, times and hashes.
func (w *workload) verifyFork(db *inmem.DB, t *tracker, f *forkPoint, first int, rep *Report) {
	rep.check(f.src.begun.Load() && f.src.fork.Load() == nil, invFork, "run %s forked from slot %d #%d, which was never begun, or is a fork",
		t.run, f.src.agent, f.src.r)
	if first == 0 {
		v, err := db.ReplayRunUntil(t.run, 0)
		if rep.check(err == nil, invFork, "ReplayRunUntil(%s, 0): %v", t.run, err) {
			got, err := replayed(v).image()
			want := f.src.fold(f.step).image()
			rep.check(err == nil && got == want, invFork, "fork %s's step 0 (%v):\nwant (its source's step %d)\n%s\ngot\n%s", t.run, err, f.step, want, got)
			for _, name := range v.StateNames() {
				c, _ := v.State(name)
				rep.check(c.Version == 1, invFork, "fork %s's step 0: cell %q at version %d", t.run, name, c.Version)
			}
		}
	}
	// The source may be gone (retention), compacted past the step, or not its slot's any more.
	meta, err := db.Run(f.src.run)
	if err != nil || meta.Info.Name != slotName(f.src.agent, f.src.r) {
		return
	}
	sv, err := db.ReplayRunUntil(f.src.run, f.step)
	if err != nil {
		return
	}
	want := sv.Events()
	got, err := db.Events().Range(t.run, 0, uint64(len(want)))
	if !rep.check(err == nil && len(got) == len(want), invFork, "fork %s: events: %v (%d of %d)", t.run, err, len(got), len(want)) {
		return
	}
	for i := range want {
		g, s := got[i], want[i]
		rep.check(g.Seq == s.Seq && g.Type == s.Type && string(g.Payload) == string(s.Payload) && g.Timestamp.Equal(s.Timestamp) &&
			g.PrevHash == s.PrevHash && g.Hash == s.Hash, invFork, "fork %s's event %d is %+v, its source's %+v", t.run, i, g, s)
	}
}

// firstStep returns the first step of run's history: its base, 0 unless it was compacted.
func firstStep(db *inmem.DB, run inmem.RunID) (int, error) {
	steps, err := db.RunSteps(run, 0, 1)
	if err != nil {
		return 0, err
	}
	if len(steps) == 0 {
		return 0, errors.New("no steps, not even step 0")
	}
	return steps[0].Step, nil
}

// verifyReplay checks that ReplayRun gives the model of all n transactions, a replay to a
// random step the model of that prefix, and that the history is replayable from its base on
// and not before: a replay to the base equals the model, one to the step before it is
// ErrHistoryCompacted.
func (w *workload) verifyReplay(db *inmem.DB, t *tracker, n int, want string, first int, rep *Report, rng *rand.Rand) {
	run := t.run
	v, err := db.ReplayRun(run)
	if rep.check(err == nil, invReplay, "ReplayRun(%s): %v", run, err) {
		got, err := replayed(v).image()
		rep.check(err == nil && got == want && v.Steps() == n, invReplay, "run %s replayed %d steps (%v):\nwant\n%s\ngot\n%s",
			run, v.Steps(), err, want, got)
		rep.Replays.Add(1)
	}
	ks := []int{rng.IntN(n + 1), first}
	if first > 0 {
		ks = append(ks, first-1)
	}
	for _, k := range ks {
		v, err = db.ReplayRunUntil(run, k)
		if errors.Is(err, inmem.ErrHistoryCompacted) {
			// Compacted past k: before the base read above, or since by retention.
			now, ferr := firstStep(db, run)
			rep.check(k < first || (ferr == nil && k < now && w.retention.KeepSteps > 0), invCompact,
				"ReplayRunUntil(%s, %d): %v; its history starts at %d (%d before)", run, k, err, now, first)
			continue
		}
		rep.check(k >= first || err != nil, invCompact, "ReplayRunUntil(%s, %d) replayed a step before its base, %d", run, k, first)
		if rep.check(err == nil, invReplayAt, "ReplayRunUntil(%s, %d): %v", run, k, err) {
			got, err := replayed(v).image()
			want := t.fold(k).image()
			rep.check(err == nil && got == want, invReplayAt, "run %s replayed to %d (%v):\nwant\n%s\ngot\n%s", run, k, err, want, got)
			rep.Replays.Add(1)
		}
	}
}

// verifyEnd checks that an end acknowledged before the crash survived, and makes the tracker
// say what the database holds: an end that landed without its acknowledgement counts, one
// acknowledged after the crash point is undone.
func (w *workload) verifyEnd(t *tracker, ended int32, status inmem.RunStatus, rep *Report) {
	switch ended {
	case endCompleted:
		rep.check(status == inmem.RunCompleted, invStatus, "run %s ended, but is %v", t.run, status)
	case endFailed:
		rep.check(status == inmem.RunFailed, invStatus, "run %s aborted, but is %v", t.run, status)
	}
	switch status {
	case inmem.RunCompleted:
		t.ended.Store(endCompleted)
	case inmem.RunFailed:
		t.ended.Store(endFailed)
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

// resume makes every Orphaned run Active again: recovery marked the ones still active when
// the database stopped, and only agents' runs in progress are.
func (w *workload) resume(db *inmem.DB) error {
	runs, err := db.ListRuns(inmem.RunFilter{Status: inmem.RunOrphaned})
	if err != nil {
		return err
	}
	for _, r := range runs {
		if err := db.ResumeRun(context.Background(), r.ID); err != nil {
			return err
		}
	}
	return nil
}
