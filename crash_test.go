package inmem_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/stretchr/testify/require"
)

// The SIGKILL crash test (SPEC 13): this test binary re-executes itself as a writer that commits
// from many goroutines — each transaction touching five primitives and the toy tally primitive
// registered from outside the engine — and prints each acknowledged commit, while another
// goroutine takes snapshots back to back (so kills land mid-snapshot too, and small segments
// get retired); the parent kills it with SIGKILL at random moments — repeatedly, on the same
// directory — reopens, and checks R3, R4 and R5.
//
// Each writer goroutine g commits the keys g/0, g/1, … one after another, so commit order per
// goroutine is key order and at most one of its commits is in flight when the child dies.

const (
	crashChildEnv = "INMEM_CRASH_CHILD"
	crashModeEnv  = "INMEM_CRASH_MODE"
	crashWriters  = 8
)

var crashRun = func() inmem.RunID {
	id, err := inmem.ParseRunID("6f1c2a8e-7d3b-4c5a-9e0f-1a2b3c4d5e6f")
	if err != nil {
		panic(err)
	}
	return id
}()

func TestCrashSIGKILL(t *testing.T) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir, os.Getenv(crashModeEnv))
		return
	}
	if testing.Short() {
		t.Skip("spawns processes")
	}
	for _, mode := range []string{"strict", "buffered"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			rng := rand.New(rand.NewPCG(uint64(len(mode)), 42))
			acked := make([]int, crashWriters) // per writer: highest acknowledged index, -1 none
			for i := range acked {
				acked[i] = -1
			}
			fromSnapshot := 0
			for cycle := range crashCycles() {
				killAfter := rng.IntN(400) // acks to wait for; 0 = kill as soon as it starts
				crashOnce(t, dir, mode, killAfter, acked)
				if verifyCrashState(t, dir, mode, cycle, acked) {
					fromSnapshot++
				}
			}
			require.False(t, allNegative(acked), "the children never committed anything")
			require.Positive(t, fromSnapshot, "no recovery ever started from a snapshot")
		})
	}
}

// crashCycles is the number of kill/reopen cycles per mode: a handful in `make test`, more
// under INMEM_CRASH_CYCLES (make stress).
func crashCycles() int {
	if n, err := strconv.Atoi(os.Getenv("INMEM_CRASH_CYCLES")); err == nil && n > 0 {
		return n
	}
	return 6
}

// crashOnce runs the child until killAfter acknowledgements (or it fails), SIGKILLs it, and
// records what it acknowledged.
func crashOnce(t *testing.T, dir, mode string, killAfter int, acked []int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashSIGKILL$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, crashModeEnv+"="+mode)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())

	sc := bufio.NewScanner(out)
	n := 0
	for n < killAfter && sc.Scan() {
		if g, i, ok := parseAck(sc.Text()); ok {
			acked[g] = max(acked[g], i)
			n++
		}
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	// Acks printed before the kill landed are acknowledged too.
	for sc.Scan() {
		if g, i, ok := parseAck(sc.Text()); ok {
			acked[g] = max(acked[g], i)
		}
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("child was not killed: %v (it must run until killed)", err)
	}
}

func parseAck(line string) (g, i int, ok bool) {
	var err1, err2 error
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "ack" {
		return 0, 0, false
	}
	g, err1 = strconv.Atoi(f[1])
	i, err2 = strconv.Atoi(f[2])
	return g, i, err1 == nil && err2 == nil
}

// verifyCrashState reopens dir and checks every invariant against what the child acknowledged:
// R5 every acknowledged commit is there (Strict and Buffered alike: a process crash loses
// nothing written to the OS); R3 per writer the keys form a prefix g/0..g/n; R4 nothing beyond
// the one commit per writer that may have been in flight. It reports whether recovery started
// from a snapshot.
func verifyCrashState(t *testing.T, dir, mode string, cycle int, acked []int) bool {
	t.Helper()
	toy := newTally()
	db, err := inmem.Open(dir, crashOptions(mode, toy))
	require.NoError(t, err, "cycle %d: reopen after SIGKILL", cycle)
	defer func() { require.NoError(t, db.Close()) }()
	if db.RunStatus(crashRun) == inmem.RunNotFound {
		require.True(t, allNegative(acked), "cycle %d: the run vanished but commits were acknowledged", cycle)
		return false
	}
	require.Equal(t, inmem.RunOrphaned, db.RunStatus(crashRun), "cycle %d: recovery marks the active run", cycle)
	require.Contains(t, db.LastRecovery().OrphanedRuns, crashRun)
	require.NoError(t, db.Events().VerifyChain(crashRun), "cycle %d: event chain after recovery", cycle)
	for g := range crashWriters {
		keys, err := db.KV().List(crashRun, fmt.Sprintf("%d/", g))
		require.NoError(t, err)
		for i, k := range keys {
			require.Equal(t, crashKey(g, i), k, "cycle %d writer %d: gap before %s (R3)", cycle, g, k)
		}
		present := len(keys) - 1
		require.GreaterOrEqual(t, present, acked[g], "cycle %d writer %d: acknowledged commit lost (R5)", cycle, g)
		require.LessOrEqual(t, present, acked[g]+1, "cycle %d writer %d: more than the in-flight commit (R4)", cycle, g)
		for i := range keys {
			v, err := db.KV().Get(crashRun, keys[i])
			require.NoError(t, err)
			require.Equal(t, strconv.Itoa(i), string(v))
		}
		requireSameCommits(t, db, cycle, g, present)
		require.EqualValues(t, present+1, toy.Value(crashRun, fmt.Sprintf("w%d", g)),
			"cycle %d writer %d: the toy primitive disagrees with KV", cycle, g)
		acked[g] = present // the next child resumes after what is there
	}
	requireReplayMatchesLive(t, db, "cycle %d: replay after SIGKILL and recovery", cycle)
	rec := db.LastRecovery()
	require.NotNil(t, rec)
	require.True(t, rec.Consistent)
	return rec.SnapshotUsed != nil
}

func allNegative(xs []int) bool {
	for _, x := range xs {
		if x >= 0 {
			return false
		}
	}
	return true
}

func crashKey(g, i int) string { return fmt.Sprintf("%d/%06d", g, i) }

// crashOptions: small segments, so that snapshots retire some and recovery depends on them.
func crashOptions(mode string, toy *tally) *inmem.Options {
	o := inmem.DefaultOptions()
	if mode == "buffered" {
		o.Durability = inmem.Buffered
	}
	o.SegmentSize = 64 << 10
	o.Primitives = []inmem.Primitive{toy}
	return o
}

// crashChild is the writer process: it resumes the run and every writer after its last key and
// commits until it is killed, printing "ack <writer> <index>" after each acknowledged commit.
// Meanwhile it snapshots continuously.
func crashChild(dir, mode string) {
	ctx := context.Background()
	toy := newTally()
	db, err := inmem.Open(dir, crashOptions(mode, toy))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		os.Exit(3)
	}
	switch db.RunStatus(crashRun) {
	case inmem.RunNotFound:
		err = db.BeginRun(ctx, crashRun, inmem.RunInfo{Name: "crash"})
	case inmem.RunOrphaned:
		err = db.ResumeRun(ctx, crashRun)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child begin or resume:", err)
		os.Exit(3)
	}
	go func() {
		for {
			if _, err := db.Snapshot(); err != nil {
				fmt.Fprintln(os.Stderr, "child snapshot:", err)
				os.Exit(3)
			}
		}
	}()
	var mu sync.Mutex
	w := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for g := range crashWriters {
		keys, err := db.KV().List(crashRun, fmt.Sprintf("%d/", g))
		if err != nil {
			fmt.Fprintln(os.Stderr, "child list:", err)
			os.Exit(3)
		}
		wg.Add(1)
		go func(next int) {
			defer wg.Done()
			for i := next; ; i++ {
				if err := crashCommit(ctx, db, toy, g, i); err != nil {
					fmt.Fprintln(os.Stderr, "child commit:", err)
					os.Exit(3)
				}
				mu.Lock()
				fmt.Fprintf(w, "ack %d %d\n", g, i)
				w.Flush()
				mu.Unlock()
			}
		}(len(keys))
	}
	wg.Wait() // never: the parent kills us
}

// crashCommit is writer g's i-th transaction: it touches six primitives at once — a KV key, a
// state cell, an event, a JSON document, a trace span and a tally counter — so that a torn transaction would show
// as primitives that disagree after the crash.
func crashCommit(ctx context.Context, db *inmem.DB, toy *tally, g, i int) error {
	name := fmt.Sprintf("w%d", g)
	n := []byte(strconv.Itoa(i))
	return db.Update(ctx, crashRun, func(tx *inmem.Tx) error {
		if err := toy.Add(tx, name, 1); err != nil {
			return err
		}
		if err := tx.KV().Put(crashKey(g, i), n); err != nil {
			return err
		}
		if err := tx.State().Set(name, n); err != nil {
			return err
		}
		if err := tx.Events().Append(name, n); err != nil {
			return err
		}
		if i == 0 {
			if err := tx.JSON().Create(name, []byte(`{}`)); err != nil {
				return err
			}
		}
		if err := tx.JSON().Set(name, "$.last", n); err != nil {
			return err
		}
		_, err := tx.Traces().Record(inmem.Span{ID: fmt.Sprintf("%s/%d", name, i), Kind: inmem.SpanToolCall, Name: name})
		return err
	})
}

// requireSameCommits checks that every primitive holds exactly writer g's commits 0..last: all
// or nothing of each transaction survived (cross-primitive atomicity after SIGKILL).
func requireSameCommits(t *testing.T, db *inmem.DB, cycle, g, last int) {
	t.Helper()
	name := fmt.Sprintf("w%d", g)
	events, err := db.Events().ByType(crashRun, name)
	require.NoError(t, err)
	require.Len(t, events, last+1, "cycle %d writer %d: events disagree with KV", cycle, g)
	for i, e := range events {
		require.Equal(t, strconv.Itoa(i), string(e.Payload))
	}
	spans, err := db.Traces().ByKind(crashRun, inmem.SpanToolCall)
	require.NoError(t, err)
	count := 0
	for _, s := range spans {
		if s.Name == name {
			count++
		}
	}
	require.Equal(t, last+1, count, "cycle %d writer %d: spans disagree with KV", cycle, g)
	if last < 0 {
		_, err := db.State().Get(crashRun, name)
		require.ErrorIs(t, err, inmem.ErrNotFound)
		return
	}
	cell, err := db.State().Get(crashRun, name)
	require.NoError(t, err)
	require.Equal(t, strconv.Itoa(last), string(cell.Value), "cycle %d writer %d: state disagrees with KV", cycle, g)
	doc, err := db.JSON().Get(crashRun, name, "$.last")
	require.NoError(t, err)
	require.Equal(t, strconv.Itoa(last), string(doc), "cycle %d writer %d: JSON disagrees with KV", cycle, g)
}
