package inmem_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/inmemdb/inmem"
	"github.com/stretchr/testify/require"
)

// The lifecycle crash test: a child process runs lanes of runs through their whole lives —
// begun with an initial state (BeginRunWith), steps, compacted, forked, ended, deleted — while
// the retention actor deletes ended runs beyond a count on its own and snapshots are taken
// back to back; the parent SIGKILLs it at random moments, reopens the directory, and checks
// that every acknowledged operation held and that no run is half of anything: a fork is all
// there or absent, a deleted run is gone, a compacted run replays from its base, and a run
// that retention may have taken is either gone or intact. Retention deletes runs ended longer
// than lcTTL ago: an end in flight when the child died is younger, so a run that is gone
// without an acknowledged deletion must have an acknowledged end.
//
// Run n of lane l in cycle c has the id lcRun(c, l, n): each child starts fresh ids, so the
// runs of earlier children stay as they were left (Orphaned, or ended and maybe deleted).

const (
	lcChildEnv = "INMEM_LIFECYCLE_CHILD"
	lcCycleEnv = "INMEM_LIFECYCLE_CYCLE"
	lcLanes    = 4
	lcSteps    = 4 // steps after the base
	lcTTL      = 300 * time.Millisecond
)

// lcRun and lcFork are the ids of run n of lane l in cycle c, and of its fork.
func lcRun(c, l, n int) inmem.RunID  { return lcID(c, l, n, 0) }
func lcFork(c, l, n int) inmem.RunID { return lcID(c, l, n, 1) }

func lcID(c, l, n, fork int) inmem.RunID {
	var id inmem.RunID
	copy(id[:], fmt.Sprintf("%04d%02d%06d%02d", c, l, n, fork)) // 14 of 16 bytes: a valid id
	return id
}

func lcOptions() *inmem.Options {
	o := inmem.DefaultOptions()
	o.SegmentSize = 64 << 10
	o.Snapshot.WALSizeThreshold = 32 << 10
	o.Retention.EndedRunTTL = lcTTL
	return o
}

func TestCrashRunLifecycles(t *testing.T) {
	if dir := os.Getenv(lcChildEnv); dir != "" {
		cycle, _ := strconv.Atoi(os.Getenv(lcCycleEnv))
		lcChild(dir, cycle)
		return
	}
	if testing.Short() {
		t.Skip("spawns processes")
	}
	rng := rand.New(rand.NewPCG(7, 17))
	dir := t.TempDir()
	acks := map[string]bool{}
	ended := map[inmem.RunID]bool{} // runs a verification found ended: later retention may take them
	for cycle := range crashCycles() {
		lcOnce(t, dir, cycle, rng.IntN(300), acks)
		lcVerify(t, dir, cycle, acks, ended)
	}
}

// lcOnce runs one child until it acknowledged killAfter operations, SIGKILLs it, and adds what
// it acknowledged to acks ("<op> <cycle> <lane> <n>").
func lcOnce(t *testing.T, dir string, cycle, killAfter int, acks map[string]bool) {
	t.Helper()
	env := []string{lcChildEnv + "=" + dir, lcCycleEnv + "=" + strconv.Itoa(cycle)}
	killChild(t, "TestCrashRunLifecycles", env, killAfter, func(line string) bool {
		acks[line] = true
		return true
	})
}

// lcChild runs lanes of run lives until it is killed, printing each acknowledged operation.
func lcChild(dir string, cycle int) {
	db, err := inmem.Open(dir, lcOptions())
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		os.Exit(3)
	}
	go snapshotForever(db)
	var mu sync.Mutex
	ack := func(op string, l, n int) {
		mu.Lock()
		fmt.Printf("%s %d %d %d\n", op, cycle, l, n)
		mu.Unlock()
	}
	for l := range lcLanes {
		go func() {
			for n := 0; ; n++ {
				if err := lcLife(db, cycle, l, n, ack); err != nil {
					fmt.Fprintln(os.Stderr, "child:", err)
					os.Exit(3)
				}
			}
		}()
	}
	select {} // the parent kills us
}

// lcLife is one run's life: begun with base = n, steps k = 1…lcSteps, compacted to step 2,
// forked at step 2, both ended, the previous run of the lane deleted.
func lcLife(db *inmem.DB, c, l, n int, ack func(string, int, int)) error {
	ctx := context.Background()
	run, fork := lcRun(c, l, n), lcFork(c, l, n)
	err := db.BeginRunWith(ctx, run, inmem.RunInfo{Agent: "lc"}, func(tx *inmem.Tx) error {
		if err := tx.Events().Append("base", []byte(strconv.Itoa(n))); err != nil {
			return err
		}
		return tx.KV().Put("base", []byte(strconv.Itoa(n)))
	})
	if err != nil {
		return err
	}
	ack("begin", l, n)
	for k := 1; k <= lcSteps; k++ {
		if _, err := db.Step(ctx, run, func(tx *inmem.Tx) error { return tx.KV().Put("k", []byte(strconv.Itoa(k))) }); err != nil {
			return err
		}
	}
	ack("steps", l, n)
	if err := db.CompactRun(ctx, run, 3); err != nil {
		return err
	}
	ack("compact", l, n)
	if err := db.ForkRun(ctx, run, 2, fork, inmem.RunInfo{}); err != nil {
		return err
	}
	ack("fork", l, n)
	for _, id := range []inmem.RunID{run, fork} {
		if err := db.EndRun(ctx, id); err != nil {
			return err
		}
	}
	ack("end", l, n)
	if n > 0 {
		// Retention may have deleted it first.
		if err := db.DeleteRun(ctx, lcRun(c, l, n-1)); err != nil && !errors.Is(err, inmem.ErrRunNotFound) {
			return err
		}
		ack("delete", l, n-1)
	}
	return nil
}

// lcVerify reopens dir and checks every run the children may have made against acks and what
// earlier verifications found ended.
func lcVerify(t *testing.T, dir string, cycles int, acks map[string]bool, ended map[inmem.RunID]bool) {
	t.Helper()
	o := lcOptions()
	o.Retention.EndedRunTTL = 0 // look, do not delete
	db, err := inmem.Open(dir, o)
	require.NoError(t, err)
	defer db.Close()
	for c := 0; c <= cycles; c++ {
		for l := range lcLanes {
			for n := 0; ; n++ {
				at := fmt.Sprintf(" %d %d %d", c, l, n)
				if !acks["begin"+at] && db.RunStatus(lcRun(c, l, n)) == inmem.RunNotFound {
					break // never begun: the lane ends here
				}
				lcCheckRun(t, db, c, l, n, acks, ended)
			}
		}
	}
}

// lcCheckRun checks run n of lane l in cycle c, and its fork.
func lcCheckRun(t *testing.T, db *inmem.DB, c, l, n int, acks map[string]bool, ended map[inmem.RunID]bool) {
	t.Helper()
	at := fmt.Sprintf(" %d %d %d", c, l, n)
	run, fork := lcRun(c, l, n), lcFork(c, l, n)
	var acked []string
	for _, op := range []string{"begin", "steps", "compact", "fork", "end", "delete"} {
		if acks[op+at] {
			acked = append(acked, op)
		}
	}
	what := fmt.Sprintf("cycle %d lane %d run %d (acknowledged: %v; recovery: %+v)", c, l, n, acked, *db.LastRecovery())
	status := db.RunStatus(run)
	switch {
	case acks["delete"+at]:
		require.Equal(t, inmem.RunNotFound, status, "%s: deleted", what)
	case status == inmem.RunNotFound:
		// Only retention deletes unacknowledged: a run whose end was acknowledged, or that an
		// earlier verification found ended (its end in flight when a child died).
		require.True(t, acks["end"+at] || ended[run], "%s: gone, but it never ended", what)
	default:
		ended[run] = status == inmem.RunCompleted
		lcCheckHistory(t, db, run, acks["steps"+at], acks["compact"+at], what)
	}
	switch fs := db.RunStatus(fork); {
	case fs == inmem.RunNotFound:
		require.True(t, !acks["fork"+at] || acks["end"+at] || ended[fork], "%s: its acknowledged fork is gone, but never ended", what)
	default:
		ended[fork] = fs == inmem.RunCompleted
		meta, err := db.Run(fork)
		require.NoError(t, err)
		require.Equal(t, &inmem.ForkPoint{Run: run, Step: 2}, meta.ForkedFrom, what)
		require.Equal(t, 0, meta.Steps, "%s: the fork's state is its step 0", what)
		require.Equal(t, "2", get(t, db, fork, "k"), "%s: the fork holds the source at step 2", what)
		require.Equal(t, strconv.Itoa(n), get(t, db, fork, "base"), what)
		require.NoError(t, db.Events().VerifyChain(fork), what)
	}
}

// lcCheckHistory checks a run that exists: its base, its steps (all there if acknowledged),
// and a compaction either whole or not at all.
func lcCheckHistory(t *testing.T, db *inmem.DB, run inmem.RunID, stepsAcked, compactAcked bool, what string) {
	t.Helper()
	steps, err := db.RunSteps(run, 0, 0)
	require.NoError(t, err, what)
	first, last := steps[0].Step, steps[len(steps)-1].Step
	if stepsAcked {
		require.Equal(t, lcSteps, last, "%s: every acknowledged step", what)
	}
	if compactAcked {
		require.Equal(t, 2, first, "%s: compacted to step 3: its base is step 2", what)
	}
	require.Contains(t, []int{0, 2}, first, "%s: a compaction is whole or absent", what)
	for k := first; k <= last; k++ {
		v, err := db.ReplayRunUntil(run, k)
		require.NoError(t, err, "%s step %d", what, k)
		got, _ := v.KV("k")
		want := ""
		if k > 0 {
			want = strconv.Itoa(k)
		}
		require.Equal(t, want, string(got), "%s step %d", what, k)
		base, _ := v.KV("base")
		require.NotEmpty(t, base, "%s step %d: the base is in every step", what, k)
		require.Len(t, v.Events(), 1, "%s step %d", what, k)
	}
	if first > 0 {
		_, err := db.ReplayRunUntil(run, first-1)
		require.ErrorIs(t, err, inmem.ErrHistoryCompacted, what)
	}
	require.NoError(t, db.Events().VerifyChain(run), what)
}
