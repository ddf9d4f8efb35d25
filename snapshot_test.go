package inmem_test

import (
	"encoding/binary"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/internal/vfs"
	"github.com/inmemdb/inmem/snapshotter"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func noCloseSnapshot(o *inmem.Options) { o.Snapshot.OnClose = false }

// beginRuns begins n runs and returns them with GlobalRun, for workload to write to. Two more
// runs, with data, end completed and failed, so every status is in the state.
func beginRuns(t testing.TB, db *inmem.DB, n int) []inmem.RunID {
	t.Helper()
	runs := []inmem.RunID{inmem.GlobalRun}
	for i := range n + 2 {
		id := inmem.NewRunID()
		require.NoError(t, db.BeginRun(ctx, id, inmem.RunInfo{Name: "r", Agent: "a", Tags: []string{"x"},
			Metadata: []byte(`{"i":1}`)}))
		require.NoError(t, db.KV().Put(ctx, id, "begun", []byte("yes")))
		switch i {
		case n:
			require.NoError(t, db.EndRun(ctx, id))
		case n + 1:
			require.NoError(t, db.AbortRun(ctx, id, "gave up"))
		default:
			runs = append(runs, id)
		}
	}
	return runs
}

// snapshotState builds a database with a snapshot in the middle of its history and commits
// after it, closes it without a closing snapshot, and returns the directory and the live dump.
func snapshotState(t *testing.T, mutate ...func(*inmem.Options)) (dir, live string) {
	t.Helper()
	dir = t.TempDir()
	db := openDir(t, dir, append(mutate, noCloseSnapshot)...)
	rng := rand.New(rand.NewPCG(5, 6))
	runs := beginRuns(t, db, 4)
	workload(t, db, rng, runs, 300)
	info, err := db.Snapshot()
	require.NoError(t, err)
	assert.Positive(t, info.TxCount)
	workload(t, db, rng, runs, 200)
	live = dump(t, db, false)
	require.NoError(t, db.Close())
	return dir, live
}

// R1 (deterministic), R2 (idempotent), R4 (no phantom data): the same files recover to the same
// state twice, that state is the live one, and ten more reopen cycles change nothing.
func TestRecoveryR1R2R4(t *testing.T) {
	dir, live := snapshotState(t)
	other := copyDir(t, dir)

	db := openDir(t, dir, noCloseSnapshot)
	require.NotNil(t, db.LastRecovery().SnapshotUsed, "recovery starts from the snapshot")
	assert.Positive(t, db.LastRecovery().TransactionsRecovered, "and replays the WAL after it")
	assert.Equal(t, live, dump(t, db, false), "R4: the recovered state is the committed one")
	requireReplayMatchesLive(t, db, "after recovery from a snapshot and the WAL")
	first := dump(t, db, true)
	require.NoError(t, db.Close())

	db2 := openDir(t, other, noCloseSnapshot)
	assert.Equal(t, first, dump(t, db2, true), "R1: the same files give the same state")
	require.NoError(t, db2.Close())

	for cycle := range 10 {
		db := openDir(t, dir, func(o *inmem.Options) { o.Snapshot.OnClose = cycle%2 == 0 })
		require.Equal(t, first, dump(t, db, true), "R2: reopen cycle %d changed the state", cycle)
		assert.Empty(t, db.LastRecovery().OrphanedRuns, "runs orphaned once stay orphaned")
		require.NoError(t, db.Close())
	}
}

func corruptSnapshot(t testing.TB, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	data[len(data)/2] ^= 0xff
	require.NoError(t, os.WriteFile(path, data, 0o644))
}

// The newest snapshot corrupted: recovery falls back to the older one plus the WAL, every key
// present, including those committed after both. All corrupted: a full WAL replay.
func TestSnapshotFallback(t *testing.T) {
	dir := t.TempDir()
	db := openDir(t, dir, noCloseSnapshot)
	rng := rand.New(rand.NewPCG(1, 1))
	runs := beginRuns(t, db, 3)
	workload(t, db, rng, runs, 100)
	older, err := db.Snapshot()
	require.NoError(t, err)
	workload(t, db, rng, runs, 100)
	newer, err := db.Snapshot()
	require.NoError(t, err)
	workload(t, db, rng, runs, 100)
	live := dump(t, db, false)
	list, err := db.ListSnapshots()
	require.NoError(t, err)
	require.Equal(t, []inmem.SnapshotInfo{newer, older}, list, "newest first")
	require.NoError(t, db.Close())

	corruptSnapshot(t, newer.Path)
	db = openDir(t, dir, noCloseSnapshot)
	rec := db.LastRecovery()
	require.NotNil(t, rec.SnapshotUsed)
	assert.Equal(t, older.Path, rec.SnapshotUsed.Path)
	assert.Equal(t, 1, rec.SnapshotsRejected)
	moved := filepath.Join(dir, "snapshots", "quarantine", filepath.Base(newer.Path))
	assert.Equal(t, []string{moved}, rec.Quarantined, "the rejected snapshot is moved aside")
	assert.FileExists(t, moved)
	assert.NoFileExists(t, newer.Path)
	assert.Equal(t, live, dump(t, db, false))
	require.NoError(t, db.Close())

	corruptSnapshot(t, older.Path)
	db = openDir(t, dir, noCloseSnapshot)
	rec = db.LastRecovery()
	assert.Nil(t, rec.SnapshotUsed)
	assert.Equal(t, 1, rec.SnapshotsRejected, "the other one was moved aside at the last Open")
	assert.Equal(t, live, dump(t, db, false), "the whole WAL rebuilds the state")
	require.NoError(t, db.Close())
}

// A snapshot that validates but whose section cannot be loaded is rejected like a damaged one.
func TestSnapshotThatFailsToLoadFallsBack(t *testing.T) {
	dir, live := snapshotState(t)
	list, err := snapshotter.List(vfs.Default(), filepath.Join(dir, "snapshots"))
	require.NoError(t, err)
	require.Len(t, list, 1)
	data, err := os.ReadFile(list[0].Path)
	require.NoError(t, err)
	// The first section's first chunk body starts with its format version: make it unknown,
	// then fix the CRC so that only loading can notice.
	body := 39 + 9 + 1 + 24
	data[body] = 99
	binary.LittleEndian.PutUint32(data[len(data)-4:], crc32.Checksum(data[:len(data)-4], crc32.MakeTable(crc32.Castagnoli)))
	require.NoError(t, os.WriteFile(list[0].Path, data, 0o644))

	db := openDir(t, dir, noCloseSnapshot)
	defer db.Close()
	assert.Nil(t, db.LastRecovery().SnapshotUsed)
	assert.Equal(t, 1, db.LastRecovery().SnapshotsRejected)
	assert.Equal(t, live, dump(t, db, false))
}

// A crash mid-snapshot leaves a .tmp (removed, never read) or a partial file (rejected).
func TestPlantedPartialSnapshots(t *testing.T) {
	dir, live := snapshotState(t)
	snaps := filepath.Join(dir, "snapshots")
	list, err := snapshotter.List(vfs.Default(), snaps)
	require.NoError(t, err)
	data, err := os.ReadFile(list[0].Path)
	require.NoError(t, err)
	stray := filepath.Join(snaps, "snapshot_09000000000000000000.tmp")
	require.NoError(t, os.WriteFile(stray, data, 0o644))
	partial := filepath.Join(snaps, "snapshot_09000000000000000001.dat")
	require.NoError(t, os.WriteFile(partial, data[:len(data)/3], 0o644))

	db := openDir(t, dir, noCloseSnapshot)
	defer db.Close()
	rec := db.LastRecovery()
	require.NotNil(t, rec.SnapshotUsed)
	assert.Equal(t, list[0].Path, rec.SnapshotUsed.Path)
	assert.Equal(t, 1, rec.SnapshotsRejected)
	assert.NoFileExists(t, stray)
	assert.Equal(t, live, dump(t, db, false))
}

// Killed after the rename but before WAL retirement: the snapshot and the whole log are both
// there. Recovery must skip the log's transactions the snapshot holds (defensive idempotence):
// JSON patches not applied twice, events not appended twice, identical hashes and versions.
func TestSnapshotOverlappingTheWAL(t *testing.T) {
	dir, live := snapshotState(t)
	list, err := snapshotter.List(vfs.Default(), filepath.Join(dir, "snapshots"))
	require.NoError(t, err)
	data, err := os.ReadFile(list[0].Path)
	require.NoError(t, err)
	binary.LittleEndian.PutUint64(data[22:], 0) // wal_offset: replay from the start of the log
	binary.LittleEndian.PutUint32(data[len(data)-4:], crc32.Checksum(data[:len(data)-4], crc32.MakeTable(crc32.Castagnoli)))
	require.NoError(t, os.WriteFile(list[0].Path, data, 0o644))

	db := openDir(t, dir, noCloseSnapshot)
	defer db.Close()
	rec := db.LastRecovery()
	require.NotNil(t, rec.SnapshotUsed)
	assert.Zero(t, rec.SnapshotUsed.WALOffset)
	assert.Equal(t, live, dump(t, db, false))
}

// Writers commit continuously while ten snapshots are taken; recovery from each snapshot plus
// the log gives exactly the final state, and event sequences straddling snapshots are neither
// lost nor duplicated.
func TestSnapshotsUnderLoad(t *testing.T) {
	dir := t.TempDir()
	db := openDir(t, dir, noCloseSnapshot, func(o *inmem.Options) {
		o.Snapshot.RetentionCount = 10
		o.SegmentSize = 32 << 10
	})
	runs := beginRuns(t, db, 4)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			for {
				select {
				case <-stop:
					return
				default:
				}
				workload(t, db, rng, runs[g:g+1], 5)
			}
		}()
	}
	var taken []inmem.SnapshotInfo
	for range 10 {
		info, err := db.Snapshot()
		require.NoError(t, err)
		taken = append(taken, info)
	}
	close(stop)
	wg.Wait()
	live := dump(t, db, false)
	assert.EqualValues(t, 10, db.Stats().Snapshots)
	require.NoError(t, db.Close())

	for i, info := range taken {
		if i > 0 {
			assert.GreaterOrEqual(t, info.TxCount, taken[i-1].TxCount)
		}
		d := copyDir(t, dir)
		for _, newer := range taken[i+1:] {
			require.NoError(t, os.Remove(filepath.Join(d, "snapshots", filepath.Base(newer.Path))))
		}
		db := openDir(t, d, noCloseSnapshot)
		require.Equal(t, filepath.Base(info.Path), filepath.Base(db.LastRecovery().SnapshotUsed.Path))
		require.Equal(t, live, dump(t, db, false), "recovery from snapshot %d", i)
		requireReplayMatchesLive(t, db, "journals cut by snapshot %d, continued from the WAL", i)
		for _, run := range runs {
			require.NoError(t, db.Events().VerifyChain(run))
		}
		require.NoError(t, db.Close())
	}
}

// A snapshot holds the toy primitive registered from outside the engine, and recovery loads it
// from there, replaying nothing; the segments before the snapshot leave the log but are kept,
// since the run's history is read back from them.
func TestToyPrimitiveSurvivesSnapshot(t *testing.T) {
	dir := t.TempDir()
	toy := newTally()
	opts := func(toy *tally) func(*inmem.Options) {
		return func(o *inmem.Options) {
			o.Primitives = []inmem.Primitive{toy}
			o.SegmentSize = 8 << 10
		}
	}
	db := openDir(t, dir, opts(toy))
	run := newRun(t, db)
	for i := range 100 {
		require.NoError(t, db.Update(ctx, run, func(tx *inmem.Tx) error {
			if err := toy.Add(tx, "steps", 1); err != nil {
				return err
			}
			return tx.KV().Put("pad", make([]byte, 100+i))
		}))
	}
	_, err := db.Snapshot()
	require.NoError(t, err)
	_, err = db.Snapshot() // retention 2: the WAL below the older one is retired
	require.NoError(t, err)
	require.NoError(t, db.Close())
	wal, err := os.ReadDir(filepath.Join(dir, "wal"))
	require.NoError(t, err)
	assert.NotEqual(t, strings.Repeat("0", 20)+".wal", wal[0].Name(), "the first segment left the log")
	assert.Contains(t, keptLog(t, dir), strings.Repeat("0", 20)+".wal", "the run's history keeps it")

	toy = newTally()
	db = openDir(t, dir, opts(toy))
	defer db.Close()
	require.NotNil(t, db.LastRecovery().SnapshotUsed)
	assert.Zero(t, db.LastRecovery().TransactionsRecovered, "the state came from the snapshot alone")
	assert.EqualValues(t, 100, toy.Value(run, "steps"))
	err = db.Update(ctx, run, func(tx *inmem.Tx) error { return toy.Add(tx, "steps", 1) })
	assert.ErrorIs(t, err, inmem.ErrRunNotActive, "the run is orphaned until resumed")
	require.NoError(t, db.ResumeRun(ctx, run))
	require.NoError(t, db.Update(ctx, run, func(tx *inmem.Tx) error { return toy.Add(tx, "steps", 1) }))
	assert.EqualValues(t, 101, toy.Value(run, "steps"))

	// Replay and diff reach the toy through the extension interface too; its journaled
	// entries came back from the snapshot.
	other := newRun(t, db)
	require.NoError(t, db.Update(ctx, other, func(tx *inmem.Tx) error { return toy.Add(tx, "steps", 5) }))
	d, err := db.DiffRuns(run, other)
	require.NoError(t, err)
	assert.Equal(t, []inmem.DiffEntry{{Kind: inmem.KindOther, Primitive: "tally", Key: "steps",
		Before: []byte("101"), After: []byte("5")}}, d.Modified)
	v, err := db.ReplayRunUntil(run, 50)
	require.NoError(t, err)
	d, err = db.DiffRuns(run, run)
	require.NoError(t, err)
	assert.Empty(t, d.Modified)
	assert.Equal(t, 50, v.Steps())
}

func TestSnapshotAPI(t *testing.T) {
	mem, err := inmem.Open("", &inmem.Options{Durability: inmem.InMemory})
	require.NoError(t, err)
	_, err = mem.Snapshot()
	assert.ErrorIs(t, err, inmem.ErrInMemory)
	_, err = mem.ListSnapshots()
	assert.ErrorIs(t, err, inmem.ErrInMemory)
	assert.ErrorIs(t, mem.DeleteSnapshot(inmem.SnapshotInfo{}), inmem.ErrInMemory)
	require.NoError(t, mem.Close())

	dir := t.TempDir()
	db := openDir(t, dir)
	newRun(t, db)
	a, err := db.Snapshot()
	require.NoError(t, err)
	b, err := db.Snapshot()
	require.NoError(t, err)
	assert.True(t, b.Timestamp.After(a.Timestamp))
	assert.Equal(t, filepath.Join(dir, "snapshots"), filepath.Dir(a.Path))
	require.NoError(t, db.DeleteSnapshot(a))
	assert.ErrorIs(t, db.DeleteSnapshot(a), inmem.ErrNotFound)
	list, err := db.ListSnapshots()
	require.NoError(t, err)
	assert.Equal(t, []inmem.SnapshotInfo{b}, list)
	assert.EqualValues(t, 2, db.Stats().Snapshots)
	require.NoError(t, db.Close())
	_, err = db.Snapshot()
	assert.ErrorIs(t, err, inmem.ErrClosed)

	db = openDir(t, dir)
	list, err = db.ListSnapshots()
	require.NoError(t, err)
	require.Len(t, list, 2, "Close took one (OnClose)")
	assert.Equal(t, list[0].Path, db.LastRecovery().SnapshotUsed.Path)
	require.NoError(t, db.Close())
}

func TestWALSizeTriggersSnapshots(t *testing.T) {
	db := openDir(t, t.TempDir(), noCloseSnapshot, func(o *inmem.Options) { o.Snapshot.WALSizeThreshold = 16 << 10 })
	defer db.Close()
	run := newRun(t, db)
	for i := range 100 {
		require.NoError(t, db.KV().Put(ctx, run, "k", make([]byte, 1000+i)))
	}
	require.Eventually(t, func() bool { return db.Stats().Snapshots >= 2 }, 10*time.Second, time.Millisecond)
}

func TestIntervalTriggersSnapshots(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs := vfs.NewCrashFS()
		db, err := inmem.Open("db", &inmem.Options{FS: fs, Snapshot: inmem.SnapshotConfig{Interval: time.Minute}})
		require.NoError(t, err)
		run := newRun(t, db)
		require.NoError(t, db.KV().Put(ctx, run, "k", []byte("v")))
		time.Sleep(time.Minute + time.Second)
		synctest.Wait()
		assert.EqualValues(t, 1, db.Stats().Snapshots)
		time.Sleep(time.Minute)
		synctest.Wait()
		assert.EqualValues(t, 1, db.Stats().Snapshots, "nothing committed since")
		require.NoError(t, db.Close())
	})
}

// With the WAL before the snapshots retired, damaged snapshots cannot be replaced by the log:
// Open fails, saying why each snapshot was rejected, and changes nothing.
func TestNoUsableSnapshotAfterRetirement(t *testing.T) {
	dir := t.TempDir()
	small := func(o *inmem.Options) { o.SegmentSize = 8 << 10 }
	db := openDir(t, dir, small, noCloseSnapshot)
	for i := range 100 { // in GlobalRun, which keeps no history in the log
		require.NoError(t, db.KV().Put(ctx, inmem.GlobalRun, "k", make([]byte, 200+i)))
	}
	a, err := db.Snapshot()
	require.NoError(t, err)
	b, err := db.Snapshot()
	require.NoError(t, err)
	require.NoError(t, db.Close())
	corruptSnapshot(t, a.Path)
	corruptSnapshot(t, b.Path)

	_, err = inmem.Open(dir, reopenOptions())
	require.ErrorIs(t, err, inmem.ErrCorruption)
	assert.ErrorContains(t, err, "no snapshot could be used")
	assert.ErrorContains(t, err, filepath.Base(b.Path))
	for _, p := range []string{a.Path, b.Path} {
		assert.FileExists(t, p, "a rejected snapshot is never deleted")
	}
}

// DeleteRun reaches the toy primitive through its DropRun, live and at recovery, from the log
// and from a snapshot; a run begun again under the same id counts from zero.
func TestToyPrimitiveForgetsDeletedRun(t *testing.T) {
	fromLogAndSnapshot(t, func(t *testing.T, snapshot bool) {
		dir, toy := t.TempDir(), newTally()
		db := openDir(t, dir, withToy(toy))
		run := newRun(t, db)
		add := func(n int64) {
			require.NoError(t, db.Update(ctx, run, func(tx *inmem.Tx) error { return toy.Add(tx, "steps", n) }))
		}
		add(7)
		require.NoError(t, db.EndRun(ctx, run))
		require.NoError(t, db.DeleteRun(ctx, run))
		assert.Zero(t, toy.Value(run, "steps"))
		require.NoError(t, db.BeginRun(ctx, run, inmem.RunInfo{}))
		add(2)
		assert.EqualValues(t, 2, toy.Value(run, "steps"))

		toy = newTally()
		reopen(t, db, dir, snapshot, withToy(toy))
		assert.EqualValues(t, 2, toy.Value(run, "steps"))
	})
}
