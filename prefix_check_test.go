package inmem

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/inmemdb/inmem/primitives/run"
)

// The global prefix check for crash tests. Per-committer checks (each goroutine's keys are
// g/0..g/n) see one committer at a time: a recovery that dropped the one transaction a writer
// had in flight while keeping a later one of another writer — a hole in the commit order no
// single writer can see — passes all of them. CheckCommitPrefix looks at the commit order
// itself. The sequencer gives every transaction that validates the next version, 1, 2, 3, …
// with no gap, so a recovery that keeps a prefix of the log keeps exactly the versions 1..N,
// N the newest one.
//
// What it can observe of those versions: every transaction of a run is journaled with its
// commit version, snapshots keep the whole journal, so a reopened database still lists the
// version of each one. Lifecycle changes (begin, end, abort, the marking of a run Orphaned at
// Open, resume) are system transactions that are never journaled, and their versions are gone
// once a snapshot holds them; but their number follows from what is left: a run is marked only
// while Active and resumed only while Orphaned, so the two alternate, and the Opens that
// marked a run (the ledger's part) and its status now say how many it has had. Journaled
// versions and that count must add up to N; versions are distinct and none is above N, so only
// a dense 1..N adds up. One transaction dropped anywhere leaves the sum one short, whichever
// committer it belonged to; and a committer's acknowledged version that is not journaled is
// named outright.
//
// Commits to GlobalRun are not journaled, and nothing counts them: a test that makes any cannot
// use the check.

// CommitLedger is what a crash test knows of one directory's history, kept across every
// reopen of it: the commit versions its committers saw acknowledged, and the runs each Open
// marked Orphaned. It is safe for concurrent use.
type CommitLedger struct {
	mu       sync.Mutex
	acked    []uint64
	orphaned map[RunID]int
}

// NewCommitLedger returns the ledger of a fresh directory.
func NewCommitLedger() *CommitLedger { return &CommitLedger{orphaned: map[RunID]int{}} }

// Acked records that a committer saw the transaction at version v acknowledged: a transaction
// of a run (GlobalRun and lifecycle changes have no version to check). stress.Witness gives a
// transaction's version when it commits.
func (l *CommitLedger) Acked(v uint64) {
	l.mu.Lock()
	l.acked = append(l.acked, v)
	l.mu.Unlock()
}

// Opened records the runs db's Open marked Orphaned, each a lifecycle transaction that leaves
// no trace but the run's status. Call it after every Open of the directory that marked any, and
// only once what it marked is durable (Strict; Buffered after a Sync or a clean Close): a
// marking a crash undid was never a transaction of the history.
func (l *CommitLedger) Opened(db *DB) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range db.LastRecovery().OrphanedRuns {
		l.orphaned[id]++
	}
}

// CheckCommitPrefix checks that db, just opened and with nothing committing, holds exactly the
// transactions 1..N of the commit order, N its newest version, and among them every version l
// recorded as acknowledged. The error lists every discrepancy.
func CheckCommitPrefix(db *DB, l *CommitLedger) error {
	if err := db.usable(); err != nil {
		return err
	}
	newest := db.clock.Now()
	l.mu.Lock()
	orphaned := maps.Clone(l.orphaned)
	acked := slices.Clone(l.acked)
	l.mu.Unlock()

	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	var held []uint64
	lifecycle := 0
	for _, r := range db.runs.Records(newest) {
		if j, ok := db.runs.Journal(r.ID, newest); ok {
			for _, s := range j.Steps() {
				held = append(held, s.Version)
			}
		}
		n, ok := lifecycleCommits(r.Status, orphaned[r.ID])
		if !ok {
			fail("run %s is %v after %d markings as Orphaned", r.ID, r.Status, orphaned[r.ID])
		}
		lifecycle += n
		delete(orphaned, r.ID)
	}
	for id, n := range orphaned {
		fail("run %s, marked Orphaned by %d Opens, is gone", id, n)
	}
	slices.Sort(held)
	for i := 1; i < len(held); i++ {
		if held[i] == held[i-1] {
			fail("two journaled transactions hold version %d", held[i])
		}
	}
	if len(held) > 0 && held[len(held)-1] > newest {
		fail("a journaled transaction holds version %d, above the newest, %d", held[len(held)-1], newest)
	}
	var lost []uint64
	for _, v := range acked {
		if _, found := slices.BinarySearch(held, v); !found {
			lost = append(lost, v)
		}
	}
	if len(lost) > 0 {
		fail("%d acknowledged transactions are missing: versions %v", len(lost), lost[:min(len(lost), 10)])
	}
	if uint64(len(held)+lifecycle) != newest {
		fail("the newest version is %d, but the database holds %d journaled transactions and %d lifecycle changes: "+
			"%d missing from 1..%d (the journaled versions skip %s; lifecycle changes fill some of those)",
			newest, len(held), lifecycle, int64(newest)-int64(len(held)+lifecycle), newest, versionGaps(held, newest))
	}
	if len(problems) > 0 {
		return errors.New("recovery is not a prefix of the commit order: " + strings.Join(problems, "; "))
	}
	return nil
}

// lifecycleCommits is how many lifecycle transactions a run with status st holds after
// orphaned Opens marked it: its begin; each marking, and a resume after each unless the run is
// Orphaned now; and its end, if it ended. ok is false for a status those cannot explain.
func lifecycleCommits(st run.Status, orphaned int) (n int, ok bool) {
	n = 1 + 2*orphaned
	switch st {
	case run.Orphaned:
		return n - 1, orphaned > 0
	case run.Completed, run.Failed:
		return n + 1, true
	case run.Active:
		return n, true
	}
	return 0, false
}

// versionGaps describes the first few stretches of 1..newest that held (sorted) lacks.
func versionGaps(held []uint64, newest uint64) string {
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

// TestCheckCommitPrefix proves the check passes on an honest history and fails on each kind of
// discrepancy it is for: an acknowledged version the database lacks, an Open's markings the
// ledger never heard of (the count no longer adds up), and a run the ledger says was marked
// but that does not exist.
func TestCheckCommitPrefix(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	l := NewCommitLedger()
	open := func() *DB {
		t.Helper()
		db, err := Open(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		return db
	}
	check := func(db *DB, wantFail string) {
		t.Helper()
		err := CheckCommitPrefix(db, l)
		switch {
		case wantFail == "" && err != nil:
			t.Fatal(err)
		case wantFail != "" && (err == nil || !strings.Contains(err.Error(), wantFail)):
			t.Fatalf("want an error about %q, got %v", wantFail, err)
		}
	}

	db := open()
	runs := []RunID{NewRunID(), NewRunID(), NewRunID()}
	for i, id := range runs {
		if err := db.BeginRun(ctx, id, RunInfo{Name: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
		for k := range 3 {
			if err := db.KV().Put(ctx, id, fmt.Sprint(k), []byte("v")); err != nil {
				t.Fatal(err)
			}
			l.Acked(db.clock.Now()) // nothing else commits: the put was the newest transaction
		}
	}
	if err := db.EndRun(ctx, runs[0]); err != nil {
		t.Fatal(err)
	}
	if err := db.AbortRun(ctx, runs[1], "test"); err != nil {
		t.Fatal(err)
	}
	check(db, "")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = open() // marks runs[2] Orphaned
	l.Opened(db)
	check(db, "")
	if err := db.ResumeRun(ctx, runs[2]); err != nil {
		t.Fatal(err)
	}
	check(db, "")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// This Open marks runs[2] again. A ledger that misses it comes up short by two: the
	// marking, and the resume the count infers from it.
	db = open()
	check(db, "2 missing from 1..")
	l.Opened(db)
	check(db, "")
	l.Acked(db.clock.Now() + 1)
	check(db, "1 acknowledged transactions are missing")
	l.acked = l.acked[:len(l.acked)-1]
	l.orphaned[NewRunID()] = 1
	check(db, "is gone")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}
