package stress

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/inmemdb/inmem"
)

// The per-run checks (verifyRun) see each run alone: a recovery that kept a later transaction
// of one run while dropping an earlier one of another — or a shared-counter increment, whose
// effect the next increment overwrites — passes all of them. verifyPrefix looks at the commit
// order itself: every transaction has a version, the sequencer hands them out 1, 2, 3, … with
// no gap, and a recovery that keeps a prefix of the log keeps exactly the versions 1..N.
//
// The versions of the agents' transactions are observable through the Witness each one
// carries. Lifecycle changes (begin, end, abort, the marking of a run Orphaned at Open, resume)
// are system transactions no primitive of ours takes part in, and once a snapshot holds them
// their versions are gone; but their number is not: a run is marked only while Active and
// resumed only while Orphaned, so from the Opens that marked it and its status now follows how
// many it has had. The witnessed versions and that count must add up to N, the newest version;
// no two transactions share a version and none is above N, so only a dense 1..N adds up. One
// transaction dropped anywhere, whoever committed it, leaves the sum one short.

// lifecycleCommits is how many lifecycle transactions a run with status st holds after
// orphaned Opens marked it: its begin; each marking, and a resume after each unless the run
// is Orphaned now; and its end, if it ended. ok is false for a status those cannot explain.
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

// opened records the runs an Open marked Orphaned: each marking is a lifecycle transaction
// that leaves no trace but the run's status.
func (w *workload) opened(db *inmem.DB) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, id := range db.LastRecovery().OrphanedRuns {
		w.orphaned[id]++
	}
}

// ackedVersion records that a child saw the transaction at version v acknowledged.
func (w *workload) ackedVersion(v uint64) {
	w.mu.Lock()
	w.ackedVersions = append(w.ackedVersions, v)
	w.mu.Unlock()
}

// verifyPrefix checks that db, just recovered and with nothing committing, holds exactly the
// transactions 1..N of the commit order, N its newest, and among them every one a child saw
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
	byRun := wit.Versions()
	var held []uint64
	for _, vs := range byRun {
		held = append(held, vs...)
	}
	slices.Sort(held)
	for i := 1; i < len(held); i++ {
		if held[i] == held[i-1] {
			fail("two witnessed transactions hold version %d", held[i])
		}
	}
	if len(held) > 0 && held[len(held)-1] > newest {
		fail("a witnessed transaction holds version %d, above the newest, %d", held[len(held)-1], newest)
	}

	w.mu.Lock()
	orphaned := maps.Clone(w.orphaned)
	acked := slices.Clone(w.ackedVersions)
	w.mu.Unlock()
	lifecycle := 0
	for _, r := range runs {
		n, ok := lifecycleCommits(r.Status, orphaned[r.ID])
		if !ok {
			fail("run %s is %v after %d markings as Orphaned", r.ID, r.Status, orphaned[r.ID])
		}
		lifecycle += n
		// Every transaction of an agent's run carries the witness: the journal and the witness
		// must count the same ones.
		if len(byRun[r.ID]) != r.TxCount {
			fail("run %s journals %d transactions, the witness holds %d", r.ID, r.TxCount, len(byRun[r.ID]))
		}
		delete(orphaned, r.ID)
	}
	for id, n := range orphaned {
		fail("run %s, marked Orphaned by %d Opens, is gone", id, n)
	}

	var lost []uint64
	for _, v := range acked {
		if _, found := slices.BinarySearch(held, v); !found {
			lost = append(lost, v)
		}
	}
	if len(lost) > 0 {
		fail("%d acknowledged transactions are missing: versions %v", len(lost), head(lost))
	}
	if uint64(len(held)+lifecycle) != newest {
		fail("the newest version is %d, but the database holds %d witnessed transactions and %d lifecycle changes: "+
			"%d missing from 1..%d (the witnessed versions skip %s; lifecycle changes fill some of those)",
			newest, len(held), lifecycle, int64(newest)-int64(len(held)+lifecycle), newest, gaps(held, newest))
	}
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
