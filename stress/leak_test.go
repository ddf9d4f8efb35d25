package stress_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/internal/vfs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// Goroutine-leak suite. Each test drives the public API into a situation where goroutines are
// most likely to be left behind — Close racing commits, fsyncs, snapshots, cancelled contexts,
// a poisoned log, background flushes and snapshots, replays — then closes the database and
// checks with goleak that nothing outlives Close (on top of the package's VerifyTestMain).
// Every wait has a deadline: a goroutine that never returns fails the test with every
// goroutine's stack instead of hanging the run.

var leakCtx = context.Background()

// leakPatience bounds every wait for something that must return.
const leakPatience = 20 * time.Second

var leakSep = string(filepath.Separator)

// leakWALFiles matches the paths of the log's segment files.
var leakWALFiles = leakSep + "wal" + leakSep

// leakSnapshotFiles matches the paths of snapshot files.
var leakSnapshotFiles = leakSep + "snapshots" + leakSep

// leakOpen opens dir with the default options (Strict, snapshot at Close) changed by mutate.
// The caller closes the database: when is what the tests are about.
func leakOpen(t *testing.T, dir string, mutate ...func(*inmem.Options)) *inmem.DB {
	t.Helper()
	o := inmem.DefaultOptions()
	for _, m := range mutate {
		m(o)
	}
	db, err := inmem.Open(dir, o)
	require.NoError(t, err)
	return db
}

// leakBeginRuns begins n runs.
func leakBeginRuns(t *testing.T, db *inmem.DB, n int) []inmem.RunID {
	t.Helper()
	runs := make([]inmem.RunID, n)
	for i := range runs {
		runs[i] = inmem.NewRunID()
		require.NoError(t, db.BeginRun(leakCtx, runs[i], inmem.RunInfo{Name: fmt.Sprintf("%s/%d", t.Name(), i)}))
	}
	return runs
}

// leakGo runs f on a goroutine and returns a channel closed when f has returned.
func leakGo(f func()) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	return done
}

// leakAwait waits for done. Past leakPatience it fails the test with every goroutine's stack:
// what should have returned is stuck.
func leakAwait(t *testing.T, done <-chan struct{}, what string) {
	t.Helper()
	timer := time.NewTimer(leakPatience)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		buf := make([]byte, 4<<20)
		n := runtime.Stack(buf, true)
		t.Fatalf("%s: still blocked after %v; goroutines:\n%s", what, leakPatience, buf[:n])
	}
}

// leakUntil polls cond until it holds; past leakPatience it fails the test. It is for waiting
// until load has built up, never for asserting how long something took.
func leakUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(leakPatience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached after %v", what, leakPatience)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// leakClosing reports whether Close has started: from then on every call is ErrClosed.
func leakClosing(db *inmem.DB) bool {
	_, err := db.KV().Get(inmem.GlobalRun, "leak/probe")
	return errors.Is(err, inmem.ErrClosed)
}

// leakVal is the value of the i-th put of a worker.
func leakVal(i int) []byte { return []byte(strconv.Itoa(i)) }

func leakKey(i int) string { return fmt.Sprintf("k%06d", i) }

// leakWorkers runs n goroutines, each calling work(g, 0), work(g, 1), … until the first error.
type leakWorkers struct {
	wg    sync.WaitGroup
	total atomic.Int64 // successful calls, all workers
	acks  []int        // per worker: successful calls (read after wait)
	errs  []error      // per worker: the error that stopped it (read after wait)
}

func leakStart(n int, work func(g, i int) error) *leakWorkers {
	w := &leakWorkers{acks: make([]int, n), errs: make([]error, n)}
	for g := range n {
		w.wg.Go(func() {
			for i := 0; ; i++ {
				if err := work(g, i); err != nil {
					w.errs[g] = err
					return
				}
				w.acks[g]++
				w.total.Add(1)
			}
		})
	}
	return w
}

// wait waits for every worker to return.
func (w *leakWorkers) wait(t *testing.T, what string) {
	t.Helper()
	leakAwait(t, leakGo(w.wg.Wait), what)
}

// leakPutOrEvent is work for leakWorkers: even steps put leakKey(i) in the worker's run, odd
// steps append an event to it.
func leakPutOrEvent(db *inmem.DB, runs []inmem.RunID) func(g, i int) error {
	return func(g, i int) error {
		if i%2 == 0 {
			return db.KV().Put(leakCtx, runs[g], leakKey(i), leakVal(i))
		}
		_, err := db.Events().Append(leakCtx, runs[g], "step", []byte(`{"i":`+strconv.Itoa(i)+`}`))
		return err
	}
}

// leakCheckLastPut checks that the last acknowledged put of each leakPutOrEvent worker is in db.
func leakCheckLastPut(t *testing.T, db *inmem.DB, runs []inmem.RunID, acks []int) {
	t.Helper()
	for g, n := range acks {
		if n == 0 {
			continue
		}
		i := (n - 1) &^ 1 // the last even step that succeeded
		v, err := db.KV().Get(runs[g], leakKey(i))
		require.NoError(t, err, "worker %d: its acknowledged put %d is lost", g, i)
		require.Equal(t, string(leakVal(i)), string(v))
	}
}

// TestLeakOpenCloseUnderLoad proves that Close under full commit load stops every engine
// goroutine and strands no committer: 16 goroutines commit KV puts and events to their own
// runs when Close is called; each one's commits succeed until one fails with ErrClosed, and
// every acknowledged put is found when the directory is opened again — several rounds on one
// directory, so each Open also recovers what the previous Close left.
func TestLeakOpenCloseUnderLoad(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	dir := t.TempDir()
	const writers, rounds = 16, 4
	var prevRuns []inmem.RunID
	var prevAcks []int
	for round := range rounds {
		db := leakOpen(t, dir)
		if prevRuns != nil {
			leakCheckLastPut(t, db, prevRuns, prevAcks)
		}
		runs := leakBeginRuns(t, db, writers)
		w := leakStart(writers, leakPutOrEvent(db, runs))
		leakUntil(t, "commits under way", func() bool { return w.total.Load() >= 20*writers })
		closed := leakGo(func() { assert.NoError(t, db.Close(), "round %d: Close", round) })
		w.wait(t, "committers after Close")
		leakAwait(t, closed, "Close")
		for g, err := range w.errs {
			require.ErrorIs(t, err, inmem.ErrClosed, "round %d, committer %d", round, g)
		}
		t.Logf("round %d: %d commits acknowledged", round, w.total.Load())
		prevRuns, prevAcks = runs, w.acks
	}
	goleak.VerifyNone(t, leaks)

	db := leakOpen(t, dir)
	leakCheckLastPut(t, db, prevRuns, prevAcks)
	require.NoError(t, db.Close())
	goleak.VerifyNone(t, leaks)
}

// leakGateFS is the OS filesystem with a gate on File.Sync: while armed, a Sync of a file whose
// path contains the armed substring reports itself on entered and waits until release.
type leakGateFS struct {
	vfs.FS
	entered chan string // one value per gated Sync (dropped when full: Sync never waits on it)

	mu    sync.Mutex
	match string
	gate  chan struct{} // nil: disarmed
}

func newLeakGateFS(t *testing.T) *leakGateFS {
	f := &leakGateFS{FS: vfs.Default(), entered: make(chan string, 64)}
	t.Cleanup(f.release) // a failed test must not leave a Sync blocked
	return f
}

// arm makes every later Sync of a file whose path contains match wait for release.
func (f *leakGateFS) arm(match string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.match, f.gate = match, make(chan struct{})
}

// release lets every gated Sync go on, and disarms the gate.
func (f *leakGateFS) release() { f.releaseAfter(func() {}) }

// releaseAfter runs last and then opens the gate, both under the lock holding reports: what
// last sees (a count of acknowledgements) is the state at the last moment a gated Sync was
// still blocked, with no acknowledgement able to slip in between.
func (f *leakGateFS) releaseAfter(last func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	last()
	if f.gate != nil {
		close(f.gate)
		f.gate = nil
	}
}

// holding reports whether the gate is armed: no gated Sync has been let through yet. A Strict
// commit acknowledged while it holds was acknowledged before the log's fsync returned.
func (f *leakGateFS) holding() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gate != nil
}

func (f *leakGateFS) pass(name string) {
	f.mu.Lock()
	gate := f.gate
	if gate == nil || !strings.Contains(name, f.match) {
		f.mu.Unlock()
		return
	}
	f.mu.Unlock()
	select {
	case f.entered <- name:
	default:
	}
	<-gate
}

// awaitEntered waits until a Sync is held at the gate and returns its file's path.
func (f *leakGateFS) awaitEntered(t *testing.T) string {
	t.Helper()
	timer := time.NewTimer(leakPatience)
	defer timer.Stop()
	select {
	case name := <-f.entered:
		return name
	case <-timer.C:
		t.Fatalf("no Sync reached the gate after %v", leakPatience)
		return ""
	}
}

func (f *leakGateFS) Create(name string) (vfs.File, error) {
	file, err := f.FS.Create(name)
	return f.wrap(name, file, err)
}

func (f *leakGateFS) OpenReadWrite(name string) (vfs.File, error) {
	file, err := f.FS.OpenReadWrite(name)
	return f.wrap(name, file, err)
}

func (f *leakGateFS) wrap(name string, file vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return &leakGateFile{File: file, fs: f, name: name}, nil
}

type leakGateFile struct {
	vfs.File
	fs   *leakGateFS
	name string
}

func (f *leakGateFile) Sync() error {
	f.fs.pass(f.name)
	return f.File.Sync()
}

// TestLeakCloseWhileCommitsWaitForFsync proves that Close waits for the commits stuck behind a
// slow fdatasync and then stops cleanly: the log's Sync is held at a gate while 16 committers,
// a db.Sync caller and a db.Snapshot caller wait on it; Close is called, cannot return while
// the gate holds, and after the release Close, every committer and the callers return — the
// batch that was in the fsync acknowledged, everything after Close refused with ErrClosed.
//
// The gate is armed before the committers start, so the held Sync is the first the log issues
// for any of their commits: in Strict mode none of them may be acknowledged before it returns.
// Two observations say so, neither of which a late reading can miss: each committer asks the
// gate, right after its commit returned, whether it is still holding; and the count of
// acknowledgements is read under the gate's lock as the gate opens.
func TestLeakCloseWhileCommitsWaitForFsync(t *testing.T) {
	for _, onClose := range []bool{true, false} {
		t.Run(fmt.Sprintf("snapshot-on-close=%v", onClose), func(t *testing.T) {
			leaks := goleak.IgnoreCurrent()
			dir := t.TempDir()
			fs := newLeakGateFS(t)
			db := leakOpen(t, dir, func(o *inmem.Options) { o.FS, o.Snapshot.OnClose = fs, onClose })
			const writers = 16
			runs := leakBeginRuns(t, db, writers)

			fs.arm(leakWALFiles)
			var early atomic.Int64 // commits acknowledged while the first fsync was held
			commit := leakPutOrEvent(db, runs)
			w := leakStart(writers, func(g, i int) error {
				err := commit(g, i)
				if err == nil && fs.holding() {
					early.Add(1)
				}
				return err
			})
			syncer := leakGo(func() {
				for {
					if err := db.Sync(); err != nil {
						assert.ErrorIs(t, err, inmem.ErrClosed, "db.Sync")
						return
					}
					runtime.Gosched() // nothing unsynced yet: Sync returns at once
				}
			})
			t.Logf("held: the Sync of %s", fs.awaitEntered(t))
			snapshot := leakGo(func() {
				if _, err := db.Snapshot(); err != nil {
					assert.ErrorIs(t, err, inmem.ErrClosed, "db.Snapshot")
				}
			})
			time.Sleep(20 * time.Millisecond) // let the committers pile up behind the fsync

			closeErr := make(chan error, 1)
			closed := leakGo(func() { closeErr <- db.Close() })
			leakUntil(t, "Close started", func() bool { return leakClosing(db) })
			select {
			case <-closed:
				t.Fatal("Close returned while a batch it must complete was still in its fsync")
			default:
			}

			var atRelease int64
			fs.releaseAfter(func() { atRelease = w.total.Load() })
			leakAwait(t, closed, "Close after the fsync was released")
			require.NoError(t, <-closeErr)
			w.wait(t, "committers after Close")
			leakAwait(t, syncer, "db.Sync caller")
			leakAwait(t, snapshot, "db.Snapshot caller")
			assert.Zero(t, atRelease, "Strict commits were acknowledged while the log's first fsync for them was held")
			assert.Zero(t, early.Load(), "Strict commits returned while the log's first fsync for them was held")
			for g, err := range w.errs {
				require.ErrorIs(t, err, inmem.ErrClosed, "committer %d", g)
			}
			require.Positive(t, w.total.Load(), "the batch held in the fsync was handed over before Close: it must be acknowledged")
			goleak.VerifyNone(t, leaks)

			db = leakOpen(t, dir)
			leakCheckLastPut(t, db, runs, w.acks)
			require.NoError(t, db.Close())
			goleak.VerifyNone(t, leaks)
		})
	}
}

// TestLeakCloseDuringSnapshot proves that Close and db.Snapshot racing each other both return
// and leave no goroutine, on a database big enough (10 runs × 2000 keys) that writing a
// snapshot takes a while: with the snapshot's fsync held until Close has started (the snapshot
// in progress must succeed, and Close — which takes its own snapshot — waits for it), and with
// the two started together from a barrier, either goroutine first (the snapshot succeeds or is
// ErrClosed).
func TestLeakCloseDuringSnapshot(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	dir := t.TempDir()
	const runsN, keys, perTx = 10, 2000, 500
	db := leakOpen(t, dir)
	runs := leakBeginRuns(t, db, runsN)
	var wg sync.WaitGroup
	for _, run := range runs {
		wg.Go(func() {
			for from := 0; from < keys; from += perTx {
				assert.NoError(t, db.Update(leakCtx, run, func(tx *inmem.Tx) error {
					for i := from; i < from+perTx; i++ {
						if err := tx.KV().Put(leakKey(i), leakVal(i)); err != nil {
							return err
						}
					}
					return nil
				}))
			}
		})
	}
	leakAwait(t, leakGo(wg.Wait), "populating")
	require.NoError(t, db.Close())

	check := func(db *inmem.DB) {
		t.Helper()
		for _, run := range runs {
			v, err := db.KV().Get(run, leakKey(keys-1))
			require.NoError(t, err)
			require.Equal(t, string(leakVal(keys-1)), string(v))
		}
	}
	for _, order := range []string{"in-progress", "snapshot-first", "close-first"} {
		fs := newLeakGateFS(t)
		db := leakOpen(t, dir, func(o *inmem.Options) { o.FS = fs })
		check(db)
		var snapErr, closeErr error
		var snapped, closed <-chan struct{}
		switch order {
		case "in-progress":
			fs.arm(leakSnapshotFiles)
			snapped = leakGo(func() { _, snapErr = db.Snapshot() })
			fs.awaitEntered(t)
			closed = leakGo(func() { closeErr = db.Close() })
			leakUntil(t, "Close started", func() bool { return leakClosing(db) })
			fs.release()
		default:
			start := make(chan struct{})
			snap := func() { <-start; _, snapErr = db.Snapshot() }
			cls := func() { <-start; closeErr = db.Close() }
			if order == "snapshot-first" {
				snapped, closed = leakGo(snap), leakGo(cls)
			} else {
				closed, snapped = leakGo(cls), leakGo(snap)
			}
			close(start)
		}
		leakAwait(t, snapped, order+": db.Snapshot")
		leakAwait(t, closed, order+": Close")
		require.NoError(t, closeErr, order)
		switch {
		case order == "in-progress":
			require.NoError(t, snapErr, "a snapshot in progress when Close started must complete")
		case snapErr != nil:
			require.ErrorIs(t, snapErr, inmem.ErrClosed, order)
		}
		t.Logf("%s: snapshot error: %v", order, snapErr)
	}
	goleak.VerifyNone(t, leaks)

	db = leakOpen(t, dir)
	check(db)
	require.NotNil(t, db.LastRecovery().SnapshotUsed, "the directory reopens from a snapshot")
	require.NoError(t, db.Close())
	goleak.VerifyNone(t, leaks)
}

// leakCancelContext returns a context for one call, cancelled (per mode) before the call,
// during it from a timer or another goroutine, by a timeout of a few microseconds, or only
// after it; done releases what it holds once the call has returned.
func leakCancelContext(rng *rand.Rand, mode int) (ctx context.Context, done func()) {
	ctx, cancel := context.WithCancel(leakCtx)
	switch mode {
	case leakBefore:
		cancel()
		return ctx, cancel
	case leakTimer:
		timer := time.AfterFunc(time.Duration(rng.IntN(300))*time.Microsecond, cancel)
		return ctx, func() { timer.Stop(); cancel() }
	case leakGoroutine:
		canceller := leakGo(func() {
			for range rng.IntN(4) {
				runtime.Gosched()
			}
			cancel()
		})
		return ctx, func() { <-canceller }
	case leakTimeout:
		cancel()
		ctx, cancel = context.WithTimeout(leakCtx, time.Duration(1+rng.IntN(20))*time.Microsecond)
		return ctx, cancel
	default: // leakAfter
		return ctx, cancel
	}
}

const (
	leakBefore = iota
	leakTimer
	leakGoroutine
	leakTimeout
	leakAfter
	leakModes
)

// TestLeakCancelledContexts proves that contexts ending at any moment of a commit strand
// nothing: 32 goroutines call db.Update (a read-modify-write of a contended counter, so
// conflicts and retries happen) and db.KV().Put with contexts cancelled before, during and
// after the call, or timing out after a few microseconds; each call returns nil,
// context.Canceled, context.DeadlineExceeded or ErrConflict. Close comes right after the last
// caller gave up, with abandoned commits still in the pipeline. Then nothing leaks, and the
// reopened directory holds every acknowledged write, none of those cancelled before the call,
// and counters that count every acknowledged Update and nothing that never ran.
func TestLeakCancelledContexts(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	dir := t.TempDir()
	db := leakOpen(t, dir)
	const workers, ops = 32, 40
	runs := leakBeginRuns(t, db, 4)
	type write struct {
		run inmem.RunID
		key string
	}
	var (
		mu              sync.Mutex
		must, never     []write
		acked, possible = make(map[inmem.RunID]int), make(map[inmem.RunID]int) // Updates per run
		outcomes        [leakModes][4]int                                      // nil, Canceled, DeadlineExceeded, ErrConflict
		wg              sync.WaitGroup
	)
	for g := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 0x1eac))
			for i := range ops {
				run, mode, update := runs[rng.IntN(len(runs))], rng.IntN(leakModes), rng.IntN(2) == 0
				key := fmt.Sprintf("w%02d/%03d", g, i)
				ctx, done := leakCancelContext(rng, mode)
				var err error
				if update {
					err = db.Update(ctx, run, func(tx *inmem.Tx) error {
						v, err := tx.KV().Get("counter")
						if err != nil && !errors.Is(err, inmem.ErrNotFound) {
							return err
						}
						n := 0
						if err == nil {
							if n, err = strconv.Atoi(string(v)); err != nil {
								return err
							}
						}
						if err := tx.KV().Put("counter", leakVal(n+1)); err != nil {
							return err
						}
						return tx.KV().Put(key, leakVal(i))
					})
				} else {
					err = db.KV().Put(ctx, run, key, leakVal(i))
				}
				done()
				outcome := -1
				switch {
				case err == nil:
					outcome = 0
				case errors.Is(err, context.Canceled):
					outcome = 1
				case errors.Is(err, context.DeadlineExceeded):
					outcome = 2
				case update && errors.Is(err, inmem.ErrConflict):
					outcome = 3
				}
				if !assert.GreaterOrEqual(t, outcome, 0, "mode %d, update %v: unexpected error %v", mode, update, err) {
					return
				}
				switch mode {
				case leakBefore:
					assert.ErrorIs(t, err, context.Canceled, "a context cancelled before the call")
				case leakAfter:
					assert.True(t, outcome == 0 || outcome == 3, "a context cancelled after the call: %v", err)
				}
				mu.Lock()
				outcomes[mode][outcome]++
				w := write{run, key}
				switch {
				case err == nil:
					must = append(must, w)
				case mode == leakBefore:
					never = append(never, w) // a context done before the call hands nothing over
				}
				if update {
					if err == nil {
						acked[run]++
					}
					if mode != leakBefore {
						possible[run]++
					}
				}
				mu.Unlock()
			}
		})
	}
	leakAwait(t, leakGo(wg.Wait), "callers with cancelled contexts")
	require.NoError(t, db.Close(), "Close with abandoned commits in flight")
	t.Logf("outcomes per mode (nil, Canceled, DeadlineExceeded, ErrConflict): %v", outcomes)
	goleak.VerifyNone(t, leaks)

	db = leakOpen(t, dir)
	for _, w := range must {
		_, err := db.KV().Get(w.run, w.key)
		require.NoError(t, err, "acknowledged write %s lost", w.key)
	}
	for _, w := range never {
		_, err := db.KV().Get(w.run, w.key)
		require.ErrorIs(t, err, inmem.ErrNotFound, "write %s landed although its context was done before the call", w.key)
	}
	for _, run := range runs {
		n := 0
		if v, err := db.KV().Get(run, "counter"); err == nil {
			n, err = strconv.Atoi(string(v))
			require.NoError(t, err)
		} else {
			require.ErrorIs(t, err, inmem.ErrNotFound)
		}
		require.GreaterOrEqual(t, n, acked[run], "the counter lost acknowledged Updates")
		require.LessOrEqual(t, n, possible[run], "the counter counts Updates that never committed")
	}
	require.NoError(t, db.Close())
	goleak.VerifyNone(t, leaks)
}

var errLeakFault = errors.New("fault injected by the leak suite")

// TestLeakPoisonedLog proves that a failed write or fdatasync of the log strands nothing: the
// failure poisons the log while 16 committers are committing; every committer's last call
// fails with ErrPoisoned and all of them return, later commits and db.Sync fail with
// ErrPoisoned, Close returns the poison (and nil the second time), no goroutine is left, and
// the directory reopens with every acknowledged put and takes new commits.
func TestLeakPoisonedLog(t *testing.T) {
	for _, tc := range []struct {
		name   string
		op     vfs.Op
		mutate func(*inmem.Options)
	}{
		{"strict/sync", vfs.OpSync, func(*inmem.Options) {}},
		{"strict/write", vfs.OpWrite, func(*inmem.Options) {}},
		{"buffered/write", vfs.OpWrite, func(o *inmem.Options) { o.Durability = inmem.Buffered }},
		// The background flush fails; the next commit finds the log poisoned.
		{"buffered/background-sync", vfs.OpSync, func(o *inmem.Options) {
			o.Durability, o.FlushInterval = inmem.Buffered, time.Millisecond
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leaks := goleak.IgnoreCurrent()
			dir := t.TempDir()
			fs := vfs.NewInjectFS(vfs.Default())
			db := leakOpen(t, dir, tc.mutate, func(o *inmem.Options) { o.FS = fs })
			const writers = 16
			runs := leakBeginRuns(t, db, writers)
			w := leakStart(writers, leakPutOrEvent(db, runs))
			leakUntil(t, "commits under way", func() bool { return w.total.Load() >= 10*writers })
			// Sticky: a retried call would fail again and be counted.
			fs.Inject(vfs.Fault{Op: tc.op, Nth: 1, Sticky: true, Err: errLeakFault, Path: leakWALFiles})
			w.wait(t, "committers after the log was poisoned")
			for g, err := range w.errs {
				require.ErrorIs(t, err, inmem.ErrPoisoned, "committer %d", g)
			}
			require.Equal(t, 1, fs.Failures(tc.op), "the failed %s was retried", tc.op)
			require.ErrorIs(t, db.KV().Put(leakCtx, runs[0], "late", []byte("x")), inmem.ErrPoisoned)
			require.ErrorIs(t, db.Sync(), inmem.ErrPoisoned)

			err := db.Close()
			require.ErrorIs(t, err, inmem.ErrPoisoned, "Close reports the poison")
			require.ErrorIs(t, err, errLeakFault)
			require.NoError(t, db.Close(), "Close is idempotent")
			goleak.VerifyNone(t, leaks)

			db = leakOpen(t, dir)
			leakCheckLastPut(t, db, runs, w.acks)
			run := leakBeginRuns(t, db, 1)[0]
			require.NoError(t, db.KV().Put(leakCtx, run, "after", []byte("x")), "the reopened log takes commits")
			require.NoError(t, db.Close())
			goleak.VerifyNone(t, leaks)
		})
	}
}

// TestLeakBackgroundWorkAtClose proves that the background goroutines — interval and WAL-size
// snapshots with retention and WAL retirement, Buffered flushes by time and by size — are
// stopped by Close even when it lands in the middle of them: every round commits on small
// segments until several snapshots and flushes have run, then closes under load.
func TestLeakBackgroundWorkAtClose(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	dir := t.TempDir()
	mutate := func(o *inmem.Options) {
		o.Durability = inmem.Buffered
		o.FlushInterval = time.Millisecond
		o.MaxUnsyncedBytes = 16 << 10
		o.SegmentSize = 32 << 10
		o.Snapshot.Interval = 5 * time.Millisecond
		o.Snapshot.WALSizeThreshold = 64 << 10
		o.Snapshot.RetentionCount = 2
	}
	const writers, rounds = 8, 4
	var prevRuns []inmem.RunID
	var prevAcks []int
	for round := range rounds {
		db := leakOpen(t, dir, mutate)
		if prevRuns != nil {
			leakCheckLastPut(t, db, prevRuns, prevAcks)
		}
		runs := leakBeginRuns(t, db, writers)
		start := db.Stats()
		w := leakStart(writers, leakPutOrEvent(db, runs))
		leakUntil(t, "background snapshots and flushes", func() bool {
			s := db.Stats()
			return s.Snapshots >= start.Snapshots+3 && s.Syncs >= start.Syncs+3
		})
		closed := leakGo(func() { assert.NoError(t, db.Close(), "round %d: Close", round) })
		w.wait(t, "committers after Close")
		leakAwait(t, closed, "Close")
		for g, err := range w.errs {
			require.ErrorIs(t, err, inmem.ErrClosed, "round %d, committer %d", round, g)
		}
		s := db.Stats()
		t.Logf("round %d: %d commits, %d snapshots, %d syncs", round, s.Commits-start.Commits,
			s.Snapshots-start.Snapshots, s.Syncs-start.Syncs)
		prevRuns, prevAcks = runs, w.acks
	}
	goleak.VerifyNone(t, leaks)

	db := leakOpen(t, dir, mutate)
	leakCheckLastPut(t, db, prevRuns, prevAcks)
	require.NoError(t, db.Close())
	goleak.VerifyNone(t, leaks)
}

// TestLeakReplayAndDiffRacingClose proves that readers racing Close return and leave nothing
// behind: goroutines calling db.ReplayRun, db.ReplayRunUntil, db.DiffRuns (which replays its
// two runs side by side) and db.View, with writers still committing, each get nil until they
// get ErrClosed; a view replayed before Close stays readable after it.
func TestLeakReplayAndDiffRacingClose(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	dir := t.TempDir()
	const runsN, steps = 6, 100
	db := leakOpen(t, dir)
	runs := leakBeginRuns(t, db, runsN)
	var wg sync.WaitGroup
	for r, run := range runs {
		wg.Go(func() {
			for i := range steps {
				assert.NoError(t, db.Update(leakCtx, run, func(tx *inmem.Tx) error {
					if err := tx.KV().Put(leakKey(i%20), leakVal(i*r)); err != nil {
						return err
					}
					if err := tx.Events().Append("step", []byte(`{"i":`+strconv.Itoa(i)+`}`)); err != nil {
						return err
					}
					return tx.State().Set("phase", leakVal(i%3))
				}))
			}
		})
	}
	leakAwait(t, leakGo(wg.Wait), "populating")
	require.NoError(t, db.Close())

	const readers, writers = 8, 2
	for round := range 3 {
		db := leakOpen(t, dir)
		before, err := db.ReplayRun(runs[0])
		require.NoError(t, err)
		writeRuns := leakBeginRuns(t, db, writers)
		wr := leakStart(writers, leakPutOrEvent(db, writeRuns))
		rd := leakStart(readers, func(g, i int) error {
			a, b := runs[(g+i)%runsN], runs[(g+i+1)%runsN]
			switch (g + i) % 4 {
			case 0:
				_, err := db.ReplayRun(a)
				return err
			case 1:
				_, err := db.ReplayRunUntil(a, i%(steps+2))
				return err
			case 2:
				_, err := db.DiffRuns(a, b)
				return err
			default:
				return db.View(a, func(tx *inmem.Tx) error {
					if _, err := tx.KV().Get(leakKey(i % 20)); err != nil {
						return err
					}
					_, err := tx.Events().Len()
					return err
				})
			}
		})
		leakUntil(t, "readers under way", func() bool { return rd.total.Load() >= 4*readers })
		closed := leakGo(func() { assert.NoError(t, db.Close(), "round %d: Close", round) })
		rd.wait(t, "readers after Close")
		wr.wait(t, "writers after Close")
		leakAwait(t, closed, "Close")
		for g, err := range rd.errs {
			require.ErrorIs(t, err, inmem.ErrClosed, "round %d, reader %d", round, g)
		}
		for g, err := range wr.errs {
			require.ErrorIs(t, err, inmem.ErrClosed, "round %d, writer %d", round, g)
		}
		require.GreaterOrEqual(t, before.Steps(), steps)
		require.Len(t, before.KVKeys(), 20, "a view stays readable after Close")
		require.Len(t, before.Events(), steps)
		t.Logf("round %d: %d reads before ErrClosed", round, rd.total.Load())
	}
	goleak.VerifyNone(t, leaks)
}
