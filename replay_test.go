package inmem_test

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The image of one run, in one format for the live state and for a replayed view: replay
// invariants compare the two. Versions of cells, event hashes and timestamps are part of it.
func liveImage(t testing.TB, db *inmem.DB, run inmem.RunID) string {
	t.Helper()
	var b strings.Builder
	pairs, err := db.KV().Scan(run, "", "", 0)
	require.NoError(t, err)
	for _, p := range pairs {
		fmt.Fprintf(&b, "kv %q=%q\n", p.Key, p.Value)
	}
	docs, err := db.JSON().List(run)
	require.NoError(t, err)
	for _, k := range docs {
		doc, err := db.JSON().Get(run, k, "$")
		require.NoError(t, err)
		fmt.Fprintf(&b, "json %q %s\n", k, doc)
	}
	cells, err := db.State().List(run)
	require.NoError(t, err)
	for _, name := range cells {
		c, err := db.State().Get(run, name)
		require.NoError(t, err)
		imageCell(&b, name, c)
	}
	n, err := db.Events().Len(run)
	require.NoError(t, err)
	events, err := db.Events().Range(run, 0, n)
	require.NoError(t, err)
	spans, err := db.Traces().List(run)
	require.NoError(t, err)
	imageSequences(&b, events, spans)
	return b.String()
}

func viewImage(v *inmem.ReadOnlyView) string {
	var b strings.Builder
	for _, k := range v.KVKeys() {
		val, ok := v.KV(k)
		fmt.Fprintf(&b, "kv %q=%q\n", k, val)
		if !ok {
			b.WriteString("(listed key not found)\n")
		}
	}
	for _, k := range v.JSONKeys() {
		doc, _ := v.JSON(k)
		fmt.Fprintf(&b, "json %q %s\n", k, doc)
	}
	for _, name := range v.StateNames() {
		c, _ := v.State(name)
		imageCell(&b, name, c)
	}
	imageSequences(&b, v.Events(), v.Spans())
	return b.String()
}

func imageCell(b *strings.Builder, name string, c inmem.Cell) {
	fmt.Fprintf(b, "state %q v%d %d %q\n", name, c.Version, c.UpdatedAt.UnixMicro(), c.Value)
}

func imageSequences(b *strings.Builder, events []inmem.Event, spans []inmem.Span) {
	for _, e := range events {
		fmt.Fprintf(b, "event %d %q %s %d %x %x\n", e.Seq, e.Type, e.Payload, e.Timestamp.UnixMicro(), e.PrevHash, e.Hash)
	}
	for _, s := range spans {
		fmt.Fprintf(b, "span %+v\n", s)
	}
}

// requireReplayMatchesLive checks the standing invariant of replay for every run: ReplayRun
// gives the run's current state, and the journal counts every data transaction once.
func requireReplayMatchesLive(t testing.TB, db *inmem.DB, msgAndArgs ...any) {
	t.Helper()
	runs, err := db.ListRuns(inmem.RunFilter{})
	require.NoError(t, err)
	for _, r := range runs {
		v, err := db.ReplayRun(r.ID)
		require.NoError(t, err, msgAndArgs...)
		require.Equal(t, liveImage(t, db, r.ID), viewImage(v), append([]any{"run %s: replay ≠ live; "}, msgAndArgs...)...)
		require.Equal(t, r.TxCount, v.Steps(), msgAndArgs...)
	}
}

// replayWorkload runs workload over three new runs and GlobalRun, and returns the active runs.
func replayWorkload(t testing.TB, db *inmem.DB, seed uint64, txs int) []inmem.RunID {
	t.Helper()
	runs := beginRuns(t, db, 3)
	workload(t, db, rand.New(rand.NewPCG(seed, 1)), runs, txs)
	return runs[1:] // runs[0] is GlobalRun
}

func TestReplayEqualsLiveState(t *testing.T) {
	db := openMem(t)
	runs := replayWorkload(t, db, 1, 400)
	requireReplayMatchesLive(t, db)
	require.NoError(t, db.EndRun(ctx, runs[0]))
	require.NoError(t, db.AbortRun(ctx, runs[1], "why"))
	requireReplayMatchesLive(t, db, "ended and failed runs replay too")
}

// After reopen and after snapshots: a run's history is read back from the log, so the snapshots
// retire no segment a step of a run is in, and replay after recovery from a snapshot reads the
// steps from before it there. Once the runs are deleted, a snapshot cycle retires those segments.
func TestReplayAfterRecoveryAndRetirement(t *testing.T) {
	dir := t.TempDir()
	small := func(o *inmem.Options) { o.SegmentSize = 16 << 10 }
	db := openDir(t, dir, small)
	runs := replayWorkload(t, db, 2, 600)
	requireReplayMatchesLive(t, db, "live")
	before := map[inmem.RunID]string{}
	for _, r := range runs {
		before[r] = liveImage(t, db, r)
	}
	first := firstSegment(t, dir)
	_, err := db.Snapshot()
	require.NoError(t, err)
	_, err = db.Snapshot() // the log would be retired below the older of two snapshots
	require.NoError(t, err)
	require.Contains(t, keptLog(t, dir), first, "the runs' history keeps the oldest segments")
	require.NoError(t, db.Close())

	db = openDir(t, dir, small)
	require.NotNil(t, db.LastRecovery().SnapshotUsed)
	requireReplayMatchesLive(t, db, "after recovery from the snapshot, history from before it")
	for _, r := range runs {
		v, err := db.ReplayRun(r)
		require.NoError(t, err)
		assert.Equal(t, before[r], viewImage(v))
		resumeOrphaned(t, db, r)
	}
	workload(t, db, rand.New(rand.NewPCG(3, 3)), append(runs, inmem.GlobalRun), 100)
	requireReplayMatchesLive(t, db, "the journal continues after recovery")

	for _, r := range runs {
		require.NoError(t, db.EndRun(ctx, r))
	}
	all, err := db.ListRuns(inmem.RunFilter{})
	require.NoError(t, err)
	for _, r := range all {
		require.NoError(t, db.DeleteRun(ctx, r.ID))
	}
	for range 2 {
		_, err = db.Snapshot()
		require.NoError(t, err)
	}
	require.NotContains(t, keptLog(t, dir), first, "the deleted runs' history is retired")
	require.Zero(t, historyBytes(t, dir))
	require.NoError(t, db.Close())
}

func firstSegment(t testing.TB, dir string) string {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dir, "wal", "*.wal"))
	require.NoError(t, err)
	require.NotEmpty(t, segs)
	return filepath.Base(segs[0])
}

// P1 (a pure function of the history), P5 (deterministic), P6 (idempotent): replaying again,
// from many goroutines at once, gives the identical view.
func TestReplayP1P5P6(t *testing.T) {
	db := openMem(t)
	runs := replayWorkload(t, db, 4, 300)
	for _, r := range runs {
		first, err := db.ReplayRun(r)
		require.NoError(t, err)
		want := viewImage(first)
		for range 3 {
			again, err := db.ReplayRun(r)
			require.NoError(t, err)
			require.Equal(t, want, viewImage(again), "P6: replay again")
		}
		images := make([]string, 8)
		var wg sync.WaitGroup
		for i := range images {
			wg.Go(func() {
				v, err := db.ReplayRun(r)
				if err == nil {
					images[i] = viewImage(v)
				}
			})
		}
		wg.Wait()
		for i := range images {
			require.Equal(t, want, images[i], "P5: concurrent replay %d", i)
		}
	}
}

// Concurrent replays while the run keeps committing: each view is a prefix of the run's
// history, consistent within itself.
func TestReplayWhileCommitting(t *testing.T) {
	db := openMem(t)
	run := newRun(t, db)
	const n = 300
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			if err := db.KV().Put(ctx, run, "counter", fmt.Append(nil, i+1)); err != nil {
				return
			}
		}
	}()
	for range 100 {
		v, err := db.ReplayRun(run)
		require.NoError(t, err)
		got, ok := v.KV("counter")
		if v.Steps() == 0 {
			require.False(t, ok)
			continue
		}
		require.True(t, ok)
		require.Equal(t, fmt.Sprint(v.Steps()), string(got), "a view after k steps shows step k")
	}
	<-done
	v, err := db.ReplayRun(run)
	require.NoError(t, err)
	require.Equal(t, n, v.Steps())
}

// tree hashes every file under dir.
func tree(t testing.TB, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		out[p] = sha256.Sum256(b)
		return err
	}))
	return out
}

// P2 (no side effects): replays and diffs change neither the live state, nor a byte of the
// WAL or the snapshot files, nor any counter. P3 (a derived view, never a source of truth):
// changing what a view returned changes nothing, and later commits do not reach an old view.
// P4 (not persisted): after a reopen nothing of the views exists.
func TestReplayP2P3P4(t *testing.T) {
	dir := t.TempDir()
	db := openDir(t, dir, noCloseSnapshot)
	runs := replayWorkload(t, db, 5, 300)
	_, err := db.Snapshot()
	require.NoError(t, err)
	workload(t, db, rand.New(rand.NewPCG(5, 9)), runs, 50)
	require.NoError(t, db.Sync())
	live, files, stats := dump(t, db, true), tree(t, dir), db.Stats()

	views := map[inmem.RunID]*inmem.ReadOnlyView{}
	images := map[inmem.RunID]string{}
	for _, r := range runs {
		v, err := db.ReplayRun(r)
		require.NoError(t, err)
		views[r], images[r] = v, viewImage(v)
		for _, k := range v.KVKeys() {
			val, _ := v.KV(k)
			clear(val) // P3: the caller owns what it got
		}
		for _, e := range v.Events() {
			clear(e.Payload)
		}
		_, err = db.ReplayRunUntil(r, 7)
		require.NoError(t, err)
		_, err = db.DiffRuns(r, runs[0])
		require.NoError(t, err)
	}
	require.Equal(t, live, dump(t, db, true), "P2: live state unchanged")
	require.Equal(t, files, tree(t, dir), "P2: WAL and snapshot files unchanged")
	require.Equal(t, stats, db.Stats(), "P2: nothing committed, written or synced")
	requireReplayMatchesLive(t, db, "P3: a changed view value reaches neither the state nor a new replay")

	for _, r := range runs {
		require.NoError(t, db.KV().Put(ctx, r, "after", []byte("x")))
		assert.Equal(t, images[r], viewImage(views[r]), "P3: a view is not a window on the live state")
	}
	require.NoError(t, db.Close())
	db = openDir(t, dir, noCloseSnapshot)
	for _, r := range runs {
		v, err := db.ReplayRun(r)
		require.NoError(t, err)
		require.Equal(t, liveImage(t, db, r), viewImage(v), "P4: nothing of the views came back")
	}
	require.NoError(t, db.Close())
}

// ReplayRunUntil(run, k) on a run whose k-th transaction sets a counter to k shows k. Lifecycle
// changes (here an orphan marking and a resume between steps) are not steps.
func TestReplayRunUntil(t *testing.T) {
	dir := t.TempDir()
	db := openDir(t, dir)
	run := newRun(t, db)
	const n = 40
	set := func(from, to int) {
		for k := from; k <= to; k++ {
			require.NoError(t, db.Update(ctx, run, func(tx *inmem.Tx) error {
				if err := tx.KV().Put("counter", fmt.Append(nil, k)); err != nil {
					return err
				}
				return tx.Events().Append("step", fmt.Appendf(nil, `{"k":%d}`, k))
			}))
		}
	}
	set(1, n/2)
	require.NoError(t, db.Close())
	db = openDir(t, dir)
	resumeOrphaned(t, db, run)
	set(n/2+1, n)

	for k := 1; k <= n; k++ {
		v, err := db.ReplayRunUntil(run, k)
		require.NoError(t, err)
		got, ok := v.KV("counter")
		require.True(t, ok, "step %d", k)
		require.Equal(t, fmt.Sprint(k), string(got), "step %d", k)
		require.Equal(t, k, v.Steps())
		require.Len(t, v.Events(), k)
	}
	v, err := db.ReplayRunUntil(run, 0)
	require.NoError(t, err)
	assert.Empty(t, v.KVKeys(), "step 0: nothing yet")
	assert.Zero(t, v.Version())
	v, err = db.ReplayRunUntil(run, n+100)
	require.NoError(t, err)
	assert.Equal(t, n, v.Steps(), "past the end: the whole journal")
	_, err = db.ReplayRunUntil(run, -1)
	assert.ErrorIs(t, err, inmem.ErrInvalidArgument)
	m, err := db.Run(run)
	require.NoError(t, err)
	assert.Equal(t, n, m.TxCount, "lifecycle changes are not transactions of the run")
	assert.Equal(t, 2*n, m.OpCount, "a put and an append per transaction")
	require.NoError(t, db.Close())
}

func TestReplayErrors(t *testing.T) {
	db := openMem(t)
	_, err := db.ReplayRun(inmem.NewRunID())
	assert.ErrorIs(t, err, inmem.ErrRunNotFound)
	_, err = db.ReplayRunUntil(inmem.NewRunID(), 1)
	assert.ErrorIs(t, err, inmem.ErrRunNotFound)
	require.NoError(t, db.KV().Put(ctx, inmem.GlobalRun, "g", []byte("1")))
	_, err = db.ReplayRun(inmem.GlobalRun)
	assert.ErrorIs(t, err, inmem.ErrNotReplayable)
	_, err = db.DiffRuns(inmem.GlobalRun, newRun(t, db))
	assert.ErrorIs(t, err, inmem.ErrNotReplayable)

	empty := newRun(t, db)
	v, err := db.ReplayRun(empty)
	require.NoError(t, err)
	assert.Zero(t, v.Steps())
	assert.Equal(t, empty, v.Run())
	assert.Empty(t, viewImage(v), "a run without transactions replays to an empty view")
	_, ok := v.KV("g")
	assert.False(t, ok, "GlobalRun's state is not the run's")

	require.NoError(t, db.Close())
	_, err = db.ReplayRun(empty)
	assert.ErrorIs(t, err, inmem.ErrClosed)
	assert.Empty(t, viewImage(v), "a view outlives Close")
}

// A run's journal holds its own transactions only: transactions of other runs and of
// GlobalRun, however many, do not reach it.
func TestReplayReadsOnlyTheRun(t *testing.T) {
	db := openMem(t)
	a, b := newRun(t, db), newRun(t, db)
	for i := range 50 {
		require.NoError(t, db.KV().Put(ctx, a, "k", fmt.Append(nil, i)))
		require.NoError(t, db.KV().Put(ctx, b, fmt.Sprint("b", i), []byte("x")))
		require.NoError(t, db.KV().Put(ctx, inmem.GlobalRun, "g", []byte("x")))
	}
	v, err := db.ReplayRun(a)
	require.NoError(t, err)
	assert.Equal(t, 50, v.Steps())
	assert.Equal(t, []string{"k"}, v.KVKeys())
}

// Creating and dropping 1000 views leaves the heap where it was.
func TestReplayViewsDoNotGrowTheHeap(t *testing.T) {
	db := openMem(t)
	run := newRun(t, db)
	for i := range 200 {
		require.NoError(t, db.Update(ctx, run, func(tx *inmem.Tx) error {
			if err := tx.KV().Put(fmt.Sprint("k", i%50), []byte("value")); err != nil {
				return err
			}
			return tx.Events().Append("e", []byte(`{"i":1}`))
		}))
	}
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	replay := func(n int) {
		for range n {
			v, err := db.ReplayRun(run)
			require.NoError(t, err)
			require.Equal(t, 200, v.Steps())
		}
	}
	replay(100) // warm up
	before := heap()
	replay(1000)
	after := heap()
	t.Logf("heap after 100 views %d bytes, after 1000 more %d bytes", before, after)
	// One view of this run holds ~100 KiB; 1000 kept would be ~100 MiB.
	assert.Less(t, after, before+2<<20, "heap grew from %d to %d bytes", before, after)
}
