package inmem_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/stress"
	"github.com/stretchr/testify/require"
)

// The SIGKILL crash test: this test binary re-executes itself as a writer that commits from
// many goroutines — each transaction touching five primitives, the toy tally primitive
// registered from outside the engine, and a stress.Witness that tells the writer its commit
// version — and prints each acknowledged commit with its version, while another goroutine
// takes snapshots back to back and the WAL-size trigger takes more (so kills land mid-snapshot
// too, recoveries start from snapshots cut while commits were in flight, and small segments get
// retired); the parent kills it with SIGKILL at random moments — repeatedly, on the same
// directory — reopens, and checks that recovery lost no acknowledged commit, kept a prefix of
// every writer's commits and of the commit order as a whole (CheckCommitPrefix), and invented
// nothing.
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
			rng := rand.New(rand.NewPCG(uint64(len(mode)), 42))
			cycles := crashCycles()
			fromSnapshot, committed := 0, false
			// A snapshot carries the whole journal, so a cycle costs more the longer its
			// directory's history: a long run starts a fresh directory every crashCyclesPerDir
			// cycles, and costs what its cycles do, not their square.
			for first := 0; first < cycles; first += crashCyclesPerDir {
				h := newCrashHistory(t.TempDir())
				for cycle := first; cycle < min(cycles, first+crashCyclesPerDir); cycle++ {
					killAfter := rng.IntN(400) // acks to wait for; 0 = kill as soon as it starts
					crashOnce(t, h, mode, killAfter)
					if verifyCrashState(t, h, mode, cycle) {
						fromSnapshot++
					}
				}
				committed = committed || !allNegative(h.acked)
			}
			t.Logf("%d cycles, %d recoveries started from a snapshot", cycles, fromSnapshot)
			require.True(t, committed, "the children never committed anything")
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

// crashCyclesPerDir bounds the cycles one directory goes through.
const crashCyclesPerDir = 10

// crashPatience bounds the wait for a child's acknowledgements: it is for a child that hangs,
// never a measure of how fast one commits.
const crashPatience = 2 * time.Minute

// crashHistory is what the parent knows of one directory across its cycles.
type crashHistory struct {
	dir    string
	acked  []int // per writer: highest acknowledged index, -1 none
	ledger *inmem.CommitLedger
	// resumed says the last child acknowledged a commit: it had begun or resumed the run, which
	// was active when it died.
	resumed bool
}

func newCrashHistory(dir string) *crashHistory {
	h := &crashHistory{dir: dir, acked: make([]int, crashWriters), ledger: inmem.NewCommitLedger()}
	for i := range h.acked {
		h.acked[i] = -1
	}
	return h
}

// ack records a line of the child's, if it is an acknowledgement.
func (h *crashHistory) ack(line string) bool {
	g, i, v, ok := parseAck(line)
	if ok {
		h.acked[g] = max(h.acked[g], i)
		h.ledger.Acked(v)
	}
	return ok
}

// crashOnce runs the child until killAfter acknowledgements (or it fails), SIGKILLs it, and
// records what it acknowledged.
func crashOnce(t *testing.T, h *crashHistory, mode string, killAfter int) {
	t.Helper()
	n := killChild(t, "TestCrashSIGKILL", []string{crashChildEnv + "=" + h.dir, crashModeEnv + "=" + mode}, killAfter, h.ack)
	h.resumed = n > 0
}

// killChild runs this test binary's test as a child process with env added, hands each line
// it prints to line (which reports whether it was an acknowledgement), SIGKILLs it once it
// has acknowledged killAfter times, and hands on what it printed before it died. A child that
// stops acknowledging for crashPatience, or that was not there to be killed — it exited by
// itself — fails the test with its stderr: a crash it did not suffer must not pass for one
// survived. It returns the acknowledgements read.
func killChild(t *testing.T, test string, env []string, killAfter int, line func(string) bool) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())

	// A child that stops acknowledging would hold the scan below forever: past crashPatience it
	// is killed, and the test fails.
	var stuck atomic.Bool
	watchdog := time.AfterFunc(crashPatience, func() {
		stuck.Store(true)
		_ = cmd.Process.Kill()
	})
	sc := bufio.NewScanner(out)
	n := 0
	for n < killAfter && sc.Scan() {
		if line(sc.Text()) {
			n++
		}
	}
	watchdog.Stop()
	// A child that exited but was not waited for is still a zombie: the signal reaches it and
	// succeeds. The wait status below tells the two apart.
	sigErr := cmd.Process.Signal(syscall.SIGKILL)
	// Acks printed before the kill landed are acknowledged too.
	for sc.Scan() {
		if line(sc.Text()) {
			n++
		}
	}
	err = cmd.Wait()
	if stuck.Load() {
		t.Fatalf("the child acknowledged %d times in %v, not the %d awaited; its stderr:\n%s",
			n, crashPatience, killAfter, bytes.TrimSpace(stderr.Bytes()))
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the child was not killed by SIGKILL (%v; signal: %v; wait: %v); its stderr:\n%s",
			cmd.ProcessState, sigErr, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return n
}

// parseAck parses "ack <writer> <index> <version>".
func parseAck(line string) (g, i int, v uint64, ok bool) {
	f := strings.Fields(line)
	if len(f) != 4 || f[0] != "ack" {
		return 0, 0, 0, false
	}
	g, err1 := strconv.Atoi(f[1])
	i, err2 := strconv.Atoi(f[2])
	v, err3 := strconv.ParseUint(f[3], 10, 64)
	return g, i, v, err1 == nil && err2 == nil && err3 == nil && g >= 0 && g < crashWriters
}

// verifyCrashState reopens the directory and checks it against what the children acknowledged:
// every acknowledged commit is there (Strict and Buffered alike: a process crash loses nothing
// written to the OS); per writer the keys form a prefix g/0..g/n, and nothing is there beyond
// the one commit per writer that may have been in flight; and the transactions recovery kept
// are exactly the first N of the commit order, with no hole between writers either. It
// reports whether recovery started from a snapshot.
func verifyCrashState(t *testing.T, h *crashHistory, mode string, cycle int) bool {
	t.Helper()
	toy := newTally()
	db, err := inmem.Open(h.dir, crashOptions(mode, toy, stress.NewWitness()))
	require.NoError(t, err, "cycle %d: reopen after SIGKILL", cycle)
	defer func() { require.NoError(t, db.Close()) }()
	h.ledger.Opened(db)
	require.NoError(t, inmem.CheckCommitPrefix(db, h.ledger), "cycle %d", cycle)
	acked := h.acked
	if db.RunStatus(crashRun) == inmem.RunNotFound {
		require.True(t, allNegative(acked), "cycle %d: the run vanished but commits were acknowledged", cycle)
		return false
	}
	require.Equal(t, inmem.RunOrphaned, db.RunStatus(crashRun), "cycle %d: recovery marks the active run", cycle)
	if h.resumed { // else the kill may have come before the child resumed the run
		require.Contains(t, db.LastRecovery().OrphanedRuns, crashRun, "cycle %d: recovery marks the active run", cycle)
	}
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

// crashOptions: small segments, so that snapshots retire some and recovery depends on them, and
// a small WAL-size trigger, so that the snapshotter cuts snapshots of its own between the
// child's. Every Open of the directory registers a witness: its entries are in the log.
func crashOptions(mode string, toy *tally, wit *stress.Witness) *inmem.Options {
	o := inmem.DefaultOptions()
	if mode == "buffered" {
		o.Durability = inmem.Buffered
	}
	o.SegmentSize = 64 << 10
	o.Snapshot.WALSizeThreshold = 32 << 10
	o.Primitives = []inmem.Primitive{toy, wit}
	return o
}

// crashChild is the writer process: it resumes the run and every writer after its last key and
// commits until it is killed, printing "ack <writer> <index> <version>" after each acknowledged
// commit. Meanwhile it snapshots continuously.
func crashChild(dir, mode string) {
	ctx := context.Background()
	toy, wit := newTally(), stress.NewWitness()
	db, err := inmem.Open(dir, crashOptions(mode, toy, wit))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		os.Exit(3)
	}
	// The parent's ledger counts the runs each Open marked Orphaned, but hears only of its own
	// Opens. It reopened and closed the directory since the last child, marking the run if it
	// was active, so this Open must have found nothing to mark.
	if ids := db.LastRecovery().OrphanedRuns; len(ids) > 0 {
		fmt.Fprintln(os.Stderr, "child open marked runs Orphaned behind the parent's back:", ids)
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
	go snapshotForever(db)
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
				v, err := crashCommit(ctx, db, toy, wit, g, i)
				if err != nil {
					fmt.Fprintln(os.Stderr, "child commit:", err)
					os.Exit(3)
				}
				mu.Lock()
				fmt.Fprintf(w, "ack %d %d %d\n", g, i, v)
				w.Flush()
				mu.Unlock()
			}
		}(len(keys))
	}
	wg.Wait() // never: the parent kills us
}

// snapshotForever takes snapshots back to back until the process dies, so that kills land
// mid-snapshot too; a snapshot that fails ends the child (exit status 3, which fails the test).
func snapshotForever(db *inmem.DB) {
	for {
		if _, err := db.Snapshot(); err != nil {
			fmt.Fprintln(os.Stderr, "child snapshot:", err)
			os.Exit(3)
		}
	}
}

// crashCommit is writer g's i-th transaction: it touches six primitives at once — a KV key, a
// state cell, an event, a JSON document, a trace span and a tally counter — so that a torn
// transaction would show as primitives that disagree after the crash. It returns the commit
// version, which the witness it also carries learns.
func crashCommit(ctx context.Context, db *inmem.DB, toy *tally, wit *stress.Witness, g, i int) (uint64, error) {
	name := fmt.Sprintf("w%d", g)
	n := []byte(strconv.Itoa(i))
	var mark *stress.WitnessMark // of the attempt that committed: Update may run fn more than once
	err := db.Update(ctx, crashRun, func(tx *inmem.Tx) (err error) {
		if mark, err = wit.Mark(tx); err != nil {
			return err
		}
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
		_, err = tx.Traces().Record(inmem.Span{ID: fmt.Sprintf("%s/%d", name, i), Kind: inmem.SpanToolCall, Name: name})
		return err
	})
	return mark.Version(), err
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
