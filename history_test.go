package inmem_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// In Strict and Buffered modes a run's history is read back from the log: after a reopen from
// a snapshot, with the cache cold, every step replays as it was, and memory holds none of the
// payloads.
func TestHistoryIsReadBackFromTheLog(t *testing.T) {
	for _, mode := range []inmem.Durability{inmem.Strict, inmem.Buffered} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := t.TempDir()
			opts := func(o *inmem.Options) { o.Durability, o.SegmentSize = mode, 8<<10 }
			db := openDir(t, dir, opts)
			run := newRun(t, db)
			for i := range 60 {
				require.NoError(t, db.KV().Put(ctx, run, fmt.Sprint("k", i%7), bytes.Repeat([]byte{byte(i)}, 100+i)))
			}
			want := stepImages(t, db, run)
			require.NoError(t, db.Close()) // a snapshot at close: recovery replays no step

			db = openDir(t, dir, opts)
			defer db.Close()
			require.NotNil(t, db.LastRecovery().SnapshotUsed)
			assert.Zero(t, db.LastRecovery().TransactionsRecovered)
			assert.Zero(t, db.Metrics().HistoryBytes, "no payload of the history is in memory")
			assert.Equal(t, want, stepImages(t, db, run), "every step, read back from the log")
			m := db.Metrics()
			assert.EqualValues(t, 60, m.HistoryCacheMisses, "each of the 60 puts read from disk once (step 0 is empty)")
			requireReplayMatchesLive(t, db)
			assert.EqualValues(t, 60, db.Metrics().HistoryCacheHits, "then from the cache")
		})
	}
}

// stepImages replays run at every step with a cursor and returns what each view holds.
func stepImages(t *testing.T, db *inmem.DB, run inmem.RunID) []string {
	t.Helper()
	c, err := db.ReplayCursor(run)
	require.NoError(t, err)
	defer c.Close()
	var out []string
	for c.Next() {
		out = append(out, viewImage(c.View()))
	}
	require.NoError(t, c.Err())
	return out
}

// A damaged step in the log is an error for its run's history (ErrCorruption), never a
// wrong view, and never anyone else's: other runs replay, and the damaged run's live state
// reads as usual. A segment gone from the directory is the same.
func TestDamagedHistoryFailsOnlyItsRun(t *testing.T) {
	for _, damage := range []struct {
		name string
		do   func(t *testing.T, dir string)
	}{
		{"flipped byte", func(t *testing.T, dir string) {
			seg, at := findInLog(t, dir, []byte("victim-value"))
			b, err := os.ReadFile(seg)
			require.NoError(t, err)
			b[at] ^= 0x20
			require.NoError(t, os.WriteFile(seg, b, 0o600))
		}},
		{"segment removed", func(t *testing.T, dir string) {
			seg, _ := findInLog(t, dir, []byte("victim-value"))
			require.NoError(t, os.Remove(seg))
		}},
	} {
		t.Run(damage.name, func(t *testing.T) {
			dir := t.TempDir()
			small := func(o *inmem.Options) { o.SegmentSize = 8 << 10 }
			db := openDir(t, dir, small)
			victim, other := newRun(t, db), newRun(t, db)
			require.NoError(t, db.KV().Put(ctx, victim, "k", []byte("victim-value")))
			for i := range 200 { // enough to fill the victim's segment: it is sealed
				require.NoError(t, db.KV().Put(ctx, other, fmt.Sprint("k", i%5), make([]byte, 100)))
				require.NoError(t, db.KV().Put(ctx, victim, "n", []byte(fmt.Sprint(i))))
			}
			later := newRun(t, db) // its history is in the newest segment
			require.NoError(t, db.KV().Put(ctx, later, "k", []byte("v")))
			live := liveImage(t, db, victim)
			require.NoError(t, db.Close())
			damage.do(t, dir)

			db = openDir(t, dir, small)
			defer db.Close()
			require.Equal(t, live, liveImage(t, db, victim), "the live state came from the snapshot")
			_, err := db.ReplayRun(victim)
			require.ErrorIs(t, err, inmem.ErrCorruption)
			_, err = db.RunSteps(victim, 0, 0)
			require.ErrorIs(t, err, inmem.ErrCorruption)
			require.ErrorIs(t, db.ExportRun(ctx, victim, new(bytes.Buffer)), inmem.ErrCorruption)
			_, err = db.DiffRuns(victim, later)
			require.ErrorIs(t, err, inmem.ErrCorruption)
			err = db.ForkRun(ctx, victim, 150, inmem.NewRunID(), inmem.RunInfo{})
			require.ErrorIs(t, err, inmem.ErrCorruption, "a fork materializes the damaged history")
			require.ErrorIs(t, db.CompactRun(ctx, victim, 150), inmem.ErrCorruption)
			require.Equal(t, live, liveImage(t, db, victim), "a failed compaction changed nothing")
			c, err := db.ReplayCursor(victim)
			require.NoError(t, err)
			for c.Next() {
			}
			require.ErrorIs(t, c.Err(), inmem.ErrCorruption)
			c.Close()

			v, err := db.ReplayRun(later)
			require.NoError(t, err, "another run's history is intact")
			assert.Equal(t, liveImage(t, db, later), viewImage(v))
			require.NoError(t, db.KV().Put(ctx, inmem.GlobalRun, "still", []byte("works")))
		})
	}
}

// findInLog returns the segment whose bytes hold needle, and where.
func findInLog(t *testing.T, dir string, needle []byte) (string, int) {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dir, "wal", "*.wal"))
	require.NoError(t, err)
	for _, s := range segs {
		b, err := os.ReadFile(s)
		require.NoError(t, err)
		if at := bytes.Index(b, needle); at >= 0 {
			require.NotEqual(t, segs[len(segs)-1], s, "the damage is in a sealed segment, which recovery does not read")
			return s, at
		}
	}
	t.Fatalf("%q is in no segment", needle)
	return "", 0
}

// The log a run's history is in is kept while the run keeps it: snapshots retire the segments
// only once a compaction folds the steps into a base, and replay from the base reads on.
func TestCompactionLetsTheLogGo(t *testing.T) {
	dir := t.TempDir()
	small := func(o *inmem.Options) { o.SegmentSize = 8 << 10 }
	db := openDir(t, dir, small)
	run := newRun(t, db)
	for i := range 300 {
		require.NoError(t, db.KV().Put(ctx, run, fmt.Sprint("k", i%10), make([]byte, 100)))
	}
	snapshotTwice(t, db)
	first := "00000000000000000000.wal"
	assert.Contains(t, keptLog(t, dir), first, "the run's history keeps the log")
	assert.NotEqual(t, first, firstSegment(t, dir), "out of the log, in its history directory")
	m := db.Metrics()
	assert.Positive(t, m.HistoryBytesOnDisk)
	assert.Equal(t, historyBytes(t, dir), m.HistoryBytesOnDisk)

	require.NoError(t, db.CompactRun(ctx, run, 301))
	snapshotTwice(t, db)
	assert.NotContains(t, keptLog(t, dir), first, "compacted: the steps' segments are retired")
	assert.Less(t, historyBytes(t, dir), int64(8<<10), "what is kept of them is the base, less than a segment")
	live := liveImage(t, db, run)
	require.NoError(t, db.Close())

	db = openDir(t, dir, small)
	defer db.Close()
	v, err := db.ReplayRun(run)
	require.NoError(t, err)
	assert.Equal(t, live, viewImage(v))
	_, err = db.ReplayRunUntil(run, 10)
	assert.ErrorIs(t, err, inmem.ErrHistoryCompacted)
}

// keptLog lists the segments and history files of the log in dir: those in the log and those
// in its history directory.
func keptLog(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	for _, pattern := range []string{"wal/*.wal", "wal/history/*"} {
		found, err := filepath.Glob(filepath.Join(dir, pattern))
		require.NoError(t, err)
		for _, f := range found {
			out = append(out, filepath.Base(f))
		}
	}
	return out
}

// historyBytes is the size of the log's history directory in dir.
func historyBytes(t testing.TB, dir string) int64 {
	t.Helper()
	found, err := filepath.Glob(filepath.Join(dir, "wal", "history", "*"))
	require.NoError(t, err)
	var n int64
	for _, f := range found {
		st, err := os.Stat(f)
		require.NoError(t, err)
		n += st.Size()
	}
	return n
}

func snapshotTwice(t *testing.T, db *inmem.DB) {
	t.Helper()
	for range 2 {
		_, err := db.Snapshot()
		require.NoError(t, err)
	}
}

// A reader of a run's history holds on to it: a run deleted, and the log retired, while
// readers replay it gives them the whole history or ErrRunNotFound, never a step the log no
// longer has (ErrCorruption).
func TestHistoryReadersOutliveRetirement(t *testing.T) {
	dir := t.TempDir()
	db := openDir(t, dir, func(o *inmem.Options) { o.SegmentSize, o.History.CacheBytes = 4<<10, 1 })
	defer db.Close()
	for round := range 20 {
		run := newRun(t, db)
		for i := range 40 {
			require.NoError(t, db.KV().Put(ctx, run, fmt.Sprint("k", i), make([]byte, 100)))
		}
		require.NoError(t, db.EndRun(ctx, run))
		c, err := db.ReplayCursor(run) // opened before the deletion: it reads on after it
		require.NoError(t, err)
		var wg sync.WaitGroup
		errs := make(chan error, 100)
		for range 2 {
			wg.Go(func() {
				for range 20 {
					if _, err := db.ReplayRun(run); err != nil && !errors.Is(err, inmem.ErrRunNotFound) {
						errs <- err
					}
				}
			})
		}
		require.NoError(t, db.DeleteRun(ctx, run))
		snapshotTwice(t, db)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: %v", round, err)
		}
		steps := 0
		for c.Next() {
			steps++
		}
		require.NoError(t, c.Err(), "round %d", round)
		assert.Equal(t, 41, steps, "round %d: step 0 and 40 puts", round)
		c.Close()
	}
	snapshotTwice(t, db)
	assert.NotContains(t, keptLog(t, dir), "00000000000000000000.wal", "the deleted runs' log is retired")
	assert.Zero(t, historyBytes(t, dir), "no history is kept")
}

// Disk comes back while the database stays open: once a retirement removed a segment, no
// descriptor of the history's reader keeps its blocks allocated. Linux only: it reads the
// process's open descriptors.
func TestRetiredHistoryFilesAreClosed(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("no /proc/self/fd")
	}
	dir := t.TempDir()
	db := openDir(t, dir, func(o *inmem.Options) { o.SegmentSize = 4 << 10 })
	defer db.Close()
	for range 5 {
		run := newRun(t, db)
		for i := range 40 {
			require.NoError(t, db.KV().Put(ctx, run, fmt.Sprint("k", i), make([]byte, 100)))
		}
		_, err := db.ReplayRun(run) // opens the segments its history is in
		require.NoError(t, err)
		require.NoError(t, db.EndRun(ctx, run))
		require.NoError(t, db.DeleteRun(ctx, run))
		snapshotTwice(t, db)
	}
	fds, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(target, dir) {
			assert.NotContains(t, target, "(deleted)", "a retired file is still open")
		}
	}
}
