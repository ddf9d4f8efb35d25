package inmem_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/inmemdb/inmem"
	"github.com/inmemdb/inmem/commitlog"
	runprim "github.com/inmemdb/inmem/primitives/run"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Recovery modes and RecoveryResult beyond raw byte damage: transactions
// without a marker or aborted, unknown entry types, the counters of a clean log, option
// validation, and what each mode must never do (apply part of a transaction, overwrite what
// an earlier recovery set aside, fail on what it should cut).
//
// Helpers shared with waldamage_test.go are prefixed wd; the ones here rm.

// rmEncode encodes entries as the log stores them.
func rmEncode(t *testing.T, entries ...commitlog.Entry) []byte {
	t.Helper()
	var b []byte
	for _, e := range entries {
		var err error
		b, err = commitlog.AppendEntry(b, e)
		require.NoError(t, err)
	}
	return b
}

// rmPut builds a KvPut entry (KV payload version 1: run id, uvarint key length, key, value).
func rmPut(run inmem.RunID, tx uint64, key, value string) commitlog.Entry {
	p := append([]byte(nil), run[:]...)
	p = binary.AppendUvarint(p, uint64(len(key)))
	p = append(p, key...)
	p = append(p, value...)
	return commitlog.Entry{Type: 0x10, Version: 1, TxID: tx, Payload: p}
}

// rmStep builds the run journal's step entry of a transaction (run id, commit time).
func rmStep(run inmem.RunID, tx uint64) commitlog.Entry {
	p := binary.LittleEndian.AppendUint64(append([]byte(nil), run[:]...), 0)
	return commitlog.Entry{Type: runprim.TypeStep, Version: 1, TxID: tx, Payload: p}
}

// rmLastVersion returns the commit version of the log's last transaction.
func rmLastVersion(l *wdLog) uint64 { return l.txs[len(l.txs)-1].entries[0].tx }

// A transaction whose entries reached the disk but whose commit marker did not is discarded,
// counted, and its bytes are cut off: the next commit, which reuses its version as tx_id, must
// not be grouped with them at the next recovery (R4: nothing is invented). That next commit is
// the orphan marking of the run, which recovery logs at once.
func TestRecoveryModeMarkerMissing(t *testing.T) {
	const n = 20
	l := wdWrite(t, n)
	last := l.tx(n - 1)
	dir := wdCopy(t, l.dir)
	seg := wdRebase(t, last.seg, l.dir, dir)
	require.NoError(t, os.Truncate(seg, int64(last.marker().start))) // just before the marker

	db := wdOpen(t, dir)
	want := wdPrefix(n - 1)
	wdRequireState(t, db, l.run, want)
	rec := db.LastRecovery()
	assert.Equal(t, 1, rec.TransactionsDiscarded)
	assert.Equal(t, n, rec.TransactionsRecovered)
	assert.Zero(t, rec.TornTailBytes, "the entry is intact: no damaged byte")
	assert.Zero(t, rec.CorruptEntries)
	assert.True(t, rec.Consistent)
	wdRequireOrphanMarkAt(t, seg, int64(last.start), l.run, "the markerless entry is cut off")

	resumeOrphaned(t, db, l.run)
	require.NoError(t, db.Update(ctx, l.run, func(tx *inmem.Tx) error { return tx.KV().Put("other", []byte("x")) }))
	require.NoError(t, db.Close())
	_, txs := wdParse(t, dir)
	require.Len(t, txs, n+3, "BeginRun, n-1 puts, the orphan marking, ResumeRun, Update")
	require.Equal(t, runprim.TypeUpdate, txs[n].entries[0].typ)
	require.Equal(t, last.entries[0].tx, txs[n].entries[0].tx, "the orphan marking reused the lost version")
	db = wdOpen(t, dir)
	wdRequireState(t, db, l.run, wdWith(want, "other", "x"), "the lost entry must not come back")
	assert.Zero(t, db.LastRecovery().TransactionsDiscarded)
	require.NoError(t, db.Close())
}

// An aborted transaction is discarded and counted; so is a transaction whose marker never
// comes even though a later transaction commits.
func TestRecoveryModeAbortedAndUnfinishedTransactions(t *testing.T) {
	const n = 10
	l := wdWrite(t, n)
	v := rmLastVersion(l)
	abort := commitlog.CommitMarker(v + 1)
	abort.Type = commitlog.TypeTransactionAbort
	dir := wdCopy(t, l.dir)
	seg := wdRebase(t, l.segs[len(l.segs)-1], l.dir, dir)
	wdAppend(t, seg, rmEncode(t,
		rmPut(l.run, v+1, "aborted", "a"), abort, // aborted
		rmPut(l.run, v+2, "unfinished", "u"), // never committed
		rmPut(l.run, v+3, "committed", "c"), commitlog.CommitMarker(v+3),
	))

	db := wdOpen(t, dir)
	want := wdWith(wdPrefix(n), "committed", "c")
	wdRequireState(t, db, l.run, want)
	rec := db.LastRecovery()
	assert.Equal(t, 2, rec.TransactionsDiscarded, "the aborted one and the unfinished one")
	assert.Equal(t, n+2, rec.TransactionsRecovered)
	assert.Zero(t, rec.TornTailBytes)
	assert.Zero(t, rec.CorruptEntries)
	assert.True(t, rec.Consistent)
	db = wdCommitAndReopen(t, db, dir, l.run, want, "new", "after")
	require.NoError(t, db.Close())
}

// Entry types no primitive owns, with a valid checksum, are skipped and counted (forward
// compatibility), whether transactional or not; they are not damage.
func TestRecoveryModeUnknownEntryTypes(t *testing.T) {
	const n = 10
	l := wdWrite(t, n)
	v := rmLastVersion(l)
	dir := wdCopy(t, l.dir)
	seg := wdRebase(t, l.segs[len(l.segs)-1], l.dir, dir)
	payload := append(append([]byte(nil), l.run[:]...), "future"...)
	wdAppend(t, seg, rmEncode(t,
		commitlog.Entry{Type: 0x75, Version: 1, TxID: 0, Payload: payload}, // reserved: vector
		commitlog.Entry{Type: 0x90, Version: 3, TxID: v + 1, Payload: payload},
		commitlog.CommitMarker(v+1),
	))

	for _, mode := range []func(*inmem.Options){wdPointInTime, wdFailOnCorrupt, wdSkipCorrupt} {
		db := wdOpen(t, wdCopy(t, dir), mode)
		wdRequireState(t, db, l.run, wdPrefix(n))
		rec := db.LastRecovery()
		assert.Equal(t, 2, rec.UnknownEntries)
		assert.Zero(t, rec.CorruptEntries)
		assert.Zero(t, rec.TornTailBytes)
		assert.Empty(t, rec.Quarantined)
		assert.True(t, rec.Consistent)
		require.NoError(t, db.Close())
	}
	db := wdOpen(t, dir)
	db = wdCommitAndReopen(t, db, dir, l.run, wdPrefix(n), "new", "after unknown")
	assert.Equal(t, 2, db.LastRecovery().UnknownEntries, "still in the log, still skipped")
	require.NoError(t, db.Close())
}

// The result of recovering an intact log, an empty directory, and an in-memory database.
func TestRecoveryModeResultOfCleanLogs(t *testing.T) {
	t.Run("intact log", func(t *testing.T) {
		const n = 25
		l := wdWrite(t, n)
		entries := 0
		for _, tx := range l.txs {
			entries += len(tx.entries) - 1 // the marker is not replayed
		}
		require.Len(t, l.segs, 1)
		for i, mode := range []func(*inmem.Options){wdPointInTime, wdFailOnCorrupt, wdSkipCorrupt} {
			before := wdTree(t, filepath.Join(l.dir, "wal"))
			size := wdSize(t, l.segs[0])
			db := wdOpen(t, l.dir, mode)
			wdRequireState(t, db, l.run, wdPrefix(n))
			// Active at Close: the first recovery marks it Orphaned, a logged transaction that
			// the later ones replay.
			assert.Equal(t, inmem.RunOrphaned, db.RunStatus(l.run))
			rec := db.LastRecovery()
			require.NotNil(t, rec)
			if i == 0 {
				assert.Equal(t, []inmem.RunID{l.run}, rec.OrphanedRuns)
				assert.Equal(t, n+1, rec.TransactionsRecovered)
				assert.Equal(t, entries, rec.EntriesReplayed)
			} else {
				assert.Empty(t, rec.OrphanedRuns)
				assert.Equal(t, n+2, rec.TransactionsRecovered)
				assert.Equal(t, entries+1, rec.EntriesReplayed)
			}
			assert.Zero(t, rec.TransactionsDiscarded)
			assert.Zero(t, rec.CorruptEntries)
			assert.Zero(t, rec.TornTailBytes)
			assert.Zero(t, rec.UnknownEntries)
			assert.Empty(t, rec.Quarantined)
			assert.True(t, rec.Consistent)
			assert.Nil(t, rec.SnapshotUsed)
			assert.Positive(t, rec.Duration)
			require.NoError(t, db.Close())
			if i == 0 {
				// Nothing in the log changed; the orphan marking was appended, nothing else.
				wdRequireOrphanMarkAt(t, l.segs[0], size, l.run)
				continue
			}
			assert.Equal(t, before, wdTree(t, filepath.Join(l.dir, "wal")), "recovering an intact log changes no file")
		}
	})
	t.Run("empty directory", func(t *testing.T) {
		db := wdOpen(t, t.TempDir())
		rec := db.LastRecovery()
		require.NotNil(t, rec)
		assert.Zero(t, rec.TransactionsRecovered)
		assert.Zero(t, rec.EntriesReplayed)
		assert.Zero(t, rec.TornTailBytes)
		assert.Empty(t, rec.Quarantined)
		assert.True(t, rec.Consistent)
		require.NoError(t, db.Close())
	})
	t.Run("in memory", func(t *testing.T) {
		assert.Nil(t, openMem(t).LastRecovery())
	})
}

// Recovery options: the documented defaults, and nonsense refused before any file is touched.
func TestRecoveryModeOptions(t *testing.T) {
	d := inmem.DefaultOptions()
	assert.Equal(t, inmem.PointInTime, d.Recovery.Mode)
	assert.Equal(t, 10, d.Recovery.MaxCorruptEntries)
	var zero inmem.Options
	assert.Equal(t, inmem.PointInTime, zero.Recovery.Mode, "the zero value is the default mode")

	for name, mutate := range map[string]func(*inmem.Options){
		"unknown mode":          func(o *inmem.Options) { o.Recovery.Mode = inmem.FailOnCorruption + 1 },
		"negative mode":         func(o *inmem.Options) { o.Recovery.Mode = -1 },
		"negative corrupt cap":  func(o *inmem.Options) { o.Recovery.MaxCorruptEntries = -1 },
		"negative segment size": func(o *inmem.Options) { o.SegmentSize = -1 },
	} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "db")
			o := inmem.DefaultOptions()
			mutate(o)
			db, err := inmem.Open(dir, o)
			require.ErrorIs(t, err, inmem.ErrInvalidArgument)
			assert.Nil(t, db)
			assert.NoDirExists(t, dir, "nothing is created")
		})
	}
}

// A torn tail is not corruption: FailOnCorruption and SkipCorrupt cut it like PointInTime.
func TestRecoveryModeTornTailInEveryMode(t *testing.T) {
	const n = 15
	l := wdWrite(t, n)
	last := l.tx(n - 1)
	for name, mode := range map[string]func(*inmem.Options){
		"PointInTime": wdPointInTime, "FailOnCorruption": wdFailOnCorrupt, "SkipCorrupt": wdSkipCorrupt,
	} {
		t.Run(name, func(t *testing.T) {
			dir := wdCopy(t, l.dir)
			seg := wdRebase(t, last.seg, l.dir, dir)
			cut := last.entries[0].start + 7
			require.NoError(t, os.Truncate(seg, int64(cut)))
			db := wdOpen(t, dir, mode)
			want := wdPrefix(n - 1)
			wdRequireState(t, db, l.run, want)
			rec := db.LastRecovery()
			assert.Equal(t, int64(7), rec.TornTailBytes)
			assert.Zero(t, rec.CorruptEntries)
			assert.True(t, rec.Consistent)
			db = wdCommitAndReopen(t, db, dir, l.run, want, "new", name, mode)
			require.NoError(t, db.Close())
		})
	}
}

// PointInTime with the very first transaction damaged: the prefix is empty (the run itself was
// never begun), and the database is usable from there.
func TestRecoveryModeDamagedFirstTransaction(t *testing.T) {
	l := wdWrite(t, 10)
	dir := wdCopy(t, l.dir)
	wdFlip(t, wdRebase(t, l.txs[0].seg, l.dir, dir), l.txs[0].entries[0])

	db := wdOpen(t, dir)
	assert.Equal(t, inmem.RunNotFound, db.RunStatus(l.run))
	_, err := db.KV().Get(l.run, wdKey(0))
	assert.ErrorIs(t, err, inmem.ErrRunNotFound)
	rec := db.LastRecovery()
	assert.Zero(t, rec.TransactionsRecovered)
	assert.Equal(t, 1, rec.CorruptEntries)
	assert.NotEmpty(t, rec.Quarantined)
	require.NoError(t, db.BeginRun(ctx, l.run, inmem.RunInfo{Name: "again"}))
	db = wdCommitAndReopen(t, db, dir, l.run, map[string]string{}, "new", "after")
	assert.Equal(t, inmem.RunOrphaned, db.RunStatus(l.run), "begun again, active at Close")
	assert.Contains(t, db.LastRecovery().OrphanedRuns, l.run)
	require.NoError(t, db.Close())
}

// A segment missing from the middle of the log is a gap: corruption of the segment after it.
func TestRecoveryModeMissingSegment(t *testing.T) {
	const n = 120
	small := func(o *inmem.Options) { o.SegmentSize = 4096 }
	l := wdWrite(t, n, small)
	require.GreaterOrEqual(t, len(l.segs), 3)
	inFirst := 0
	for i := range n {
		if l.tx(i).seg == l.segs[0] {
			inFirst++
		}
	}
	damage := func(t *testing.T) string {
		dir := wdCopy(t, l.dir)
		require.NoError(t, os.Remove(wdRebase(t, l.segs[1], l.dir, dir)))
		return dir
	}

	o := inmem.DefaultOptions()
	small(o)
	wdFailOnCorrupt(o)
	_, err := inmem.Open(damage(t), o)
	require.ErrorIs(t, err, inmem.ErrCorruption)
	assert.Contains(t, err.Error(), filepath.Base(l.segs[2]))

	dir := damage(t)
	db := wdOpen(t, dir, small)
	want := wdPrefix(inFirst)
	wdRequireState(t, db, l.run, want)
	rec := db.LastRecovery()
	assert.Equal(t, 1, rec.CorruptEntries)
	assert.Len(t, rec.Quarantined, len(l.segs)-2, "every segment after the gap")
	first := wdRebase(t, l.segs[0], l.dir, dir)
	wdRequireSegments(t, dir, []string{first})
	wdRequireOrphanMarkAt(t, first, wdSize(t, l.segs[0]), l.run, "the log goes on after the last segment before the gap")
	db = wdCommitAndReopen(t, db, dir, l.run, want, "new", "after the gap", small)
	require.NoError(t, db.Close())
}

// SkipCorrupt counts the transaction the damage touched in TransactionsDiscarded ("no commit
// marker, aborted, or touched by skipped damage"), whether the damage hit its data or its
// marker.
func TestRecoveryModeSkipCorruptCountsDamagedTransaction(t *testing.T) {
	const n = 20
	l := wdWrite(t, n)
	victim := l.tx(n / 2)
	for i, what := range []string{"journal step", "data entry", "commit marker"} {
		t.Run(what, func(t *testing.T) {
			dir := wdCopy(t, l.dir)
			wdFlip(t, wdRebase(t, victim.seg, l.dir, dir), victim.entries[i])
			db := wdOpen(t, dir, wdSkipCorrupt)
			wdRequireState(t, db, l.run, wdWant(n, func(k int) bool { return k != n/2 }))
			rec := db.LastRecovery()
			assert.Equal(t, 1, rec.CorruptEntries)
			assert.False(t, rec.Consistent)
			assert.Equal(t, 1, rec.TransactionsDiscarded, "the damaged transaction was discarded")
			require.NoError(t, db.Close())
		})
	}
}

// SkipCorrupt skips damaged entries and every transaction they touch: never a part
// of a transaction, wherever in it the damaged entry is.
func TestRecoveryModeSkipCorruptDropsWholeTransaction(t *testing.T) {
	dir := t.TempDir()
	db := openDir(t, dir, noCloseSnapshot) // the log alone: no snapshot hides the damage
	run := newRun(t, db)
	require.NoError(t, db.KV().Put(ctx, run, "before", []byte("1")))
	require.NoError(t, db.Update(ctx, run, func(tx *inmem.Tx) error {
		for _, k := range []string{"a", "b", "c"} {
			if err := tx.KV().Put(k, []byte(k)); err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, db.KV().Put(ctx, run, "after", []byte("2")))
	require.NoError(t, db.Close())
	_, txs := wdParse(t, dir)
	require.Len(t, txs, 4)
	multi := txs[2]
	require.Len(t, multi.entries, 5, "the journal step, three puts and the marker")

	for i := range multi.entries {
		t.Run(fmt.Sprint("entry", i), func(t *testing.T) {
			d := wdCopy(t, dir)
			wdFlip(t, wdRebase(t, multi.seg, dir, d), multi.entries[i])
			db := wdOpen(t, d, wdSkipCorrupt)
			wdRequireState(t, db, run, map[string]string{"before": "1", "after": "2"},
				"damage in entry %d: none of the transaction's writes may be applied", i)
			assert.False(t, db.LastRecovery().Consistent)
			require.NoError(t, db.Close())
		})
	}
}

// PointInTime sets damaged log aside and never deletes it. A second recovery that
// cuts at the same place must not overwrite what the first one set aside.
func TestRecoveryModeQuarantineNeverOverwrites(t *testing.T) {
	t.Run("segment remainder", func(t *testing.T) {
		const n = 20
		l := wdWrite(t, n)
		victim := l.tx(n / 2)
		dir := wdCopy(t, l.dir)
		seg := wdRebase(t, victim.seg, l.dir, dir)
		wdFlip(t, seg, victim.entries[0])
		db := wdOpen(t, dir)
		first := rmQuarantined(t, dir)
		require.Len(t, first, 1)

		// New commits land at the cut — the first of them the orphan marking; damage it and
		// recover again.
		resumeOrphaned(t, db, l.run)
		for i := range 5 {
			require.NoError(t, db.KV().Put(ctx, l.run, fmt.Sprint("again", i), []byte("x")))
		}
		require.NoError(t, db.Close())
		_, txs := wdParse(t, dir)
		again := txs[n/2+1]
		require.Equal(t, victim.start, again.start)
		wdFlip(t, seg, again.entries[0])
		db = wdOpen(t, dir)
		wdRequireState(t, db, l.run, wdPrefix(n/2))
		require.NoError(t, db.Close())

		assert.True(t, rmContainsAll(rmQuarantined(t, dir), first), "an earlier quarantine is never overwritten")
		assert.Len(t, rmQuarantined(t, dir), 2)
	})
	t.Run("whole segments", func(t *testing.T) {
		const n = 150
		small := func(o *inmem.Options) { o.SegmentSize = 4096 }
		l := wdWrite(t, n, small)
		require.GreaterOrEqual(t, len(l.segs), 4)
		var inSecond []int // the puts of the second segment
		for i := range n {
			if l.tx(i).seg == l.segs[1] {
				inSecond = append(inSecond, i)
			}
		}
		require.Greater(t, len(inSecond), 4)
		// Not the last put of the segment: the transactions recovery and ResumeRun append at
		// the cut must leave room to end the segment where it ended (see below).
		victim, lastInSecond := inSecond[len(inSecond)-4], inSecond[len(inSecond)-1]
		dir := wdCopy(t, l.dir)
		seg := wdRebase(t, l.segs[1], l.dir, dir)
		wdFlip(t, seg, l.tx(victim).entries[0])
		db := wdOpen(t, dir, small)
		require.Len(t, rmQuarantined(t, dir), len(l.segs)-1, "the remainder, then the later segments moved whole")
		first := map[string][]byte{}
		for _, p := range wdQuarantine(t, dir) {
			if strings.HasSuffix(p, ".wal") {
				first[p] = wdRead(t, p)
			}
		}
		require.Len(t, first, len(l.segs)-2)

		// Commit again so that the new segments get the same base LSNs, hence the same names,
		// as the quarantined ones. At the cut the log now holds the orphan marking, then
		// ResumeRun; one put of the right size ends the second segment exactly where it
		// ended, and puts of the lost sizes follow.
		resumeOrphaned(t, db, l.run)
		require.Len(t, wdSegments(t, dir), 2, "no roll over yet")
		written := int(db.Stats().WALBytes) // the marking and ResumeRun
		cut := l.tx(victim).start
		pad := l.tx(lastInSecond).end - cut - written
		bare := len(rmEncode(t, rmStep(l.run, 1), rmPut(l.run, 1, wdKey(victim), ""), commitlog.CommitMarker(1)))
		require.GreaterOrEqual(t, pad, bare)
		require.NoError(t, db.KV().Put(ctx, l.run, wdKey(victim), bytes.Repeat([]byte("x"), pad-bare)))
		require.Equal(t, l.tx(lastInSecond).end-cut, int(db.Stats().WALBytes),
			"the second segment ends where it ended")
		for i := lastInSecond + 1; i < n; i++ {
			v := strings.Repeat("x", len(strconv.Itoa(i)))
			require.NoError(t, db.KV().Put(ctx, l.run, wdKey(i), []byte(v)))
		}
		require.NoError(t, db.Close())
		segs, txs := wdParse(t, dir)
		names := func(paths []string) (out []string) {
			for _, p := range paths {
				out = append(out, filepath.Base(p))
			}
			return out
		}
		require.Equal(t, names(l.segs), names(segs), "the new segments have the quarantined ones' names")
		require.Equal(t, cut, txs[victim+1].start)
		wdFlip(t, seg, txs[victim+1].entries[0]) // the orphan marking, at the cut
		db = wdOpen(t, dir, small)
		wdRequireState(t, db, l.run, wdPrefix(victim))
		require.NoError(t, db.Close())
		assert.True(t, rmContainsAll(rmQuarantined(t, dir), first), "an earlier quarantine is never overwritten")
	})
}

// rmQuarantined returns the contents of the files in dir's WAL quarantine, by content.
func rmQuarantined(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, p := range wdQuarantine(t, dir) {
		b := wdRead(t, p)
		out[string(b)] = b
	}
	return out
}

// rmContainsAll reports whether every content of want is still among got.
func rmContainsAll(got, want map[string][]byte) bool {
	for _, w := range want {
		found := false
		for _, g := range got {
			if bytes.Equal(g, w) {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// PointInTime with damage in the segment header of the only segment, intact entries after it:
// corruption at LSN 0, so the prefix is empty; Open must succeed and set the entries aside.
func TestRecoveryModeDamagedHeaderOfOnlySegment(t *testing.T) {
	l := wdWrite(t, 10)
	require.Len(t, l.segs, 1)
	dir := wdCopy(t, l.dir)
	seg := wdRebase(t, l.segs[0], l.dir, dir)
	wdEdit(t, seg, func(b []byte) []byte { b[14] ^= 0x01; return b }) // the base field: bad CRC
	entries := wdRead(t, seg)[commitlog.HeaderSize:]

	o := inmem.DefaultOptions()
	wdFailOnCorrupt(o)
	_, err := inmem.Open(wdCopy(t, dir), o)
	require.ErrorIs(t, err, inmem.ErrCorruption, "a damaged header with entries after it is corruption")

	db, err := inmem.Open(dir, inmem.DefaultOptions())
	require.NoError(t, err, "PointInTime recovers from a damaged header of the only segment")
	t.Cleanup(func() { _ = db.Close() })
	assert.Equal(t, inmem.RunNotFound, db.RunStatus(l.run))
	rec := db.LastRecovery()
	assert.Equal(t, 1, rec.CorruptEntries)
	require.NotEmpty(t, rec.Quarantined)
	setAside := false
	for _, content := range rmQuarantined(t, dir) {
		// The whole segment is set aside, its damaged header included.
		setAside = setAside || strings.HasSuffix(string(content), string(entries))
	}
	assert.True(t, setAside, "the entries are set aside")
	require.NoError(t, db.BeginRun(ctx, l.run, inmem.RunInfo{Name: "again"}))
	db = wdCommitAndReopen(t, db, dir, l.run, map[string]string{}, "new", "after")
	require.NoError(t, db.Close())
}
