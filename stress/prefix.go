package stress

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/inmemdb/inmem"
)

// The per-run checks (verifySlot) see each run alone: a recovery that kept a later transaction
// of one run while dropping an earlier one of another — or a shared-counter increment, whose
// effect the next increment overwrites — passes all of them. verifyPrefix looks at the commit
// order itself: every transaction has a version, the sequencer hands them out 1, 2, 3, … with
// no gap, and a recovery that keeps a prefix of the log keeps exactly the versions 1..N.
//
// The versions of the agents' transactions are observable through the Witness each one
// carries, and so are the versions of run deletions (the witness's DropRun), whoever made them:
// an agent, or retention. The other system transactions carry no witness, and once a snapshot
// holds them their versions are gone; but their number is known:
//   - A life of a run (an id between two deletions) made a begin (BeginRun, BeginRunWith and
//     ForkRun alike: one transaction each), a marking as Orphaned at each Open of the parent
//     that found it active, a resume after each marking unless it is Orphaned now, and an end
//     if it ended. A run is marked only while Active and resumed only while Orphaned; a deleted
//     life had ended, so it was resumed after every marking. The parent records, for each
//     marking, the newest version after its Open: deletions made before that Open are below
//     it, deletions made later above, so the witnessed deletions of an id tell which of its
//     lives each marking belongs to — the deleted lives' records are gone from the database,
//     but their count is not lost.
//   - Compactions are counted as the child reports them ("cack"), and one it began and did not
//     report ("cbeg") counts if the run's base after recovery is the one it aimed at: only
//     agents compact in the crash loop (no Retention.KeepSteps there), each its own active run
//     to a base past the current one, so the base moves exactly when it landed.
//
// The witnessed versions and those counts must add up to N, the newest version; no two
// witnessed commits share a version and none is above N, so only a dense 1..N adds up. One
// transaction dropped anywhere, whoever committed it, leaves the sum one short.

// lifecycleCommits is how many lifecycle transactions a run's current life with status st
// holds after orphaned Opens marked it: its begin; each marking, and a resume after each
// unless the run is Orphaned now; and its end, if it ended. ok is false for a status those
// cannot explain.
func lifecycleCommits(st inmem.RunStatus, orphaned int) (n int, ok bool) {
	n = 1 + 2*orphaned
	switch st {
	case inmem.RunOrphaned:
		return n - 1, orphaned > 0
	case inmem.RunCompleted, inmem.RunFailed:
		return n + 1, true
	case inmem.RunActive:
		return n, true
	}
	return 0, false
}

// deletedLifeCommits is how many lifecycle transactions a deleted life of a run held: its
// begin, its end, a marking and a resume per orphaned Open. Its deletion is witnessed.
func deletedLifeCommits(orphaned int) int { return 2 + 2*orphaned }

// opened records the runs an Open marked Orphaned: each marking is a lifecycle transaction
// that leaves no trace but the run's status. verifyPrefix gives them their Open's version.
func (w *workload) opened(db *inmem.DB) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.marked = append(w.marked, db.LastRecovery().OrphanedRuns...)
}

// ackedVersion records that a child saw the transaction at version v acknowledged.
func (w *workload) ackedVersion(v uint64) {
	w.mu.Lock()
	w.ackedVersions = append(w.ackedVersions, v)
	w.mu.Unlock()
}

// verifyPrefix checks that db, just recovered and with nothing committing, holds exactly the
// commits 1..N of the commit order, N its newest, and among them every transaction a child saw
// acknowledged since the directory was created. It counts as one verification per call.
func (w *workload) verifyPrefix(db *inmem.DB, wit *Witness, cycle int) {
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	defer func() {
		w.report.check(len(problems) == 0, invPrefix, "cycle %d: %s", cycle, strings.Join(problems, "; "))
	}()
	snap, err := db.Snapshot() // its version is the newest: nothing else commits now
	if err != nil {
		fail("Snapshot: %v", err)
		return
	}
	newest := snap.TxCount
	runs, err := db.ListRuns(inmem.RunFilter{})
	if err != nil {
		fail("ListRuns: %v", err)
		return
	}
	byRun, deletions := wit.Versions(), wit.Deletions()
	var held []uint64 // every witnessed commit: transactions and deletions
	for _, vs := range byRun {
		held = append(held, vs...)
	}
	for _, vs := range deletions {
		held = append(held, vs...)
	}
	slices.Sort(held)
	for i := 1; i < len(held); i++ {
		if held[i] == held[i-1] {
			fail("two witnessed commits hold version %d", held[i])
		}
	}
	if len(held) > 0 && held[len(held)-1] > newest {
		fail("a witnessed commit holds version %d, above the newest, %d", held[len(held)-1], newest)
	}

	w.mu.Lock()
	for _, id := range w.marked {
		w.markings[id] = append(w.markings[id], newest)
	}
	w.marked = nil
	markings := maps.Clone(w.markings)
	acked := slices.Clone(w.ackedVersions)
	goneLives := map[inmem.RunID]int{} // the lives of each id the model knows deleted
	for _, t := range w.trackers {
		if t.gone.Load() {
			goneLives[t.run]++
		}
	}
	w.mu.Unlock()

	present := map[inmem.RunID]inmem.RunMetadata{}
	for _, r := range runs {
		present[r.ID] = r
	}
	ids := map[inmem.RunID]bool{}
	for _, m := range []map[inmem.RunID][]uint64{deletions, markings} {
		for id := range m {
			ids[id] = true
		}
	}
	for id := range present {
		ids[id] = true
	}
	lifecycle := 0
	for id := range ids {
		ds, ms := deletions[id], markings[id]
		// The model's deleted lives and the witness's deletions: the same number.
		if len(ds) != goneLives[id] {
			fail("run id %s: the witness holds %d deletions, the model knows %d deleted runs", id, len(ds), goneLives[id])
		}
		prev := uint64(0) // the last deletion of id before the life counted next
		for _, d := range ds {
			lifecycle += deletedLifeCommits(countIn(ms, prev, d))
			prev = d
		}
		marks := countIn(ms, prev, math.MaxUint64)
		r, ok := present[id]
		if !ok {
			if marks > 0 {
				fail("run %s, marked Orphaned by %d Opens since its last deletion, is gone", id, marks)
			}
			continue
		}
		n, ok := lifecycleCommits(r.Status, marks)
		if !ok {
			fail("run %s is %v after %d markings as Orphaned", id, r.Status, marks)
		}
		lifecycle += n
		// Every transaction of an agent's run carries the witness: the journal and the witness
		// must count the same ones, those of the current life (after its id's last deletion).
		if mine := countIn(byRun[id], prev, math.MaxUint64); mine != r.TxCount {
			fail("run %s journals %d transactions, the witness holds %d since its last deletion", id, r.TxCount, mine)
		}
	}
	compactions := int(w.compactions.Load())

	var lost []uint64
	for _, v := range acked {
		if _, found := slices.BinarySearch(held, v); !found {
			lost = append(lost, v)
		}
	}
	if len(lost) > 0 {
		fail("%d acknowledged transactions are missing: versions %v", len(lost), head(lost))
	}
	if uint64(len(held)+lifecycle+compactions) != newest {
		fail("the newest version is %d, but the database holds %d witnessed commits, %d lifecycle changes and %d compactions: "+
			"%d missing from 1..%d (the witnessed versions skip %s; lifecycle changes and compactions fill some of those)",
			newest, len(held), lifecycle, compactions, int64(newest)-int64(len(held)+lifecycle+compactions), newest, gaps(held, newest))
	}
}

// countIn counts the versions of sorted vs in (after, below).
func countIn(vs []uint64, after, below uint64) int {
	n := 0
	for _, v := range vs {
		if v > after && v < below {
			n++
		}
	}
	return n
}

// head returns at most the first ten of vs, for messages.
func head(vs []uint64) []uint64 { return vs[:min(len(vs), 10)] }

// gaps describes the first few runs of versions in 1..newest that held (sorted) lacks.
func gaps(held []uint64, newest uint64) string {
	var parts []string
	next := uint64(1)
	for _, v := range append(slices.Clone(held), newest+1) {
		if v > next && len(parts) < 10 {
			if v-1 == next {
				parts = append(parts, fmt.Sprint(next))
			} else {
				parts = append(parts, fmt.Sprintf("%d-%d", next, v-1))
			}
		}
		next = max(next, v+1)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}
