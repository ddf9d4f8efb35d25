package inmem_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/inmemdb/inmem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The snapshot lifecycle must never trust a file it did not validate whole. Each test below is
// a way an acknowledged commit was once lost: a snapshot's damaged header counted for
// retention and WAL retirement, a junk file with a snapshot's name counted as the newest, a
// corrupt snapshot let the last valid one be deleted, and PointInTime recovery restarted LSNs
// below a snapshot's cut.

// trustDB is a database with small segments, so that retirement has segments to remove, and
// no snapshot at Close, so that Close stands in for a crash.
func trustDB(t *testing.T, dir string, mutate ...func(*inmem.Options)) *inmem.DB {
	t.Helper()
	return openDir(t, dir, append([]func(*inmem.Options){func(o *inmem.Options) {
		o.SegmentSize = 8 << 10
		o.Snapshot.OnClose = false
	}}, mutate...)...)
}

// ledger commits numbered keys and checks that every one it committed is there. It writes in
// GlobalRun, which keeps no history: the snapshots alone decide how much of the log is kept.
type ledger struct {
	run inmem.RunID
	n   int
}

func newLedger(*testing.T, *inmem.DB) *ledger { return &ledger{run: inmem.GlobalRun} }

func (l *ledger) commit(t *testing.T, db *inmem.DB, count int) {
	t.Helper()
	for range count {
		require.NoError(t, db.KV().Put(ctx, l.run, fmt.Sprintf("k%05d", l.n), make([]byte, 150)))
		l.n++
	}
}

// commitWhile commits count keys from another goroutine while fn runs.
func (l *ledger) commitWhile(t *testing.T, db *inmem.DB, count int, fn func()) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	wg.Go(func() {
		for range count {
			if err := db.KV().Put(ctx, l.run, fmt.Sprintf("k%05d", l.n), make([]byte, 150)); err != nil {
				errs <- err
				return
			}
			l.n++
		}
	})
	fn()
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
}

// reopen opens dir again and checks that every committed key is present and none other.
func (l *ledger) reopen(t *testing.T, dir string, mutate ...func(*inmem.Options)) *inmem.DB {
	t.Helper()
	o := inmem.DefaultOptions()
	o.SegmentSize, o.Snapshot.OnClose = 8<<10, false
	for _, m := range mutate {
		m(o)
	}
	db, err := inmem.Open(dir, o)
	require.NoError(t, err, "a database that acknowledged its commits must open")
	l.check(t, db)
	return db
}

func (l *ledger) check(t *testing.T, db *inmem.DB) {
	t.Helper()
	keys, err := db.KV().List(l.run, "k")
	require.NoError(t, err)
	require.Len(t, keys, l.n, "every acknowledged commit, and nothing else")
	for i, k := range keys {
		require.Equal(t, fmt.Sprintf("k%05d", i), k)
	}
}

// flipHeaderBit flips one bit of a snapshot's wal_offset field: the header still reads (magic
// and version intact) but the file's CRC fails.
func flipHeaderBit(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	data[22+7] ^= 0x40 // the top byte of wal_offset: an offset of ~4.6e18
	require.NoError(t, os.WriteFile(path, data, 0o600))
}

// plantSnapshot writes a file with a snapshot's name and a plausible header (magic, version,
// timestamp, offsets) but no valid CRC.
func plantSnapshot(t *testing.T, dir, digits string, walOffset uint64) string {
	t.Helper()
	b := []byte("INMEM_SNAP")
	b = binary.LittleEndian.AppendUint32(b, 1)
	ts, _ := strconv.ParseUint(digits, 10, 64)
	b = binary.LittleEndian.AppendUint64(b, ts)
	b = binary.LittleEndian.AppendUint64(b, walOffset)
	b = binary.LittleEndian.AppendUint64(b, 1<<40)
	b = append(b, 0, 0, 0, 0, 0)
	path := filepath.Join(dir, "snapshots", "snapshot_"+digits+".dat")
	require.NoError(t, os.WriteFile(path, b, 0o600))
	return path
}

func quarantined(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "snapshots", "quarantine", "*"))
	require.NoError(t, err)
	for i := range names {
		names[i] = filepath.Base(names[i])
	}
	sort.Strings(names)
	return names
}

// snapshotted opens a database in dir with a snapshot and commits before and after it.
func snapshotted(t *testing.T, dir string, mutate ...func(*inmem.Options)) (*inmem.DB, *ledger) {
	t.Helper()
	db := trustDB(t, dir, mutate...)
	l := newLedger(t, db)
	l.commit(t, db, 100)
	_, err := db.Snapshot()
	require.NoError(t, err)
	l.commit(t, db, 100)
	return db, l
}

// twoSnapshots makes a database in dir with two snapshots and commits before, between and
// after them, and closes it.
func twoSnapshots(t *testing.T, dir string) (l *ledger, s1, s2 inmem.SnapshotInfo) {
	t.Helper()
	db := trustDB(t, dir)
	l = newLedger(t, db)
	l.commit(t, db, 100)
	s1, err := db.Snapshot()
	require.NoError(t, err)
	l.commit(t, db, 100)
	s2, err = db.Snapshot()
	require.NoError(t, err)
	l.commit(t, db, 100)
	require.NoError(t, db.Close())
	return l, s1, s2
}

// Scenario 1: a bit flips in s2's wal_offset. Recovery rejects s2 and falls back to s1; the
// next snapshot must neither count s2 nor retire the log below its bogus offset.
func TestDamagedSnapshotHeaderRetiresNothing(t *testing.T) {
	dir := t.TempDir()
	l, _, s2 := twoSnapshots(t, dir)
	flipHeaderBit(t, s2.Path)
	db := l.reopen(t, dir)
	assert.Equal(t, 1, db.LastRecovery().SnapshotsRejected)
	assert.Equal(t, []string{filepath.Base(s2.Path)}, quarantined(t, dir))
	l.commitWhile(t, db, 200, func() {
		_, err := db.Snapshot()
		require.NoError(t, err)
	})
	l.commit(t, db, 50)
	require.NoError(t, db.Close())
	db = l.reopen(t, dir)
	require.NoError(t, db.Close())
}

// Scenario 1, junk variant: with RetentionCount 1, a junk file named as a snapshot from the
// far future appears while the database runs. It must not count as the newest snapshot.
func TestJunkSnapshotFileWhileRunning(t *testing.T) {
	dir := t.TempDir()
	one := func(o *inmem.Options) { o.Snapshot.RetentionCount = 1 }
	db, l := snapshotted(t, dir, one)
	junk := plantSnapshot(t, dir, "09000000000000000000", 1<<62)
	_, err := db.Snapshot()
	require.NoError(t, err)
	l.commit(t, db, 100)
	list, err := db.ListSnapshots()
	require.NoError(t, err)
	for _, s := range list {
		assert.NotEqual(t, junk, s.Path, "a file that does not validate is not a snapshot")
	}
	assert.NoFileExists(t, junk)
	assert.Equal(t, []string{filepath.Base(junk)}, quarantined(t, dir), "moved aside, never deleted")
	require.NoError(t, db.Close())
	db = l.reopen(t, dir, one)
	require.NoError(t, db.Close())
}

// Scenario 1, second junk variant: default retention and two future-dated junk files, one of
// them with an unreadable header.
func TestTwoJunkSnapshotFiles(t *testing.T) {
	dir := t.TempDir()
	db, l := snapshotted(t, dir)
	plantSnapshot(t, dir, "08000000000000000000", 1<<40)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "snapshots", "snapshot_08500000000000000000.dat"),
		[]byte("not a snapshot at all"), 0o600))
	for range 3 {
		l.commit(t, db, 100)
		_, err := db.Snapshot()
		require.NoError(t, err)
	}
	l.commit(t, db, 100)
	require.NoError(t, db.Close())
	db = l.reopen(t, dir)
	assert.Zero(t, db.LastRecovery().SnapshotsRejected, "the junk was moved aside while running")
	assert.Len(t, quarantined(t, dir), 2)
	require.NoError(t, db.Close())
}

// Junk present at Open, dated after every real snapshot: recovery rejects it and moves it
// aside, and snapshots taken afterwards are named after the real ones, not after the junk.
func TestJunkSnapshotFileAtOpen(t *testing.T) {
	dir := t.TempDir()
	db, l := snapshotted(t, dir)
	require.NoError(t, db.Close())
	plantSnapshot(t, dir, "09000000000000000000", 1<<62)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "snapshots", "snapshot_123.tmp"), []byte("x"), 0o600))

	db = l.reopen(t, dir)
	rec := db.LastRecovery()
	assert.Equal(t, 1, rec.SnapshotsRejected)
	assert.Contains(t, rec.Quarantined, filepath.Join(dir, "snapshots", "quarantine", "snapshot_09000000000000000000.dat"))
	assert.NoFileExists(t, filepath.Join(dir, "snapshots", "snapshot_123.tmp"), "any .tmp is stray, whatever its digits")
	s, err := db.Snapshot()
	require.NoError(t, err)
	assert.False(t, strings.HasPrefix(filepath.Base(s.Path), "snapshot_09"), "named from the clock: %s", s.Path)
	require.NoError(t, db.Close())
}

// Scenario 2: s2's body rots. After the fallback, s3 is taken; deleting s3 must not leave the
// corrupt s2 as the snapshot recovery depends on.
func TestDeleteSnapshotCountsOnlyValidOnes(t *testing.T) {
	dir := t.TempDir()
	l, _, s2 := twoSnapshots(t, dir)
	corruptSnapshot(t, s2.Path)
	db := l.reopen(t, dir)
	l.commit(t, db, 100)
	s3, err := db.Snapshot()
	require.NoError(t, err)
	l.commit(t, db, 100)
	if err := db.DeleteSnapshot(s3); err != nil {
		require.ErrorIs(t, err, inmem.ErrInvalidArgument, "a refusal says why")
	}
	list, err := db.ListSnapshots()
	require.NoError(t, err)
	assert.NotEmpty(t, list, "a valid snapshot is left")
	for _, s := range list {
		assert.NotEqual(t, s2.Path, s.Path, "the corrupt snapshot is not listed")
	}
	require.NoError(t, db.Close())
	db = l.reopen(t, dir)
	require.NoError(t, db.Close())
}

// With a single valid snapshot left and the log retired below it, deleting it is refused.
func TestDeleteLastRebuildableSnapshotRefused(t *testing.T) {
	dir := t.TempDir()
	db := trustDB(t, dir)
	l := newLedger(t, db)
	l.commit(t, db, 100)
	s1, err := db.Snapshot()
	require.NoError(t, err)
	l.commit(t, db, 100)
	s2, err := db.Snapshot()
	require.NoError(t, err)
	require.NotEqual(t, "00000000000000000000.wal", firstSegment(t, dir), "the log below s1 is retired")
	require.NoError(t, db.DeleteSnapshot(s2), "s1's cut is still in the log")
	err = db.DeleteSnapshot(s1)
	require.ErrorIs(t, err, inmem.ErrInvalidArgument)
	l.commit(t, db, 10)
	require.NoError(t, db.Close())
	db = l.reopen(t, dir)
	require.NoError(t, db.Close())
}

// While fewer than two valid snapshots exist nothing is retired: one damaged snapshot is then
// replaced by the whole log.
func TestOneSnapshotRetiresNothing(t *testing.T) {
	dir := t.TempDir()
	db := trustDB(t, dir)
	l := newLedger(t, db)
	l.commit(t, db, 200)
	s1, err := db.Snapshot()
	require.NoError(t, err)
	assert.Equal(t, "00000000000000000000.wal", firstSegment(t, dir))
	l.commit(t, db, 10)
	require.NoError(t, db.Close())
	corruptSnapshot(t, s1.Path)
	db = l.reopen(t, dir)
	assert.Nil(t, db.LastRecovery().SnapshotUsed, "rebuilt from the whole log")
	require.NoError(t, db.Close())
}

// Scenario 3: the header of the segment holding the snapshot's cut is damaged. PointInTime
// recovery sets the segment aside; the log must continue at or above the cut, or the next
// recovery reads from the old cut inside new data and drops or rejects commits made since.
func TestDamagedSegmentHeaderNeverRestartsLSNs(t *testing.T) {
	dir := t.TempDir()
	db := trustDB(t, dir)
	l := newLedger(t, db)
	l.commit(t, db, 200)
	snap, err := db.Snapshot()
	require.NoError(t, err)
	require.NoError(t, db.Close())

	seg := segmentHolding(t, dir, snap.WALOffset)
	require.Less(t, seg, snap.WALOffset, "the cut lies inside its segment")
	path := filepath.Join(dir, "wal", fmt.Sprintf("%020d.wal", seg))
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	data[3] ^= 0xff // the magic: the header's CRC fails
	require.NoError(t, os.WriteFile(path, data, 0o600))

	db = l.reopen(t, dir) // the snapshot holds everything committed
	assert.NotEmpty(t, db.LastRecovery().Quarantined)
	for round := range 3 {
		l.commit(t, db, 150)
		require.NoError(t, db.Close(), "round %d", round)
		db = l.reopen(t, dir)
	}
	require.NoError(t, db.Close())
}

// segmentHolding returns the base of the segment that holds lsn.
func segmentHolding(t *testing.T, dir string, lsn uint64) uint64 {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dir, "wal", "*.wal"))
	require.NoError(t, err)
	var holder uint64
	for _, s := range segs {
		base, err := strconv.ParseUint(strings.TrimSuffix(filepath.Base(s), ".wal"), 10, 64)
		require.NoError(t, err)
		if base <= lsn {
			holder = max(holder, base)
		}
	}
	return holder
}

// An older snapshot that rotted while the database was closed is noticed right after Open,
// not when a second file rots: it is moved aside and a fresh snapshot restores two valid ones.
func TestOpenReplacesARottenOlderSnapshot(t *testing.T) {
	dir := t.TempDir()
	l, s1, s2 := twoSnapshots(t, dir)
	corruptSnapshot(t, s1.Path)
	db := l.reopen(t, dir)
	defer db.Close()
	assert.Equal(t, s2.Path, db.LastRecovery().SnapshotUsed.Path, "the newest loads as usual")
	deadline := time.Now().Add(20 * time.Second)
	for {
		list, err := db.ListSnapshots()
		require.NoError(t, err)
		if len(list) == 2 && list[1].Path == s2.Path && slices.Contains(quarantined(t, dir), filepath.Base(s1.Path)) {
			break // s1 moved aside, a new snapshot taken: two valid again
		}
		require.True(t, time.Now().Before(deadline), "no fresh snapshot after the rotten one: %v", list)
		time.Sleep(5 * time.Millisecond)
	}
}
