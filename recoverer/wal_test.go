package recoverer_test

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/inmemdb/inmem/commitlog"
	"github.com/inmemdb/inmem/extension"
	"github.com/inmemdb/inmem/internal/dberr"
	"github.com/inmemdb/inmem/internal/vfs"
	"github.com/inmemdb/inmem/recoverer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const dir = "/db/wal"

// owner claims the entry types 0x10–0x1F so that the replay knows them.
type owner struct{}

func (owner) Name() string                 { return "t" }
func (owner) SectionID() uint8             { return 1 }
func (owner) EntryTypes() (lo, hi uint8)   { return 0x10, 0x1F }
func (owner) NewShard(int) extension.Shard { return nil }
func registry(t *testing.T) *extension.Registry {
	var r extension.Registry
	require.NoError(t, r.Register(owner{}))
	return &r
}

var runA = extension.RunID{1}

func entry(typ uint8, tx uint64, run extension.RunID, body string) commitlog.Entry {
	return commitlog.Entry{Type: typ, Version: 1, TxID: tx, Payload: append(run[:], body...)}
}

// writeLog writes the entries into one sealed segment at base 0.
func writeLog(t *testing.T, fs vfs.FS, es ...commitlog.Entry) {
	t.Helper()
	require.NoError(t, fs.MkdirAll(dir))
	s, err := commitlog.CreateSegment(fs, dir, 0)
	require.NoError(t, err)
	var buf []byte
	for _, e := range es {
		buf, err = commitlog.AppendEntry(buf, e)
		require.NoError(t, err)
	}
	require.NoError(t, s.Write(buf))
	require.NoError(t, s.Seal())
	require.NoError(t, s.Close())
}

func replay(t *testing.T, fs vfs.FS, cfg recoverer.WALConfig) ([]recoverer.Txn, recoverer.WALResult, error) {
	t.Helper()
	var got []recoverer.Txn
	cfg.FS, cfg.Dir, cfg.Registry = fs, dir, registry(t)
	cfg.Apply = func(tx recoverer.Txn) error { got = append(got, tx); return nil }
	res, err := recoverer.ReplayWAL(cfg)
	return got, res, err
}

func TestReplayGroupsByTransaction(t *testing.T) {
	fs := vfs.NewCrashFS()
	writeLog(t, fs,
		entry(0x10, 1, runA, "a"), entry(0x11, 1, runA, "b"), commitlog.CommitMarker(1),
		entry(0x10, 2, runA, "aborted"), commitlog.Entry{Type: commitlog.TypeTransactionAbort, Version: 1, TxID: 2},
		entry(0x7F, 3, runA, "unknown type"), entry(0x10, 3, runA, "c"), commitlog.CommitMarker(3),
		entry(0x10, 4, runA, "no marker"),
	)
	got, res, err := replay(t, fs, recoverer.WALConfig{})
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.EqualValues(t, 1, got[0].Version)
	assert.Equal(t, runA, got[0].Run)
	assert.Len(t, got[0].Entries, 2)
	assert.EqualValues(t, 3, got[1].Version)
	assert.Len(t, got[1].Entries, 1, "the unknown entry type is skipped")
	assert.Equal(t, 2, res.TransactionsRecovered)
	assert.Equal(t, 3, res.EntriesReplayed)
	assert.Equal(t, 2, res.TransactionsDiscarded, "the aborted one and the one without a marker")
	assert.Equal(t, 1, res.UnknownEntries)
	assert.EqualValues(t, 3, res.LastVersion)
	assert.True(t, res.Consistent)

	// Appends continue after the last marker, not after the dangling entry: the next commit
	// reuses version 4 as its tx_id and must not be grouped with the orphan.
	size, err := fs.Stat(filepath.Join(dir, commitlog.SegmentName(0)))
	require.NoError(t, err)
	orphan := int64(commitlog.EncodedSize(commitlog.RunIDSize + len("no marker")))
	assert.True(t, res.HasSegment)
	assert.Equal(t, size-orphan, res.TailOffset)
}

func TestReplaySkipsWhatTheSnapshotHolds(t *testing.T) {
	fs := vfs.NewCrashFS()
	writeLog(t, fs,
		entry(0x10, 1, runA, "a"), commitlog.CommitMarker(1),
		entry(0x10, 2, runA, "b"), commitlog.CommitMarker(2),
	)
	got, res, err := replay(t, fs, recoverer.WALConfig{After: 1})
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.EqualValues(t, 2, got[0].Version)
	assert.EqualValues(t, 2, res.LastVersion)
}

func TestReplayRejectsTransactionSpanningRuns(t *testing.T) {
	fs := vfs.NewCrashFS()
	writeLog(t, fs, entry(0x10, 1, runA, "a"), entry(0x10, 1, extension.RunID{2}, "b"), commitlog.CommitMarker(1))
	_, _, err := replay(t, fs, recoverer.WALConfig{})
	require.ErrorIs(t, err, dberr.ErrCorruption)
}

func TestReplayApplyErrorStops(t *testing.T) {
	fs := vfs.NewCrashFS()
	writeLog(t, fs, entry(0x10, 1, runA, "a"), commitlog.CommitMarker(1), entry(0x10, 2, runA, "b"), commitlog.CommitMarker(2))
	boom := errors.New("boom")
	calls := 0
	_, err := recoverer.ReplayWAL(recoverer.WALConfig{FS: fs, Dir: dir, Registry: registry(t),
		Apply: func(recoverer.Txn) error { calls++; return boom }})
	require.ErrorIs(t, err, boom)
	assert.Equal(t, 1, calls)
}

func TestReplayEmptyLog(t *testing.T) {
	fs := vfs.NewCrashFS()
	require.NoError(t, fs.MkdirAll(dir))
	got, res, err := replay(t, fs, recoverer.WALConfig{})
	require.NoError(t, err)
	assert.Empty(t, got)
	assert.False(t, res.HasSegment)
}

// Versions are dense: a commit version that skips one means a commit was lost where no
// checksum saw it. It is never accepted silently.
func TestReplayVersionGap(t *testing.T) {
	log := []commitlog.Entry{
		entry(0x10, 1, runA, "a"), commitlog.CommitMarker(1),
		entry(0x10, 2, runA, "b"), commitlog.CommitMarker(2),
		entry(0x10, 4, runA, "d"), commitlog.CommitMarker(4), // 3 is missing
		entry(0x10, 5, runA, "e"), commitlog.CommitMarker(5),
	}
	t.Run("PointInTime keeps the prefix before the gap", func(t *testing.T) {
		fs := vfs.NewCrashFS()
		writeLog(t, fs, log...)
		got, res, err := replay(t, fs, recoverer.WALConfig{Mode: recoverer.PointInTime})
		require.NoError(t, err)
		require.Len(t, got, 2)
		assert.EqualValues(t, 2, res.LastVersion)
		assert.EqualValues(t, 4, res.VersionGap)
		assert.Equal(t, 1, res.CorruptEntries)
		assert.NotEmpty(t, res.Quarantined, "what follows the gap is set aside")
		got, res, err = replay(t, fs, recoverer.WALConfig{Mode: recoverer.FailOnCorruption})
		require.NoError(t, err, "the log is a clean prefix now")
		assert.Len(t, got, 2)
		assert.Zero(t, res.VersionGap)
	})
	t.Run("FailOnCorruption refuses", func(t *testing.T) {
		fs := vfs.NewCrashFS()
		writeLog(t, fs, log...)
		_, _, err := replay(t, fs, recoverer.WALConfig{Mode: recoverer.FailOnCorruption})
		require.ErrorIs(t, err, dberr.ErrCorruption)
		assert.ErrorContains(t, err, "versions 3 to 3 are missing")
	})
	t.Run("SkipCorrupt goes on and says so", func(t *testing.T) {
		fs := vfs.NewCrashFS()
		writeLog(t, fs, log...)
		got, res, err := replay(t, fs, recoverer.WALConfig{Mode: recoverer.SkipCorrupt, MaxCorrupt: 10})
		require.NoError(t, err)
		assert.Len(t, got, 4)
		assert.False(t, res.Consistent)
		assert.Equal(t, 1, res.CorruptEntries)
	})
	t.Run("a gap right after the snapshot", func(t *testing.T) {
		fs := vfs.NewCrashFS()
		writeLog(t, fs, log...)
		_, _, err := replay(t, fs, recoverer.WALConfig{Mode: recoverer.FailOnCorruption, After: 0})
		require.Error(t, err)
		got, _, err := replay(t, fs, recoverer.WALConfig{Mode: recoverer.FailOnCorruption, After: 3})
		require.NoError(t, err, "3 is in the snapshot")
		assert.Len(t, got, 2)
	})
}

// A lost write in the last segment (a sector of zeros) followed by valid entries: the log ends
// at the zeros in every mode, nothing after them is applied, and they are set aside, not lost.
func TestReplayStrandedTornTail(t *testing.T) {
	var es []commitlog.Entry
	for v := uint64(1); v <= 12; v++ {
		es = append(es, entry(0x10, v, runA, string(make([]byte, 300))), commitlog.CommitMarker(v))
	}
	for _, mode := range []recoverer.Mode{recoverer.PointInTime, recoverer.FailOnCorruption, recoverer.SkipCorrupt} {
		fs := vfs.NewCrashFS()
		writeLog(t, fs, es...)
		seg := filepath.Join(dir, commitlog.SegmentName(0))
		f, err := fs.OpenReadWrite(seg)
		require.NoError(t, err)
		zeros := make([]byte, 1024)
		_, err = f.Seek(1024, 0)
		require.NoError(t, err)
		_, err = f.Write(zeros)
		require.NoError(t, err)
		require.NoError(t, f.Close())

		got, res, err := replay(t, fs, recoverer.WALConfig{Mode: mode, MaxCorrupt: 10})
		require.NoError(t, err, "mode %d", mode)
		require.NotEmpty(t, got)
		assert.Less(t, len(got), 4, "nothing past the zeros is applied")
		assert.Zero(t, res.CorruptEntries)
		assert.True(t, res.Consistent)
		assert.Positive(t, res.TornTailBytes)
		assert.Len(t, res.Quarantined, 1, "the bytes after the cut are kept aside")
	}
}

// When the header of the segment holding the start LSN is damaged, PointInTime sets the whole
// segment aside and the log continues at the start LSN in a new segment, never below it.
func TestReplayDamagedHeaderContinuesAtTheCut(t *testing.T) {
	fs := vfs.NewCrashFS()
	writeLog(t, fs,
		entry(0x10, 1, runA, "a"), commitlog.CommitMarker(1),
		entry(0x10, 2, runA, "b"), commitlog.CommitMarker(2))
	r, err := commitlog.NewReader(fs, dir, 0)
	require.NoError(t, err)
	for range 2 {
		_, _, err := r.Next()
		require.NoError(t, err)
	}
	from := r.EndLSN() // as a snapshot of version 1 would name it
	require.NoError(t, r.Close())
	seg := filepath.Join(dir, commitlog.SegmentName(0))
	f, err := fs.OpenReadWrite(seg)
	require.NoError(t, err)
	_, err = f.Write([]byte("XX")) // the magic
	require.NoError(t, err)
	require.NoError(t, f.Close())

	var setAside []uint64
	_, res, err := replay(t, fs, recoverer.WALConfig{From: from, After: 1,
		SetAsideAbove: func(lsn uint64) ([]string, error) { setAside = append(setAside, lsn); return nil, nil }})
	require.NoError(t, err)
	assert.Equal(t, from, res.TailBase, "the log continues at the cut")
	assert.EqualValues(t, commitlog.HeaderSize, res.TailOffset)
	assert.Equal(t, []uint64{from}, setAside, "snapshots above the cut are asked to move aside")
	bases, err := commitlog.ListSegments(fs, dir)
	require.NoError(t, err)
	assert.Equal(t, []uint64{from}, bases, "the damaged segment is gone from the log, kept in quarantine")
	s, err := commitlog.OpenSegmentForAppend(fs, dir, res.TailBase, res.TailOffset)
	require.NoError(t, err)
	require.NoError(t, s.Close())
}
